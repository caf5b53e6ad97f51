use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faceprint_infer::{
    ArcFaceRecognizer, DetectOptions, Device, DeviceChoice, InferError, Landmarker106, ModelPack, RecognizerConfig,
    RuntimeOptions, ScrfdDetector, Target, Task,
};
use faceprint_types::{DetectedFace, Embedding, ModelId};
use faceprint_vision::analysis::landmarks106::{mirror_image, symmetric_detection};
use faceprint_vision::analysis::{QualityScales, Ramp};
use faceprint_vision::{DecodeLimits, Decoded, RgbImage, align_to_arcface_112, decode_image, decode_oriented};

use crate::batch::StageTimes;
use crate::face_analysis::FaceAnalysis;
use crate::open_set::{IdentifyThreshold, ImpostorModel};
use crate::{Error, FaceSelect};

/// Similarity threshold used for a recogniser that brings none (a model loaded by path without
/// `recognizer_threshold`): about right for InsightFace ArcFace models; calibrate with
/// `faceprint eval lfw`.
const FALLBACK_THRESHOLD: f32 = 0.30;

/// Pipelines (each with its own sessions) on a GPU unless told otherwise: enough for the
/// server's concurrent requests to overlap on the GPU, few enough that opening them is quick.
pub const GPU_WORKERS: usize = 4;

/// Faces per recogniser run unless told otherwise: a GPU is fed by large runs, which on the CPU
/// only cost memory.
const CPU_MAX_BATCH: usize = 32;
const GPU_MAX_BATCH: usize = 256;

/// Builds a [`FaceEngine`]. Every setter is infallible; [`FaceEngineBuilder::commit`] checks,
/// fetches what is missing and loads the models.
#[derive(Debug, Clone)]
pub struct FaceEngineBuilder {
    pack: ModelPack,
    detector_path: Option<PathBuf>,
    recognizer_path: Option<PathBuf>,
    landmarker_path: Option<PathBuf>,
    landmarks: bool,
    recognizer_threshold: Option<f32>,
    identify_threshold: Option<f32>,
    identify_fpir: Option<f64>,
    workers: Option<usize>,
    threads_per_worker: usize,
    flip: bool,
    max_batch: Option<usize>,
    detect: DetectOptions,
    limits: DecodeLimits,
    runtime: RuntimeOptions,
    device: Device,
    batched: Option<bool>,
}

impl Default for FaceEngineBuilder {
    fn default() -> Self {
        Self {
            pack: ModelPack::default_pack(),
            detector_path: None,
            recognizer_path: None,
            landmarker_path: None,
            landmarks: true,
            recognizer_threshold: None,
            identify_threshold: None,
            identify_fpir: None,
            workers: None,
            threads_per_worker: 1,
            flip: false,
            max_batch: None,
            detect: DetectOptions::default(),
            limits: DecodeLimits::default(),
            runtime: RuntimeOptions::default(),
            device: Device::Cpu,
            batched: None,
        }
    }
}

impl FaceEngineBuilder {
    /// The model pack whose files are used when no path overrides them.
    pub fn pack(mut self, pack: ModelPack) -> Self {
        self.pack = pack;
        self
    }
    /// An InsightFace-compatible SCRFD detector with keypoints, by path.
    pub fn detector_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.detector_path = Some(path.into());
        self
    }
    /// An ArcFace-style recogniser with 112×112 input (for example R50, R100), by path.
    pub fn recognizer_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.recognizer_path = Some(path.into());
        self
    }
    /// A 106-point landmark model (InsightFace `2d106det` layout, 192×192 input), by path.
    pub fn landmarker_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.landmarker_path = Some(path.into());
        self
    }
    /// Whether to load the 106-point landmark model (default: yes). Without it, analysis has
    /// no dense landmarks, head pose or eye openness, and the enrolment gate cannot check them.
    pub fn landmarks(mut self, landmarks: bool) -> Self {
        self.landmarks = landmarks;
        self
    }
    /// The cosine similarity at or above which two faces are the same person.
    pub fn recognizer_threshold(mut self, threshold: f32) -> Self {
        self.recognizer_threshold = Some(threshold);
        self
    }
    /// A fixed cosine similarity at or above which the best subject of a 1:N search is a match,
    /// whatever the collection's size. Default: the threshold for [`Self::identify_fpir`] at the
    /// collection's size when the model has an impostor model, else the model's fixed one, else
    /// the 1:1 threshold.
    pub fn identify_threshold(mut self, threshold: f32) -> Self {
        self.identify_threshold = Some(threshold);
        self
    }
    /// The false-positive identification rate that 1:N search aims at: the share of probes of
    /// people not enrolled that match someone (default [`crate::DEFAULT_FPIR`], 1%).
    pub fn identify_fpir(mut self, fpir: f64) -> Self {
        self.identify_fpir = Some(fpir);
        self
    }
    /// Independent pipelines (each with its own sessions), run in parallel on multi-image work.
    /// Default: one per core on the CPU; on a GPU [`GPU_WORKERS`] (its sessions share the GPU,
    /// and many-photo work runs batched through one of them while every core prepares photos).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }
    /// ONNX Runtime intra-op threads per session. Default 1 (parallelism comes from workers).
    pub fn threads_per_worker(mut self, threads: usize) -> Self {
        self.threads_per_worker = threads;
        self
    }
    /// Flip test-time augmentation (embedding of the mirrored crop added). Default off.
    pub fn flip(mut self, flip: bool) -> Self {
        self.flip = flip;
        self
    }
    /// Largest number of face crops per recogniser run. Default: 32 on the CPU, 256 on a GPU.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = Some(max_batch);
        self
    }
    pub fn detect_options(mut self, options: DetectOptions) -> Self {
        self.detect = options;
        self
    }
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }
    /// Where ONNX Runtime's shared library comes from.
    pub fn runtime(mut self, runtime: RuntimeOptions) -> Self {
        self.runtime = runtime;
        self
    }
    /// Where the models run (default: the CPU). A CUDA device that cannot be used makes
    /// [`Self::commit`] fail with `gpu_unavailable`; [`Device::Auto`] takes GPU 0 when it works
    /// and the CPU otherwise ([`FaceEngine::device`] says which, and why).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }
    /// Run many-photo work batched: photos decoded and prepared on every core while one session
    /// detects over many photos per run and embeds the faces of many photos per run. Default: on
    /// a GPU, which needs large runs; off on the CPU, where a pipeline per core is faster.
    /// Analysis with dense landmarks and turning sideways photos stay per photo either way.
    pub fn batched(mut self, batched: bool) -> Self {
        self.batched = Some(batched);
        self
    }

    /// Fetches missing default-pack files, loads ONNX Runtime and opens every session.
    pub fn commit(self) -> Result<FaceEngine, Error> {
        if self.workers == Some(0) || self.threads_per_worker == 0 || self.max_batch == Some(0) {
            return Err(Error::Config("workers, threads per worker and batch size must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.detect.score_threshold) || !(0.0..=1.0).contains(&self.detect.nms_threshold) {
            return Err(Error::Config("detection score and NMS thresholds must lie in [0, 1]".into()));
        }
        if self.identify_fpir.is_some_and(|f| !(f > 0.0 && f < 1.0)) {
            return Err(Error::Config("the target FPIR must be between 0 and 1 (exclusive)".into()));
        }
        if [self.recognizer_threshold, self.identify_threshold].iter().flatten().any(|t| !(-1.0..=1.0).contains(t)) {
            return Err(Error::Config("a cosine similarity threshold must lie in [-1, 1]".into()));
        }
        // Fetched when any model comes from the pack: the landmark model too, unless turned off.
        let landmarks_from_pack = self.landmarks && self.landmarker_path.is_none();
        if self.detector_path.is_none() || self.recognizer_path.is_none() || landmarks_from_pack {
            self.pack.ensure_fetched()?;
        }
        let pack_model = |task: Task| {
            self.pack
                .model(task)
                .ok_or_else(|| Error::Config(format!("model pack {} has no {task:?} model", self.pack.name)))
        };
        let detector_path = match &self.detector_path {
            Some(path) => path.clone(),
            None => self.pack.path_of(&pack_model(Task::Detection)?.file),
        };
        let (recognizer_path, config, pack_threshold, pack_identify_threshold, quality_norm, impostor) =
            match &self.recognizer_path {
                Some(path) => (path.clone(), custom_recognizer_config(path)?, None, None, None, None),
                None => {
                    let spec = pack_model(Task::Recognition)?;
                    let config = RecognizerConfig {
                        model_id: ModelId(spec.name.clone()),
                        input_mean: spec.input_mean,
                        input_std: spec.input_std,
                        flip: false,
                        max_batch: 1,
                    };
                    let impostor = spec.impostor.map(|[mean, sd]| ImpostorModel { mean, sd });
                    let path = self.pack.path_of(&spec.file);
                    (path, config, spec.threshold, spec.identify_threshold, spec.quality_norm, impostor)
                }
            };
        let landmarker = match (&self.landmarker_path, self.landmarks) {
            (_, false) => None,
            (Some(path), true) => Some((path.clone(), 0.0, 1.0)),
            (None, true) => {
                self.pack.model(Task::Landmarks).map(|m| (self.pack.path_of(&m.file), m.input_mean, m.input_std))
            }
        };
        let config = RecognizerConfig { flip: self.flip, ..config };
        let threshold = self.recognizer_threshold.or(pack_threshold).unwrap_or(FALLBACK_THRESHOLD);
        // A fixed 1:N threshold wins; then a target FPIR asked for; a 1:1 threshold given
        // explicitly also moves the 1:N one unless one of those is given.
        let for_fpir = |model, fpir| IdentifyThreshold::ForFpir { model, fpir, floor: threshold };
        let identify = match (self.identify_threshold, self.identify_fpir, self.recognizer_threshold, impostor) {
            (Some(fixed), _, _, _) => IdentifyThreshold::Fixed(fixed),
            (None, Some(fpir), _, Some(model)) => for_fpir(model, fpir),
            (None, Some(_), _, None) => {
                return Err(Error::Config(
                    "a target FPIR needs the recogniser's impostor model (the model pack has one; a model loaded by \
                     path does not): give a fixed identification threshold instead"
                        .into(),
                ));
            }
            (None, None, Some(one_to_one), _) => IdentifyThreshold::Fixed(one_to_one),
            (None, None, None, Some(model)) => for_fpir(model, crate::DEFAULT_FPIR),
            (None, None, None, None) => IdentifyThreshold::Fixed(pack_identify_threshold.unwrap_or(threshold)),
        };
        let models = WorkerModels {
            detector: &detector_path,
            recognizer: (&recognizer_path, &config),
            landmarker: landmarker.as_ref().map(|(path, mean, std)| (path.as_path(), *mean, *std)),
        };
        let (workers, device) = self.open_on_device(&models)?;
        let quality_scales = QualityScales {
            embedding_norm: quality_norm.map(|[zero, one]| Ramp::new(zero, one)),
            ..QualityScales::default()
        };
        let detector_sizing =
            workers[0].lock().unwrap_or_else(|e| e.into_inner()).detector.input_sizing(self.detect.sizing);
        Ok(FaceEngine {
            workers,
            batched: self.batched.unwrap_or(device.target.is_gpu()),
            detector_sizing,
            device,
            next_worker: AtomicUsize::new(0),
            model_id: config.model_id,
            threshold,
            identify,
            quality_scales,
            has_landmarks: landmarker.is_some(),
            detect: self.detect,
            limits: self.limits,
        })
    }
}

impl FaceEngineBuilder {
    /// Every worker's sessions on the device asked for: `auto` tries GPU 0 where an NVIDIA driver
    /// is present and takes the CPU when that fails, saying why.
    fn open_on_device(&self, models: &WorkerModels<'_>) -> Result<(Vec<Mutex<Worker>>, DeviceChoice), Error> {
        let choice = |target: Target, cpu_because: Option<String>| DeviceChoice {
            requested: self.device,
            target,
            gpu_name: match target {
                Target::Cuda(id) => faceprint_infer::gpu::visible_gpus().get(id as usize).map(|g| g.model.clone()),
                Target::Cpu => None,
            },
            cpu_because,
        };
        let target = match self.device {
            Device::Cpu => Target::Cpu,
            Device::Cuda(id) => Target::Cuda(id),
            Device::Auto => {
                let cpu_because =
                    if !faceprint_infer::gpu::driver_present() {
                        "no NVIDIA driver (neither /proc/driver/nvidia nor libcuda.so.1)".to_string()
                    } else {
                        match self.open_workers(models, Target::Cuda(0)) {
                            Ok(workers) => return Ok((workers, choice(Target::Cuda(0), None))),
                            Err(Error::Model(InferError::GpuUnavailable { missing, detail, .. })) => {
                                if missing.is_empty() { detail } else { format!("missing {}", missing.join("; ")) }
                            }
                            // The CUDA build could not be fetched (offline, say): the CPU build still may be.
                            Err(Error::Model(e @ (InferError::Fetch { .. } | InferError::Checksum { .. }))) => {
                                format!("ONNX Runtime's CUDA build could not be fetched: {e}")
                            }
                            Err(other) => return Err(other),
                        }
                    };
                return Ok((self.open_workers(models, Target::Cpu)?, choice(Target::Cpu, Some(cpu_because))));
            }
        };
        Ok((self.open_workers(models, target)?, choice(target, None)))
    }

    fn open_workers(&self, models: &WorkerModels<'_>, target: Target) -> Result<Vec<Mutex<Worker>>, Error> {
        let threads = self.threads_per_worker;
        let count = self.workers.unwrap_or(match target {
            Target::Cpu => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            Target::Cuda(_) => GPU_WORKERS,
        });
        let max_batch = self.max_batch.unwrap_or(if target.is_gpu() { GPU_MAX_BATCH } else { CPU_MAX_BATCH });
        let config = RecognizerConfig { max_batch, ..models.recognizer.1.clone() };
        let mut workers = Vec::with_capacity(count);
        for _ in 0..count {
            let recognizer = models.recognizer.0;
            workers.push(Mutex::new(Worker {
                detector: ScrfdDetector::open(models.detector, threads, &self.runtime, target)?,
                recognizer: ArcFaceRecognizer::open(recognizer, config.clone(), threads, &self.runtime, target)?,
                landmarker: match models.landmarker {
                    Some((path, mean, std)) => {
                        Some(Landmarker106::open(path, mean, std, threads, &self.runtime, target)?)
                    }
                    None => None,
                },
            }));
        }
        Ok(workers)
    }
}

/// The model files every worker opens.
struct WorkerModels<'a> {
    detector: &'a Path,
    recognizer: (&'a Path, &'a RecognizerConfig),
    /// Path, input mean and input standard deviation.
    landmarker: Option<(&'a Path, f32, f32)>,
}

/// A recogniser loaded by path gets InsightFace's ArcFace normalisation and an id naming the
/// file and its content, so two different files never share an embedding space by accident.
fn custom_recognizer_config(path: &Path) -> Result<RecognizerConfig, Error> {
    if !path.is_file() {
        return Err(faceprint_infer::InferError::MissingModel { path: path.to_path_buf() }.into());
    }
    let digest = faceprint_infer::fetch::sha256_file(path)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    Ok(RecognizerConfig {
        model_id: ModelId(format!("{stem}-{}", &digest[..12])),
        input_mean: 127.5,
        input_std: 127.5,
        flip: false,
        max_batch: 1,
    })
}

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

    /// decode → detect → select → align → embed, timing each stage.
    pub(crate) fn run_pipeline(
        &self,
        worker: &mut Worker,
        bytes: &[u8],
        select: FaceSelect,
        stages: Stages,
        times: &mut StageTimes,
    ) -> Result<ImageFaces, Error> {
        let source_sha256 = stages.hash_source.then(|| sha256_hex(bytes));
        let started = Instant::now();
        let Decoded { mut image, orientation_tagged } = decode_oriented(bytes, &self.limits)?;
        times.decode += started.elapsed();

        let started = Instant::now();
        let mut detected = worker.detector.detect(&image, &self.detect)?;
        let mut rotation = 0;
        if stages.turn_untagged && !orientation_tagged {
            // A scan or an old camera's photo held sideways says nothing of which way is up.
            // The detector often still finds the face, turned: its landmarks then say which
            // way is up. When it finds nothing, every turn is tried.
            let turns = match detected.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
                None => vec![90, 180, 270],
                Some(best) => Some(turn_to_upright(&best.landmarks)).filter(|&t| t != 0).into_iter().collect(),
            };
            for degrees in turns {
                let turned = turn_clockwise(&image, degrees);
                let found = worker.detector.detect(&turned, &self.detect)?;
                if !found.is_empty() {
                    (image, detected, rotation) = (turned, found, degrees);
                    break;
                }
            }
        }
        let detect_model = worker.detector.take_model_time();
        times.detect_model += detect_model;
        times.detect_other += started.elapsed().saturating_sub(detect_model);
        let detected = select.apply(detected, image.width(), image.height());

        let mut faces: Vec<Face> = detected
            .into_iter()
            .map(|detection| Face { detection, embedding: None, aligned: None, analysis: None })
            .collect();
        if stages.embed && !faces.is_empty() {
            let started = Instant::now();
            let crops: Vec<RgbImage> =
                faces.iter().map(|f| align_to_arcface_112(&image, &f.detection.landmarks)).collect();
            times.align += started.elapsed();
            let started = Instant::now();
            let embeddings = worker.recognizer.embed(&crops)?;
            let embed_model = worker.recognizer.take_model_time();
            times.embed_model += embed_model;
            times.embed_other += started.elapsed().saturating_sub(embed_model);
            // Analysis frames its landmark crops from detections averaged with those of the
            // mirror image, so that pose and landmarks mirror exactly with the photo.
            let on_mirror = if stages.analyse && stages.dense_landmarks && worker.landmarker.is_some() {
                let started = Instant::now();
                let found = worker.detector.detect(&mirror_image(&image), &self.detect)?;
                worker.detector.take_model_time();
                times.analyse += started.elapsed();
                found
            } else {
                Vec::new()
            };
            for ((face, embedding), crop) in faces.iter_mut().zip(embeddings).zip(crops) {
                if stages.analyse {
                    let started = Instant::now();
                    let landmarks = match worker.landmarker.as_mut().filter(|_| stages.dense_landmarks) {
                        Some(landmarker) => {
                            let framing = symmetric_detection(&face.detection, &on_mirror, image.width());
                            Some(landmarker.landmarks(&image, &framing)?)
                        }
                        None => None,
                    };
                    face.analysis = Some(crate::face_analysis::analyse_face(
                        &face.detection,
                        &crop,
                        &embedding,
                        landmarks,
                        (image.width(), image.height()),
                        &self.quality_scales,
                    ));
                    times.analyse += started.elapsed();
                }
                face.embedding = Some(embedding);
                face.aligned = stages.keep_crops.then_some(crop);
            }
        }
        times.faces += faces.len();
        Ok(ImageFaces { width: image.width(), height: image.height(), faces, source_sha256, rotation })
    }
}

/// How far the pipeline runs for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stages {
    pub(crate) embed: bool,
    /// Keep the aligned crops (enrolment and the photo library store them).
    pub(crate) keep_crops: bool,
    /// Hash the encoded image (enrolment stores it; the photo library hashes files itself, before
    /// the pipeline, to skip copies).
    pub(crate) hash_source: bool,
    /// Pose, eyes and quality (needs `embed`).
    pub(crate) analyse: bool,
    /// Analysis runs the 106-point landmark model (pose and eyes need it; quality does not).
    pub(crate) dense_landmarks: bool,
    /// A photo without an EXIF orientation tag is turned when its best face is sideways or
    /// upside down (by its landmarks), or retried at 90°, 180° and 270° when it has no face.
    pub(crate) turn_untagged: bool,
}

impl Stages {
    const NOTHING: Stages = Stages {
        embed: false,
        keep_crops: false,
        hash_source: false,
        analyse: false,
        dense_landmarks: false,
        turn_untagged: false,
    };
    pub(crate) const DETECT: Stages = Stages::NOTHING;
    pub(crate) const EMBED: Stages = Stages { embed: true, ..Stages::NOTHING };
    pub(crate) const ANALYSE: Stages = Stages { embed: true, analyse: true, dense_landmarks: true, ..Stages::NOTHING };
    pub(crate) const ENROL: Stages = Stages { keep_crops: true, hash_source: true, ..Stages::ANALYSE };
    /// A photo library keeps every face's crop and quality, and turns sideways photos; the
    /// quality is the cheap one (no landmark model run), so indexing costs what embedding does.
    pub(crate) const LIBRARY: Stages = Stages { keep_crops: true, analyse: true, turn_untagged: true, ..Stages::EMBED };

    pub(crate) fn from_embed(embed: bool) -> Self {
        if embed { Stages::EMBED } else { Stages::DETECT }
    }
}

/// Degrees clockwise (0, 90, 180 or 270) that bring a face with these landmarks upright: the
/// way from its mouth to its eyes points up the face.
fn turn_to_upright(landmarks: &faceprint_types::Landmarks5) -> u16 {
    let eyes = [(landmarks[0][0] + landmarks[1][0]) / 2.0, (landmarks[0][1] + landmarks[1][1]) / 2.0];
    let mouth = [(landmarks[3][0] + landmarks[4][0]) / 2.0, (landmarks[3][1] + landmarks[4][1]) / 2.0];
    let (up_x, up_y) = (eyes[0] - mouth[0], eyes[1] - mouth[1]);
    match (up_x.abs() > up_y.abs(), up_x > 0.0, up_y > 0.0) {
        // The face's top points right: a quarter turn anticlockwise brings it up.
        (true, true, _) => 270,
        (true, false, _) => 90,
        (false, _, true) => 180,
        (false, _, false) => 0,
    }
}

/// `image` turned clockwise by 0, 90, 180 or 270 degrees.
pub(crate) fn turn_clockwise(image: &RgbImage, degrees: u16) -> RgbImage {
    match degrees {
        90 => image::imageops::rotate90(image),
        180 => image::imageops::rotate180(image),
        270 => image::imageops::rotate270(image),
        _ => image.clone(),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file, refusing one larger than `max_bytes` before reading it (a decompression bomb's
/// cousin: a huge file).
pub(crate) fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|reason| Error::Read { path: path.to_path_buf(), reason })?;
    read_open_limited(file, path, max_bytes)
}

/// Reads an open file (`path` names it in errors): refused from its length when that is over
/// `max_bytes`, and never read past `max_bytes + 1` bytes, so a file that grows while it is
/// read, or a device that never ends, costs no more than the limit.
pub(crate) fn read_open_limited(file: std::fs::File, path: &Path, max_bytes: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let read_error = |reason| Error::Read { path: path.to_path_buf(), reason };
    let too_big = |size| Error::from(faceprint_vision::DecodeError::TooManyBytes { size, limit: max_bytes });
    let length = file.metadata().map_err(read_error)?.len();
    if length > max_bytes {
        return Err(too_big(length));
    }
    let mut bytes = Vec::with_capacity(length as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(read_error)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

impl StageTimes {
    /// All time spent, model time included.
    pub fn total(&self) -> Duration {
        self.decode
            + self.detect_model
            + self.detect_other
            + self.align
            + self.embed_model
            + self.embed_other
            + self.analyse
    }
}

#[cfg(test)]
mod tests {
    use super::turn_to_upright;

    #[test]
    fn the_turn_that_brings_a_face_upright_is_read_from_its_landmarks() {
        // Eyes at y 40, nose 55, mouth 70: upright.
        let upright = [[40.0, 40.0], [60.0, 40.0], [50.0, 55.0], [42.0, 70.0], [58.0, 70.0]];
        let turned = |f: fn([f32; 2]) -> [f32; 2]| upright.map(f);
        assert_eq!(turn_to_upright(&upright), 0);
        // The photo turned a quarter clockwise (x, y) → (100 − y, x): the face's top points right.
        assert_eq!(turn_to_upright(&turned(|[x, y]| [100.0 - y, x])), 270);
        assert_eq!(turn_to_upright(&turned(|[x, y]| [y, 100.0 - x])), 90);
        assert_eq!(turn_to_upright(&turned(|[x, y]| [100.0 - x, 100.0 - y])), 180);
        // A head tilted 30° is still upright.
        let tilted = upright.map(|[x, y]| [x + 0.58 * (y - 55.0), y]);
        assert_eq!(turn_to_upright(&tilted), 0);
    }
}
