use std::path::PathBuf;

/// Everything a gallery can fail with. [`GalleryError::code`] is stable for machines.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    #[error("{path} is not a faceprint gallery ({reason})")]
    Foreign { path: PathBuf, reason: String },
    #[error("{path} is damaged: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} was written by a newer faceprint (schema {found}, this build knows up to {known})")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("the gallery holds embeddings of model {gallery}, not {given}; re-embed it with `faceprint reembed`")]
    ModelMismatch { gallery: String, given: String },
    #[error("embedding has {given} dimensions, the gallery's model has {gallery}")]
    DimensionMismatch { gallery: usize, given: usize },
    #[error("no collection named {0:?}")]
    UnknownCollection(String),
    #[error("collection {0:?} already exists")]
    DuplicateCollection(String),
    #[error("no subject {0} in this collection")]
    UnknownSubject(String),
    #[error("a subject named {0:?} already exists in this collection")]
    DuplicateSubject(String),
    #[error("no face with id {0} in this collection")]
    UnknownFace(i64),
    #[error("no person {0} in the photo library")]
    UnknownPerson(i64),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("gallery storage failed: {0}")]
    Storage(String),
    #[error("vector index failed: {0}")]
    Index(String),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: std::io::Error },
    /// The database server cannot be reached, or did not answer in time.
    #[error("gallery database {location} is unreachable: {reason}")]
    Unreachable { location: String, reason: String },
    /// The database server refused the credentials.
    #[error("gallery database {location} refused the login: {reason}")]
    AuthFailed { location: String, reason: String },
    /// The database server lacks an extension the gallery needs (pgvector).
    #[error("gallery database {location} has no {extension} extension: {reason}")]
    ExtensionMissing { location: String, extension: String, reason: String },
}

impl GalleryError {
    /// A stable machine-readable code, as written in JSON output and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            GalleryError::Foreign { .. } => "gallery_foreign",
            GalleryError::Corrupt { .. } => "gallery_corrupt",
            GalleryError::TooNew { .. } => "gallery_too_new",
            GalleryError::ModelMismatch { .. } => "model_mismatch",
            GalleryError::DimensionMismatch { .. } => "dimension_mismatch",
            GalleryError::UnknownCollection(_) => "unknown_collection",
            GalleryError::DuplicateCollection(_) => "duplicate_collection",
            GalleryError::UnknownSubject(_) => "unknown_subject",
            GalleryError::DuplicateSubject(_) => "duplicate_subject",
            GalleryError::UnknownFace(_) => "unknown_face",
            GalleryError::UnknownPerson(_) => "unknown_person",
            GalleryError::Invalid(_) => "invalid_argument",
            GalleryError::Storage(_) => "storage_failed",
            GalleryError::Index(_) => "index_failed",
            GalleryError::Io { .. } => "io_failed",
            GalleryError::Unreachable { .. } => "gallery_unreachable",
            GalleryError::AuthFailed { .. } => "gallery_auth_failed",
            GalleryError::ExtensionMissing { .. } => "gallery_extension_missing",
        }
    }
}

impl From<rusqlite::Error> for GalleryError {
    fn from(e: rusqlite::Error) -> Self {
        GalleryError::Storage(e.to_string())
    }
}

pub type Result<T, E = GalleryError> = std::result::Result<T, E>;
