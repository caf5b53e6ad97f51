//! The export reader: any file gives lines or a `bad_export` error at a line, never a panic; a
//! face line that passes is one enrolment would accept, and so is every face of a library photo.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(mut reader) = faceprint::transfer::ExportReader::new(data) else { return };
        while let Ok(Some(line)) = reader.next_line() {
            use faceprint::transfer::ExportLine;
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
    });
}
