//! Exact search: every template scored, as a matrix product over one contiguous row-major
//! matrix (ndarray → matrixmultiply's SIMD sgemm kernels, chosen at run time for the CPU).

use std::collections::HashMap;

use ndarray::{Array2, ArrayView2, Axis, Slice, linalg::general_mat_mul};

use super::topk::TopK;
use super::{ScoredFace, VectorIndex, check_dims, parallel_chunks};
use crate::{FaceId, Result};

/// Rows scored per matrix product: 4096 × 512 floats is 8 MiB of templates streamed past
/// queries that stay in cache, and a score block small enough to scan for the top k at once.
const ROWS_PER_BLOCK: usize = 4096;
/// Queries multiplied together: enough to make the product compute-bound, not memory-bound.
const QUERIES_PER_BLOCK: usize = 64;
/// Below this many queries a block is scored row by row: a matrix product would first copy
/// (pack) every row into its kernel layout, which costs more than the product itself when it
/// serves one or two queries.
const MIN_QUERIES_FOR_PRODUCT: usize = 4;
/// Rows from which one query's scan is split across threads: below it, starting a thread
/// (tens of microseconds) costs more than the half scan it saves.
const PARALLEL_ROWS_FROM: usize = 32_768;

/// Dot product with 16 independent accumulators, so the compiler keeps them in vector
/// registers (float addition is not associative: one accumulator would serialise the loop).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..16 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Brute-force index: always the true top k.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dims: usize,
    /// Row i is the vector of `ids[i]`.
    matrix: Vec<f32>,
    ids: Vec<FaceId>,
    rows: HashMap<FaceId, usize>,
    /// Threads one query's scan may use.
    threads: usize,
}

impl ExactIndex {
    pub fn new(dims: usize) -> Self {
        Self { dims, matrix: Vec::new(), ids: Vec::new(), rows: HashMap::new(), threads: 1 }
    }

    /// Lets one query's scan run on up to `threads` threads (default 1) once the index is large
    /// enough for that to pay.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.set_threads(threads);
        self
    }

    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    pub fn with_capacity(dims: usize, capacity: usize) -> Self {
        let mut index = Self::new(dims);
        index.matrix.reserve(capacity * dims);
        index.ids.reserve(capacity);
        index.rows.reserve(capacity);
        index
    }

    pub(crate) fn row_of(&self, id: FaceId) -> Option<usize> {
        self.rows.get(&id).copied()
    }

    pub(crate) fn vector(&self, row: usize) -> &[f32] {
        &self.matrix[row * self.dims..(row + 1) * self.dims]
    }

    pub(crate) fn id_at(&self, row: usize) -> FaceId {
        self.ids[row]
    }

    /// Every (id, vector), row after row.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (FaceId, &[f32])> {
        self.ids.iter().copied().zip(self.matrix.chunks_exact(self.dims))
    }

    /// Every vector, row after row.
    pub(crate) fn matrix(&self) -> &[f32] {
        &self.matrix
    }

    /// The top k of rows `first..first + count` for one query.
    fn scan_rows(&self, query: &[f32], k: usize, first: usize, count: usize) -> TopK {
        let mut top = TopK::new(k);
        let mut floor = top.floor();
        let block = &self.matrix[first * self.dims..(first + count) * self.dims];
        for (row, &id) in block.chunks_exact(self.dims).zip(&self.ids[first..first + count]) {
            let similarity = dot(row, query);
            if similarity > floor {
                top.push(ScoredFace { face_id: id, similarity });
                floor = top.floor();
            }
        }
        top
    }

    /// Scores a few queries against every row with one pass over the matrix per query, split
    /// across threads for a large index.
    fn search_rows(&self, queries: &[Vec<f32>], k: usize) -> Vec<Vec<ScoredFace>> {
        let len = self.ids.len();
        let threads = if len >= PARALLEL_ROWS_FROM { self.threads } else { 1 };
        let starts: Vec<usize> = (0..threads).map(|t| t * len.div_ceil(threads)).filter(|&s| s < len).collect();
        queries
            .iter()
            .map(|query| {
                let parts = parallel_chunks(&starts, threads, |mine| {
                    mine.iter()
                        .map(|&first| self.scan_rows(query, k, first, len.div_ceil(threads).min(len - first)))
                        .collect::<Vec<_>>()
                });
                let mut top = TopK::new(k);
                parts.into_iter().flatten().flat_map(TopK::into_sorted).for_each(|face| top.push(face));
                top.into_sorted()
            })
            .collect()
    }

    /// Scores one block of queries against every row, keeping each query's top k.
    fn search_block(&self, queries: &[Vec<f32>], k: usize) -> Vec<Vec<ScoredFace>> {
        if queries.len() < MIN_QUERIES_FOR_PRODUCT {
            return self.search_rows(queries, k);
        }
        let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
        let query_matrix: Vec<f32> = queries.iter().flatten().copied().collect();
        let query_view = ArrayView2::from_shape((queries.len(), self.dims), &query_matrix).expect("query shape");
        let mut scores = Array2::<f32>::zeros((ROWS_PER_BLOCK.min(self.ids.len()), queries.len()));
        for (block, ids) in self.matrix.chunks(ROWS_PER_BLOCK * self.dims).zip(self.ids.chunks(ROWS_PER_BLOCK)) {
            let rows = ArrayView2::from_shape((ids.len(), self.dims), block).expect("row shape");
            let mut out = scores.slice_axis_mut(Axis(0), Slice::from(0..ids.len()));
            general_mat_mul(1.0, &rows, &query_view.t(), 0.0, &mut out);
            for (q, top) in tops.iter_mut().enumerate() {
                let column = out.column(q);
                let mut floor = top.floor();
                for (row, &similarity) in column.iter().enumerate() {
                    if similarity > floor {
                        top.push(ScoredFace { face_id: ids[row], similarity });
                        floor = top.floor();
                    }
                }
            }
        }
        tops.into_iter().map(TopK::into_sorted).collect()
    }
}

impl VectorIndex for ExactIndex {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn contains(&self, id: FaceId) -> bool {
        self.rows.contains_key(&id)
    }

    fn insert(&mut self, id: FaceId, vector: &[f32]) -> Result<()> {
        check_dims(self.dims, vector)?;
        match self.rows.get(&id) {
            Some(&row) => self.matrix[row * self.dims..(row + 1) * self.dims].copy_from_slice(vector),
            None => {
                self.rows.insert(id, self.ids.len());
                self.ids.push(id);
                self.matrix.extend_from_slice(vector);
            }
        }
        Ok(())
    }

    fn remove(&mut self, id: FaceId) -> Result<bool> {
        let Some(row) = self.rows.remove(&id) else { return Ok(false) };
        // Swap the last row into the hole so the matrix stays contiguous.
        let last = self.ids.len() - 1;
        if row != last {
            let (head, tail) = self.matrix.split_at_mut(last * self.dims);
            head[row * self.dims..(row + 1) * self.dims].copy_from_slice(&tail[..self.dims]);
            let moved = self.ids[last];
            self.ids[row] = moved;
            self.rows.insert(moved, row);
        }
        self.ids.pop();
        self.matrix.truncate(last * self.dims);
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<ScoredFace>> {
        check_dims(self.dims, query)?;
        if self.ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.search_block(&[query.to_vec()], k).pop().unwrap_or_default())
    }

    fn search_batch(&self, queries: &[Vec<f32>], k: usize, threads: usize) -> Result<Vec<Vec<ScoredFace>>> {
        for query in queries {
            check_dims(self.dims, query)?;
        }
        if self.ids.is_empty() {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let blocks: Vec<&[Vec<f32>]> = queries.chunks(QUERIES_PER_BLOCK).collect();
        let per_thread = parallel_chunks(&blocks, threads, |mine| {
            mine.iter().flat_map(|block| self.search_block(block, k)).collect::<Vec<_>>()
        });
        Ok(per_thread.into_iter().flatten().collect())
    }

    fn memory_bytes(&self) -> usize {
        self.matrix.capacity() * 4
            + self.ids.capacity() * 8
            + self.rows.capacity() * (std::mem::size_of::<(FaceId, usize)>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GalleryError;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn finds_the_nearest_and_follows_removals() {
        let mut index = ExactIndex::new(2);
        index.insert(1, &unit(&[1.0, 0.0])).unwrap();
        index.insert(2, &unit(&[0.0, 1.0])).unwrap();
        index.insert(3, &unit(&[1.0, 1.0])).unwrap();
        let top = index.search(&unit(&[1.0, 0.1]), 2).unwrap();
        assert_eq!(top.iter().map(|f| f.face_id).collect::<Vec<_>>(), vec![1, 3]);
        assert!(index.remove(1).unwrap());
        assert!(!index.remove(1).unwrap());
        let top = index.search(&unit(&[1.0, 0.1]), 3).unwrap();
        assert_eq!(top.iter().map(|f| f.face_id).collect::<Vec<_>>(), vec![3, 2]);
        // Re-inserting replaces the vector.
        index.insert(2, &unit(&[1.0, 0.05])).unwrap();
        assert_eq!(index.search(&unit(&[1.0, 0.0]), 1).unwrap()[0].face_id, 2);
    }

    #[test]
    fn batches_agree_with_single_queries_across_blocks() {
        let dims = 8;
        let mut index = ExactIndex::new(dims);
        let vector = |i: usize| unit(&(0..dims).map(|d| ((i * 7 + d * 13) % 17) as f32 - 8.0).collect::<Vec<_>>());
        for i in 0..(ROWS_PER_BLOCK + 100) {
            index.insert(i as FaceId, &vector(i)).unwrap();
        }
        let queries: Vec<Vec<f32>> = (0..(QUERIES_PER_BLOCK + 3)).map(|i| vector(i * 31 + 5)).collect();
        let batch = index.search_batch(&queries, 5, 2).unwrap();
        // Single queries take the row-by-row path, batches the matrix product: same answers
        // (ids; scores to rounding).
        for (query, answer) in queries.iter().zip(&batch) {
            let single = index.search(query, 5).unwrap();
            assert_eq!(
                single.iter().map(|f| f.face_id).collect::<Vec<_>>(),
                answer.iter().map(|f| f.face_id).collect::<Vec<_>>()
            );
            assert!(single.iter().zip(answer).all(|(a, b)| (a.similarity - b.similarity).abs() < 1e-5));
        }
    }

    #[test]
    fn wrong_dimensions_are_an_error() {
        let mut index = ExactIndex::new(3);
        assert!(matches!(index.insert(1, &[1.0]), Err(GalleryError::DimensionMismatch { .. })));
        assert!(index.search(&[1.0], 1).is_err());
    }
}
