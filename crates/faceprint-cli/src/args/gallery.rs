//! Which gallery, and the gallery commands' flags.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

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
