//! The gallery's data model: collections → subjects → face templates.

use faceprint_types::{BBox, ModelId};
use serde::{Deserialize, Serialize};

pub type SubjectId = i64;
pub type FaceId = i64;

/// The collection every gallery has, and the one used when none is named.
pub const DEFAULT_COLLECTION: &str = "default";

/// A subject by id or by name (names are unique within a collection).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectKey {
    Id(SubjectId),
    Name(String),
}

impl SubjectKey {
    /// `#12` means id 12; anything else is a name.
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix('#').and_then(|id| id.parse().ok()) {
            Some(id) => SubjectKey::Id(id),
            None => SubjectKey::Name(text.to_owned()),
        }
    }
}

impl std::fmt::Display for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectKey::Id(id) => write!(f, "#{id}"),
            SubjectKey::Name(name) => write!(f, "{name:?}"),
        }
    }
}

impl From<&str> for SubjectKey {
    fn from(name: &str) -> Self {
        SubjectKey::Name(name.to_owned())
    }
}

/// A person enrolled in a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub id: SubjectId,
    pub name: String,
    pub metadata: serde_json::Value,
    pub faces: usize,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// A face template to store. The embedding must be L2-normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFace {
    pub model: ModelId,
    pub embedding: Vec<f32>,
    pub detection_score: f32,
    pub bbox: BBox,
    /// Hex sha256 of the source image's bytes: enrolling the same image twice for one subject
    /// is a no-op.
    pub image_sha256: String,
    /// The aligned 112×112 crop, PNG-encoded, kept so the gallery can be re-embedded with
    /// another model. `None` only for faces imported without one.
    pub crop_png: Option<Vec<u8>>,
}

/// A stored face template, without its crop.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRecord {
    pub id: FaceId,
    pub subject_id: SubjectId,
    pub model: ModelId,
    pub embedding: Vec<f32>,
    pub detection_score: f32,
    pub bbox: BBox,
    pub image_sha256: String,
    /// Seconds since the Unix epoch.
    pub enrolled_at: i64,
    pub has_crop: bool,
}

/// What [`crate::Gallery::add_face`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AddedFace {
    pub face_id: FaceId,
    pub subject_id: SubjectId,
    /// True when this subject already had a face from the same image: nothing was added.
    pub duplicate: bool,
}

/// One search answer: a subject and its score, the similarity of its best template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub subject_id: SubjectId,
    pub subject: String,
    pub similarity: f32,
    /// The template that gave the score.
    pub face_id: FaceId,
}

/// Which search structure answers queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IndexKind {
    /// Exact below [`AUTO_COMPRESSED_FROM`] faces in a collection, compressed from there on.
    #[default]
    Auto,
    /// Brute force over contiguous memory: always the true answer.
    Exact,
    /// Every face's sign code scanned, the nearest re-ranked exactly: milliseconds at a million
    /// faces with the exact answer for all but a few probes in ten thousand (BENCHMARKS.md).
    Compressed,
    /// Approximate graph search. Face galleries are hard for graph search: different people's
    /// faceprints are nearly orthogonal, so the graph has no gradient to follow towards a
    /// probe's mate, and at 1M faces HNSW (M = 16) finds the exact best match for 27% of probes
    /// at efSearch 64 and 79% at 1024 (BENCHMARKS.md). Only by choice.
    Hnsw,
}

/// Collection size from which [`IndexKind::Auto`] scans codes instead of vectors. Measured
/// (BENCHMARKS.md, single query on one core): at 10,000 faces exact search takes 0.56 ms and the
/// compressed index 0.32 ms, at 20,000 1.45 against 0.40 ms, at 50,000 4.6 against 0.56 ms,
/// agreeing with exact search on every one of 2,000 probes each time. Below it an exact scan
/// takes under half a millisecond and there is nothing worth an approximation to gain.
pub const AUTO_COMPRESSED_FROM: usize = 10_000;

/// HNSW graph parameters (also used for FAISS in `faceprint bench search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per node (FAISS's `M`).
    pub connectivity: usize,
    /// Candidate list size while building (`efConstruction`).
    pub expansion_add: usize,
    /// Candidate list size while searching (`efSearch`).
    pub expansion_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { connectivity: 16, expansion_add: 128, expansion_search: 64 }
    }
}

/// Counts, for `subjects list` and metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryStats {
    pub collections: usize,
    pub subjects: usize,
    pub faces: usize,
    pub model: Option<ModelId>,
    pub dims: Option<usize>,
}

/// One face with everything needed to rebuild it elsewhere (export, re-embed).
#[derive(Debug, Clone, PartialEq)]
pub struct FullFace {
    pub collection: String,
    pub subject: Subject,
    pub face: FaceRecord,
    pub crop_png: Option<Vec<u8>>,
}
