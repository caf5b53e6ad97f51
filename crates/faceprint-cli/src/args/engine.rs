//! How the engine is built, flattened into each command that runs models: its flags and
//! [`EngineArgs::engine`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use faceprint::{DecodeLimits, DetectOptions, FaceEngine, InputSizing, RuntimeOptions};

/// How the engine is built; flattened into each command that runs models (and only those).
#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// An SCRFD detector with keypoints (.onnx) instead of the default pack's.
    #[arg(long, global = true, env = "FACEPRINT_DETECTOR")]
    pub detector: Option<PathBuf>,
    /// An ArcFace recogniser with 112x112 input (.onnx) instead of the default pack's.
    #[arg(long, global = true, env = "FACEPRINT_RECOGNIZER")]
    pub recognizer: Option<PathBuf>,
    /// A 106-point landmark model (InsightFace 2d106det layout) instead of the default pack's.
    #[arg(long, global = true, env = "FACEPRINT_LANDMARKER")]
    pub landmarker: Option<PathBuf>,
    /// No 106-point landmark model: analysis then has no dense landmarks, pose or eye openness,
    /// and the enrolment gate does not check them.
    #[arg(long, global = true)]
    pub no_landmarks: bool,
    /// Similarity threshold for "same person" (default: the model's, from the manifest).
    #[arg(long, global = true)]
    pub threshold: Option<f32>,
    /// A fixed similarity the best subject of an identification needs to be a match, whatever
    /// the collection's size (default: the threshold for --identify-fpir at the collection's
    /// size; see BENCHMARKS.md).
    #[arg(long, global = true)]
    pub identify_threshold: Option<f32>,
    /// Target false-positive identification rate: the share of people not enrolled that may
    /// match someone. The threshold grows with the collection to hold it (default 0.01).
    #[arg(long, global = true)]
    pub identify_fpir: Option<f64>,
    /// Parallel pipelines (default: one per core).
    #[arg(long, global = true)]
    pub workers: Option<usize>,
    /// ONNX Runtime threads per pipeline.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
    /// Largest number of faces per recogniser run (default: 32 on the CPU, 256 on a GPU).
    #[arg(long, global = true)]
    pub max_batch: Option<usize>,
    /// Many-photo work batched (true: photos prepared on every core, one session detecting over
    /// many photos per run and embedding the faces of many photos per run) or per photo (false:
    /// one pipeline per worker). Default: batched on a GPU, per photo on the CPU.
    #[arg(long, global = true)]
    pub batched: Option<bool>,
    /// Flip test-time augmentation: also embed the mirrored face (slower; see BENCHMARKS.md).
    #[arg(long, global = true)]
    pub flip: bool,
    /// Turn off flip test-time augmentation.
    #[arg(long, global = true)]
    pub no_flip: bool,
    /// Detector input: "auto" (longer side brought into 480..640, aspect kept) or a fixed square
    /// side such as 640 (InsightFace's behaviour).
    #[arg(long, global = true, default_value = "auto")]
    pub det_size: String,
    /// No second detection pass at another scale when nothing is found.
    #[arg(long, global = true)]
    pub no_second_pass: bool,
    /// Minimum detector score.
    #[arg(long, global = true, default_value_t = 0.5)]
    pub det_threshold: f32,
    /// Drop faces smaller than this many pixels (box side).
    #[arg(long, global = true, default_value_t = 0.0)]
    pub min_face: f32,
    /// Keep at most this many faces per image (default: all; `serve`: 50).
    #[arg(long, global = true)]
    pub max_faces: Option<usize>,
    /// Largest image accepted, in megapixels (default 64; `serve`: 36, with at most 256 MiB of
    /// pixels per decode).
    #[arg(long, global = true)]
    pub max_megapixels: Option<f64>,
    /// A libonnxruntime.so to load instead of the pinned one (for GPU devices: one built with
    /// the CUDA provider, its provider libraries beside it).
    #[arg(long, global = true, env = "FACEPRINT_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
    /// Set from the top-level --device.
    #[arg(skip)]
    pub device: faceprint::Device,
}

impl EngineArgs {
    /// The engine these flags describe.
    pub fn engine(&self) -> Result<FaceEngine> {
        engine_with_limits(self, DecodeLimits::default())
    }

    /// The server's engine: lower image limits and a face cap per image unless the flags say
    /// otherwise, because many requests decode and embed at once.
    pub fn server_engine(&self) -> Result<FaceEngine> {
        let args = EngineArgs { max_faces: Some(self.max_faces.unwrap_or(SERVER_MAX_FACES)), ..self.clone() };
        engine_with_limits(&args, DecodeLimits::server())
    }
}

/// Faces per image the server embeds and answers with, by default.
const SERVER_MAX_FACES: usize = 50;

/// `limits`, with `--max-megapixels` in place of its pixel limit when given.
fn engine_with_limits(args: &EngineArgs, limits: DecodeLimits) -> Result<FaceEngine> {
    let limits = match args.max_megapixels {
        Some(megapixels) => DecodeLimits { max_pixels: (megapixels * 1e6) as u64, ..limits },
        None => limits,
    };
    let sizing = match args.det_size.as_str() {
        "auto" => DetectOptions::default().sizing,
        side => {
            let side: u32 =
                side.parse().with_context(|| format!("--det-size {side:?}: use auto or a number like 640"))?;
            if side < 32 || !side.is_multiple_of(32) {
                bail!("--det-size must be a multiple of 32, at least 32");
            }
            InputSizing::Fixed { width: side, height: side }
        }
    };
    let detect = DetectOptions {
        score_threshold: args.det_threshold,
        min_face_size: args.min_face,
        max_faces: args.max_faces,
        sizing,
        second_pass: !args.no_second_pass,
        ..DetectOptions::default()
    };
    let mut builder = FaceEngine::builder()
        .threads_per_worker(args.threads)
        .flip(args.flip && !args.no_flip)
        .detect_options(detect)
        .decode_limits(limits)
        .runtime(RuntimeOptions { library: args.ort_lib.clone() })
        .device(args.device);
    if let Some(workers) = args.workers {
        builder = builder.workers(workers);
    }
    if let Some(max_batch) = args.max_batch {
        builder = builder.max_batch(max_batch);
    }
    if let Some(batched) = args.batched {
        builder = builder.batched(batched);
    }
    if let Some(path) = &args.detector {
        builder = builder.detector_path(path);
    }
    if let Some(path) = &args.recognizer {
        builder = builder.recognizer_path(path);
    }
    if let Some(path) = &args.landmarker {
        builder = builder.landmarker_path(path);
    }
    builder = builder.landmarks(!args.no_landmarks);
    if let Some(threshold) = args.threshold {
        builder = builder.recognizer_threshold(threshold);
    }
    if let Some(threshold) = args.identify_threshold {
        builder = builder.identify_threshold(threshold);
    }
    if let Some(fpir) = args.identify_fpir {
        builder = builder.identify_fpir(fpir);
    }
    let engine = builder.commit()?;
    if engine.device().requested == faceprint::Device::Auto {
        eprintln!("faceprint: --device auto: running on the {}", engine.device());
    }
    Ok(engine)
}
