//! Whether a quality measure is worth anything: the error-versus-discard characteristic (EDC) of
//! ISO/IEC 29794-1. The comparison threshold is fixed once, at a false match rate over all
//! non-mated pairs; then the mated pairs are sorted by pair quality (the lower of the two
//! faces') and the lowest fraction is discarded, step by step. A useful measure makes the false
//! non-match rate of what is kept fall as more is discarded; a perfect one drops it by one
//! error per discarded pair; a useless one leaves it flat.
//!
//! A pair with a face missing has no similarity and no quality: it counts as a non-match that
//! is discarded first (the missing face is the worst quality there is).

use super::PairScore;
use faceprint::FaceAnalysis;

/// The measures an EDC is drawn for: the combined score, then each part by its raw value
/// (higher is better; pose by its negated deviation from frontal, eyes by the more open eye).
pub const QUALITY_MEASURES: [&str; 9] =
    ["combined", "sharpness", "brightness", "contrast", "face_size", "pose", "detection", "embedding_norm", "eyes"];

/// The value of each of [`QUALITY_MEASURES`] for one face; `None` where the analysis lacks it.
pub fn quality_measures(analysis: &FaceAnalysis) -> [Option<f32>; 9] {
    let q = &analysis.quality;
    let p = &q.parts;
    [
        Some(q.score),
        Some(p.sharpness.value),
        Some(p.brightness.value),
        Some(p.contrast.value),
        Some(p.face_size.value),
        p.pose.map(|pose| -pose.value),
        Some(p.detection.value),
        p.embedding_norm.map(|n| n.value),
        analysis.eyes.map(|e| e.left.max(e.right)),
    ]
}

/// One pair with its quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityPair {
    pub score: PairScore,
    /// The lower quality of the pair's two faces; `None` when a face is missing.
    pub quality: Option<f32>,
}

/// The threshold at which the non-mated pairs' false match rate is at most `fmr`: the
/// similarity just above the `⌊fmr·n⌋`-th highest non-mated score. `None` without non-mated
/// pairs.
pub fn threshold_at_fmr(pairs: &[QualityPair], fmr: f64) -> Option<f32> {
    let mut non_mated: Vec<f32> =
        pairs.iter().filter(|p| !p.score.same).map(|p| p.score.similarity.unwrap_or(f32::INFINITY)).collect();
    if non_mated.is_empty() {
        return None;
    }
    non_mated.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fmr * non_mated.len() as f64).floor() as usize;
    Some(super::threshold_admitting(&non_mated, allowed))
}

/// One point of an EDC: the fraction of mated pairs discarded and the FNMR of the rest.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EdcPoint {
    pub discarded: f64,
    pub fnmr: f64,
}

/// The EDC of the mated pairs at `threshold`, discarding 0, `step`, 2·`step` … up to
/// `max_discard` of them, lowest quality first (ties keep the pairs' order).
pub fn error_versus_discard(pairs: &[QualityPair], threshold: f32, max_discard: f64, step: f64) -> Vec<EdcPoint> {
    let mut mated: Vec<&QualityPair> = pairs.iter().filter(|p| p.score.same).collect();
    if mated.is_empty() || step <= 0.0 {
        return Vec::new();
    }
    mated.sort_by(|a, b| a.quality.unwrap_or(f32::NEG_INFINITY).total_cmp(&b.quality.unwrap_or(f32::NEG_INFINITY)));
    let rejected: Vec<bool> = mated.iter().map(|p| p.score.similarity.is_none_or(|s| s < threshold)).collect();
    let n = mated.len();
    let steps = (max_discard / step + 1e-9).floor() as usize;
    (0..=steps)
        .map(|i| {
            let discarded = i as f64 * step;
            let start = ((discarded * n as f64).round() as usize).min(n);
            let kept = &rejected[start..];
            let fnmr =
                if kept.is_empty() { 0.0 } else { kept.iter().filter(|r| **r).count() as f64 / kept.len() as f64 };
            EdcPoint { discarded, fnmr }
        })
        .collect()
}

/// Area under an EDC (trapezoids): smaller is better.
pub fn edc_area(points: &[EdcPoint]) -> f64 {
    points.windows(2).map(|w| (w[1].discarded - w[0].discarded) * (w[0].fnmr + w[1].fnmr) / 2.0).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(same: bool, similarity: f32, quality: f32) -> QualityPair {
        QualityPair { score: PairScore { same, similarity: Some(similarity) }, quality: Some(quality) }
    }

    /// Ten non-mated pairs scoring 0.0…0.9 and ten mated ones, two of them below the threshold.
    fn hand_made(quality_of_errors: [f32; 2]) -> Vec<QualityPair> {
        let mut pairs: Vec<QualityPair> = (0..10).map(|i| pair(false, i as f32 / 10.0, 0.5)).collect();
        for i in 0..8 {
            pairs.push(pair(true, 0.95, 0.3 + i as f32 * 0.05));
        }
        pairs.push(pair(true, 0.2, quality_of_errors[0]));
        pairs.push(pair(true, 0.5, quality_of_errors[1]));
        pairs
    }

    #[test]
    fn the_threshold_admits_the_allowed_fraction_of_non_mated_pairs() {
        let pairs = hand_made([0.0, 0.0]);
        // FMR 10%: one of ten may pass, so the threshold sits just above the second highest.
        let t = threshold_at_fmr(&pairs, 0.1).unwrap();
        assert!(t > 0.8 && t < 0.81, "{t}");
        let t = threshold_at_fmr(&pairs, 0.0).unwrap();
        assert!(t > 0.9, "{t}");
    }

    #[test]
    fn a_measure_that_ranks_the_errors_lowest_removes_them_first() {
        let pairs = hand_made([0.1, 0.2]);
        let curve = error_versus_discard(&pairs, 0.85, 0.3, 0.1);
        let fnmr: Vec<f64> = curve.iter().map(|p| p.fnmr).collect();
        assert_eq!(fnmr, vec![0.2, 1.0 / 9.0, 0.0, 0.0]);
        assert!((edc_area(&curve) - (0.1 * (0.2 + 1.0 / 9.0) / 2.0 + 0.1 * (1.0 / 9.0) / 2.0)).abs() < 1e-12);
    }

    #[test]
    fn a_measure_that_ranks_the_errors_highest_leaves_them_and_the_rate_rises() {
        let pairs = hand_made([0.9, 0.95]);
        let curve = error_versus_discard(&pairs, 0.85, 0.3, 0.1);
        assert_eq!(curve[0].fnmr, 0.2);
        assert!((curve[3].fnmr - 2.0 / 7.0).abs() < 1e-12);
        let good = edc_area(&error_versus_discard(&hand_made([0.1, 0.2]), 0.85, 0.3, 0.1));
        assert!(edc_area(&curve) > good);
    }

    #[test]
    fn a_missing_face_is_an_error_discarded_first() {
        let mut pairs = hand_made([0.9, 0.95]);
        pairs.push(QualityPair { score: PairScore { same: true, similarity: None }, quality: None });
        let curve = error_versus_discard(&pairs, 0.85, 0.1, 0.1);
        assert!((curve[0].fnmr - 3.0 / 11.0).abs() < 1e-12);
        assert!((curve[1].fnmr - 2.0 / 10.0).abs() < 1e-12);
    }
}
