//! The JSON contracts other programs parse. Keep them stable.

use std::path::Path;

use faceprint::{BBox, Error, FaceAnalysis, IdentifiedFace, ImageFaces, Landmarks5};
use serde::Serialize;

/// `{"path", "width", "height", "faces": [...]}` or `{"path", "error": {"code", "message"}}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FileRecord {
    Faces { path: String, width: u32, height: u32, faces: Vec<FaceRecord> },
    Failed { path: String, error: ErrorRecord },
}

#[derive(Debug, Serialize)]
pub struct FaceRecord {
    pub bbox: BBox,
    pub score: f32,
    pub landmarks: Landmarks5,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm: Option<f32>,
    /// `analyze`: landmarks106, pose, eyes, quality.
    #[serde(flatten)]
    pub analysis: Option<FaceAnalysis>,
}

#[derive(Debug, Serialize)]
pub struct ErrorRecord {
    pub code: &'static str,
    pub message: String,
}

impl ErrorRecord {
    pub fn from_error(error: &Error) -> Self {
        Self { code: error.code(), message: error.to_string() }
    }
}

impl FileRecord {
    /// Each face's embedding is written only `with_embeddings` (`embed`); its analysis whenever
    /// it has one (`analyze`).
    pub fn new(path: &Path, result: &Result<ImageFaces, Error>, with_embeddings: bool) -> Self {
        let path = path.display().to_string();
        match result {
            Ok(image) => FileRecord::Faces {
                path,
                width: image.width,
                height: image.height,
                faces: image
                    .faces
                    .iter()
                    .map(|f| {
                        let embedding = f.embedding.as_ref().filter(|_| with_embeddings);
                        FaceRecord {
                            bbox: f.detection.bbox,
                            score: f.detection.score,
                            landmarks: f.detection.landmarks,
                            embedding: embedding.map(|e| e.vector.clone()),
                            norm: embedding.map(|e| e.raw_norm),
                            analysis: f.analysis.clone(),
                        }
                    })
                    .collect(),
            },
            Err(error) => FileRecord::Failed { path, error: ErrorRecord::from_error(error) },
        }
    }
}

/// `compare --json`.
#[derive(Debug, Serialize)]
pub struct CompareRecord {
    pub similarity: f32,
    pub threshold: f32,
    pub same: bool,
}

/// `identify --json`: `{"path", "faces": [{"bbox", "score", "candidates": [{"subject",
/// "similarity"}], "match", "threshold"}]}` or `{"path", "error"}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum IdentifyRecord {
    Faces { path: String, faces: Vec<IdentifiedRecord> },
    Failed { path: String, error: ErrorRecord },
}

#[derive(Debug, Serialize)]
pub struct IdentifiedRecord {
    pub bbox: BBox,
    pub score: f32,
    pub candidates: Vec<CandidateRecord>,
    #[serde(rename = "match")]
    pub matched: Option<String>,
    /// The probe face's quality score and parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<faceprint::analysis::QualityReport>,
    /// The similarity a match needed at the collection's size.
    pub threshold: f32,
}

#[derive(Debug, Serialize)]
pub struct CandidateRecord {
    pub subject: String,
    pub similarity: f32,
}

impl IdentifyRecord {
    pub fn new(path: &Path, result: &Result<Vec<IdentifiedFace>, Error>) -> Self {
        let path = path.display().to_string();
        match result {
            Ok(faces) => IdentifyRecord::Faces {
                path,
                faces: faces
                    .iter()
                    .map(|f| IdentifiedRecord {
                        bbox: f.detection.bbox,
                        score: f.detection.score,
                        candidates: f
                            .candidates
                            .iter()
                            .map(|c| CandidateRecord { subject: c.subject.clone(), similarity: c.similarity })
                            .collect(),
                        matched: f.matched.as_ref().map(|c| c.subject.clone()),
                        quality: f.quality,
                        threshold: f.threshold,
                    })
                    .collect(),
            },
            Err(error) => IdentifyRecord::Failed { path, error: ErrorRecord::from_error(error) },
        }
    }

    /// One line per face for people.
    pub fn human(&self) -> String {
        match self {
            IdentifyRecord::Failed { path, error } => format!("{path}: error: {}\n", error.message),
            IdentifyRecord::Faces { path, faces } if faces.is_empty() => format!("{path}: no face\n"),
            IdentifyRecord::Faces { path, faces } => faces
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
}
