//! The photo library's answers: what `faceprint library …` writes and `/v1/library…` answers.

use serde::Serialize;

use crate::library::{FileError, LibraryStatus, Person, PersonId, PhotoHit, PhotoId};
use crate::{FaceId, SubjectId};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What the library holds (`library status`, `GET /v1/library`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LibraryCountsOut {
    pub photos: usize,
    /// Files that show a photo and were found at the last indexing.
    pub files: usize,
    pub faces: usize,
    pub people: usize,
    pub named_people: usize,
    pub unassigned_faces: usize,
    /// Files that could not be indexed.
    pub errors: usize,
    /// Files indexed before and not found since (kept until `forget-missing`).
    pub missing_files: usize,
}

impl From<LibraryStatus> for LibraryCountsOut {
    fn from(s: LibraryStatus) -> Self {
        LibraryCountsOut {
            photos: s.photos,
            files: s.files,
            faces: s.faces,
            people: s.people,
            named_people: s.named_people,
            unassigned_faces: s.unassigned_faces,
            errors: s.errors,
            missing_files: s.missing_files,
        }
    }
}

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FileErrorOut {
    pub path: String,
    pub error: String,
}

impl From<FileError> for FileErrorOut {
    fn from(e: FileError) -> Self {
        FileErrorOut { path: e.path, error: e.error }
    }
}

/// `library status --json`, `GET /v1/library`: the counts and the files that failed (the API
/// lists the first page of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LibraryStatusOut {
    pub status: LibraryCountsOut,
    pub errors: Vec<FileErrorOut>,
}

impl LibraryStatusOut {
    pub fn new(status: LibraryStatus, errors: Vec<FileError>) -> Self {
        LibraryStatusOut { status: status.into(), errors: errors.into_iter().map(Into::into).collect() }
    }
}

/// A person of the library (`library people --json`, one per line; `GET /v1/library/people`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonOut {
    pub id: PersonId,
    /// `null` until named.
    pub name: Option<String>,
    pub faces: usize,
    /// The best-quality face, to show.
    pub representative_face: Option<FaceId>,
    /// The gallery subject (default collection) a named person is enrolled as.
    pub subject_id: Option<SubjectId>,
}

impl From<Person> for PersonOut {
    fn from(p: Person) -> Self {
        PersonOut {
            id: p.id,
            name: p.name,
            faces: p.faces,
            representative_face: p.representative_face,
            subject_id: p.subject_id,
        }
    }
}

/// A split of a person (`library people split --json`, `POST /v1/library/people/{id}/split`):
/// the proposed groups of face ids, largest first (the first stays), whether it was applied,
/// and the people applying it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SplitOut {
    pub person: PersonId,
    pub groups: Vec<Vec<FaceId>>,
    pub applied: bool,
    pub created: Vec<PersonOut>,
}

/// A photo where the person searched for appears (`library search --json`, one per line;
/// `/v1/library/search`), best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PhotoHitOut {
    pub photo_id: PhotoId,
    /// The photo's first path.
    pub path: Option<String>,
    pub paths: Vec<String>,
    pub similarity: f32,
    /// The face of the photo that matched best.
    pub face_id: FaceId,
    /// `[x1, y1, x2, y2]` in the photo as indexed (after its orientation and any turn).
    pub bbox: [f32; 4],
    /// The library person that face belongs to, if any.
    pub person: Option<PersonId>,
}

impl From<PhotoHit> for PhotoHitOut {
    fn from(hit: PhotoHit) -> Self {
        let b = hit.bbox;
        PhotoHitOut {
            photo_id: hit.photo.id,
            path: hit.photo.paths.first().cloned(),
            paths: hit.photo.paths,
            similarity: hit.similarity,
            face_id: hit.face_id,
            bbox: [b.x1, b.y1, b.x2, b.y2],
            person: hit.person,
        }
    }
}
