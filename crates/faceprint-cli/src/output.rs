//! The JSON contracts other programs parse. Keep them stable.

use std::path::Path;

use faceprint::{BBox, Error, ImageFaces, Landmarks5};
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
    pub fn new(path: &Path, result: &Result<ImageFaces, Error>) -> Self {
        let path = path.display().to_string();
        match result {
            Ok(image) => FileRecord::Faces {
                path,
                width: image.width,
                height: image.height,
                faces: image
                    .faces
                    .iter()
                    .map(|f| FaceRecord {
                        bbox: f.detection.bbox,
                        score: f.detection.score,
                        landmarks: f.detection.landmarks,
                        embedding: f.embedding.as_ref().map(|e| e.vector.clone()),
                        norm: f.embedding.as_ref().map(|e| e.raw_norm),
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
