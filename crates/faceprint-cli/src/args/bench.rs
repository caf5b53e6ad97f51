//! `faceprint bench …`: each benchmark's flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ClusterArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The face pipeline, side by side with InsightFace's Python pipeline on the same models;
    /// with a GPU --device, the CPU of the same machine too, and how closely their faces agree.
    Pipeline(BenchArgs),
    /// The recogniser alone on aligned crops: faces/s per batch size, on --device and (for a
    /// GPU) on the CPU in the same run.
    Recognition(RecognitionBenchArgs),
    /// Gallery search over up to millions of synthetic faceprints, side by side with FAISS.
    Search(SearchBenchArgs),
    /// The SQLite and the PostgreSQL gallery side by side: enrolment, opening, identification,
    /// and pgvector's SQL search, on the same synthetic faceprints.
    Stores(StoresBenchArgs),
    /// Clustering time, memory and quality on synthetic real-like faces (15,000 by default; up to
    /// millions), with DBSCAN (Immich's defaults) and agglomerative average linkage beside it.
    Cluster(ClusterBenchArgs),
    /// `library add` against `embed` on the same photos, rounds alternating: indexing a photo
    /// library should cost what embedding does.
    Library(LibraryBenchArgs),
    /// The HTTP server under load: starts `faceprint serve` on loopback, then drives /v1/compare
    /// and /v1/identify with 1, 8, 64 and 256 concurrent clients.
    Serve(ServeBenchArgs),
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

#[derive(Debug, clap::Args)]
pub struct ClusterBenchArgs {
    /// Faces to cluster.
    #[arg(long, default_value_t = 15_000)]
    pub n: usize,
    /// Mean faces per person: people = n / this (some get none, a few many).
    #[arg(long, default_value_t = 4.0)]
    pub faces_per_person: f64,
    /// Run the quadratic baselines (DBSCAN, agglomerative) too; by default up to 20,000 faces.
    #[arg(long)]
    pub baselines: Option<bool>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Search the graph exactly below this many faces (and with the compressed scan above).
    #[arg(long)]
    pub exact_below: Option<usize>,
    /// Faces the compressed scan re-ranks exactly per face.
    #[arg(long)]
    pub rerank: Option<usize>,
    /// Search the graph within k-means partitions from this many faces.
    #[arg(long)]
    pub partitioned_from: Option<usize>,
    /// The share of partitions each face is compared within, when partitioned.
    #[arg(long)]
    pub probed_share: Option<f32>,
    #[command(flatten)]
    pub synthetic: SyntheticArgs,
}

#[derive(Debug, clap::Args)]
pub struct LibraryBenchArgs {
    /// The folder of photos (searched recursively).
    pub root: PathBuf,
    /// Rounds of each; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecognitionBenchArgs {
    /// Photos whose faces are detected and aligned once, before timing (files or directories).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Use at most this many photos.
    #[arg(long, default_value_t = 500)]
    pub limit: usize,
    /// Crops per timed pass (the photos' faces, repeated).
    #[arg(long, default_value_t = 4096)]
    pub faces: usize,
    /// Faces per recogniser run to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32,128,256")]
    pub batch: Vec<usize>,
    /// Timed passes per batch size (after one warm-up pass); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Write the results as JSON too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SearchBenchArgs {
    /// Enrolled faceprints.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    /// Queries (genuine-like probes): agreement with exact search is measured on all of them.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Queries timed one by one for the approximate indexes (the first ones).
    #[arg(long, default_value_t = 1000)]
    pub timed_queries: usize,
    /// Queries timed one by one for exact search (each scans the whole gallery).
    #[arg(long, default_value_t = 100)]
    pub exact_single_queries: usize,
    #[arg(long, value_enum, default_value = "both")]
    pub distribution: DistributionArg,
    /// The team's test data: real faces to fit the distribution and LFW DevTest pairs.
    #[arg(long, default_value = "../shared/testdata")]
    pub testdata: PathBuf,
    /// HNSW links per node (M).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    #[arg(long, default_value_t = 128)]
    pub ef_construction: usize,
    /// HNSW search widths to sweep.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    pub ef_search: Vec<usize>,
    /// A Python with faiss-cpu and numpy: FAISS runs on the same vectors in the same command.
    #[arg(long)]
    pub faiss_python: Option<PathBuf>,
    /// Run FAISS exact search only (its HNSW build is the slowest step of the whole bench).
    #[arg(long)]
    pub no_faiss_hnsw: bool,
    /// Skip the SQLite store (filling, opening): index-only numbers.
    #[arg(long)]
    pub no_store: bool,
    /// Exact search only: no HNSW graph (ours or FAISS's).
    #[arg(long)]
    pub no_hnsw: bool,
    /// Where the gallery and vector files go (several GiB at 1M). Default: a temporary folder.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Faces the compressed index re-ranks exactly, to sweep (each out of a Hamming shortlist
    /// 8 times as long).
    #[arg(long, value_delimiter = ',', default_value = "100,200,300,500,1000")]
    pub rerank: Vec<usize>,
    /// Probes of people not enrolled, for the best-impostor curve and the FPIR rule.
    #[arg(long, default_value_t = 2000)]
    pub strangers: usize,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum DistributionArg {
    Real,
    Isotropic,
    Both,
}

/// Where the synthetic real-like faceprints of `bench stores` and `bench cluster` come from,
/// and where their results go.
#[derive(Debug, clap::Args)]
pub struct SyntheticArgs {
    /// The team's test data: real faces to fit the distribution.
    #[arg(long, default_value = "../shared/testdata")]
    pub testdata: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeBenchArgs {
    /// The team's test data (LFW DevTest and ORL).
    #[arg(long, default_value = "../shared/testdata")]
    pub data: PathBuf,
    /// Seconds per endpoint and client count.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Concurrent clients, comma-separated.
    #[arg(long, default_value = "1,8,64,256", value_delimiter = ',')]
    pub clients: Vec<usize>,
    /// The server's inference queue (`serve --queue`).
    #[arg(long, default_value_t = 32)]
    pub queue: usize,
    /// Write the results as JSON too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Instead of the load runs: an attacker's mix for --duration seconds (huge JSON bodies,
    /// 16-bit and rotated images, made-up methods, readiness floods, slow headers), with the
    /// server's peak memory and the slowest /healthz. Fails over 1 GiB or 1 s.
    #[arg(long)]
    pub hostile: bool,
}

#[derive(Debug, clap::Args)]
pub struct StoresBenchArgs {
    /// Faces in each gallery.
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    /// An empty PostgreSQL database to fill (postgres://…); it is left filled.
    #[arg(long)]
    pub postgres: String,
    /// Identification probes timed one by one through each gallery's index.
    #[arg(long, default_value_t = 500)]
    pub queries: usize,
    /// Probes timed through pgvector's SQL search (each scans every face without an index).
    #[arg(long, default_value_t = 20)]
    pub sql_queries: usize,
    /// Where the SQLite gallery goes. Default: a temporary folder.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub synthetic: SyntheticArgs,
}
