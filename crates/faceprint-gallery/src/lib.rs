//! faceprint's gallery: who is enrolled, and search over their faceprints.
//!
//! [`Gallery`] is the contract every backend meets; [`SqliteGallery`] is the embedded default
//! (one SQLite file, WAL) and `PgGallery` (feature `postgres`, on by default) keeps the same
//! data in PostgreSQL with pgvector, for many servers on one database; [`open_gallery`] opens
//! either from a path or a URL. Both keep an in-memory vector index ([`IndexKind`]: exact,
//! compressed or HNSW) that follows the store through a change log, so writes by any thread,
//! process or server are seen by the next search. This crate knows nothing of images or ONNX Runtime: it stores vectors, crops as
//! opaque PNG bytes, and answers nearest-subject queries.
//!
//! ```
//! use faceprint_gallery::{Gallery, NewFace, SqliteGallery, DEFAULT_COLLECTION};
//! use faceprint_types::{BBox, ModelId};
//!
//! # fn main() -> Result<(), faceprint_gallery::GalleryError> {
//! let dir = tempfile::tempdir().unwrap();
//! let gallery = SqliteGallery::builder().open(dir.path().join("g.db"))?;
//! let ada = gallery.create_subject(DEFAULT_COLLECTION, "Ada", serde_json::json!({}))?;
//! let face = NewFace {
//!     model: ModelId("demo".into()),
//!     embedding: vec![0.6, 0.8],
//!     detection_score: 0.9,
//!     bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
//!     image_sha256: "ab".repeat(32),
//!     crop_png: None,
//! };
//! gallery.add_face(DEFAULT_COLLECTION, &ada.id.into(), face)?;
//! let best = gallery.search(DEFAULT_COLLECTION, &ModelId("demo".into()), &[0.6, 0.8], 1)?;
//! assert_eq!(best[0].subject, "Ada");
//! # Ok(())
//! # }
//! ```

mod checks;
mod copy;
mod error;
mod follow;
mod index;
mod keys;
pub mod library;
mod model;
mod open;
#[cfg(feature = "postgres")]
mod pg;
mod sql;
mod sqlite;
mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use copy::{CopyProgress, CopyReport, copy_gallery};
pub use error::{GalleryError, Result};
pub use index::compressed::{CompressedIndex, CompressedParams, SHORTLIST_PER_RERANK, SavedCodes, ScanKernel};
pub use index::exact::ExactIndex;
pub use index::hnsw::HnswIndex;
pub use index::{ScoredFace, VectorIndex};
pub use keys::{ApiKey, KeyScope, KeyStore, StoredApiKey};
pub use model::{
    AUTO_COMPRESSED_FROM, AddedFace, Candidate, DEFAULT_COLLECTION, FaceId, FaceRecord, FullFace, GalleryStats,
    HnswParams, IndexKind, NewFace, Subject, SubjectId, SubjectKey,
};
pub use open::{OpenGallery, OpenOptions, open_gallery};
#[cfg(feature = "postgres")]
pub use pg::{PgGallery, PgGalleryBuilder, is_postgres_url};
pub use sqlite::{SqliteGallery, SqliteGalleryBuilder};

use faceprint_types::ModelId;

/// Largest subject metadata, as JSON text: it is parsed on every read of the subject.
pub const MAX_METADATA_BYTES: usize = 16 << 10;

impl From<SubjectId> for SubjectKey {
    fn from(id: SubjectId) -> Self {
        SubjectKey::Id(id)
    }
}

/// A store of enrolled people and their face templates, searchable by faceprint.
///
/// Every embedding belongs to one model ([`ModelId`]); a gallery holds one model's embeddings at
/// a time, and adding or searching with another is [`GalleryError::ModelMismatch`]. Writes are
/// durable when they return. Implementations are shared between threads (`Sync`).
pub trait Gallery: Send + Sync + std::fmt::Debug {
    /// The model whose embeddings the gallery holds, and their size; `None` while empty.
    fn model(&self) -> Result<Option<(ModelId, usize)>>;
    fn stats(&self) -> Result<GalleryStats>;

    fn collections(&self) -> Result<Vec<String>>;
    fn create_collection(&self, name: &str) -> Result<()>;

    fn create_subject(&self, collection: &str, name: &str, metadata: serde_json::Value) -> Result<Subject>;
    /// Many subjects in one transaction (bulk import): all or none.
    fn create_subjects(&self, collection: &str, subjects: Vec<(String, serde_json::Value)>) -> Result<Vec<Subject>>;
    fn subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject>;
    /// Every subject, by name. Prefer [`Gallery::subjects_page`] where the list can be long.
    fn subjects(&self, collection: &str) -> Result<Vec<Subject>>;
    /// At most `limit` subjects with ids after `after`, by id: one page of a long list.
    fn subjects_page(&self, collection: &str, after: Option<SubjectId>, limit: usize) -> Result<Vec<Subject>>;
    fn rename_subject(&self, collection: &str, key: &SubjectKey, new_name: &str) -> Result<Subject>;
    fn set_metadata(&self, collection: &str, key: &SubjectKey, metadata: serde_json::Value) -> Result<Subject>;
    /// Moves every face of `from` to `into` and deletes `from`. Faces of the same image are kept
    /// once.
    fn merge_subjects(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject>;
    /// Deletes the subject and its faces; returns how many faces went.
    fn delete_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize>;

    /// Adds a face template to a subject, durably. The same image (sha256) twice for one subject
    /// adds nothing and reports the existing face.
    fn add_face(&self, collection: &str, subject: &SubjectKey, face: NewFace) -> Result<AddedFace>;
    /// Many faces in one transaction (bulk import): all or none.
    fn add_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>>;
    fn faces(&self, collection: &str, subject: &SubjectKey) -> Result<Vec<FaceRecord>>;
    fn delete_face(&self, collection: &str, face: FaceId) -> Result<()>;

    /// Faces a search of `collection` compares a probe with (0 for an unknown collection): the
    /// size that open-set identification sets its threshold for.
    fn collection_faces(&self, collection: &str) -> Result<usize>;

    /// The `k` subjects most similar to `query`, best first. A subject's similarity is that of
    /// its best template (the maximum over its faces).
    fn search(&self, collection: &str, model: &ModelId, query: &[f32], k: usize) -> Result<Vec<Candidate>>;
    /// [`Gallery::search`] for many queries at once, using every core.
    fn search_batch(
        &self,
        collection: &str,
        model: &ModelId,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<Candidate>>>;
    /// Similarity of `query` to one subject: its best template (1:1 verification).
    fn subject_similarity(
        &self,
        collection: &str,
        key: &SubjectKey,
        model: &ModelId,
        query: &[f32],
    ) -> Result<(Subject, Option<Candidate>)>;

    /// Calls `visit` for every face of every collection, with its crop.
    fn for_each_face(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()>;
    /// Replaces every embedding with one of `model` in one transaction (re-embedding). Every
    /// face must be given.
    fn replace_model(&self, model: &ModelId, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()>;
    /// Whether the store answers, as cheaply as it can be asked (a readiness probe calls it).
    fn ready(&self) -> Result<()>;
    /// Checks the storage for damage (SQLite's `integrity_check` for the embedded store).
    fn check_integrity(&self) -> Result<()>;
}
