//! Request parsing: the first input byte picks a content type, the next line is a query string,
//! the rest is the body. Any input gives images or an API error, never a panic.
use faceprint_server::fuzzing::{parse_images, parse_queries};

const TYPES: [&str; 5] = [
    "multipart/form-data; boundary=X",
    "multipart/form-data; boundary=\"a b\"",
    "application/json",
    "image/jpeg",
    "multipart/form-data",
];

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    afl::fuzz!(|data: &[u8]| {
        let Some((&selector, rest)) = data.split_first() else { return };
        let content_type = TYPES[selector as usize % TYPES.len()];
        let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let (query, body) = rest.split_at(split);
        parse_queries(&String::from_utf8_lossy(query));
        let body = faceprint_server::fuzzing::Bytes::copy_from_slice(body);
        for names in [&["image"][..], &["image1", "image2"][..]] {
            if let Ok(images) = runtime.block_on(parse_images(Some(content_type), body.clone(), names)) {
                assert_eq!(images.len(), names.len());
                assert!(images.iter().map(|i| i.len()).sum::<usize>() <= body.len());
            }
        }
    });
}
