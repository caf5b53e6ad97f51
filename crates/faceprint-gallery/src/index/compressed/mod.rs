//! Exhaustive search over compact codes with exact re-ranking, in three stages:
//! 1. every face's 512-bit sign code (64 bytes, against 2 KiB of floats) is compared with the
//!    query's, and the nearest few thousand by Hamming distance are shortlisted;
//! 2. the shortlist is re-scored against the query's unquantised rotated vector, a closer
//!    estimate of the cosine ([`refine`]), keeping a few hundred;
//! 3. those are scored exactly with their float vectors.
//!
//! Nothing is skipped, unlike graph search, so the mate of a probe is missed only when more
//! than the shortlist's worth of strangers have closer codes (BENCHMARKS.md measures how
//! rarely).

mod file;
mod refine;
mod rotation;
mod scan;

use serde::{Deserialize, Serialize};

use super::exact::{ExactIndex, dot};
use super::topk::TopK;
use super::{ScoredFace, VectorIndex, check_dims, parallel_chunks};
use crate::{FaceId, Result};
pub use file::SavedCodes;
use refine::ByteTable;
use rotation::SignCoder;
use scan::{CHUNK, ChunkDistances, Shortlist, chunk_distances, chunk_distances_portable};

/// Rows from which one query's scan is split across threads.
const PARALLEL_ROWS_FROM: usize = 64 * CHUNK;
/// Queries scanned together in one pass over the codes by a batch search: a chunk's planes
/// (64 KiB for 512-bit codes) stay in cache for all of them.
const QUERIES_PER_PASS: usize = 32;
/// The centre is re-fitted (and every code redone) each time the index doubles, until it has
/// this many faces: by then the mean is known to within noise, and redoing millions of codes
/// inside one enrolment would stall it.
const REFIT_UNTIL: usize = 100_000;
/// The first fit waits for this many faces (the mean of a handful is noise).
const FIRST_FIT_AT: usize = 32;

/// Settings of [`CompressedIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressedParams {
    /// Faces scored exactly with their float vectors (at least the `k` asked for).
    pub rerank: usize,
    /// Faces shortlisted by Hamming distance and re-scored against the float query, of which
    /// the best `rerank` go on (at least `rerank`).
    pub shortlist: usize,
}

/// Hamming shortlist per face re-ranked exactly, in [`CompressedParams::with_rerank`].
pub const SHORTLIST_PER_RERANK: usize = 8;

impl CompressedParams {
    /// `rerank` faces scored exactly, out of a Hamming shortlist [`SHORTLIST_PER_RERANK`] times
    /// as long.
    pub fn with_rerank(rerank: usize) -> Self {
        let rerank = rerank.max(1);
        Self { rerank, shortlist: rerank * SHORTLIST_PER_RERANK }
    }
}

impl Default for CompressedParams {
    /// Measured on 1M real-like faceprints (BENCHMARKS.md): at 300 of 2,400 the mate that exact
    /// search finds above the threshold is found for every probe, in about 4 ms on one core.
    fn default() -> Self {
        Self::with_rerank(300)
    }
}

/// Which distance code runs the scan: the runtime-dispatched one, or the portable reference
/// (for tests that the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKernel {
    Dispatched,
    Portable,
}

/// Sign codes of every face, scanned in full, with the float vectors for re-ranking.
#[derive(Debug, Clone)]
pub struct CompressedIndex {
    vectors: ExactIndex,
    coder: SignCoder,
    /// Subtracted before coding: faceprints share a mean direction, and signs around it carry
    /// more information than signs around zero.
    centre: Vec<f32>,
    /// How many faces the centre was fitted on.
    fitted_on: usize,
    /// Chunk-planar codes: chunk `c`, word `w`, lane `l` at `(c·words + w)·CHUNK + l`.
    codes: Vec<u64>,
    params: CompressedParams,
    threads: usize,
    kernel: ScanKernel,
}

impl CompressedIndex {
    pub fn new(dims: usize, params: CompressedParams) -> Self {
        Self {
            vectors: ExactIndex::new(dims),
            coder: SignCoder::new(dims),
            centre: vec![0.0; dims],
            fitted_on: 0,
            codes: Vec::new(),
            params,
            threads: 1,
            kernel: ScanKernel::Dispatched,
        }
    }

    /// Lets one query's scan run on up to `threads` threads (default 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.set_threads(threads);
        self
    }

    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
        self.vectors.set_threads(self.threads);
    }

    pub fn with_kernel(mut self, kernel: ScanKernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// Indexes `items` at once: the centre is their mean, and the codes are computed on
    /// `threads` threads.
    pub fn build(dims: usize, params: CompressedParams, items: &[(FaceId, &[f32])], threads: usize) -> Result<Self> {
        let mut index = Self::build_vectors(dims, params, items, threads)?;
        index.refit();
        Ok(index)
    }

    /// The index with `items`' vectors and no codes yet.
    fn build_vectors(
        dims: usize,
        params: CompressedParams,
        items: &[(FaceId, &[f32])],
        threads: usize,
    ) -> Result<Self> {
        let mut vectors = ExactIndex::with_capacity(dims, items.len()).with_threads(threads);
        for (id, vector) in items {
            vectors.insert(*id, vector)?;
        }
        let mut index = Self::new(dims, params).with_threads(threads);
        index.vectors = vectors;
        Ok(index)
    }

    pub fn params(&self) -> CompressedParams {
        self.params
    }

    /// Re-ranks `rerank` faces exactly, out of a shortlist [`SHORTLIST_PER_RERANK`] times as
    /// long.
    pub fn set_rerank(&mut self, rerank: usize) {
        self.params = CompressedParams::with_rerank(rerank);
    }

    /// The sign code this index gives `vector` (its bits, 64 to a word): for comparing with
    /// other code-based indexes on the very same codes.
    pub fn code_of(&self, vector: &[f32]) -> Vec<u64> {
        self.encode(vector)
    }

    fn words(&self) -> usize {
        self.coder.words()
    }

    /// Sets the centre to the mean of every vector and recomputes every code.
    fn refit(&mut self) {
        let dims = self.vectors.dims();
        let len = self.vectors.len();
        let mut sum = vec![0.0f64; dims];
        for row in self.vectors.matrix().chunks_exact(dims) {
            sum.iter_mut().zip(row).for_each(|(s, &x)| *s += f64::from(x));
        }
        self.centre = sum.iter().map(|s| if len == 0 { 0.0 } else { (s / len as f64) as f32 }).collect();
        self.fitted_on = len;
        self.fill_codes(|_| None);
    }

    /// The planes of one chunk: each face's code from `known`, or computed from its vector.
    fn encode_chunk<'a>(&self, chunk: usize, known: impl Fn(FaceId) -> Option<&'a [u64]>) -> Vec<u64> {
        let words = self.words();
        let mut planes = vec![0u64; words * CHUNK];
        let mut code = vec![0u64; words];
        let mut scratch = self.coder.scratch();
        let first = chunk * CHUNK;
        for row in first..(first + CHUNK).min(self.vectors.len()) {
            match known(self.vectors.id_at(row)) {
                Some(saved) => code.copy_from_slice(saved),
                None => self.coder.encode(self.vectors.vector(row), &self.centre, &mut scratch, &mut code),
            }
            for (w, &word) in code.iter().enumerate() {
                planes[w * CHUNK + row - first] = word;
            }
        }
        planes
    }

    fn write_code(&mut self, row: usize, code: &[u64]) {
        let words = self.words();
        let base = (row / CHUNK) * words * CHUNK;
        if self.codes.len() < base + words * CHUNK {
            self.codes.resize(base + words * CHUNK, 0);
        }
        for (w, &word) in code.iter().enumerate() {
            self.codes[base + w * CHUNK + row % CHUNK] = word;
        }
    }

    fn read_code(&self, row: usize) -> Vec<u64> {
        let base = (row / CHUNK) * self.words() * CHUNK;
        (0..self.words()).map(|w| self.codes[base + w * CHUNK + row % CHUNK]).collect()
    }

    fn encode(&self, vector: &[f32]) -> Vec<u64> {
        self.encode_rotated(vector).0
    }

    /// The code of `vector`, and its rotated coordinates that the code holds the signs of.
    fn encode_rotated(&self, vector: &[f32]) -> (Vec<u64>, Vec<f32>) {
        let mut code = vec![0u64; self.words()];
        let mut rotated = self.coder.scratch();
        self.coder.encode(vector, &self.centre, &mut rotated, &mut code);
        (code, rotated)
    }

    /// Keeps the `keep` rows whose codes score best against the rotated query (ties: lower
    /// row), scoring on up to `threads` threads.
    fn refine(&self, rows: Vec<usize>, rotated: &[f32], keep: usize, threads: usize) -> Vec<usize> {
        if rows.len() <= keep {
            return rows;
        }
        let table = ByteTable::new(rotated);
        let words = self.words();
        let score = |part: &[usize]| -> Vec<(f32, usize)> {
            part.iter()
                .map(|&row| {
                    let base = (row / CHUNK) * words * CHUNK + row % CHUNK;
                    (table.score((0..words).map(|w| self.codes[base + w * CHUNK])), row)
                })
                .collect()
        };
        let mut scored: Vec<(f32, usize)> = parallel_chunks(&rows, threads, score).concat();
        let best_first = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        scored.select_nth_unstable_by(keep - 1, best_first);
        scored.truncate(keep);
        scored.into_iter().map(|(_, row)| row).collect()
    }

    /// Shortlists the nearest codes among chunks `chunks`.
    fn scan(&self, query: &[u64], chunks: &[usize], shortlist: usize) -> Shortlist {
        let mut list = Shortlist::new(shortlist);
        let mut distances = ChunkDistances::new();
        for &chunk in chunks {
            self.offer_chunk(chunk, query, &mut distances, &mut list);
        }
        list
    }

    /// Rows a query's Hamming shortlist keeps: at least the `rerank` (and the `k`) after it.
    fn shortlist_len(&self, k: usize) -> usize {
        self.params.shortlist.max(self.params.rerank.max(k))
    }

    /// Offers one chunk's codes to a query's shortlist (`distances` is scratch space).
    fn offer_chunk(&self, chunk: usize, query: &[u64], distances: &mut ChunkDistances, list: &mut Shortlist) {
        let words = self.words();
        let planes = &self.codes[chunk * words * CHUNK..(chunk + 1) * words * CHUNK];
        match self.kernel {
            ScanKernel::Dispatched => chunk_distances(planes, query, distances),
            ScanKernel::Portable => chunk_distances_portable(planes, query, distances),
        }
        let first = chunk * CHUNK;
        list.offer(distances, first, CHUNK.min(self.vectors.len() - first));
    }

    /// The end of a search: re-scores the shortlisted rows against the float query (`rotated`
    /// is its rotated form), then scores the best `rerank` exactly and keeps the top `k`.
    fn rescore(
        &self,
        shortlisted: Vec<usize>,
        query: &[f32],
        rotated: &[f32],
        k: usize,
        threads: usize,
    ) -> Vec<ScoredFace> {
        let rows = self.refine(shortlisted, rotated, self.params.rerank.max(k), threads);
        let mut top = TopK::new(k);
        for row in rows {
            top.push(ScoredFace { face_id: self.vectors.id_at(row), similarity: dot(self.vectors.vector(row), query) });
        }
        top.into_sorted()
    }

    /// One query on up to `threads` threads: shortlist by Hamming distance, re-score against
    /// the float query, then score exactly.
    fn search_one(&self, query: &[f32], k: usize, threads: usize) -> Vec<ScoredFace> {
        let shortlist = self.shortlist_len(k);
        let (code, rotated) = self.encode_rotated(query);
        let chunks: Vec<usize> = (0..self.vectors.len().div_ceil(CHUNK)).collect();
        let threads = if self.vectors.len() >= PARALLEL_ROWS_FROM { threads } else { 1 };
        let lists = parallel_chunks(&chunks, threads, |mine| self.scan(&code, mine, shortlist));
        let rows = lists.into_iter().reduce(Shortlist::merge).map(Shortlist::into_rows).unwrap_or_default();
        self.rescore(rows, query, &rotated, k, threads)
    }

    /// Many queries on one thread: each chunk of codes is read from memory once for a block of
    /// [`QUERIES_PER_PASS`] queries and scanned for all of them while it sits in cache, where one
    /// query at a time streams the whole gallery per query. The answers are [`Self::search_one`]'s.
    fn search_many(&self, queries: &[Vec<f32>], k: usize) -> Vec<Vec<ScoredFace>> {
        let shortlist = self.shortlist_len(k);
        let mut answers = Vec::with_capacity(queries.len());
        let mut distances = ChunkDistances::new();
        for block in queries.chunks(QUERIES_PER_PASS) {
            let encoded: Vec<(Vec<u64>, Vec<f32>)> = block.iter().map(|q| self.encode_rotated(q)).collect();
            let mut lists: Vec<Shortlist> = block.iter().map(|_| Shortlist::new(shortlist)).collect();
            for chunk in 0..self.vectors.len().div_ceil(CHUNK) {
                for ((code, _), list) in encoded.iter().zip(&mut lists) {
                    self.offer_chunk(chunk, code, &mut distances, list);
                }
            }
            for ((query, (_, rotated)), list) in block.iter().zip(&encoded).zip(lists) {
                answers.push(self.rescore(list.into_rows(), query, rotated, k, 1));
            }
        }
        answers
    }

    /// Whether every face would be scored exactly anyway: then that is the same answer without
    /// the codes.
    fn exact_is_cheaper(&self, k: usize) -> bool {
        self.params.rerank.max(k) >= self.vectors.len()
    }

    fn refit_due(&self) -> bool {
        let len = self.vectors.len();
        self.fitted_on < REFIT_UNTIL && len >= FIRST_FIT_AT && len >= 2 * self.fitted_on
    }
}

impl VectorIndex for CompressedIndex {
    fn len(&self) -> usize {
        self.vectors.len()
    }

    fn dims(&self) -> usize {
        self.vectors.dims()
    }

    fn contains(&self, id: FaceId) -> bool {
        self.vectors.contains(id)
    }

    fn insert(&mut self, id: FaceId, vector: &[f32]) -> Result<()> {
        self.vectors.insert(id, vector)?;
        if self.refit_due() {
            self.refit();
        } else {
            let row = self.vectors.row_of(id).expect("just inserted");
            let code = self.encode(vector);
            self.write_code(row, &code);
        }
        Ok(())
    }

    fn remove(&mut self, id: FaceId) -> Result<bool> {
        let Some(row) = self.vectors.row_of(id) else { return Ok(false) };
        let last = self.vectors.len() - 1;
        self.vectors.remove(id)?;
        // The exact index moved its last row into the hole; the codes follow.
        if row != last {
            let moved = self.read_code(last);
            self.write_code(row, &moved);
        }
        self.codes.truncate(last.div_ceil(CHUNK) * self.words() * CHUNK);
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<ScoredFace>> {
        check_dims(self.dims(), query)?;
        if self.exact_is_cheaper(k) {
            return self.vectors.search(query, k);
        }
        Ok(self.search_one(query, k, self.threads))
    }

    fn search_batch(&self, queries: &[Vec<f32>], k: usize, threads: usize) -> Result<Vec<Vec<ScoredFace>>> {
        for query in queries {
            check_dims(self.dims(), query)?;
        }
        if self.exact_is_cheaper(k) {
            return self.vectors.search_batch(queries, k, threads);
        }
        if queries.len() < threads {
            // Too few queries to keep every thread busy: split each query's scan instead.
            return Ok(queries.iter().map(|q| self.search_one(q, k, threads)).collect());
        }
        let per_thread = parallel_chunks(queries, threads, |mine| self.search_many(mine, k));
        Ok(per_thread.into_iter().flatten().collect())
    }

    fn memory_bytes(&self) -> usize {
        self.vectors.memory_bytes() + self.codes.capacity() * 8 + self.centre.capacity() * 4
    }
}

#[cfg(test)]
mod tests;
