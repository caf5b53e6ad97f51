//! A photo library kept beside the gallery: which files were indexed, the faces found in them,
//! and the people those faces were grouped into.
//!
//! Every face of a photo is a gallery face in [`LIBRARY_COLLECTION`], under a subject that
//! stands for the photo (named by the photo's sha256), so searching the library is a gallery
//! search: the same vector index, and a result per photo, ranked by its best face. The tables
//! here add what a gallery does not know: files (by path, with the size and time they had, or
//! the error they gave), face landmarks and quality, people, and faces barred from a person.
//!
//! The library is written once for every store, in portable SQL ([`store`]); a backend only
//! opens its transactions ([`store::LibraryStorage`]).

mod rows;
mod store;
mod transfer;

pub(crate) use store::LibraryStorage;

use faceprint_types::BBox;
use serde::Serialize;

use crate::{FaceId, NewFace, Result, SubjectId};

pub type PhotoId = i64;
pub type PersonId = i64;

/// The gallery collection holding every library face, one subject per photo.
pub const LIBRARY_COLLECTION: &str = "library";

/// Best-quality faces of a named person copied to its gallery subject as templates: enough
/// views for identification, few enough that one odd face does not decide it.
pub const TEMPLATES_PER_PERSON: usize = 32;

/// What a file looked like when it was indexed: a file with the same stamp is not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: i64,
}

/// A path the library has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub stamp: FileStamp,
    /// The photo its content is; `None` when it failed.
    pub photo: Option<PhotoId>,
    pub error: Option<String>,
}

/// One face of a photo to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLibraryFace {
    /// Embedding, box, detection score and crop; `image_sha256` is ignored (the store derives a
    /// key per face of the photo).
    pub face: NewFace,
    /// The 5 detector landmarks, x and y in turn, in the (turned) photo's pixels.
    pub landmarks: [f32; 10],
    /// Combined quality in [0, 1].
    pub quality: f32,
}

/// A photo to store with its first path and all its faces, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPhoto {
    pub path: String,
    pub stamp: FileStamp,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    /// Degrees clockwise the photo was turned before its faces were found.
    pub rotation: u16,
    pub faces: Vec<NewLibraryFace>,
}

/// A stored library face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibraryFace {
    pub face_id: FaceId,
    pub photo: PhotoId,
    pub person: Option<PersonId>,
    pub quality: f32,
    pub detection_score: f32,
    pub bbox: BBox,
    pub landmarks: [f32; 10],
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

/// A stored photo and the paths it is found at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibraryPhoto {
    pub id: PhotoId,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub rotation: u16,
    pub paths: Vec<String>,
}

/// A person of the library: a group of faces, named or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    pub id: PersonId,
    pub name: Option<String>,
    pub faces: usize,
    /// The best-quality face, to show.
    pub representative_face: Option<FaceId>,
    /// The gallery subject (default collection) a named person is enrolled as.
    pub subject_id: Option<SubjectId>,
}

/// Counts for `library status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LibraryStatus {
    pub photos: usize,
    pub files: usize,
    pub faces: usize,
    pub people: usize,
    pub named_people: usize,
    pub unassigned_faces: usize,
    pub errors: usize,
    /// Files indexed before that were not found since: their photos, faces and people are
    /// kept until `forget-missing` removes them.
    pub missing_files: usize,
}

/// A file indexed before and not found since (deleted, moved away, or on a drive not mounted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingFile {
    pub path: String,
    /// The photo it showed; `None` for a file that had failed.
    pub photo: Option<PhotoId>,
    /// Unix seconds when it was first found missing.
    pub missing_since: i64,
}

/// A window of a long list: skip `offset` entries, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
}

impl Page {
    /// Everything (for the command line, which reads its own file).
    pub const ALL: Page = Page { offset: 0, limit: usize::MAX };
}

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub path: String,
    pub error: String,
}

/// A file as an export carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub path: String,
    pub stamp: FileStamp,
    /// Unix seconds since it was found missing, if it is.
    pub missing_since: Option<i64>,
    /// Why it could not be indexed (a failed file has no photo).
    pub error: Option<String>,
}

/// A photo as an export carries it: its files, and its faces in the order they were stored
/// (a face's key is derived from the photo and that position).
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoRecord {
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub rotation: u16,
    pub files: Vec<FileRecord>,
    pub faces: Vec<NewLibraryFace>,
}

/// A face named by its photo's sha256 and its gallery key: ids do not survive a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceRef {
    pub photo: String,
    pub key: String,
}

/// A person as an export carries it: name, the enrolled subject it stands for, its faces, and
/// the faces kept from it (by hand, `split: None`, or by a split).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub name: Option<String>,
    /// The default collection's subject of a named person.
    pub subject: Option<String>,
    pub faces: Vec<FaceRef>,
    pub barred: Vec<(FaceRef, Option<i64>)>,
}

/// One record of a library export: every photo, then every person, then the failed files.
#[derive(Debug, Clone, PartialEq)]
pub enum LibraryRecord {
    Photo(PhotoRecord),
    Person(PersonRecord),
    FailedFile(FileRecord),
}

/// Where a photo library lives. Every write is one durable transaction, so a killed indexing
/// run keeps every photo it reported and resumes after it. A path points at one photo: pointing
/// it elsewhere (a file whose content changed, or that broke) removes the photo it showed if no
/// other file shows it.
pub trait Library: Send + Sync + std::fmt::Debug {
    fn known_file(&self, path: &str) -> Result<Option<KnownFile>>;
    fn photo_by_sha256(&self, sha256: &str) -> Result<Option<PhotoId>>;
    /// Records that `path` holds the content of `photo` (a renamed, moved or copied file).
    fn link_file(&self, path: &str, stamp: FileStamp, photo: PhotoId) -> Result<()>;
    /// Stores a photo, its path and its faces. A photo whose content is already stored only
    /// gains the path.
    fn add_photo(&self, photo: NewPhoto) -> Result<PhotoId>;
    /// Records that `path` could not be indexed (it is tried again once it changes).
    fn record_file_error(&self, path: &str, stamp: FileStamp, error: &str) -> Result<()>;
    /// Every path the library knows, indexed or failed, missing or not.
    fn file_paths(&self) -> Result<Vec<String>>;
    /// Marks files as missing (kept with their photos, faces and people); files already marked
    /// keep their first date. Returns how many were newly marked.
    fn mark_missing(&self, paths: &[String]) -> Result<usize>;
    /// Clears the mark of files found again where they were; returns how many came back.
    fn mark_found(&self, paths: &[String]) -> Result<usize>;
    /// Files marked missing, oldest first; only those missing for at least `older_than_secs`.
    fn missing_files(&self, older_than_secs: Option<i64>) -> Result<Vec<MissingFile>>;
    /// Forgets files for good; a photo left with no file goes with its faces. Returns the
    /// number of photos removed.
    fn forget_files(&self, paths: &[String]) -> Result<usize>;

    fn library_status(&self) -> Result<LibraryStatus>;
    fn file_errors(&self, page: Page) -> Result<Vec<FileError>>;
    fn photos(&self, ids: &[PhotoId]) -> Result<Vec<LibraryPhoto>>;
    /// Every library face with its embedding, by id.
    fn library_faces(&self) -> Result<Vec<LibraryFace>>;
    /// The faces without a person, with their embeddings, by id.
    fn unassigned_faces(&self) -> Result<Vec<LibraryFace>>;
    fn library_face(&self, face: FaceId) -> Result<LibraryFace>;
    /// The aligned crop of a face, PNG.
    fn face_crop(&self, face: FaceId) -> Result<Option<Vec<u8>>>;
    /// Every (face, person) pair the user has kept apart.
    fn barred(&self) -> Result<Vec<(FaceId, PersonId)>>;

    /// Stores a grouping: faces joining existing people, and new people made of faces. Faces
    /// that already have a person, and joins that a bar forbids, are refused.
    fn apply_grouping(&self, joins: &[(FaceId, PersonId)], new_people: &[Vec<FaceId>]) -> Result<Vec<PersonId>>;
    /// The people, most faces first.
    fn people(&self, page: Page) -> Result<Vec<Person>>;
    fn person(&self, id: PersonId) -> Result<Person>;
    /// A person's faces, best quality first.
    fn person_faces(&self, id: PersonId, page: Page) -> Result<Vec<LibraryFace>>;
    /// Names a person and enrolls it as the gallery subject of that name in the default
    /// collection, its best faces copied as templates. When a subject of that name exists that
    /// no library person stands for (someone enrolled), joining it would mix the person's faces
    /// into theirs: refused unless `merge_into_subject` says so.
    fn name_person(&self, id: PersonId, name: &str, merge_into_subject: bool) -> Result<Person>;
    /// Moves every face of `from` into `into` and deletes `from`. Refused when both are named,
    /// when a photo has a face in each (one photo, one face per person), or when a face was
    /// removed from one of them; faces kept apart only by a split are let back (the undo).
    fn merge_people(&self, into: PersonId, from: PersonId) -> Result<Person>;
    /// Moves each group of `from`'s faces into a new person, in one transaction; they do not
    /// rejoin `from` by grouping (a merge undoes it).
    fn split_person(&self, from: PersonId, groups: &[Vec<FaceId>]) -> Result<Vec<Person>>;
    /// Takes a face from a person; it never rejoins that person.
    fn remove_face(&self, person: PersonId, face: FaceId) -> Result<()>;

    /// Calls `visit` with every photo, then every person, then every failed file, from one
    /// snapshot.
    fn export_library(&self, visit: &mut dyn FnMut(LibraryRecord) -> Result<()>) -> Result<()>;
    /// Adds one record of an export in one transaction. A photo whose content is stored only
    /// gains its files; a person whose faces already have one is left as it is (an import run
    /// twice). Returns whether anything was added.
    fn import_library(&self, record: LibraryRecord) -> Result<bool>;
}
