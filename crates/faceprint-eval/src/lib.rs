//! faceprint's evaluation, apart from the stable API: verification metrics on labelled pairs, and LFW's pair list format; identification
//! (1:N) protocols and metrics in [`identification`]; whether a quality measure predicts errors in
//! [`quality`].
//!
//! A pair whose face was not found has no similarity and counts as an error at every threshold:
//! a same-person pair is rejected, a different-person pair is (pessimistically) accepted. It is
//! never dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use faceprint::Embedding;

pub mod clustering;
pub mod evidence;
pub mod identification;
pub mod quality;

/// The lowest threshold that `allowed` of the impostor scores reach, given those scores highest
/// first: just above the `allowed`-th highest, or −∞ when there are no more than `allowed`.
/// Verification (FMR) and identification (FPIR) fix their thresholds this way.
pub fn threshold_admitting(impostor_scores_high_first: &[f32], allowed: usize) -> f32 {
    impostor_scores_high_first.get(allowed).map_or(f32::NEG_INFINITY, |s| s.next_up())
}

/// One labelled pair's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairScore {
    pub same: bool,
    /// `None` when a face of the pair was not found.
    pub similarity: Option<f32>,
}

impl PairScore {
    fn accepted(&self, threshold: f32) -> bool {
        match self.similarity {
            Some(s) => s >= threshold,
            None => !self.same,
        }
    }
}

/// Fraction of pairs called correctly at `threshold`.
pub fn accuracy_at(pairs: &[PairScore], threshold: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let correct = pairs.iter().filter(|p| p.accepted(threshold) == p.same).count();
    correct as f64 / pairs.len() as f64
}

/// The threshold with the best accuracy on `pairs` (midpoints between observed similarities),
/// and that accuracy. Ties go to the lowest such threshold.
pub fn best_threshold(pairs: &[PairScore]) -> (f32, f64) {
    let mut values: Vec<f32> = pairs.iter().filter_map(|p| p.similarity).collect();
    values.sort_by(f32::total_cmp);
    values.dedup();
    let mut candidates: Vec<f32> = values.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    candidates.push(values.first().map_or(0.0, |v| v - 1e-4));
    candidates.push(values.last().map_or(1.0, |v| v + 1e-4));
    let mut best = (0.0, -1.0);
    for t in candidates {
        let acc = accuracy_at(pairs, t);
        if acc > best.1 || (acc == best.1 && t < best.0) {
            best = (t, acc);
        }
    }
    best
}

/// k-fold cross-validated accuracy, as LFW reports it: each fold is scored at the threshold
/// that is best on the other folds. Folds take equal shares of the same and of the different
/// pairs, in order. Returns (mean, standard deviation, per-fold thresholds).
pub fn k_fold_accuracy(pairs: &[PairScore], folds: usize) -> (f64, f64, Vec<f32>) {
    let fold_of = fold_assignment(pairs, folds);
    let mut accuracies = Vec::with_capacity(folds);
    let mut thresholds = Vec::with_capacity(folds);
    for k in 0..folds {
        let train: Vec<PairScore> = pairs.iter().zip(&fold_of).filter(|(_, f)| **f != k).map(|(p, _)| *p).collect();
        let test: Vec<PairScore> = pairs.iter().zip(&fold_of).filter(|(_, f)| **f == k).map(|(p, _)| *p).collect();
        let (threshold, _) = best_threshold(&train);
        accuracies.push(accuracy_at(&test, threshold));
        thresholds.push(threshold);
    }
    let mean = accuracies.iter().sum::<f64>() / folds as f64;
    let var = accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / folds as f64;
    (mean, var.sqrt(), thresholds)
}

fn fold_assignment(pairs: &[PairScore], folds: usize) -> Vec<usize> {
    let same_total = pairs.iter().filter(|p| p.same).count().max(1);
    let diff_total = pairs.iter().filter(|p| !p.same).count().max(1);
    let (mut same_seen, mut diff_seen) = (0, 0);
    pairs
        .iter()
        .map(|p| {
            let (seen, total) = if p.same { (&mut same_seen, same_total) } else { (&mut diff_seen, diff_total) };
            let fold = *seen * folds / total;
            *seen += 1;
            fold
        })
        .collect()
}

/// One operating point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RocPoint {
    pub threshold: f32,
    /// False accept rate (different-person pairs accepted).
    pub far: f64,
    /// True accept rate (same-person pairs accepted).
    pub tar: f64,
}

/// The ROC curve, one point per distinct similarity, from strictest to most lenient.
pub fn roc_curve(pairs: &[PairScore]) -> Vec<RocPoint> {
    let mut thresholds: Vec<f32> = pairs.iter().filter_map(|p| p.similarity).collect();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut points = vec![operating_point(pairs, f32::INFINITY)];
    points.extend(thresholds.into_iter().map(|t| operating_point(pairs, t)));
    points
}

fn operating_point(pairs: &[PairScore], threshold: f32) -> RocPoint {
    let (mut same, mut diff, mut true_accepts, mut false_accepts) = (0usize, 0usize, 0usize, 0usize);
    for p in pairs {
        let accepted = p.accepted(threshold);
        if p.same {
            same += 1;
            true_accepts += accepted as usize;
        } else {
            diff += 1;
            false_accepts += accepted as usize;
        }
    }
    RocPoint {
        threshold,
        far: false_accepts as f64 / diff.max(1) as f64,
        tar: true_accepts as f64 / same.max(1) as f64,
    }
}

/// The best true accept rate whose false accept rate is at most `far`, with its threshold.
pub fn tar_at_far(pairs: &[PairScore], far: f64) -> RocPoint {
    roc_curve(pairs).into_iter().filter(|p| p.far <= far).max_by(|a, b| a.tar.total_cmp(&b.tar)).unwrap_or(RocPoint {
        threshold: f32::INFINITY,
        far: 0.0,
        tar: 0.0,
    })
}

/// Area under the ROC curve (trapezoids).
pub fn roc_auc(points: &[RocPoint]) -> f64 {
    let mut points = points.to_vec();
    points.push(RocPoint { threshold: f32::NEG_INFINITY, far: 1.0, tar: 1.0 });
    points.windows(2).map(|w| (w[1].far - w[0].far) * (w[1].tar + w[0].tar) / 2.0).sum()
}

/// One line of an LFW pair list, with image paths resolved under the images root.
#[derive(Debug, Clone, PartialEq)]
pub struct LfwPair {
    pub left: PathBuf,
    pub right: PathBuf,
    pub same: bool,
}

/// Every image the pairs name, once each, sorted.
pub fn pair_images(pairs: &[LfwPair]) -> Vec<PathBuf> {
    let mut images: Vec<PathBuf> = pairs.iter().flat_map(|p| [p.left.clone(), p.right.clone()]).collect();
    images.sort();
    images.dedup();
    images
}

/// Each pair's similarity from the embeddings of its images; a pair with an image missing from
/// `embeddings` (no face found) has none, and so counts as an error.
pub fn score_pairs(pairs: &[LfwPair], embeddings: &HashMap<PathBuf, Embedding>) -> Vec<PairScore> {
    pairs
        .iter()
        .map(|p| PairScore {
            same: p.same,
            similarity: embeddings.get(&p.left).zip(embeddings.get(&p.right)).and_then(|(a, b)| a.similarity(b)),
        })
        .collect()
}

/// Parses LFW's `pairs.txt`: `Name n1 n2` (same person) or `Name1 n1 Name2 n2` (different),
/// tab- or space-separated; a header line of counts is skipped. Image `n` of `Name` is
/// `root/Name/Name_000n.jpg`.
pub fn parse_lfw_pairs(text: &str, root: &Path) -> Result<Vec<LfwPair>, String> {
    let image = |name: &str, number: &str, line: usize| -> Result<PathBuf, String> {
        let n: u32 = number.parse().map_err(|_| format!("line {line}: {number:?} is not an image number"))?;
        Ok(root.join(name).join(format!("{name}_{n:04}.jpg")))
    };
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [] => continue,
            [a] | [a, _] if a.parse::<u32>().is_ok() => continue,
            [name, n1, n2] => {
                pairs.push(LfwPair { left: image(name, n1, i + 1)?, right: image(name, n2, i + 1)?, same: true })
            }
            [name1, n1, name2, n2] => {
                pairs.push(LfwPair { left: image(name1, n1, i + 1)?, right: image(name2, n2, i + 1)?, same: false })
            }
            _ => return Err(format!("line {}: expected 3 or 4 fields, found {}", i + 1, fields.len())),
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(same: bool, s: f32) -> PairScore {
        PairScore { same, similarity: Some(s) }
    }

    #[test]
    fn separable_pairs_reach_full_accuracy_and_a_failure_costs_one_pair() {
        let mut pairs = vec![pair(true, 0.8), pair(true, 0.6), pair(false, 0.1), pair(false, 0.3)];
        let (t, acc) = best_threshold(&pairs);
        assert_eq!(acc, 1.0);
        assert!(t > 0.3 && t < 0.6);
        pairs.push(PairScore { same: true, similarity: None });
        assert_eq!(accuracy_at(&pairs, t), 0.8);
    }

    #[test]
    fn tar_at_far_and_auc_on_a_hand_made_case() {
        // Impostors 0.1..0.4, genuines 0.35..0.9: at FAR 0 the threshold sits above 0.4.
        let pairs = vec![
            pair(false, 0.1),
            pair(false, 0.2),
            pair(false, 0.4),
            pair(true, 0.35),
            pair(true, 0.5),
            pair(true, 0.9),
        ];
        let p = tar_at_far(&pairs, 0.0);
        assert_eq!(p.far, 0.0);
        assert!((p.tar - 2.0 / 3.0).abs() < 1e-9);
        let auc = roc_auc(&roc_curve(&pairs));
        assert!((auc - 8.0 / 9.0).abs() < 1e-9, "{auc}");
    }

    #[test]
    fn ten_fold_uses_every_pair_once() {
        let pairs: Vec<PairScore> = (0..20).map(|i| pair(i < 10, if i < 10 { 0.9 } else { 0.1 })).collect();
        let folds = fold_assignment(&pairs, 10);
        for k in 0..10 {
            assert_eq!(folds.iter().filter(|f| **f == k).count(), 2);
        }
        let (mean, std, _) = k_fold_accuracy(&pairs, 10);
        assert_eq!((mean, std), (1.0, 0.0));
    }

    #[test]
    fn a_pair_with_an_image_without_embedding_has_no_similarity() {
        let model = faceprint::ModelId("m".into());
        let pairs = parse_lfw_pairs("A 1 2\nA 1 B 1\n", Path::new("/r")).unwrap();
        assert_eq!(pair_images(&pairs).len(), 3, "A_0001 is named twice but listed once");
        let embeddings = HashMap::from([
            (pairs[0].left.clone(), Embedding::from_raw(model.clone(), vec![1.0, 0.0])),
            (pairs[0].right.clone(), Embedding::from_raw(model, vec![1.0, 1.0])),
        ]);
        let scores = score_pairs(&pairs, &embeddings);
        assert!((scores[0].similarity.unwrap() - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(scores[1], PairScore { same: false, similarity: None });
    }

    #[test]
    fn lfw_pairs_parse_both_kinds_and_reject_junk() {
        let root = Path::new("/r");
        let pairs = parse_lfw_pairs("10\t300\nAda\t1\t2\nAda\t3\tBob\t12\n", root).unwrap();
        assert_eq!(
            pairs[0],
            LfwPair { left: "/r/Ada/Ada_0001.jpg".into(), right: "/r/Ada/Ada_0002.jpg".into(), same: true }
        );
        assert_eq!(pairs[1].right, PathBuf::from("/r/Bob/Bob_0012.jpg"));
        assert!(!pairs[1].same);
        assert!(parse_lfw_pairs("Ada x 2\n", root).is_err());
    }
}
