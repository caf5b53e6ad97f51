//! The scan: Hamming distances from a query's code to every stored code, and the shortlist of
//! the nearest few hundred.
//!
//! Codes are stored in chunks of [`CHUNK`] faces, word-major ("planes": word 0 of all the
//! chunk's faces, then word 1, …), so the distance loop runs down contiguous lanes and the
//! compiler vectorises it without intrinsics. It is compiled for several CPU levels and chosen
//! at run time (`multiversion`); every version computes the same integers.

use multiversion::multiversion;

/// Faces per chunk: 1024 distances (4 KiB) stay in L1 while the planes stream past.
pub(crate) const CHUNK: usize = 1024;
/// Lanes summarised by one minimum: the shortlist skips a block whose minimum cannot enter,
/// which is most blocks once the shortlist is full (a compare per face costs about as much as
/// the distance).
pub(crate) const BLOCK: usize = 64;

/// A chunk's distances and the minimum of each block of [`BLOCK`] lanes.
#[derive(Debug)]
pub(crate) struct ChunkDistances {
    pub(crate) distances: [u32; CHUNK],
    pub(crate) minima: [u32; CHUNK / BLOCK],
}

impl ChunkDistances {
    pub(crate) fn new() -> Self {
        Self { distances: [0; CHUNK], minima: [0; CHUNK / BLOCK] }
    }
}

/// The distance loop, written once and compiled per target below.
#[inline(always)]
fn chunk_distances_body(planes: &[u64], query: &[u64], out: &mut ChunkDistances) {
    let mut sums = [0u64; CHUNK];
    for (plane, &word) in planes.chunks_exact(CHUNK).zip(query) {
        for (sum, &code) in sums.iter_mut().zip(plane) {
            *sum += u64::from((code ^ word).count_ones());
        }
    }
    for (out, sum) in out.distances.iter_mut().zip(sums) {
        *out = sum as u32;
    }
    for (minimum, block) in out.minima.iter_mut().zip(out.distances.chunks_exact(BLOCK)) {
        *minimum = block.iter().copied().fold(u32::MAX, u32::min);
    }
}

/// Runtime-dispatched distances of one chunk (`planes` is `query.len() × CHUNK` words).
///
/// Target order is by measurement on this project's 2-core AMD EPYC VM, 1M codes of 512 bits
/// (BENCHMARKS.md): AVX2 (popcount by byte lookup) streams at 2.6 ms per query, plain POPCNT
/// 3.0 ms, and the AVX-512 VPOPCNTDQ version, fastest on a chunk in cache, 5.2 ms over the
/// whole gallery, so it is left out.
#[multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
pub(crate) fn chunk_distances(planes: &[u64], query: &[u64], out: &mut ChunkDistances) {
    chunk_distances_body(planes, query, out)
}

/// The same loop with no target features: the reference the dispatched versions must equal.
pub(crate) fn chunk_distances_portable(planes: &[u64], query: &[u64], out: &mut ChunkDistances) {
    chunk_distances_body(planes, query, out)
}

/// The `capacity` nearest rows seen, by (distance, row): rows arrive in increasing order, so a
/// row at the current worst distance loses the tie to every row kept and is not taken. The
/// result is the same whatever the split of rows between threads.
#[derive(Debug)]
pub(crate) struct Shortlist {
    capacity: usize,
    items: Vec<(u32, u32)>,
    /// Rows at this distance or more cannot enter (once `capacity` rows are kept).
    bound: u32,
}

impl Shortlist {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { capacity, items: Vec::with_capacity(2 * capacity + CHUNK), bound: u32::MAX }
    }

    /// Offers the first `valid` distances of a chunk whose first row is `first_row`.
    #[inline]
    pub(crate) fn offer(&mut self, chunk: &ChunkDistances, first_row: usize, valid: usize) {
        for (block, &minimum) in chunk.minima.iter().enumerate() {
            let start = block * BLOCK;
            if minimum >= self.bound || start >= valid {
                continue;
            }
            for (lane, &distance) in chunk.distances[start..valid.min(start + BLOCK)].iter().enumerate() {
                if distance < self.bound {
                    self.items.push((distance, (first_row + start + lane) as u32));
                }
            }
        }
        if self.items.len() >= 2 * self.capacity {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        if self.items.len() > self.capacity {
            self.items.select_nth_unstable(self.capacity - 1);
            self.items.truncate(self.capacity);
        }
        if self.items.len() == self.capacity {
            self.bound = self.items.iter().map(|i| i.0).max().unwrap_or(u32::MAX);
        }
    }

    /// Joins shortlists of disjoint rows (one per thread).
    pub(crate) fn merge(mut self, other: Shortlist) -> Shortlist {
        self.items.extend(other.items);
        self.shrink();
        self
    }

    /// The kept rows, nearest first.
    pub(crate) fn into_rows(mut self) -> Vec<usize> {
        self.shrink();
        self.items.sort_unstable();
        self.items.into_iter().map(|(_, row)| row as usize).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_words(count: usize, mut state: u64) -> Vec<u64> {
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            })
            .collect()
    }

    #[test]
    fn dispatched_and_portable_distances_are_identical() {
        for words in [1, 2, 8, 16] {
            let planes = random_words(words * CHUNK, 0x1234_5678 + words as u64);
            let query = random_words(words, 99);
            let (mut fast, mut portable) = (ChunkDistances::new(), ChunkDistances::new());
            chunk_distances(&planes, &query, &mut fast);
            chunk_distances_portable(&planes, &query, &mut portable);
            assert_eq!(fast.distances, portable.distances);
            assert_eq!(fast.minima, portable.minima);
            // And both equal the definition, face by face.
            for lane in [0, 1, 511, CHUNK - 1] {
                let expected: u32 = (0..words).map(|w| (planes[w * CHUNK + lane] ^ query[w]).count_ones()).sum();
                assert_eq!(fast.distances[lane], expected);
            }
            assert_eq!(fast.minima[1], *fast.distances[BLOCK..2 * BLOCK].iter().min().unwrap());
        }
    }

    #[test]
    fn shortlist_keeps_the_nearest_rows_and_is_split_invariant() {
        let distances: Vec<u32> = random_words(3 * CHUNK, 7).iter().map(|w| (w % 40) as u32).collect();
        let chunk = |c: usize| {
            let mut out = ChunkDistances::new();
            out.distances.copy_from_slice(&distances[c * CHUNK..(c + 1) * CHUNK]);
            for (m, block) in out.minima.iter_mut().zip(out.distances.chunks_exact(BLOCK)) {
                *m = *block.iter().min().unwrap();
            }
            out
        };
        let mut whole = Shortlist::new(50);
        for c in 0..3 {
            // The last chunk is partly filled: lanes past `valid` are never offered.
            whole.offer(&chunk(c), c * CHUNK, if c == 2 { CHUNK - 100 } else { CHUNK });
        }
        let mut first = Shortlist::new(50);
        first.offer(&chunk(0), 0, CHUNK);
        let mut rest = Shortlist::new(50);
        rest.offer(&chunk(1), CHUNK, CHUNK);
        rest.offer(&chunk(2), 2 * CHUNK, CHUNK - 100);
        let whole = whole.into_rows();
        assert_eq!(whole, first.merge(rest).into_rows());
        let mut expected: Vec<(u32, usize)> =
            distances[..3 * CHUNK - 100].iter().enumerate().map(|(r, &d)| (d, r)).collect();
        expected.sort_unstable();
        assert_eq!(whole, expected[..50].iter().map(|e| e.1).collect::<Vec<_>>());
    }
}
