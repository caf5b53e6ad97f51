//! The k-nearest-neighbour graph of the faces, searched with the gallery's own indexes: exact
//! (one matrix product per block of queries) for small sets, the compressed scan (sign codes,
//! then exact re-ranking) for large ones. Not HNSW: on faceprints, where different people are
//! nearly orthogonal, its graph finds a face's true nearest neighbour for only a fraction of
//! queries and builds slowly (BENCHMARKS.md, "HNSW").

use faceprint_gallery::{CompressedIndex, CompressedParams, ExactIndex, FaceId, ScoredFace, VectorIndex};

use crate::{ClusterError, ClusterFace, ClusterParams};

/// Queries handed to the index at a time, so a million faces are never copied at once.
const QUERIES_PER_CHUNK: usize = 4_096;

/// How the neighbours were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourSearch {
    Exact,
    Compressed,
    /// Exact within each face's nearest k-means partitions.
    Partitioned,
}

/// Each face's neighbours at or above the similarity floor, both ways (if b is among a's nearest,
/// a is b's neighbour too), sorted by face.
#[derive(Debug)]
pub struct NeighbourGraph {
    pub search: NeighbourSearch,
    adjacency: Vec<Vec<(u32, f32)>>,
}

fn face_id(index: usize) -> FaceId {
    // Index ids are positive.
    index as FaceId + 1
}

fn face_index(id: FaceId) -> usize {
    (id - 1) as usize
}

impl NeighbourGraph {
    pub fn build(faces: &[ClusterFace<'_>], params: &ClusterParams) -> Result<Self, ClusterError> {
        let floor = params.seed_similarity.min(params.merge_similarity);
        let search = match faces.len() {
            n if n >= params.partitioned_from => NeighbourSearch::Partitioned,
            n if n < params.exact_below => NeighbourSearch::Exact,
            _ => NeighbourSearch::Compressed,
        };
        let mut adjacency: Vec<Vec<(u32, f32)>> = vec![Vec::new(); faces.len()];
        let Some(first) = faces.first() else { return Ok(Self { search, adjacency }) };
        let dims = first.vector.len();
        // One more than asked: a face finds itself first.
        let k = params.neighbours + 1;
        let mut add = |face: usize, other: usize, similarity: f32| {
            if similarity >= floor {
                adjacency[face].push((other as u32, similarity));
                adjacency[other].push((face as u32, similarity));
            }
        };
        let index: Box<dyn VectorIndex> = match search {
            NeighbourSearch::Partitioned => {
                // Itself excluded already: `neighbours` others.
                let nearest = crate::partition::partitioned_neighbours(faces, params, params.neighbours, floor)?;
                for (face, list) in nearest.into_iter().enumerate() {
                    for (other, similarity) in list {
                        add(face, other as usize, similarity);
                    }
                }
                return Ok(Self::sorted(search, adjacency));
            }
            NeighbourSearch::Exact => {
                let mut exact = ExactIndex::with_capacity(dims, faces.len());
                for (i, face) in faces.iter().enumerate() {
                    exact.insert(face_id(i), face.vector)?;
                }
                Box::new(exact)
            }
            NeighbourSearch::Compressed => {
                let items: Vec<(FaceId, &[f32])> =
                    faces.iter().enumerate().map(|(i, f)| (face_id(i), f.vector)).collect();
                let compressed = CompressedParams::with_rerank(params.rerank.max(k));
                Box::new(CompressedIndex::build(dims, compressed, &items, params.threads)?)
            }
        };
        for (chunk, start) in faces.chunks(QUERIES_PER_CHUNK).zip((0..).step_by(QUERIES_PER_CHUNK)) {
            let queries: Vec<Vec<f32>> = chunk.iter().map(|f| f.vector.to_vec()).collect();
            let found = index.search_batch(&queries, k, params.threads)?;
            for (offset, neighbours) in found.into_iter().enumerate() {
                let face = start + offset;
                for ScoredFace { face_id, similarity } in neighbours {
                    let other = face_index(face_id);
                    if other != face {
                        add(face, other, similarity);
                    }
                }
            }
        }
        Ok(Self::sorted(search, adjacency))
    }

    fn sorted(search: NeighbourSearch, mut adjacency: Vec<Vec<(u32, f32)>>) -> Self {
        for list in &mut adjacency {
            list.sort_unstable_by_key(|&(other, _)| other);
            list.dedup_by_key(|&mut (other, _)| other);
            list.shrink_to_fit();
        }
        Self { search, adjacency }
    }

    pub fn len(&self) -> usize {
        self.adjacency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.adjacency.is_empty()
    }

    /// Face `face`'s neighbours and their similarities.
    pub fn neighbours(&self, face: usize) -> &[(u32, f32)] {
        &self.adjacency[face]
    }

    /// Edges, each counted once.
    pub fn edges(&self) -> usize {
        self.adjacency.iter().map(Vec::len).sum::<usize>() / 2
    }
}
