//! The constraints that set faceprint's clustering apart, on small hand-made faceprints whose
//! similarities are known exactly. (The real-photo checks are in the CLI's tests: `eval cluster`
//! on LFW DevTest and ORL, and the photo library.)

use faceprint_cluster::{ClusterFace, ClusterParams, Clustering, cluster};

/// A unit vector in 8 dimensions: mostly `axis`, tilted towards axis 7 by `tilt` (so two
/// vectors of one axis score about cos(tilt difference), and of two axes about 0).
fn face(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; 8];
    v[axis] = tilt.cos();
    v[7] += tilt.sin();
    v
}

fn run(faces: &[ClusterFace<'_>]) -> Clustering {
    cluster(faces, &ClusterParams { threads: 1, ..ClusterParams::default() }).expect("clusters")
}

#[test]
fn faces_of_one_photo_are_never_one_person() {
    // Twins photographed together (one photo), and one of them again in another photo.
    let (a, b, c) = (face(0, 0.0), face(0, 0.05), face(0, 0.1));
    let faces = [ClusterFace::new(&a, 1), ClusterFace::new(&b, 1), ClusterFace::new(&c, 2)];
    let result = run(&faces);
    assert_ne!(result.group_of[0], result.group_of[1], "two faces of photo 1 were grouped");
    let joined = [result.group_of[0], result.group_of[1]].contains(&result.group_of[2]);
    assert!(joined, "the third face joined neither: {:?}", result.group_of);
}

#[test]
fn held_people_stay_apart_and_new_faces_join_them() {
    // Two held people who look alike, and a new face nearest the first.
    let (a1, a2, b1, new) = (face(0, 0.0), face(0, 0.3), face(0, 0.9), face(0, 0.1));
    let mut faces = vec![
        ClusterFace { held_by: Some(10), ..ClusterFace::new(&a1, 1) },
        ClusterFace { held_by: Some(10), ..ClusterFace::new(&a2, 2) },
        ClusterFace { held_by: Some(20), ..ClusterFace::new(&b1, 3) },
        ClusterFace::new(&new, 4),
    ];
    let result = run(&faces);
    let person = |i: usize| result.groups[result.group_of[i]].person;
    assert_eq!((person(0), person(1), person(2)), (Some(10), Some(10), Some(20)));
    assert_ne!(result.group_of[0], result.group_of[2], "two held people were merged");
    assert_eq!(person(3), Some(10), "the new face did not join the person it resembles");

    // Barred from person 10 (removed from it by hand), the same face never joins it.
    let barred = [10];
    faces[3].barred = &barred;
    let result = run(&faces);
    assert_ne!(result.groups[result.group_of[3]].person, Some(10));
}

#[test]
fn different_people_stay_apart_and_one_persons_faces_come_together() {
    let vectors: Vec<Vec<f32>> = (0..6).flat_map(|axis| (0..4).map(move |t| face(axis, t as f32 * 0.15))).collect();
    let faces: Vec<ClusterFace> = vectors.iter().enumerate().map(|(i, v)| ClusterFace::new(v, i as u64)).collect();
    let result = run(&faces);
    assert_eq!(result.groups.len(), 6, "{:?}", result.group_of);
    for (i, &g) in result.group_of.iter().enumerate() {
        assert_eq!(g, result.group_of[i / 4 * 4], "face {i} is not with its person");
    }
    // Deterministic: the same input and seed give the same grouping.
    assert_eq!(run(&faces).group_of, result.group_of);
}

#[test]
fn bad_input_is_an_error() {
    let (a, b) = (vec![1.0, 0.0], vec![1.0, 0.0, 0.0]);
    assert!(cluster(&[ClusterFace::new(&a, 1), ClusterFace::new(&b, 2)], &ClusterParams::default()).is_err());
    let held = [
        ClusterFace { held_by: Some(1), ..ClusterFace::new(&a, 7) },
        ClusterFace { held_by: Some(1), ..ClusterFace::new(&a, 7) },
    ];
    assert!(cluster(&held, &ClusterParams::default()).is_err(), "one person held twice in one photo");
    assert!(cluster(&[], &ClusterParams::default()).expect("empty is fine").groups.is_empty());
}

/// `count` people of 5 faces each in `dims` dimensions: a random unit centre per person, each
/// face the centre plus noise (same-person similarity about 0.6, different people about 0, within
/// ±4/√dims or so).
fn people(seed: u64, count: usize, dims: usize) -> Vec<Vec<f32>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut unit = |scale: f32, around: Option<&[f32]>| {
        let mut v: Vec<f32> =
            (0..dims).map(|d| around.map_or(0.0, |c| c[d]) + scale * rng.random_range(-1.0..1.0)).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    };
    let mut faces = Vec::new();
    for _ in 0..count {
        let centre = unit(1.0, None);
        for _ in 0..5 {
            // The same noise in all: 0.12 per dimension at 64.
            faces.push(unit(0.96 / (dims as f32).sqrt(), Some(&centre)));
        }
    }
    faces
}

#[test]
fn the_compressed_graph_groups_as_the_exact_one_does() {
    let vectors = people(7, 60, 64);
    let faces: Vec<ClusterFace> = vectors.iter().enumerate().map(|(i, v)| ClusterFace::new(v, i as u64)).collect();
    let exact = run(&faces);
    let compressed_params = ClusterParams { exact_below: 0, rerank: 30, threads: 2, ..ClusterParams::default() };
    let compressed = cluster(&faces, &compressed_params).unwrap();
    assert_eq!(compressed.stats.search, faceprint_cluster::NeighbourSearch::Compressed);
    assert_eq!(exact.stats.search, faceprint_cluster::NeighbourSearch::Exact);
    assert_eq!(compressed.group_of, exact.group_of);
    assert_eq!(exact.groups.len(), 60, "one group per person");
    for (i, &g) in exact.group_of.iter().enumerate() {
        assert_eq!(g, exact.group_of[i / 5 * 5], "face {i} is not with its person");
    }
}

#[test]
fn the_partitioned_graph_groups_as_the_exact_one_does() {
    // 3,000 faces: about 55 partitions of 55, more than the codes' shortlist, so each partition
    // is searched by its codes and not exactly. 256 dimensions keep 600 strangers apart.
    let vectors = people(7, 600, 256);
    let faces: Vec<ClusterFace> = vectors.iter().enumerate().map(|(i, v)| ClusterFace::new(v, i as u64)).collect();
    let exact = run(&faces);
    let partitioned_params =
        ClusterParams { partitioned_from: 0, probed_share: 0.2, threads: 2, ..ClusterParams::default() };
    let partitioned = cluster(&faces, &partitioned_params).unwrap();
    assert_eq!(partitioned.stats.search, faceprint_cluster::NeighbourSearch::Partitioned);
    assert_eq!(exact.groups.len(), 600, "one group per person");
    assert_eq!(partitioned.groups.len(), 600, "one group per person");
    for (i, &g) in partitioned.group_of.iter().enumerate() {
        assert_eq!(g, partitioned.group_of[i / 5 * 5], "face {i} is not with its person");
    }
}
