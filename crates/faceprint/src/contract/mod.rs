//! The JSON contracts: what the command line writes (one object per line) and what the HTTP API
//! answers, as one set of types, so the two cannot drift. Scripts outside this repository read
//! these names; the golden files in `tests/golden/` pin each shape.
//!
//! The CLI wraps a body in [`PathRecord`] (`{"path", …body}` or `{"path", "error"}`); the API
//! sends the body itself.

mod library;

pub use library::{FileErrorOut, LibraryCountsOut, LibraryStatusOut, PersonOut, PhotoHitOut, SplitOut};

use serde::Serialize;

use crate::analysis::QualityReport;
use crate::{
    BBox, Comparison, Enrolled, Error, Face, FaceAnalysis, FaceRecord, IdentifiedFace, ImageFaces, Landmarks5, Subject,
    SubjectVerdict,
};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// One face: box `[x1, y1, x2, y2]`, detector score, 5 landmarks; with embeddings its 512-d
/// faceprint and the norm it had before normalising; with analysis its 106 landmarks, pose,
/// eyes and quality beside them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FaceOut {
    #[cfg_attr(feature = "openapi", schema(value_type = [f32; 4]))]
    pub bbox: BBox,
    pub score: f32,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<[f32; 2]>))]
    pub landmarks: Landmarks5,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm: Option<f32>,
    /// `landmarks106`, `pose`, `eyes`, `quality` (analysis only).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub analysis: Option<FaceAnalysis>,
}

impl FaceOut {
    /// `with_embedding`: write the faceprint when the face has one.
    pub fn new(face: &Face, with_embedding: bool) -> Self {
        let embedding = face.embedding.as_ref().filter(|_| with_embedding);
        FaceOut {
            bbox: face.detection.bbox,
            score: face.detection.score,
            landmarks: face.detection.landmarks,
            embedding: embedding.map(|e| e.vector.clone()),
            norm: embedding.map(|e| e.raw_norm),
            analysis: face.analysis.clone(),
        }
    }
}

/// The faces of one image: `detect`, `embed`, `analyze`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImageOut {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceOut>,
}

impl ImageOut {
    pub fn new(image: &ImageFaces, with_embeddings: bool) -> Self {
        ImageOut {
            width: image.width,
            height: image.height,
            faces: image.faces.iter().map(|f| FaceOut::new(f, with_embeddings)).collect(),
        }
    }
}

/// `compare`: are two faces the same person?
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CompareOut {
    pub similarity: f32,
    pub threshold: f32,
    pub same: bool,
}

impl From<Comparison> for CompareOut {
    fn from(c: Comparison) -> Self {
        CompareOut { similarity: c.similarity, threshold: c.threshold, same: c.same }
    }
}

/// One candidate of an identification.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CandidateOut {
    pub subject: String,
    pub subject_id: i64,
    pub similarity: f32,
}

/// One face of an identification.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IdentifiedOut {
    #[cfg_attr(feature = "openapi", schema(value_type = [f32; 4]))]
    pub bbox: BBox,
    pub score: f32,
    pub candidates: Vec<CandidateOut>,
    /// The best candidate's name when it reaches the threshold; `null`: unknown.
    #[serde(rename = "match")]
    pub matched: Option<String>,
    /// The probe face's quality score and parts; `null` when it was not analysed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub quality: Option<QualityReport>,
    /// The similarity a match needed: the threshold for the target FPIR at the collection's
    /// size, or the fixed one given.
    pub threshold: f32,
}

impl From<&IdentifiedFace> for IdentifiedOut {
    fn from(f: &IdentifiedFace) -> Self {
        IdentifiedOut {
            bbox: f.detection.bbox,
            score: f.detection.score,
            candidates: f
                .candidates
                .iter()
                .map(|c| CandidateOut {
                    subject: c.subject.clone(),
                    subject_id: c.subject_id,
                    similarity: c.similarity,
                })
                .collect(),
            matched: f.matched.as_ref().map(|c| c.subject.clone()),
            quality: f.quality,
            threshold: f.threshold,
        }
    }
}

/// `identify`: every face of a photo.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IdentifyOut {
    pub faces: Vec<IdentifiedOut>,
}

impl IdentifyOut {
    pub fn new(faces: &[IdentifiedFace]) -> Self {
        IdentifyOut { faces: faces.iter().map(IdentifiedOut::from).collect() }
    }
}

/// `verify`: is the face this enrolled subject?
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VerifyOut {
    pub subject: String,
    /// Similarity to the subject's best template; `null` when it has no faces.
    pub similarity: Option<f32>,
    pub threshold: f32,
    pub same: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub quality: Option<QualityReport>,
}

impl From<SubjectVerdict> for VerifyOut {
    fn from(v: SubjectVerdict) -> Self {
        VerifyOut {
            subject: v.subject.name,
            similarity: v.similarity,
            threshold: v.threshold,
            same: v.same,
            quality: v.quality,
        }
    }
}

/// An enrolled face.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EnrolledOut {
    pub face_id: i64,
    pub subject_id: i64,
    /// True when this photo was already enrolled for the subject: nothing was added.
    pub duplicate: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = [f32; 4]))]
    pub bbox: BBox,
    pub score: f32,
    /// `null` when the face was not analysed (the gate forced off).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub quality: Option<QualityReport>,
    /// What the quality gate found wrong without refusing ("profile pose", "blurry", …).
    pub warnings: Vec<String>,
}

impl From<&Enrolled> for EnrolledOut {
    fn from(e: &Enrolled) -> Self {
        EnrolledOut {
            face_id: e.added.face_id,
            subject_id: e.added.subject_id,
            duplicate: e.added.duplicate,
            bbox: e.detection.bbox,
            score: e.detection.score,
            quality: e.analysis.as_ref().map(|a| a.quality),
            warnings: e.warnings.iter().map(|i| i.to_string()).collect(),
        }
    }
}

/// A subject.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SubjectOut {
    pub id: i64,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    /// Face templates enrolled.
    pub faces: usize,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<Subject> for SubjectOut {
    fn from(s: Subject) -> Self {
        SubjectOut { id: s.id, name: s.name, metadata: s.metadata, faces: s.faces, created_at: s.created_at }
    }
}

/// One stored face template (without its embedding).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FaceRecordOut {
    pub id: i64,
    pub model: String,
    pub detection_score: f32,
    #[cfg_attr(feature = "openapi", schema(value_type = [f32; 4]))]
    pub bbox: BBox,
    pub image_sha256: String,
    pub enrolled_at: i64,
    /// Whether the aligned crop is stored (re-embedding needs it).
    pub has_crop: bool,
}

impl From<FaceRecord> for FaceRecordOut {
    fn from(f: FaceRecord) -> Self {
        FaceRecordOut {
            id: f.id,
            model: f.model.to_string(),
            detection_score: f.detection_score,
            bbox: f.bbox,
            image_sha256: f.image_sha256,
            enrolled_at: f.enrolled_at,
            has_crop: f.has_crop,
        }
    }
}

/// A subject and its face templates.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SubjectDetailOut {
    #[serde(flatten)]
    pub subject: SubjectOut,
    pub face_records: Vec<FaceRecordOut>,
}

/// Why something failed: a stable code, a message, and for `low_quality` the reasons.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorOut {
    pub code: String,
    pub message: String,
    /// For `low_quality`: the findings that refused the face.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    /// For `low_quality`: the face's combined quality score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<f32>,
}

impl ErrorOut {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorOut { code: code.into(), message: message.into(), reasons: None, quality: None }
    }
}

impl From<&Error> for ErrorOut {
    fn from(error: &Error) -> Self {
        let mut out = ErrorOut::new(error.code(), error.to_string());
        if let Error::LowQuality { issues, score } = error {
            out.reasons = Some(issues.iter().map(|i| i.to_string()).collect());
            out.quality = Some(*score);
        }
        out
    }
}

/// A command-line line: the input's path, then its answer or its error.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PathRecord<T> {
    Done {
        path: String,
        #[serde(flatten)]
        body: T,
    },
    Failed {
        path: String,
        error: ErrorOut,
    },
}

impl<T> PathRecord<T> {
    pub fn new<U>(path: &std::path::Path, result: &Result<U, Error>, body: impl FnOnce(&U) -> T) -> Self {
        let path = path.display().to_string();
        match result {
            Ok(value) => PathRecord::Done { path, body: body(value) },
            Err(error) => PathRecord::Failed { path, error: error.into() },
        }
    }
}
