//! Building an engine: its settings, fetching the model pack, and opening one pipeline per
//! worker on the chosen device.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use faceprint_infer::{
    ArcFaceRecognizer, DetectOptions, Device, DeviceChoice, InferError, Landmarker106, ModelPack, RecognizerConfig,
    RuntimeOptions, ScrfdDetector, Target, Task,
};
use faceprint_types::ModelId;
use faceprint_vision::DecodeLimits;
use faceprint_vision::analysis::{QualityScales, Ramp};

use super::{FaceEngine, Worker};
use crate::Error;
use crate::open_set::{IdentifyThreshold, ImpostorModel};

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
