//! The compressed index against exact search: same answers when the shortlist holds the mate,
//! whatever the order of inserts, removals, re-embeddings, kernels and threads.

use proptest::prelude::*;

use super::*;

/// Deterministic pseudo-random unit vectors (xorshift → Box–Muller), clustered around a shared
/// mean direction like faceprints, so that centring matters.
pub(super) struct Vectors {
    state: u64,
    dims: usize,
}

impl Vectors {
    pub(super) fn new(dims: usize, seed: u64) -> Self {
        Self { state: seed.max(1), dims }
    }

    fn uniform(&mut self) -> f32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((self.state >> 11) as f64 / (1u64 << 53) as f64) as f32
    }

    fn gaussian(&mut self) -> f32 {
        let u = self.uniform().max(1e-9);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    pub(super) fn unit(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..self.dims).map(|d| self.gaussian() + if d % 7 == 0 { 0.5 } else { 0.0 }).collect();
        normalise(&mut v);
        v
    }

    /// A probe of `x` at cosine about `c`.
    fn probe(&mut self, x: &[f32], c: f32) -> Vec<f32> {
        let noise = self.unit();
        let along: f32 = noise.iter().zip(x).map(|(a, b)| a * b).sum();
        let mut y: Vec<f32> = noise.iter().zip(x).map(|(n, x)| n - along * x).collect();
        normalise(&mut y);
        let s = (1.0 - c * c).sqrt();
        let mut q: Vec<f32> = x.iter().zip(&y).map(|(a, b)| c * a + s * b).collect();
        normalise(&mut q);
        q
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

fn ids(faces: &[ScoredFace]) -> Vec<FaceId> {
    faces.iter().map(|f| f.face_id).collect()
}

fn filled(dims: usize, n: usize, seed: u64, params: CompressedParams) -> (CompressedIndex, ExactIndex, Vec<Vec<f32>>) {
    let mut draw = Vectors::new(dims, seed);
    let vectors: Vec<Vec<f32>> = (0..n).map(|_| draw.unit()).collect();
    let items: Vec<(FaceId, &[f32])> =
        vectors.iter().enumerate().map(|(i, v)| (i as FaceId + 1, v.as_slice())).collect();
    let compressed = CompressedIndex::build(dims, params, &items, 1).unwrap();
    let mut exact = ExactIndex::new(dims);
    for (id, v) in &items {
        exact.insert(*id, v).unwrap();
    }
    (compressed, exact, vectors)
}

#[test]
fn probes_find_the_exact_answer() {
    let (compressed, exact, vectors) = filled(512, 20_000, 3, CompressedParams { rerank: 100, shortlist: 400 });
    let mut draw = Vectors::new(512, 11);
    let mut agree = 0;
    for i in (0..vectors.len()).step_by(97) {
        let probe = draw.probe(&vectors[i], 0.5);
        let (ours, truth) = (compressed.search(&probe, 5).unwrap(), exact.search(&probe, 5).unwrap());
        assert_eq!(truth[0].face_id, i as FaceId + 1, "the probe's source is the exact top-1");
        // The rest of the exact top 5 are strangers at near-zero similarity, in an order the codes
        // cannot tell apart: the goal is the mate.
        agree += usize::from(ours[0] == truth[0]);
        // A face is scored exactly or not at all.
        for face in &ours {
            let row = compressed.vectors.row_of(face.face_id).unwrap();
            assert_eq!(face.similarity, dot(compressed.vectors.vector(row), &probe));
        }
    }
    assert_eq!(agree, vectors.len().div_ceil(97), "the same top-1, with the same score, for every probe");
}

#[test]
fn a_shortlist_as_large_as_the_index_is_exact_search() {
    let (mut compressed, exact, vectors) = filled(32, 3000, 5, CompressedParams::with_rerank(3000));
    // Re-rank nearly everything, still through the codes (exact search takes over at 3000).
    compressed.set_rerank(2999);
    assert_eq!(compressed.params(), CompressedParams { rerank: 2999, shortlist: 2999 * SHORTLIST_PER_RERANK });
    let mut draw = Vectors::new(32, 9);
    for v in vectors.iter().step_by(50) {
        let probe = draw.probe(v, 0.3);
        let (ours, truth) = (compressed.search(&probe, 10).unwrap(), exact.search(&probe, 10).unwrap());
        assert_eq!(ids(&ours), ids(&truth));
    }
}

#[test]
fn ties_are_broken_by_id_like_exact_search() {
    let mut draw = Vectors::new(64, 21);
    let mut compressed = CompressedIndex::new(64, CompressedParams { rerank: 8, shortlist: 20 });
    let mut exact = ExactIndex::new(64);
    let twin = draw.unit();
    for id in 1..=200 {
        // Every fifth face is the same vector.
        let v = if id % 5 == 0 { twin.clone() } else { draw.unit() };
        compressed.insert(id, &v).unwrap();
        exact.insert(id, &v).unwrap();
    }
    let ours = compressed.search(&twin, 6).unwrap();
    assert_eq!(ids(&ours), vec![5, 10, 15, 20, 25, 30]);
    assert_eq!(ids(&ours), ids(&exact.search(&twin, 6).unwrap()));
}

#[test]
fn kernels_and_threads_give_identical_answers() {
    let dims = 64;
    let (single, _, vectors) =
        filled(dims, PARALLEL_ROWS_FROM + 1500, 8, CompressedParams { rerank: 30, shortlist: 90 });
    let portable = single.clone().with_kernel(ScanKernel::Portable);
    let threaded = single.clone().with_threads(2);
    let mut draw = Vectors::new(dims, 17);
    let queries: Vec<Vec<f32>> = vectors.iter().step_by(4001).map(|v| draw.probe(v, 0.4)).collect();
    for query in &queries {
        let answer = single.search(query, 10).unwrap();
        assert_eq!(answer, portable.search(query, 10).unwrap());
        assert_eq!(answer, threaded.search(query, 10).unwrap());
    }
    let batch = threaded.search_batch(&queries, 10, 2).unwrap();
    assert_eq!(batch, queries.iter().map(|q| single.search(q, 10).unwrap()).collect::<Vec<_>>());
}

#[derive(Debug, Clone)]
enum Op {
    Insert(FaceId, u64),
    Remove(FaceId),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..400i64, any::<u64>()).prop_map(|(id, seed)| Op::Insert(id, seed)),
        1 => (1..400i64).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Inserts (new faces and re-embeddings of present ones) and removals in any order leave the
    /// index answering like an exact index given the same operations.
    #[test]
    fn any_sequence_of_changes_matches_exact_search(ops in proptest::collection::vec(op(), 1..700)) {
        let dims = 48;
        let mut compressed = CompressedIndex::new(dims, CompressedParams { rerank: 10, shortlist: 40 });
        let mut exact = ExactIndex::new(dims);
        let mut present = std::collections::HashMap::new();
        for op in &ops {
            match *op {
                Op::Insert(id, seed) => {
                    let v = Vectors::new(dims, seed).unit();
                    compressed.insert(id, &v).unwrap();
                    exact.insert(id, &v).unwrap();
                    present.insert(id, v);
                }
                Op::Remove(id) => {
                    prop_assert_eq!(compressed.remove(id).unwrap(), exact.remove(id).unwrap());
                    present.remove(&id);
                }
            }
        }
        prop_assert_eq!(compressed.len(), exact.len());
        for (&id, v) in present.iter().take(30) {
            prop_assert!(compressed.contains(id));
            let ours = compressed.search(v, 3).unwrap();
            prop_assert_eq!(ours[0].face_id, exact.search(v, 3).unwrap()[0].face_id);
            prop_assert!((ours[0].similarity - 1.0).abs() < 1e-5);
        }
    }
}
