//! The engine: a pool of model pipelines and the settings they run with ([`FaceEngine`]), built
//! by [`FaceEngineBuilder`] (`builder`: settings, fetching and opening models on a device);
//! `pipeline` runs one photo through decode → detect → select → align → embed.

mod builder;
mod pipeline;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use faceprint_infer::{ArcFaceRecognizer, DetectOptions, DeviceChoice, Landmarker106, ScrfdDetector};
use faceprint_types::{DetectedFace, Embedding, ModelId};
use faceprint_vision::analysis::QualityScales;
use faceprint_vision::{DecodeLimits, RgbImage, align_to_arcface_112, decode_image};

use crate::batch::StageTimes;
use crate::face_analysis::FaceAnalysis;
use crate::files::read_limited;
use crate::open_set::IdentifyThreshold;
use crate::{Error, FaceSelect};

pub use builder::{FaceEngineBuilder, GPU_WORKERS};
pub(crate) use pipeline::{Stages, turn_clockwise};

/// One detector and one recogniser session, used by one thread at a time.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) detector: ScrfdDetector,
    pub(crate) recognizer: ArcFaceRecognizer,
    pub(crate) landmarker: Option<Landmarker106>,
}

/// The face recognition engine: a pool of model sessions plus the settings they run with.
/// `Sync`: share it behind an `Arc`; each call borrows one pipeline.
#[derive(Debug)]
pub struct FaceEngine {
    pub(crate) workers: Vec<Mutex<Worker>>,
    device: DeviceChoice,
    /// Many-photo work goes through the batched pipeline (`batched.rs`).
    pub(crate) batched: bool,
    /// The detector's first-pass input sizing (its own when the model has a fixed input).
    pub(crate) detector_sizing: faceprint_vision::scrfd::InputSizing,
    next_worker: AtomicUsize,
    model_id: ModelId,
    threshold: f32,
    identify: IdentifyThreshold,
    pub(crate) quality_scales: QualityScales,
    has_landmarks: bool,
    pub(crate) detect: DetectOptions,
    pub(crate) limits: DecodeLimits,
}

/// One face of an image: where it is and, when asked for, its embedding.
#[derive(Debug, Clone)]
pub struct Face {
    pub detection: DetectedFace,
    pub embedding: Option<Embedding>,
    /// The aligned 112×112 crop the embedding was computed from, when asked for (enrolment
    /// keeps it so a gallery can be re-embedded).
    pub aligned: Option<RgbImage>,
    /// Dense landmarks, head pose, eye openness and quality, when asked for.
    pub analysis: Option<FaceAnalysis>,
}

/// The faces of one image.
#[derive(Debug, Clone)]
pub struct ImageFaces {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<Face>,
    /// Hex sha256 of the encoded image, at enrolment (which stores it with the faces).
    pub source_sha256: Option<String>,
    /// Degrees clockwise the image was turned, after its EXIF orientation, before its faces were
    /// found (boxes and landmarks are in the turned image): 0 unless a photo without an
    /// orientation tag had no face, or only a sideways or upside-down one, and was turned
    /// (photo libraries do).
    pub rotation: u16,
}

impl ImageFaces {
    /// The embedding of face `index`, or why there is none.
    pub fn embedding(&self, index: usize) -> Result<&Embedding, Error> {
        if self.faces.is_empty() {
            return Err(Error::NoFace);
        }
        let face = self.faces.get(index).ok_or(Error::NoSuchFace { index, count: self.faces.len() })?;
        face.embedding.as_ref().ok_or_else(|| Error::Config("embeddings were not computed".into()))
    }
}

/// The answer of a 1:1 comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub similarity: f32,
    pub threshold: f32,
    pub same: bool,
}

impl FaceEngine {
    pub fn builder() -> FaceEngineBuilder {
        FaceEngineBuilder::default()
    }

    /// The embedding space this engine's faceprints live in.
    pub fn model_id(&self) -> &ModelId {
        &self.model_id
    }

    /// Cosine similarity at or above which two faces are called the same person.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// How a 1:N search decides between a match and "unknown".
    pub fn identify_rule(&self) -> IdentifyThreshold {
        self.identify
    }

    /// Cosine similarity at or above which the best subject of a 1:N search among `faces`
    /// enrolled faces is a match.
    pub fn identify_threshold_for(&self, faces: usize) -> f32 {
        self.identify.for_faces(faces)
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Where the models run, and for `auto` why.
    pub fn device(&self) -> &DeviceChoice {
        &self.device
    }

    /// Whether many-photo work runs batched ([`FaceEngineBuilder::batched`]).
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// Embeddings of aligned 112×112 crops (as [`Face::aligned`] keeps them), split across every
    /// worker, each running the recogniser over its share in batches.
    pub fn embed_aligned(&self, crops: &[RgbImage]) -> Result<Vec<Embedding>, Error> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let per_worker = crops.len().div_ceil(self.workers.len());
        let parts: Vec<Result<Vec<Embedding>, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = crops
                .chunks(per_worker)
                .zip(&self.workers)
                .map(|(part, worker)| {
                    scope.spawn(move || {
                        let mut worker = worker.lock().unwrap_or_else(|e| e.into_inner());
                        Ok(worker.recognizer.embed(part)?)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("embedding thread panicked")).collect()
        });
        Ok(parts.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }

    pub fn decode_limits(&self) -> &DecodeLimits {
        &self.limits
    }

    pub fn detect_options(&self) -> &DetectOptions {
        &self.detect
    }

    /// Decodes image bytes under this engine's limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, Error> {
        Ok(decode_image(bytes, &self.limits)?)
    }

    /// Every face in a decoded image, best score first.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<DetectedFace>, Error> {
        let mut worker = self.any_worker();
        Ok(worker.detector.detect(image, &self.detect)?)
    }

    /// Embeddings of the given faces of `image`, in one batched run.
    pub fn embed(&self, image: &RgbImage, faces: &[DetectedFace]) -> Result<Vec<Embedding>, Error> {
        let crops: Vec<RgbImage> = faces.iter().map(|f| align_to_arcface_112(image, &f.landmarks)).collect();
        let mut worker = self.any_worker();
        Ok(worker.recognizer.embed(&crops)?)
    }

    /// Detects (and optionally embeds) the selected faces of an encoded image.
    pub fn faces_in_bytes(&self, bytes: &[u8], select: FaceSelect, embed: bool) -> Result<ImageFaces, Error> {
        let mut worker = self.any_worker();
        self.run_pipeline(&mut worker, bytes, select, Stages::from_embed(embed), &mut StageTimes::default())
    }

    /// Detects, embeds and keeps the aligned crops and the image's sha256: what enrolment stores.
    pub fn faces_for_enrolment(&self, bytes: &[u8], select: FaceSelect) -> Result<ImageFaces, Error> {
        let mut worker = self.any_worker();
        self.run_pipeline(&mut worker, bytes, select, Stages::ENROL, &mut StageTimes::default())
    }

    /// Detects, embeds and analyses (106 landmarks, pose, eyes, quality) the selected faces.
    pub fn analyse_bytes(&self, bytes: &[u8], select: FaceSelect) -> Result<ImageFaces, Error> {
        let mut worker = self.any_worker();
        self.run_pipeline(&mut worker, bytes, select, Stages::ANALYSE, &mut StageTimes::default())
    }

    /// Whether a 106-point landmark model is loaded (pose and eye openness need it).
    pub fn has_landmarks(&self) -> bool {
        self.has_landmarks
    }

    /// How quality measures become part scores and the combined score.
    pub fn quality_scales(&self) -> &QualityScales {
        &self.quality_scales
    }

    /// Like [`FaceEngine::faces_in_bytes`], reading a file.
    pub fn faces_in_file(&self, path: &Path, select: FaceSelect, embed: bool) -> Result<ImageFaces, Error> {
        let bytes = read_limited(path, self.limits.max_bytes)?;
        self.faces_in_bytes(&bytes, select, embed)
    }

    /// Cosine similarity and verdict.
    pub fn compare(&self, a: &Embedding, b: &Embedding) -> Result<Comparison, Error> {
        let similarity = a
            .similarity(b)
            .ok_or_else(|| Error::ModelMismatch { left: a.model.to_string(), right: b.model.to_string() })?;
        Ok(Comparison { similarity, threshold: self.threshold, same: similarity >= self.threshold })
    }

    /// A free worker if there is one, else waits on the next in turn.
    pub(crate) fn any_worker(&self) -> std::sync::MutexGuard<'_, Worker> {
        for worker in &self.workers {
            if let Ok(guard) = worker.try_lock() {
                return guard;
            }
        }
        let turn = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[turn].lock().unwrap_or_else(|e| e.into_inner())
    }
}
