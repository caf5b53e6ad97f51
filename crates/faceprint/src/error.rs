use std::path::PathBuf;

use faceprint_gallery::GalleryError;
use faceprint_infer::InferError;
use faceprint_vision::DecodeError;
use faceprint_vision::analysis::QualityIssue;

/// Everything the faceprint API can fail with. [`Error::code`] is stable for machines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Model(#[from] InferError),
    // `reason` rather than `source`: the message already says it, so error chains do not repeat it.
    #[error("could not read {path}: {reason}")]
    Read { path: PathBuf, reason: std::io::Error },
    #[error("no face found in the image")]
    NoFace,
    #[error("face {index} requested but the image has {count}")]
    NoSuchFace { index: usize, count: usize },
    #[error("embeddings come from different models ({left} and {right}) and cannot be compared")]
    ModelMismatch { left: String, right: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Gallery(#[from] GalleryError),
    #[error("{count} faces found; enrolment takes one (choose one with --select largest or center)")]
    MultipleFaces { count: usize },
    #[error("face detection score {score:.2} is below the enrolment minimum {min:.2}")]
    LowDetectionScore { score: f32, min: f32 },
    #[error("face is {size:.0} px across, below the enrolment minimum {min:.0} px")]
    FaceTooSmall { size: f32, min: f32 },
    #[error("face refused by the quality gate: {} (quality {score:.2}); force enrolment to keep it anyway", list_issues(.issues))]
    LowQuality { issues: Vec<QualityIssue>, score: f32 },
    #[error("{count} faces have no stored crop to re-embed from (imported without one)")]
    MissingCrops { count: usize },
    #[error("export line {line}: {reason}")]
    BadExport { line: usize, reason: String },
}

impl Error {
    /// A stable machine-readable code, as written in JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Decode(e) => e.code(),
            Error::Model(e) => e.code(),
            Error::Read { reason, .. } if reason.kind() == std::io::ErrorKind::NotFound => "not_found",
            Error::Read { .. } => "read_failed",
            Error::NoFace => "no_face",
            Error::NoSuchFace { .. } => "no_such_face",
            Error::ModelMismatch { .. } => "model_mismatch",
            Error::Config(_) => "bad_config",
            Error::Gallery(e) => e.code(),
            Error::MultipleFaces { .. } => "multiple_faces",
            Error::LowDetectionScore { .. } => "low_detection_score",
            Error::FaceTooSmall { .. } => "face_too_small",
            Error::MissingCrops { .. } => "missing_crops",
            Error::BadExport { .. } => "bad_export",
            Error::LowQuality { .. } => "low_quality",
        }
    }
}

fn list_issues(issues: &[QualityIssue]) -> String {
    issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
