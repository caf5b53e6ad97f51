//! The neighbour search for very large sets, over a share of the n² pairs: the faces are split
//! into about √n partitions by spherical k-means, and each face is compared with the faces of
//! the partitions whose centres are nearest it (an inverted file, "IVF" in FAISS's words), by
//! sign codes and then exactly. A person's faceprints lie close together, so the partitions
//! holding that person's other faces tend to be among a face's nearest; on faceprints, where
//! strangers are nearly orthogonal, the partitions are coarse and the default 6 % of them misses
//! edges, which splits people (never merges strangers). Measured against the all-pairs graph in BENCHMARKS.md
//! ("Clustering").

use faceprint_gallery::{CompressedIndex, CompressedParams, ExactIndex, FaceId, VectorIndex};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::{ClusterError, ClusterFace, ClusterParams};

/// Rounds of k-means on the sample: the partitions only need to be good enough that a person's
/// faces fall into a few neighbouring ones.
const KMEANS_ROUNDS: usize = 8;
/// Sample faces per partition that k-means learns the centres from.
const SAMPLE_PER_PARTITION: usize = 40;
/// Hamming shortlist per neighbour asked, within a partition.
const SHORTLIST_PER_NEIGHBOUR: usize = 2;
/// Queries handed to an index at a time.
const QUERIES_PER_CHUNK: usize = 4_096;

fn id(index: usize) -> FaceId {
    index as FaceId + 1
}

fn index_of(id: FaceId) -> usize {
    (id - 1) as usize
}

/// The centres as an exact index, to find each face's nearest.
fn centre_index(dims: usize, centres: &[Vec<f32>]) -> Result<ExactIndex, ClusterError> {
    let mut index = ExactIndex::with_capacity(dims, centres.len());
    for (c, centre) in centres.iter().enumerate() {
        index.insert(id(c), centre)?;
    }
    Ok(index)
}

/// The `probes` nearest centres of every face, nearest first.
fn nearest_centres(
    faces: &[ClusterFace<'_>],
    centres: &[Vec<f32>],
    probes: usize,
    threads: usize,
) -> Result<Vec<Vec<u32>>, ClusterError> {
    let index = centre_index(faces[0].vector.len(), centres)?;
    let mut nearest = Vec::with_capacity(faces.len());
    for chunk in faces.chunks(QUERIES_PER_CHUNK) {
        let queries: Vec<Vec<f32>> = chunk.iter().map(|f| f.vector.to_vec()).collect();
        for found in index.search_batch(&queries, probes, threads)? {
            nearest.push(found.into_iter().map(|s| index_of(s.face_id) as u32).collect());
        }
    }
    Ok(nearest)
}

/// Spherical k-means on a sample: unit centres, each the normalised mean of its faces.
fn learn_centres(
    faces: &[ClusterFace<'_>],
    partitions: usize,
    params: &ClusterParams,
) -> Result<Vec<Vec<f32>>, ClusterError> {
    let dims = faces[0].vector.len();
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(params.seed));
    order.truncate((partitions * SAMPLE_PER_PARTITION).min(faces.len()));
    let sample: Vec<ClusterFace<'_>> = order.iter().map(|&i| faces[i]).collect();
    let mut centres: Vec<Vec<f32>> = sample.iter().take(partitions).map(|f| f.vector.to_vec()).collect();
    for _ in 0..KMEANS_ROUNDS {
        let home = nearest_centres(&sample, &centres, 1, params.threads)?;
        let mut sums = vec![vec![0.0f32; dims]; centres.len()];
        for (face, home) in sample.iter().zip(&home) {
            for (sum, value) in sums[home[0] as usize].iter_mut().zip(face.vector) {
                *sum += value;
            }
        }
        for (centre, sum) in centres.iter_mut().zip(sums) {
            let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
            // A centre that drew no face keeps its place.
            if norm > 0.0 {
                *centre = sum.into_iter().map(|v| v / norm).collect();
            }
        }
    }
    Ok(centres)
}

/// Every face's `k` nearest faces (itself excluded) at or above `floor`, found within its
/// `params.probed_share` of the partitions, the nearest: the same top-k the all-pairs search gives wherever those
/// partitions hold a face's true neighbours.
pub(crate) fn partitioned_neighbours(
    faces: &[ClusterFace<'_>],
    params: &ClusterParams,
    k: usize,
    floor: f32,
) -> Result<Vec<Vec<(u32, f32)>>, ClusterError> {
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    // √n partitions of √n faces: measured, finer partitions find more of a face's neighbours
    // for the same share of pairs than a few large ones (BENCHMARKS.md).
    let partitions = ((faces.len() as f64).sqrt().round() as usize).max(1);
    let centres = learn_centres(faces, partitions, params)?;
    let probes = ((params.probed_share * centres.len() as f32).ceil() as usize).clamp(1, centres.len());
    let nearest = nearest_centres(faces, &centres, probes, params.threads)?;
    let (mut members, mut askers) = (vec![Vec::new(); centres.len()], vec![Vec::new(); centres.len()]);
    for (face, near) in nearest.iter().enumerate() {
        members[near[0] as usize].push(face);
        for &centre in near {
            askers[centre as usize].push(face);
        }
    }
    drop(nearest);
    let dims = faces[0].vector.len();
    // Each face's candidates from every partition it probes; only those above the floor are
    // kept, which for faceprints is a few per face (its person's other faces).
    let mut nearest: Vec<Vec<(u32, f32)>> = vec![Vec::new(); faces.len()];
    for (members, askers) in members.iter().zip(&askers) {
        if members.is_empty() || askers.is_empty() {
            continue;
        }
        let items: Vec<(FaceId, &[f32])> = members.iter().map(|&face| (id(face), faces[face].vector)).collect();
        // Codes around the partition's own mean: its faces' signs differ more there than around
        // the whole set's. The Hamming shortlist is scored exactly as it stands, without the
        // refining stage (a table per query and partition would cost more than the scan): a
        // neighbour above the floor stands far out of a partition of strangers.
        let shortlist = SHORTLIST_PER_NEIGHBOUR * (k + 1);
        let codes = CompressedParams { rerank: shortlist, shortlist };
        let index = CompressedIndex::build(dims, codes, &items, 1)?;
        for chunk in askers.chunks(QUERIES_PER_CHUNK) {
            let queries: Vec<Vec<f32>> = chunk.iter().map(|&f| faces[f].vector.to_vec()).collect();
            for (&face, found) in chunk.iter().zip(index.search_batch(&queries, k + 1, params.threads)?) {
                let found = found.into_iter().filter(|s| s.similarity >= floor && index_of(s.face_id) != face);
                nearest[face].extend(found.map(|s| (index_of(s.face_id) as u32, s.similarity)));
            }
        }
    }
    for list in &mut nearest {
        list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        list.truncate(k);
    }
    Ok(nearest)
}
