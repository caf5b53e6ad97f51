//! The photo library: index folders of photos, group their faces into people, name them, and
//! find a person across the photos.
//!
//! ```no_run
//! use faceprint::library::{GroupingOptions, group_new_faces, index_folders};
//! use faceprint::{FaceEngine, SqliteGallery};
//!
//! # fn main() -> Result<(), faceprint::Error> {
//! let engine = FaceEngine::builder().commit()?;
//! let library = SqliteGallery::open("lib.db")?;
//! let report = index_folders(&engine, &library, &["Pictures".into()], |_, _| {})?;
//! // The SQLite gallery is both the gallery (search) and the library (files, faces, people).
//! let grouped = group_new_faces(&library, &library, &GroupingOptions::default())?;
//! println!("{} photos added, {} new people", report.added, grouped.new_people);
//! # Ok(())
//! # }
//! ```

mod grouping;
mod index;
mod search;

pub use faceprint_gallery::library::{
    FileError, FileStamp, KnownFile, LIBRARY_COLLECTION, Library, LibraryFace, LibraryPhoto, LibraryRecord,
    LibraryStatus, MissingFile, NewLibraryFace, NewPhoto, Page, Person, PersonId, PhotoId, TEMPLATES_PER_PERSON,
};
pub use grouping::{
    GroupingOptions, GroupingReport, MAX_SPLIT_STRICTNESS, group_new_faces, propose_split, split_person,
};
pub use index::{IndexReport, SkippedFolder, image_files, index_folders};
pub use search::{PhotoHit, SUBJECT_PROBES, indexed_image, search_photos, subject_probes};
