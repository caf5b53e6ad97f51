//! The export reader: any file gives lines or a `bad_export` error at a line, never a panic; a
//! face line that passes is one enrolment would accept.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(mut reader) = faceprint::transfer::ExportReader::new(data) else { return };
        while let Ok(Some(line)) = reader.next_line() {
            if let faceprint::transfer::ExportLine::Face { .. } = line
                && let Ok((_, _, face)) = faceprint::transfer::face_of(reader.line(), line)
            {
                assert!(face.embedding.iter().all(|x| x.is_finite()));
                assert_eq!(face.image_sha256.len(), 64);
            }
        }
    });
}
