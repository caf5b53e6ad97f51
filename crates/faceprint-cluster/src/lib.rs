//! Groups faces into people: a k-nearest-neighbour graph of the faceprints, Chinese whispers on
//! its confident edges, then average-linkage merging of the groups it found, under the
//! constraints a photo library needs:
//!
//! - two faces of one photo are never one person;
//! - a face held by a person (named, or kept from an earlier run) stays with it, and two held
//!   people are never merged, so new faces join existing people without re-clustering the rest;
//! - a face barred from a person (removed from it by hand) never joins it again.
//!
//! ```
//! use faceprint_cluster::{ClusterFace, ClusterParams, cluster};
//!
//! // Two near-identical faces from two photos and one different face.
//! let a = [1.0f32, 0.0, 0.0];
//! let b = [0.995f32, 0.0998, 0.0];
//! let c = [0.0f32, 0.0, 1.0];
//! let faces = [ClusterFace::new(&a, 1), ClusterFace::new(&b, 2), ClusterFace::new(&c, 3)];
//! let clustering = cluster(&faces, &ClusterParams::default()).unwrap();
//! assert_eq!(clustering.group_of[0], clustering.group_of[1]);
//! assert_ne!(clustering.group_of[0], clustering.group_of[2]);
//! ```

mod graph;
mod merge;
mod partition;
mod whispers;

use std::time::{Duration, Instant};

use faceprint_gallery::GalleryError;

pub use graph::{NeighbourGraph, NeighbourSearch};

/// A person's id as the caller knows it (a library's person id).
pub type PersonId = i64;

/// Faces from which the graph is searched within k-means partitions: below it the all-pairs
/// compressed scan is affordable (34 s at 100,000 faces, under 3 minutes at 200,000) and finds
/// more of the edges; above it its n² grows to about an hour at a million (BENCHMARKS.md).
pub const PARTITIONED_FROM: usize = 200_000;

/// One face to cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterFace<'a> {
    /// The L2-normalised faceprint.
    pub vector: &'a [f32],
    /// The photo it comes from: faces of one photo are never grouped together.
    pub photo: u64,
    /// The person that holds this face already: it stays there.
    pub held_by: Option<PersonId>,
    /// People this face must never join.
    pub barred: &'a [PersonId],
}

impl<'a> ClusterFace<'a> {
    /// A free face of `photo`.
    pub fn new(vector: &'a [f32], photo: u64) -> Self {
        Self { vector, photo, held_by: None, barred: &[] }
    }
}

/// How faces are grouped. The defaults are tuned for the default pack's MobileFaceNet on LFW
/// DevTest (see BENCHMARKS.md, "Clustering"); a different recogniser may want other thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterParams {
    /// Neighbours per face in the graph.
    pub neighbours: usize,
    /// Chinese whispers only follows edges at least this similar. The seeds it finds are then
    /// merged by average linkage, so this is set where false merges are near zero.
    pub seed_similarity: f32,
    /// Two groups merge while the mean similarity over all their pairs of faces is at least
    /// this.
    pub merge_similarity: f32,
    /// Passes of Chinese whispers at most (it stops earlier when no label changes).
    pub rounds: usize,
    /// Seed of the order in which Chinese whispers visits faces: the same seed, the same
    /// grouping.
    pub seed: u64,
    /// The graph is searched exactly below this many faces, and with the compressed scan from
    /// there (at 15,000 real-like faces the exact graph took 3.7 s, the compressed 2.6 s, with
    /// the same edges).
    pub exact_below: usize,
    /// Faces the compressed scan re-ranks exactly per face (at least `neighbours + 1`).
    pub rerank: usize,
    /// From this many faces the graph is searched within k-means partitions instead of all
    /// against all: a share of the pairs, for millions of faces.
    pub partitioned_from: usize,
    /// The share of partitions (nearest centres first) each face is compared within.
    pub probed_share: f32,
    pub threads: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self {
            neighbours: 20,
            seed_similarity: 0.40,
            merge_similarity: 0.34,
            rounds: 30,
            seed: 2026,
            exact_below: 5_000,
            rerank: 100,
            partitioned_from: PARTITIONED_FROM,
            probed_share: 0.06,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A group of faces: a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Indexes into the input, ascending.
    pub faces: Vec<usize>,
    /// The held person this group is, if any of its faces was held.
    pub person: Option<PersonId>,
}

/// The outcome: every face is in exactly one group (a face with no close neighbour is a group
/// of one).
#[derive(Debug, Clone)]
pub struct Clustering {
    pub groups: Vec<Group>,
    /// The group of each input face.
    pub group_of: Vec<usize>,
    pub stats: ClusterStats,
}

/// How the grouping was reached and where the time went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterStats {
    pub search: NeighbourSearch,
    /// Edges of the graph at or above the lower of the two thresholds.
    pub edges: usize,
    /// Groups Chinese whispers found, before merging.
    pub seeds: usize,
    pub graph: Duration,
    pub whispers: Duration,
    pub merge: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("face {index} has {given} dimensions where the first has {expected}")]
    DimensionMismatch { index: usize, expected: usize, given: usize },
    #[error("faces {first} and {second} of photo {photo} are both held by person {person}")]
    HeldTwiceInPhoto { first: usize, second: usize, photo: u64, person: PersonId },
    #[error("neighbour search failed: {0}")]
    Index(#[from] GalleryError),
}

/// Groups `faces` into people (see the crate's documentation).
pub fn cluster(faces: &[ClusterFace<'_>], params: &ClusterParams) -> Result<Clustering, ClusterError> {
    check_faces(faces)?;
    let started = Instant::now();
    let graph = NeighbourGraph::build(faces, params)?;
    let graph_done = Instant::now();
    let seeds = whispers::chinese_whispers(faces, &graph, params);
    let whispers_done = Instant::now();
    let seed_count = seeds.iter().collect::<std::collections::HashSet<_>>().len();
    let merged = merge::average_linkage(faces, &graph, seeds, params.merge_similarity);
    let stats = ClusterStats {
        search: graph.search,
        edges: graph.edges(),
        seeds: seed_count,
        graph: graph_done - started,
        whispers: whispers_done - graph_done,
        merge: whispers_done.elapsed(),
    };
    Ok(into_clustering(faces, &merged, stats))
}

fn check_faces(faces: &[ClusterFace<'_>]) -> Result<(), ClusterError> {
    let Some(first) = faces.first() else { return Ok(()) };
    let expected = first.vector.len();
    if let Some((index, face)) = faces.iter().enumerate().find(|(_, f)| f.vector.len() != expected) {
        return Err(ClusterError::DimensionMismatch { index, expected, given: face.vector.len() });
    }
    let mut held: std::collections::HashMap<(PersonId, u64), usize> = std::collections::HashMap::new();
    for (index, face) in faces.iter().enumerate() {
        if let Some(person) = face.held_by
            && let Some(first) = held.insert((person, face.photo), index)
        {
            return Err(ClusterError::HeldTwiceInPhoto { first, second: index, photo: face.photo, person });
        }
    }
    Ok(())
}

/// Numbers groups by their first face, so the output does not depend on internal labels.
fn into_clustering(faces: &[ClusterFace<'_>], label_of: &[usize], stats: ClusterStats) -> Clustering {
    let mut number_of_label = std::collections::HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of = Vec::with_capacity(label_of.len());
    for (face, &label) in label_of.iter().enumerate() {
        let group = *number_of_label.entry(label).or_insert_with(|| {
            groups.push(Group { faces: Vec::new(), person: None });
            groups.len() - 1
        });
        groups[group].faces.push(face);
        if let Some(person) = faces[face].held_by {
            groups[group].person = Some(person);
        }
        group_of.push(group);
    }
    Clustering { groups, group_of, stats }
}
