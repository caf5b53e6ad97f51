//! Request and response bodies. They mirror the CLI's JSON contracts.

use faceprint::analysis::QualityReport;
use faceprint::{BBox, DetectedFace, Embedding, FaceAnalysis, FaceSelect, Subject};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiError;

/// One face: box `[x1, y1, x2, y2]`, detector score, 5 landmarks, and with `/v1/embed` its
/// 512-d faceprint and the norm it had before normalising.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FaceOut {
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: Vec<[f32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub embedding: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub norm: Option<f32>,
}

pub fn bbox(b: BBox) -> [f32; 4] {
    b.into()
}

impl FaceOut {
    pub fn new(detection: &DetectedFace, embedding: Option<&Embedding>) -> Self {
        FaceOut {
            bbox: bbox(detection.bbox),
            score: detection.score,
            landmarks: detection.landmarks.to_vec(),
            embedding: embedding.map(|e| e.vector.clone()),
            norm: embedding.map(|e| e.raw_norm),
        }
    }
}

/// The faces of one image.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImageOut {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceOut>,
}

/// Every face with its 106 landmarks, pose, eyes and quality (the `analyze --json` contract).
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyzeOut {
    pub width: u32,
    pub height: u32,
    /// `{"bbox", "score", "landmarks", "landmarks106", "pose", "eyes", "quality"}` per face.
    #[schema(value_type = Vec<Object>)]
    pub faces: Vec<AnalysedFaceOut>,
}

/// One face and its analysis, side by side in one object.
#[derive(Debug, Serialize)]
pub struct AnalysedFaceOut {
    #[serde(flatten)]
    pub face: FaceOut,
    #[serde(flatten)]
    pub analysis: Option<FaceAnalysis>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CompareOut {
    pub similarity: f32,
    pub threshold: f32,
    pub same: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CandidateOut {
    pub subject: String,
    pub subject_id: i64,
    pub similarity: f32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifiedOut {
    pub bbox: [f32; 4],
    pub score: f32,
    pub candidates: Vec<CandidateOut>,
    /// The best candidate's name when it reaches the identification threshold; `null`: unknown.
    #[serde(rename = "match")]
    pub matched: Option<String>,
    /// The probe face's quality score and parts.
    #[schema(value_type = Option<Object>)]
    pub quality: Option<QualityReport>,
    /// The similarity a match needed: the threshold for the target FPIR at the collection's
    /// size, or the fixed one the server was given.
    pub threshold: f32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentifyOut {
    pub faces: Vec<IdentifiedOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    pub subject: String,
    /// Similarity to the subject's best template; `null` when it has no faces.
    pub similarity: Option<f32>,
    pub threshold: f32,
    pub same: bool,
    #[schema(value_type = Option<Object>)]
    pub quality: Option<QualityReport>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubjectOut {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub faces: usize,
    pub created_at: i64,
}

impl From<Subject> for SubjectOut {
    fn from(s: Subject) -> Self {
        SubjectOut { id: s.id, name: s.name, metadata: s.metadata, faces: s.faces, created_at: s.created_at }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FaceRecordOut {
    pub id: i64,
    pub model: String,
    pub detection_score: f32,
    pub bbox: [f32; 4],
    pub enrolled_at: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubjectDetailOut {
    #[serde(flatten)]
    pub subject: SubjectOut,
    pub face_records: Vec<FaceRecordOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewSubjectIn {
    pub name: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Either or both.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PatchSubjectIn {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolledOut {
    pub face_id: i64,
    pub subject_id: i64,
    /// True when this photo was already enrolled for the subject: nothing was added.
    pub duplicate: bool,
    pub bbox: [f32; 4],
    pub score: f32,
    #[schema(value_type = Option<Object>)]
    pub quality: Option<QualityReport>,
    /// What the quality gate found wrong with the face without refusing it ("profile pose",
    /// "blurry", …); empty when it found nothing or was forced off.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedOut {
    pub deleted: i64,
    /// Faces deleted with it.
    pub faces: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Which face of a photo: `all` (default for detection and identification), `largest` or
/// `center` (default for compare and verify).
#[derive(Debug, Deserialize, IntoParams)]
pub struct SelectQuery {
    pub select: Option<String>,
}

pub fn parse_select(text: Option<&str>, default: FaceSelect) -> Result<FaceSelect, ApiError> {
    match text {
        None => Ok(default),
        Some("all") => Ok(FaceSelect::All),
        Some("largest") => Ok(FaceSelect::Largest),
        Some("center") => Ok(FaceSelect::Center),
        Some(other) => {
            Err(ApiError::bad_request("bad_select", format!("select {other:?}: use all, largest or center")))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IdentifyQuery {
    /// Default `default`.
    pub collection: Option<String>,
    /// Candidates per face, default 5.
    pub k: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct VerifyQuery {
    pub collection: Option<String>,
    /// The subject: `#12` for id 12 (URL-encoded `%2312`), or its name.
    pub subject: String,
    pub select: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EnrolQuery {
    /// Turn the quality gate off: no refusals, no warnings.
    pub force: Option<bool>,
    pub select: Option<String>,
    /// Quality findings that refuse the face rather than warn, comma-separated (`blurry`,
    /// `too_dark`, `too_bright`, `low_contrast`, `too_small`, `profile_pose`, `eyes_closed`,
    /// `low_quality`). By default none refuses.
    pub refuse: Option<String>,
}
