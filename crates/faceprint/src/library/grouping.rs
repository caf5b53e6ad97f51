//! Grouping a library's faces into people, incrementally: people that exist keep their faces
//! (they are held), and only faces without a person are placed, into an existing person or a
//! new one.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use faceprint_cluster::{ClusterFace, ClusterParams, cluster};
use faceprint_gallery::library::{LIBRARY_COLLECTION, Library, LibraryFace, PersonId};
use faceprint_gallery::{FaceId, Gallery};
use faceprint_types::ModelId;
use serde::Serialize;

use crate::Error;

/// How new faces are grouped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupingOptions {
    pub params: ClusterParams,
    /// Faces below this quality are not grouped: they stay unassigned rather than pull two
    /// people together. The enrolment gate's `LowQuality` line.
    pub min_quality: f32,
    /// Fewest faces a new person starts with: a face alone stays unassigned until another
    /// photo of the same person arrives.
    pub min_new_person_faces: usize,
}

impl Default for GroupingOptions {
    fn default() -> Self {
        Self {
            params: ClusterParams::default(),
            min_quality: faceprint_vision::analysis::QualityGate::default().min_score,
            min_new_person_faces: 2,
        }
    }
}

/// What a grouping run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupingReport {
    /// Faces that were without a person and good enough to group.
    pub candidates: usize,
    /// Of those, faces that joined an existing person.
    pub joined: usize,
    pub new_people: usize,
    /// Faces in the new people.
    pub new_people_faces: usize,
    /// Faces still without a person (too poor, or alone).
    pub unassigned: usize,
    pub seconds: f64,
}

/// Places every unassigned face of the library: into a person it belongs with (held people do
/// not move, and a face never joins a person it was removed from or one already in its photo),
/// or into new people. Does nothing when no face is waiting.
///
/// Incremental: the waiting faces are clustered with only the grouped faces near them (each
/// waiting face's nearest photos, found through the gallery's index as identification finds
/// them), so the cost follows the new faces, not the library's size; a person's mean in the
/// merge is then that of its faces near the newcomers.
pub fn group_new_faces(
    gallery: &dyn Gallery,
    library: &dyn Library,
    options: &GroupingOptions,
) -> Result<GroupingReport, Error> {
    let started = Instant::now();
    let waiting: Vec<LibraryFace> =
        library.unassigned_faces()?.into_iter().filter(|f| f.quality >= options.min_quality).collect();
    let mut report = GroupingReport { candidates: waiting.len(), ..GroupingReport::default() };
    if let (false, Some((model, _))) = (waiting.is_empty(), gallery.model()?) {
        let neighbours = grouped_neighbours(gallery, library, &model, &waiting, options)?;
        let chosen: Vec<&LibraryFace> = waiting.iter().chain(&neighbours).collect();
        let barred = barred_by_face(library)?;
        let (joins, new_people) = place(&chosen, &barred, options)?;
        report.joined = joins.len();
        report.new_people = new_people.len();
        report.new_people_faces = new_people.iter().map(Vec::len).sum();
        library.apply_grouping(&joins, &new_people)?;
    }
    report.unassigned = library.library_status()?.unassigned_faces;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The faces that have a person among the nearest of each waiting face: the part of the
/// grouped library the newcomers can join.
fn grouped_neighbours(
    gallery: &dyn Gallery,
    library: &dyn Library,
    model: &ModelId,
    waiting: &[LibraryFace],
    options: &GroupingOptions,
) -> Result<Vec<LibraryFace>, Error> {
    let queries: Vec<Vec<f32>> = waiting.iter().map(|f| f.embedding.clone()).collect();
    let mut seen = HashSet::new();
    let mut neighbours = Vec::new();
    for chunk in queries.chunks(NEIGHBOUR_QUERIES_PER_BATCH) {
        // Twice the graph's neighbours: newcomers of one person find each other first, and the
        // grouped faces of that person must still be among what they find.
        let answers = gallery.search_batch(LIBRARY_COLLECTION, model, chunk, 2 * options.params.neighbours)?;
        for candidate in answers.into_iter().flatten() {
            if !seen.insert(candidate.face_id) {
                continue;
            }
            // A face deleted since the index was read is skipped.
            if let Ok(face) = library.library_face(candidate.face_id)
                && face.person.is_some()
            {
                neighbours.push(face);
            }
        }
    }
    Ok(neighbours)
}

/// Waiting faces searched at once: the batch search's throughput, with its answers' memory
/// bounded.
const NEIGHBOUR_QUERIES_PER_BATCH: usize = 4096;

fn barred_by_face(library: &dyn Library) -> Result<HashMap<FaceId, Vec<PersonId>>, Error> {
    let mut barred: HashMap<FaceId, Vec<PersonId>> = HashMap::new();
    for (face, person) in library.barred()? {
        barred.entry(face).or_default().push(person);
    }
    Ok(barred)
}

type Placement = (Vec<(FaceId, PersonId)>, Vec<Vec<FaceId>>);

/// Clusters `faces` with their people held, and reads off where each free face goes.
fn place(
    faces: &[&LibraryFace],
    barred: &HashMap<FaceId, Vec<PersonId>>,
    options: &GroupingOptions,
) -> Result<Placement, Error> {
    let input: Vec<ClusterFace<'_>> = faces
        .iter()
        .map(|f| ClusterFace {
            vector: &f.embedding,
            photo: f.photo as u64,
            held_by: f.person,
            barred: barred.get(&f.face_id).map_or(&[], Vec::as_slice),
        })
        .collect();
    let clustering = cluster(&input, &options.params).map_err(|e| Error::Config(format!("grouping faces: {e}")))?;
    let (mut joins, mut new_people) = (Vec::new(), Vec::new());
    for group in clustering.groups {
        let free: Vec<FaceId> =
            group.faces.iter().map(|&i| faces[i]).filter(|f| f.person.is_none()).map(|f| f.face_id).collect();
        match group.person {
            Some(person) => joins.extend(free.into_iter().map(|face| (face, person))),
            None if free.len() >= options.min_new_person_faces => new_people.push(free),
            None => {}
        }
    }
    Ok((joins, new_people))
}

/// The most a split may add to the grouping thresholds: past it every face is its own group
/// (the audit's `strictness=5` broke a person of 7 faces into 7).
pub const MAX_SPLIT_STRICTNESS: f32 = 0.5;

/// Proposes how to split a person that holds more than one: its faces re-clustered on their
/// own with stricter thresholds (`strictness`, 0 to [`MAX_SPLIT_STRICTNESS`], added to both).
/// Sub-groups, largest first; one group means no split is seen.
pub fn propose_split(library: &dyn Library, person: PersonId, strictness: f32) -> Result<Vec<Vec<FaceId>>, Error> {
    if !(0.0..=MAX_SPLIT_STRICTNESS).contains(&strictness) {
        return Err(faceprint_gallery::GalleryError::Invalid(format!(
            "a split's strictness is 0..={MAX_SPLIT_STRICTNESS}, not {strictness}"
        ))
        .into());
    }
    let faces = library.person_faces(person, faceprint_gallery::library::Page::ALL)?;
    let params = ClusterParams {
        seed_similarity: ClusterParams::default().seed_similarity + strictness,
        merge_similarity: ClusterParams::default().merge_similarity + strictness,
        ..ClusterParams::default()
    };
    let input: Vec<ClusterFace<'_>> = faces.iter().map(|f| ClusterFace::new(&f.embedding, f.photo as u64)).collect();
    let clustering = cluster(&input, &params).map_err(|e| Error::Config(format!("splitting person {person}: {e}")))?;
    let mut groups: Vec<Vec<FaceId>> =
        clustering.groups.into_iter().map(|g| g.faces.into_iter().map(|i| faces[i].face_id).collect()).collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    Ok(groups)
}

/// Proposes a split of `person` ([`propose_split`]) and, with `apply`, moves every group but
/// the largest to a new person in one transaction: what `library people split` and the API's
/// split both run.
pub fn split_person(
    library: &dyn Library,
    person: PersonId,
    strictness: f32,
    apply: bool,
) -> Result<crate::contract::SplitOut, Error> {
    let groups = propose_split(library, person, strictness)?;
    let applied = apply && groups.len() > 1;
    let created = match applied {
        true => library.split_person(person, &groups[1..])?.into_iter().map(Into::into).collect(),
        false => Vec::new(),
    };
    Ok(crate::contract::SplitOut { person, groups, applied, created })
}

#[cfg(test)]
mod split_tests {
    /// The bound holds at the mechanism, whoever calls it: refused before anything is read.
    #[test]
    fn a_split_refuses_a_strictness_out_of_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let gallery = faceprint_gallery::SqliteGallery::open(dir.path().join("g.db")).unwrap();
        for strictness in [5.0, f32::NAN, -0.1, 0.51] {
            let error = super::propose_split(&gallery, 1, strictness).unwrap_err();
            assert_eq!(error.code(), "invalid_argument", "{strictness}: {error}");
        }
        let error = super::propose_split(&gallery, 1, 0.1).unwrap_err();
        assert_eq!(error.code(), "unknown_person", "in bounds, the person is looked up");
    }
}
