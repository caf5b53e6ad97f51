//! The command line's JSON lines: the shared contract types of [`faceprint::contract`] (the
//! HTTP API answers with the same), each wrapped with the input's path.

use std::path::Path;

use faceprint::contract::{CompareOut, EnrolledOut, ErrorOut, IdentifyOut, ImageOut, PathRecord, VerifyOut};
use faceprint::{Enrolled, Error, IdentifiedFace, ImageFaces};
use serde::Serialize;

/// `detect`/`embed`/`analyze --json`: `{"path", "width", "height", "faces": [...]}` or
/// `{"path", "error"}`. Embeddings only `with_embeddings` (`embed`).
pub fn image_record(path: &Path, result: &Result<ImageFaces, Error>, with_embeddings: bool) -> PathRecord<ImageOut> {
    PathRecord::new(path, result, |image| ImageOut::new(image, with_embeddings))
}

/// `identify --json`: `{"path", "faces": [{"bbox", "score", "candidates", "match", "quality",
/// "threshold"}]}` or `{"path", "error"}`.
pub fn identify_record(path: &Path, result: &Result<Vec<IdentifiedFace>, Error>) -> PathRecord<IdentifyOut> {
    PathRecord::new(path, result, |faces| IdentifyOut::new(faces))
}

/// `compare --json`.
pub type CompareRecord = CompareOut;

/// `verify --json`: the path and the verdict.
pub fn verify_record(path: &Path, verdict: faceprint::SubjectVerdict) -> PathRecord<VerifyOut> {
    PathRecord::Done { path: path.display().to_string(), body: verdict.into() }
}

/// `enroll`: one line per photo (with `line` for a bulk list), the enrolled face or the error.
#[derive(Debug, Serialize)]
pub struct EnrolRecord {
    pub path: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(flatten)]
    pub outcome: EnrolOutcome,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EnrolOutcome {
    Enrolled(EnrolledOut),
    Failed { error: ErrorOut },
}

impl EnrolOutcome {
    pub fn new(result: &Result<Enrolled, Error>) -> Self {
        match result {
            Ok(enrolled) => EnrolOutcome::Enrolled(enrolled.into()),
            Err(error) => EnrolOutcome::Failed { error: error.into() },
        }
    }
}

/// One line per face of an identification, for people.
pub fn identify_human(record: &PathRecord<IdentifyOut>) -> String {
    match record {
        PathRecord::Failed { path, error } => format!("{path}: error: {}\n", error.message),
        PathRecord::Done { path, body } if body.faces.is_empty() => format!("{path}: no face\n"),
        PathRecord::Done { path, body } => body
            .faces
            .iter()
            .map(|f| {
                let b = f.bbox;
                let who = match (&f.matched, f.candidates.first()) {
                    (Some(name), Some(best)) => format!("{name} ({:.3})", best.similarity),
                    (None, Some(best)) => format!("unknown (closest: {} {:.3})", best.subject, best.similarity),
                    (None | Some(_), None) => "unknown (empty gallery)".to_owned(),
                };
                let quality = f.quality.map(|q| format!(" (probe quality {:.2})", q.score)).unwrap_or_default();
                format!("{path}: face at [{:.0}, {:.0}, {:.0}, {:.0}]: {who}{quality}\n", b.x1, b.y1, b.x2, b.y2)
            })
            .collect(),
    }
}
