//! The fuzz targets' bodies. `fuzz/src/bin/*.rs` wrap each in AFL++'s loop; the corpus replay
//! test runs every committed input through the same function, so a known crasher fails
//! `cargo test` without building cargo-afl.

pub use axum::body::Bytes;

pub use crate::images::parse_images;

/// Every query string the API parses, as each endpoint parses it; errors are answers.
pub fn parse_queries(query: &str) {
    use crate::extract::parse_query;
    use crate::routes::schema::{EnrolQuery, IdentifyQuery, PageQuery, SelectQuery, VerifyQuery};
    if let Ok(q) = parse_query::<SelectQuery>(query) {
        let _ = crate::routes::schema::parse_select(q.select.as_deref(), faceprint::FaceSelect::All);
    }
    let _ = parse_query::<IdentifyQuery>(query);
    let _ = parse_query::<PageQuery>(query);
    if let Ok(q) = parse_query::<VerifyQuery>(query) {
        let _ = faceprint::SubjectKey::parse(&q.subject);
    }
    if let Ok(q) = parse_query::<EnrolQuery>(query)
        && let Some(codes) = q.refuse
    {
        let _ = crate::routes::gallery::parse_refusals(&codes);
    }
    // The photo library's queries: pages, splits and searches, with their bounds.
    use crate::routes::library;
    if let Ok(q) = parse_query::<library::PageQuery>(query) {
        let _ = q.page();
    }
    if let Ok(q) = parse_query::<library::SplitQuery>(query) {
        let _ = library::checked_strictness(q.strictness);
    }
    if let Ok(q) = parse_query::<library::SearchQuery>(query) {
        let _ = library::checked_search_bounds(q.threshold.unwrap_or(0.3), q.limit);
        let _ = q.subject.as_deref().map(faceprint::SubjectKey::parse);
    }
}

/// The `decode` target: image decoding under the server's limits gives an image within them or
/// a `DecodeError`, never a panic out of `decode_image` (a decoder panic it catches is its
/// contract, which is why the fuzzer installs no panic hook for this target).
pub fn decode_target(data: &[u8]) {
    let limits = faceprint::DecodeLimits::server();
    if let Ok(image) = faceprint::imaging::decode_image(data, &limits) {
        assert!(image.width() as u64 * image.height() as u64 <= limits.max_pixels);
    }
}

/// The content types the `request` target picks from with its first byte.
const REQUEST_TYPES: [&str; 5] = [
    "multipart/form-data; boundary=X",
    "multipart/form-data; boundary=\"a b\"",
    "application/json",
    "image/jpeg",
    "multipart/form-data",
];

/// The `request` target: the first byte picks a content type, the next line is a query string,
/// the rest is the body. Any input gives images or an API error, never a panic.
pub fn request_target(runtime: &tokio::runtime::Runtime, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let content_type = REQUEST_TYPES[selector as usize % REQUEST_TYPES.len()];
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (query, body) = rest.split_at(split);
    parse_queries(&String::from_utf8_lossy(query));
    let body = Bytes::copy_from_slice(body);
    for names in [&["image"][..], &["image1", "image2"][..]] {
        if let Ok(images) = runtime.block_on(parse_images(Some(content_type), body.clone(), names)) {
            assert_eq!(images.len(), names.len());
            assert!(images.iter().map(|i| i.len()).sum::<usize>() <= body.len());
        }
    }
}

/// The `import` target: any file gives lines or a `bad_export` error at a line, never a panic;
/// a face line that passes is one enrolment would accept, and so is every face of a library
/// photo.
pub fn import_target(data: &[u8]) {
    use faceprint::transfer::ExportLine;
    let Ok(mut reader) = faceprint::transfer::ExportReader::new(data) else { return };
    while let Ok(Some(line)) = reader.next_line() {
        if let ExportLine::Photo { .. } | ExportLine::Person { .. } | ExportLine::FailedFile { .. } = line {
            if let Ok(faceprint::library::LibraryRecord::Photo(photo)) =
                faceprint::transfer::library_record_of(reader.line(), line)
            {
                assert!(!photo.files.is_empty());
                assert!(photo.faces.iter().all(|f| f.face.embedding.iter().all(|x| x.is_finite())));
            }
            continue;
        }
        if let ExportLine::Face { .. } = line
            && let Ok((_, _, face)) = faceprint::transfer::face_of(reader.line(), line)
        {
            assert!(face.embedding.iter().all(|x| x.is_finite()));
            assert_eq!(face.image_sha256.len(), 64);
        }
    }
}
