//! Approximate search on an HNSW graph (USearch), built in parallel and saved to a file so a
//! large gallery opens without rebuilding it.

use std::path::Path;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::{ScoredFace, VectorIndex, check_dims, parallel_chunks};
use crate::{FaceId, GalleryError, HnswParams, Result};

/// HNSW graph over f32 vectors with inner-product distance (1 − cosine for unit vectors).
pub struct HnswIndex {
    index: Index,
    dims: usize,
    params: HnswParams,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dims", &self.dims)
            .field("len", &self.len())
            .field("params", &self.params)
            .finish()
    }
}

fn index_error(e: impl std::fmt::Display) -> GalleryError {
    GalleryError::Index(e.to_string())
}

fn key(id: FaceId) -> u64 {
    u64::try_from(id).expect("face ids are positive")
}

impl HnswIndex {
    fn options(dims: usize, params: HnswParams) -> IndexOptions {
        IndexOptions {
            dimensions: dims,
            metric: MetricKind::IP,
            quantization: ScalarKind::F32,
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        }
    }

    pub fn new(dims: usize, params: HnswParams) -> Result<Self> {
        let index = Index::new(&Self::options(dims, params)).map_err(index_error)?;
        Ok(Self { index, dims, params })
    }

    /// Builds the graph from `items` on `threads` threads at once.
    pub fn build(dims: usize, params: HnswParams, items: &[(FaceId, &[f32])], threads: usize) -> Result<Self> {
        let this = Self::new(dims, params)?;
        let threads = threads.max(1);
        this.index.reserve_capacity_and_threads(items.len().max(1), threads).map_err(index_error)?;
        for (_, vector) in items {
            check_dims(dims, vector)?;
        }
        let results = parallel_chunks(items, threads, |part| {
            part.iter().try_for_each(|(id, vector)| this.index.add(key(*id), vector).map_err(index_error))
        });
        results.into_iter().collect::<Result<()>>()?;
        Ok(this)
    }

    /// Loads a graph saved by [`HnswIndex::save`] into memory.
    pub fn load(path: &Path, dims: usize, params: HnswParams) -> Result<Self> {
        let this = Self::new(dims, params)?;
        this.index.load(&path.to_string_lossy()).map_err(index_error)?;
        if this.index.dimensions() != dims {
            return Err(GalleryError::Index(format!("saved index has {} dimensions", this.index.dimensions())));
        }
        // Loading restores the saved search width; the caller's setting wins.
        this.index.change_expansion_search(params.expansion_search);
        Ok(this)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.index.save(&path.to_string_lossy()).map_err(index_error)
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search width (efSearch): recall against speed.
    pub fn set_expansion_search(&mut self, expansion: usize) {
        self.params.expansion_search = expansion;
        self.index.change_expansion_search(expansion);
    }

    fn grow_for_one_more(&self) -> Result<()> {
        if self.index.size() + 1 > self.index.capacity() {
            let capacity = (self.index.capacity() * 2).max(1024);
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            self.index.reserve_capacity_and_threads(capacity, threads).map_err(index_error)?;
        }
        Ok(())
    }

    fn scored(matches: usearch::ffi::Matches) -> Vec<ScoredFace> {
        matches
            .keys
            .iter()
            .zip(&matches.distances)
            .map(|(&k, &d)| ScoredFace { face_id: k as FaceId, similarity: 1.0 - d })
            .collect()
    }
}

impl VectorIndex for HnswIndex {
    fn len(&self) -> usize {
        self.index.size()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn contains(&self, id: FaceId) -> bool {
        self.index.contains(key(id))
    }

    fn insert(&mut self, id: FaceId, vector: &[f32]) -> Result<()> {
        check_dims(self.dims, vector)?;
        if self.index.contains(key(id)) {
            self.index.remove(key(id)).map_err(index_error)?;
        }
        self.grow_for_one_more()?;
        self.index.add(key(id), vector).map_err(index_error)
    }

    fn remove(&mut self, id: FaceId) -> Result<bool> {
        Ok(self.index.remove(key(id)).map_err(index_error)? > 0)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<ScoredFace>> {
        check_dims(self.dims, query)?;
        if k == 0 || self.index.size() == 0 {
            return Ok(Vec::new());
        }
        Ok(Self::scored(self.index.search(query, k).map_err(index_error)?))
    }

    fn search_batch(&self, queries: &[Vec<f32>], k: usize, threads: usize) -> Result<Vec<Vec<ScoredFace>>> {
        let per_thread = parallel_chunks(queries, threads, |mine| {
            mine.iter().map(|q| self.search(q, k)).collect::<Result<Vec<_>>>()
        });
        Ok(per_thread.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten().collect())
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inserted_vectors_survives_save_and_load_and_forgets_removed_ones() {
        let dims = 16;
        let vectors: Vec<Vec<f32>> = (0..500)
            .map(|i| {
                let v: Vec<f32> =
                    (0..dims).map(|d| (((i * 37 + d * 11) % 23) as f32 - 11.0) + (i as f32 * 0.001)).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect();
        let items: Vec<(FaceId, &[f32])> =
            vectors.iter().enumerate().map(|(i, v)| (i as FaceId + 1, v.as_slice())).collect();
        let mut index = HnswIndex::build(dims, HnswParams::default(), &items, 2).unwrap();
        assert_eq!(index.len(), 500);
        assert_eq!(index.search(&vectors[42], 1).unwrap()[0].face_id, 43);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.hnsw");
        index.save(&path).unwrap();
        let loaded = HnswIndex::load(&path, dims, HnswParams::default()).unwrap();
        assert_eq!(loaded.search(&vectors[7], 1).unwrap()[0].face_id, 8);

        assert!(index.remove(43).unwrap());
        assert_ne!(index.search(&vectors[42], 1).unwrap()[0].face_id, 43);
        index.insert(43, &vectors[42]).unwrap();
        assert_eq!(index.search(&vectors[42], 1).unwrap()[0].face_id, 43);
    }
}
