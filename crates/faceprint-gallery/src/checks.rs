//! The checks every backend makes before it writes, so that they refuse the same things.

use crate::{Candidate, FaceRecord, GalleryError, NewFace, Result, Subject, SubjectKey};

const MAX_NAME_CHARS: usize = 256;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed != name {
        return Err(GalleryError::Invalid(format!("{what} name {name:?} is empty or has surrounding spaces")));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(GalleryError::Invalid(format!(
            "{what} name must be at most {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    if matches!(SubjectKey::parse(name), SubjectKey::Id(_)) {
        return Err(GalleryError::Invalid(format!("{what} name {name:?} reads as an id (#number)")));
    }
    Ok(())
}

pub(crate) fn check_metadata(metadata: &serde_json::Value) -> Result<()> {
    if !metadata.is_object() {
        return Err(GalleryError::Invalid("subject metadata must be a JSON object".into()));
    }
    // Parsed again on every read of the subject: keep it small.
    let size = metadata.to_string().len();
    if size > crate::MAX_METADATA_BYTES {
        return Err(GalleryError::Invalid(format!(
            "subject metadata is {size} bytes of JSON, over the limit of {} bytes",
            crate::MAX_METADATA_BYTES
        )));
    }
    Ok(())
}

pub(crate) fn check_face(face: &NewFace) -> Result<()> {
    if face.embedding.is_empty() || face.embedding.iter().any(|v| !v.is_finite()) {
        return Err(GalleryError::Invalid("embedding is empty or not finite".into()));
    }
    let norm = face.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    if (norm - 1.0).abs() > 1e-3 {
        return Err(GalleryError::Invalid(format!("embedding is not L2-normalised (norm {norm})")));
    }
    if face.image_sha256.len() != 64 || !face.image_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GalleryError::Invalid("image_sha256 must be 64 hex digits".into()));
    }
    Ok(())
}

/// A subject's score against a probe: its best template (1:1 verification); `None` without faces.
pub(crate) fn best_template(subject: &Subject, faces: &[FaceRecord], query: &[f32]) -> Option<Candidate> {
    faces
        .iter()
        .map(|f| (f.id, faceprint_types::cosine_similarity(&f.embedding, query)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(face_id, similarity)| Candidate {
            subject_id: subject.id,
            subject: subject.name.clone(),
            similarity,
            face_id,
        })
}
