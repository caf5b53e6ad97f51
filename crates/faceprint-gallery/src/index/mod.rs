//! Vector indexes over one collection's face templates: exact, compressed (sign codes with exact
//! re-ranking) and HNSW behind one trait.

pub mod compressed;
pub mod exact;
pub mod hnsw;
mod topk;

use crate::{FaceId, GalleryError, Result};

/// A vector must have the index's number of dimensions.
pub(crate) fn check_dims(dims: usize, vector: &[f32]) -> Result<()> {
    if vector.len() != dims {
        return Err(GalleryError::DimensionMismatch { gallery: dims, given: vector.len() });
    }
    Ok(())
}

/// A face template and its similarity to a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredFace {
    pub face_id: FaceId,
    pub similarity: f32,
}

/// Nearest-neighbour search by inner product over L2-normalised vectors (so the score is the
/// cosine similarity). Inserting an id that is present replaces its vector.
pub trait VectorIndex: Send + Sync + std::fmt::Debug {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn dims(&self) -> usize;
    fn contains(&self, id: FaceId) -> bool;
    fn insert(&mut self, id: FaceId, vector: &[f32]) -> Result<()>;
    /// Returns whether the id was there.
    fn remove(&mut self, id: FaceId) -> Result<bool>;
    /// Up to `k` faces, most similar first.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<ScoredFace>>;
    /// [`VectorIndex::search`] for many queries on up to `threads` threads.
    fn search_batch(&self, queries: &[Vec<f32>], k: usize, threads: usize) -> Result<Vec<Vec<ScoredFace>>>;
    /// Bytes of memory the index holds.
    fn memory_bytes(&self) -> usize;
}

/// Splits `items` into `threads` contiguous runs and maps each on its own thread, keeping order.
pub(crate) fn parallel_chunks<T: Sync, R: Send>(items: &[T], threads: usize, map: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    if chunk >= items.len() {
        // One part: no thread to start (that would cost more than a small search).
        return vec![map(items)];
    }
    std::thread::scope(|scope| {
        let mut parts = items.chunks(chunk);
        let first = parts.next().unwrap_or_default();
        let handles: Vec<_> = parts.map(|part| scope.spawn(|| map(part))).collect();
        // The calling thread takes the first part itself.
        let mut results = vec![map(first)];
        results.extend(handles.into_iter().map(|h| h.join().expect("search thread panicked")));
        results
    })
}
