//! Finding a person across the library: a gallery search of the library collection, whose
//! subjects are photos, so each answer is a photo and the face in it that matched best.

use std::collections::HashMap;

use faceprint_gallery::library::{LIBRARY_COLLECTION, Library, LibraryPhoto, PersonId};
use faceprint_gallery::{DEFAULT_COLLECTION, FaceId, Gallery, GalleryError, SubjectKey};
use faceprint_types::{BBox, ModelId};
use faceprint_vision::RgbImage;
use serde::Serialize;

use crate::{Error, FaceEngine};

/// A photo where the person appears.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoHit {
    pub photo: LibraryPhoto,
    /// The face of the photo that matched best, and how well.
    pub face_id: FaceId,
    pub similarity: f32,
    /// In the photo as indexed (after its EXIF orientation and any turn).
    pub bbox: BBox,
    /// The library person that face belongs to, if any.
    pub person: Option<PersonId>,
}

/// Photos with a face at least `threshold` similar to any of `queries`, best first, at most
/// `limit`. Several queries (a person's templates) find more of that person's photos than one.
pub fn search_photos(
    gallery: &dyn Gallery,
    library: &dyn Library,
    model: &ModelId,
    queries: &[Vec<f32>],
    threshold: f32,
    limit: usize,
) -> Result<Vec<PhotoHit>, Error> {
    if queries.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    // Photos are the library collection's subjects: each answer is a photo's best face. The
    // collection appears with the first photo indexed.
    let answers = match gallery.search_batch(LIBRARY_COLLECTION, model, queries, limit) {
        Err(GalleryError::UnknownCollection(_)) => return Ok(Vec::new()),
        other => other?,
    };
    let mut best: HashMap<i64, (FaceId, f32)> = HashMap::new();
    for candidate in answers.into_iter().flatten().filter(|c| c.similarity >= threshold) {
        let entry = best.entry(candidate.subject_id).or_insert((candidate.face_id, candidate.similarity));
        if candidate.similarity > entry.1 {
            *entry = (candidate.face_id, candidate.similarity);
        }
    }
    let mut ranked: Vec<(FaceId, f32)> = best.into_values().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    let mut hits = Vec::with_capacity(ranked.len());
    for (face_id, similarity) in ranked {
        // A face deleted since the index was read is skipped.
        let Ok(face) = library.library_face(face_id) else { continue };
        let Some(photo) = library.photos(&[face.photo])?.pop() else { continue };
        hits.push(PhotoHit { photo, face_id, similarity, bbox: face.bbox, person: face.person });
    }
    Ok(hits)
}

/// Templates of a subject searched with: its most recent, enough to cover its views.
pub const SUBJECT_PROBES: usize = 32;

/// The probes for finding a gallery subject (default collection) in the library: its most
/// recent templates. A named person's templates are its best faces.
pub fn subject_probes(gallery: &dyn Gallery, subject: &SubjectKey) -> Result<Vec<Vec<f32>>, Error> {
    let mut faces = gallery.faces(DEFAULT_COLLECTION, subject)?;
    if faces.is_empty() {
        return Err(GalleryError::Invalid(format!("subject {subject} has no faces to search with")).into());
    }
    faces.sort_by_key(|f| std::cmp::Reverse(f.id));
    Ok(faces.into_iter().take(SUBJECT_PROBES).map(|f| f.embedding).collect())
}

/// A photo as it was indexed: decoded with its EXIF orientation, then turned as the indexer
/// turned it, so stored boxes and landmarks fall on the face. From its first readable path.
pub fn indexed_image(engine: &FaceEngine, photo: &LibraryPhoto) -> Result<RgbImage, Error> {
    let mut last = Error::Config(format!("photo {} has no path", photo.id));
    for path in &photo.paths {
        match crate::files::read_limited(std::path::Path::new(path), engine.decode_limits().max_bytes) {
            Ok(bytes) => return Ok(crate::engine::turn_clockwise(&engine.decode(&bytes)?, photo.rotation)),
            Err(e) => last = e,
        }
    }
    Err(last)
}
