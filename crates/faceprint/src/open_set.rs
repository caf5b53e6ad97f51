//! "Unknown" at any gallery size. A probe of someone not enrolled is compared with every face
//! of a collection, so its best wrong score grows with the collection: a fixed threshold that
//! keeps false matches under 1% among a thousand faces lets most strangers match someone among
//! a million. The threshold is therefore set for a target false-positive identification rate
//! (FPIR) at the collection's current size, from a model of one comparison's impostor score.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// FPIR that identification aims at unless told otherwise.
pub const DEFAULT_FPIR: f64 = 0.01;

/// The similarity of a probe to one face of another person, modelled as Gaussian in its upper
/// tail. With `N` independent comparisons, `FPIR(t) = 1 − (1 − P(score ≥ t))^N`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImpostorModel {
    pub mean: f64,
    pub sd: f64,
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal distribution")
}

/// The chance that one comparison reaches the threshold, for `fpir` over `faces` comparisons.
fn per_comparison(fpir: f64, faces: usize) -> f64 {
    // 1 − (1 − fpir)^(1/N), without the cancellation of the direct form at millions of faces.
    -(f64::ln_1p(-fpir.clamp(0.0, 1.0 - 1e-12)) / faces.max(1) as f64).exp_m1()
}

impl ImpostorModel {
    /// The threshold at which a probe of someone not enrolled reaches one of `faces` faces with
    /// probability `fpir`.
    pub fn threshold(&self, fpir: f64, faces: usize) -> f32 {
        let p = per_comparison(fpir, faces).max(f64::MIN_POSITIVE);
        (self.mean - self.sd * standard_normal().inverse_cdf(p)) as f32
    }

    /// The FPIR the model predicts at `threshold` among `faces` faces.
    pub fn fpir(&self, threshold: f64, faces: usize) -> f64 {
        let p = 1.0 - standard_normal().cdf((threshold - self.mean) / self.sd);
        -(f64::ln_1p(-p) * faces.max(1) as f64).exp_m1()
    }

    /// Least-squares fit to measured `(faces, fpir, threshold)` points (a threshold measured as
    /// the `1 − fpir` quantile of the best impostor score among `faces` faces). `None` with
    /// fewer than two distinct points or a fit without spread.
    pub fn fit(points: &[(usize, f64, f64)]) -> Option<Self> {
        // threshold = mean + sd · z with z = −Φ⁻¹(p): a straight line in z.
        let normal = standard_normal();
        let xy: Vec<(f64, f64)> =
            points.iter().map(|&(faces, fpir, t)| (-normal.inverse_cdf(per_comparison(fpir, faces)), t)).collect();
        let n = xy.len() as f64;
        let (mx, my) = (xy.iter().map(|p| p.0).sum::<f64>() / n, xy.iter().map(|p| p.1).sum::<f64>() / n);
        let sxx: f64 = xy.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if xy.len() < 2 || sxx <= 0.0 {
            return None;
        }
        let sd = sxy / sxx;
        (sd > 0.0).then_some(Self { mean: my - sd * mx, sd })
    }
}

/// How `identify` decides between a match and "unknown".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IdentifyThreshold {
    /// The same threshold whatever the collection's size (`--identify-threshold`).
    Fixed(f32),
    /// The threshold for a target FPIR at the collection's size, but never below `floor` (the
    /// 1:1 threshold: identification does not accept what verification would reject).
    ForFpir { model: ImpostorModel, fpir: f64, floor: f32 },
}

impl IdentifyThreshold {
    /// The threshold for a collection of `faces` faces.
    pub fn for_faces(&self, faces: usize) -> f32 {
        match *self {
            IdentifyThreshold::Fixed(threshold) => threshold,
            IdentifyThreshold::ForFpir { model, fpir, floor } => model.threshold(fpir, faces).max(floor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A gallery whose impostor scores are known: N(0.02, 0.06), independent. The rule's
    /// threshold must give the target FPIR whatever the size.
    #[test]
    fn the_rule_holds_the_fpir_on_a_gallery_of_known_impostors() {
        let model = ImpostorModel { mean: 0.02, sd: 0.06 };
        let noise = Normal::new(model.mean, model.sd).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        for (faces, probes) in [(1usize, 40_000usize), (100, 20_000), (10_000, 2_000)] {
            let threshold = f64::from(model.threshold(0.01, faces));
            let false_matches = (0..probes)
                .filter(|_| (0..faces).any(|_| noise.inverse_cdf(rng.random::<f64>()) >= threshold))
                .count() as f64
                / probes as f64;
            // 1% ± 3 binomial standard errors.
            let margin = 3.0 * (0.01 * 0.99 / probes as f64).sqrt();
            assert!((false_matches - 0.01).abs() < margin, "{faces} faces: FPIR {false_matches} at {threshold:.3}");
            assert!((model.fpir(threshold, faces) - 0.01).abs() < 1e-4);
        }
        // It grows with the gallery, and a fixed threshold does not.
        assert!(model.threshold(0.01, 1_000_000) > model.threshold(0.01, 1000) + 0.05);
        assert_eq!(IdentifyThreshold::Fixed(0.4).for_faces(1_000_000), 0.4);
        let rule = IdentifyThreshold::ForFpir { model, fpir: 0.01, floor: 0.28 };
        assert_eq!(rule.for_faces(1), 0.28, "a small gallery is held to the 1:1 threshold");
        assert_eq!(rule.for_faces(1_000_000), model.threshold(0.01, 1_000_000));
    }

    #[test]
    fn the_fit_recovers_the_model_from_its_own_thresholds() {
        let model = ImpostorModel { mean: 0.01, sd: 0.07 };
        let points: Vec<(usize, f64, f64)> = [1000usize, 100_000, 1_000_000]
            .iter()
            .flat_map(|&n| [0.5, 0.1, 0.01].map(|f| (n, f, f64::from(model.threshold(f, n)))))
            .collect();
        let fitted = ImpostorModel::fit(&points).unwrap();
        assert!((fitted.mean - model.mean).abs() < 1e-4 && (fitted.sd - model.sd).abs() < 1e-4, "{fitted:?}");
        assert!(ImpostorModel::fit(&points[..1]).is_none());
    }
}
