//! Clustering quality against known identities (pairwise and BCubed precision, recall and F, and
//! normalised mutual information), and the two baselines faceprint's clustering is compared
//! with: DBSCAN as Immich runs it, and agglomerative average linkage.
//!
//! Every face is in one cluster: a face left alone (DBSCAN's noise included) is a cluster of one.

use std::collections::HashMap;

use faceprint::cosine_similarity;

/// How well a clustering matches the identities. The field names are the `eval cluster` JSON
/// contract.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClusterScores {
    pub faces: usize,
    pub identities: usize,
    pub clusters: usize,
    pub pairwise_f: f64,
    pub pairwise_precision: f64,
    pub pairwise_recall: f64,
    pub bcubed_f: f64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub nmi: f64,
    /// Time the clustering took (filled in by whoever timed it).
    pub seconds: f64,
}

fn harmonic(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

fn pairs(n: usize) -> f64 {
    (n * n.saturating_sub(1)) as f64 / 2.0
}

fn entropy(counts: impl Iterator<Item = usize>, total: f64) -> f64 {
    counts.map(|c| c as f64 / total).filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum()
}

/// Scores `predicted` cluster labels against `truth` identity labels, face by face.
pub fn score_clustering(predicted: &[usize], truth: &[usize]) -> ClusterScores {
    assert_eq!(predicted.len(), truth.len(), "one predicted label per labelled face");
    let n = predicted.len();
    let mut in_cluster: HashMap<usize, usize> = HashMap::new();
    let mut in_identity: HashMap<usize, usize> = HashMap::new();
    let mut in_both: HashMap<(usize, usize), usize> = HashMap::new();
    for (&p, &t) in predicted.iter().zip(truth) {
        *in_cluster.entry(p).or_default() += 1;
        *in_identity.entry(t).or_default() += 1;
        *in_both.entry((p, t)).or_default() += 1;
    }
    // Pairwise: over pairs of faces put together (precision) and pairs that belong together
    // (recall). With no such pair the rate is 1 (nothing was got wrong).
    let together_right: f64 = in_both.values().map(|&c| pairs(c)).sum();
    let together: f64 = in_cluster.values().map(|&c| pairs(c)).sum();
    let belong: f64 = in_identity.values().map(|&c| pairs(c)).sum();
    let pairwise_precision = if together > 0.0 { together_right / together } else { 1.0 };
    let pairwise_recall = if belong > 0.0 { together_right / belong } else { 1.0 };
    // BCubed: per face, the share of its cluster that is its identity and the share of its
    // identity that is in its cluster, averaged over faces.
    let total = n.max(1) as f64;
    let mut bcubed_precision = 0.0;
    let mut bcubed_recall = 0.0;
    for (&(p, t), &c) in &in_both {
        let c = c as f64;
        bcubed_precision += c * c / in_cluster[&p] as f64;
        bcubed_recall += c * c / in_identity[&t] as f64;
    }
    bcubed_precision /= total;
    bcubed_recall /= total;
    // NMI with the arithmetic mean of the entropies (scikit-learn's default).
    let mutual: f64 = in_both
        .iter()
        .map(|(&(p, t), &c)| {
            let c = c as f64;
            c / total * (total * c / (in_cluster[&p] as f64 * in_identity[&t] as f64)).ln()
        })
        .sum();
    let h_cluster = entropy(in_cluster.values().copied(), total);
    let h_identity = entropy(in_identity.values().copied(), total);
    let mean_entropy = (h_cluster + h_identity) / 2.0;
    let nmi = if mean_entropy > 0.0 { (mutual / mean_entropy).clamp(0.0, 1.0) } else { 1.0 };
    ClusterScores {
        faces: n,
        identities: in_identity.len(),
        clusters: in_cluster.len(),
        pairwise_f: harmonic(pairwise_precision, pairwise_recall),
        pairwise_precision,
        pairwise_recall,
        bcubed_f: harmonic(bcubed_precision, bcubed_recall),
        bcubed_precision,
        bcubed_recall,
        nmi,
        seconds: 0.0,
    }
}

/// Immich's face clustering: DBSCAN on cosine distance with `max_distance` 0.5 and
/// `min_faces` 3 (scikit-learn's semantics: a face is a core face when at least `min_faces`
/// faces, itself included, lie within the distance; a border face joins the first cluster that
/// reaches it). Noise faces are clusters of one.
pub fn dbscan(vectors: &[&[f32]], max_distance: f32, min_faces: usize) -> Vec<usize> {
    let n = vectors.len();
    let near: Vec<Vec<usize>> = (0..n)
        .map(|i| (0..n).filter(|&j| 1.0 - cosine_similarity(vectors[i], vectors[j]) <= max_distance).collect())
        .collect();
    let core: Vec<bool> = near.iter().map(|list| list.len() >= min_faces).collect();
    let mut label: Vec<Option<usize>> = vec![None; n];
    let mut clusters = 0;
    for start in 0..n {
        if label[start].is_some() || !core[start] {
            continue;
        }
        label[start] = Some(clusters);
        let mut frontier = vec![start];
        while let Some(face) = frontier.pop() {
            for &other in &near[face] {
                if label[other].is_none() {
                    label[other] = Some(clusters);
                    if core[other] {
                        frontier.push(other);
                    }
                }
            }
        }
        clusters += 1;
    }
    let mut next = clusters;
    label
        .into_iter()
        .map(|l| {
            l.unwrap_or_else(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Agglomerative clustering with average linkage on cosine similarity (the `kodama` crate),
/// merging while the mean similarity of two clusters is at least `min_similarity`.
pub fn agglomerative_average(vectors: &[&[f32]], min_similarity: f32) -> Vec<usize> {
    let n = vectors.len();
    if n < 2 {
        return (0..n).collect();
    }
    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            condensed.push(f64::from(1.0 - cosine_similarity(vectors[i], vectors[j])));
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    // Union-find over observations and the clusters the steps make (numbered n, n+1, …).
    let mut parent: Vec<usize> = (0..2 * n - 1).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let max_distance = f64::from(1.0 - min_similarity);
    for (step, merge) in dendrogram.steps().iter().enumerate() {
        if merge.dissimilarity > max_distance {
            break;
        }
        let made = n + step;
        for part in [merge.cluster1, merge.cluster2] {
            let r = root(&mut parent, part);
            parent[r] = made;
        }
    }
    (0..n).map(|i| root(&mut parent, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_all_in_one_clusterings_score_as_expected() {
        let truth = [0, 0, 1, 1, 2];
        let perfect = score_clustering(&[5, 5, 7, 7, 9], &truth);
        assert_eq!((perfect.pairwise_f, perfect.bcubed_f), (1.0, 1.0));
        assert!((perfect.nmi - 1.0).abs() < 1e-12);
        assert_eq!((perfect.identities, perfect.clusters), (3, 3));
        let lumped = score_clustering(&[0; 5], &truth);
        assert_eq!(lumped.pairwise_recall, 1.0);
        assert!((lumped.pairwise_precision - 2.0 / 10.0).abs() < 1e-12);
        // BCubed precision: faces of the pairs see 2/5 of the cluster as theirs, the lone face 1/5.
        assert!((lumped.bcubed_precision - (4.0 * 0.4 + 0.2) / 5.0).abs() < 1e-12);
        assert_eq!(lumped.nmi, 0.0);
        let split = score_clustering(&[0, 1, 2, 3, 4], &truth);
        assert_eq!((split.pairwise_precision, split.pairwise_recall), (1.0, 0.0));
        assert!((split.bcubed_recall - (4.0 * 0.5 + 1.0) / 5.0).abs() < 1e-12);
    }

    fn unit(angle_deg: f32) -> Vec<f32> {
        let a = angle_deg.to_radians();
        vec![a.cos(), a.sin()]
    }

    #[test]
    fn dbscan_needs_three_faces_and_agglomerative_cuts_at_the_threshold() {
        // Three faces 10° apart form a cluster; two far faces 5° apart are noise for DBSCAN (too
        // few) but one cluster for average linkage.
        let vectors: Vec<Vec<f32>> = [0.0, 10.0, 20.0, 120.0, 125.0].iter().map(|&a| unit(a)).collect();
        let views: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let d = dbscan(&views, 0.5, 3);
        assert!(d[0] == d[1] && d[1] == d[2]);
        assert!(d[3] != d[4] && d[3] != d[0]);
        let a = agglomerative_average(&views, 0.9);
        assert!(a[0] == a[1] && a[1] == a[2] && a[3] == a[4] && a[0] != a[3]);
    }
}
