//! Face quality: measures taken on the aligned crop and the detection, each mapped to a part
//! score in [0, 1], and one combined score.
//!
//! **Recipe.** Each measure becomes a part score by a linear ramp between two values
//! ([`QualityScales`]): 0 at or below the first, 1 at or above the second (pose falls instead
//! of rising; brightness rises from dark and falls again towards white). The pixel, size, pose
//! and eye ramps saturate at "good enough", so they only mark defects; the detector's score and
//! the embedding norm (the recogniser's own confidence, which grows with face quality) rank the
//! faces that have none. The combined score is the weighted geometric mean of the part scores
//! (weights 1, except detection 2 and embedding norm 3), each floored at [`PART_FLOOR`] so one
//! bad part pulls the score down hard without zeroing what the others say, rescaled so the
//! floor is 0 and a perfect face 1. The embedding norm takes part only when the recogniser's
//! norm scale is known (the default pack's manifest gives it; a model loaded by path has its
//! own scale). How the recipe was chosen and what it achieves: BENCHMARKS.md, "Face quality".

use faceprint_types::Landmarks5;
use image::RgbImage;
use serde::Serialize;

use super::eyes::EyeOpenness;
use super::pose::HeadPose;

/// A part score is never taken below this in the geometric mean.
pub const PART_FLOOR: f32 = 0.05;

/// The square of the aligned 112×112 crop the pixel measures look at: the inner face from the
/// brows to the chin, inside the crop's margins (which may hold black fill for faces at an
/// image's edge).
const FACE_REGION: (u32, u32, u32, u32) = (24, 28, 88, 108);

/// Everything a quality assessment looks at.
#[derive(Debug, Clone, Copy)]
pub struct QualityInputs<'a> {
    /// The aligned 112×112 crop the embedding came from.
    pub crop: &'a RgbImage,
    pub landmarks: &'a Landmarks5,
    pub detection_score: f32,
    /// The recogniser's output norm before normalising.
    pub embedding_norm: Option<f32>,
    pub pose: Option<HeadPose>,
    pub eyes: Option<EyeOpenness>,
}

/// A linear ramp: 0 at or below `zero`, 1 at or above `one` (`zero > one` makes it fall).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ramp {
    pub zero: f32,
    pub one: f32,
}

impl Ramp {
    pub const fn new(zero: f32, one: f32) -> Ramp {
        Ramp { zero, one }
    }

    pub fn score(&self, value: f32) -> f32 {
        if !value.is_finite() || self.one == self.zero {
            return 0.0;
        }
        ((value - self.zero) / (self.one - self.zero)).clamp(0.0, 1.0)
    }
}

/// How each measure maps to a part score, and how much each part weighs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityScales {
    /// Variance of the Laplacian of the grey face region.
    pub sharpness: Ramp,
    /// Mean grey level (0–255) of the face region, rising from dark.
    pub dark: Ramp,
    /// Mean grey level, falling towards white.
    pub bright: Ramp,
    /// Standard deviation of the grey level of the face region.
    pub contrast: Ramp,
    /// Distance between the eye centres, original-image pixels.
    pub interocular: Ramp,
    /// Head turn away from frontal, degrees: `sqrt(yaw² + pitch²)`, falling.
    pub pose: Ramp,
    pub detection: Ramp,
    /// Recogniser output norm, when the model's scale is known.
    pub embedding_norm: Option<Ramp>,
    /// Eye aspect ratio of the more open eye (a wink is not a defect).
    pub eyes: Ramp,
    /// Weights of sharpness, brightness, contrast, size, pose, detection, embedding norm and eyes.
    pub weights: [f32; 8],
}

impl Default for QualityScales {
    fn default() -> Self {
        Self {
            sharpness: Ramp::new(10.0, 80.0),
            dark: Ramp::new(30.0, 70.0),
            bright: Ramp::new(245.0, 210.0),
            contrast: Ramp::new(6.0, 20.0),
            interocular: Ramp::new(12.0, 30.0),
            pose: Ramp::new(70.0, 20.0),
            detection: Ramp::new(0.4, 0.9),
            embedding_norm: None,
            eyes: Ramp::new(0.10, 0.25),
            weights: [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 1.0],
        }
    }
}

/// One measure and its part score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Part {
    pub value: f32,
    pub score: f32,
}

/// Every measure with its part score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityParts {
    pub sharpness: Part,
    pub brightness: Part,
    pub contrast: Part,
    /// Inter-ocular distance in pixels.
    pub face_size: Part,
    /// `sqrt(yaw² + pitch²)` in degrees; absent without a pose.
    pub pose: Option<Part>,
    pub detection: Part,
    /// Absent when the recogniser's norm scale is unknown or no embedding was made.
    pub embedding_norm: Option<Part>,
    /// Eye aspect ratio of the more open eye; absent without landmarks.
    pub eyes: Option<Part>,
}

/// The combined score and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityReport {
    /// Weighted geometric mean of the part scores, in [0, 1].
    pub score: f32,
    #[serde(flatten)]
    pub parts: QualityParts,
}

/// Grey-level statistics of the crop's face region: (mean, standard deviation, variance of the
/// Laplacian).
pub fn crop_statistics(crop: &RgbImage) -> (f32, f32, f32) {
    let grey = image::imageops::grayscale(crop);
    let laplacian = imageproc::filter::laplacian_filter(&grey);
    let (x0, y0, x1, y1) = FACE_REGION;
    let (x1, y1) = (x1.min(grey.width()), y1.min(grey.height()));
    let mut grey_stats = RunningStats::default();
    let mut edge_stats = RunningStats::default();
    for y in y0..y1 {
        for x in x0..x1 {
            grey_stats.push(grey.get_pixel(x, y)[0] as f64);
            edge_stats.push(laplacian.get_pixel(x, y)[0] as f64);
        }
    }
    (grey_stats.mean() as f32, grey_stats.variance().sqrt() as f32, edge_stats.variance() as f32)
}

#[derive(Debug, Default)]
struct RunningStats {
    n: f64,
    sum: f64,
    sum_sq: f64,
}

impl RunningStats {
    fn push(&mut self, v: f64) {
        self.n += 1.0;
        self.sum += v;
        self.sum_sq += v * v;
    }
    fn mean(&self) -> f64 {
        if self.n > 0.0 { self.sum / self.n } else { 0.0 }
    }
    fn variance(&self) -> f64 {
        if self.n > 0.0 { (self.sum_sq / self.n - self.mean().powi(2)).max(0.0) } else { 0.0 }
    }
}

/// Measures a face and combines the parts by `scales`.
pub fn assess(inputs: &QualityInputs<'_>, scales: &QualityScales) -> QualityReport {
    let (brightness, contrast, sharpness) = crop_statistics(inputs.crop);
    let [left, right] = [inputs.landmarks[0], inputs.landmarks[1]];
    let interocular = ((left[0] - right[0]).powi(2) + (left[1] - right[1]).powi(2)).sqrt();
    let part = |value: f32, ramp: &Ramp| Part { value, score: ramp.score(value) };
    let parts = QualityParts {
        sharpness: part(sharpness, &scales.sharpness),
        brightness: Part {
            value: brightness,
            score: scales.dark.score(brightness).min(scales.bright.score(brightness)),
        },
        contrast: part(contrast, &scales.contrast),
        face_size: part(interocular, &scales.interocular),
        pose: inputs.pose.map(|p| part((p.yaw.powi(2) + p.pitch.powi(2)).sqrt(), &scales.pose)),
        detection: part(inputs.detection_score, &scales.detection),
        embedding_norm: inputs.embedding_norm.zip(scales.embedding_norm).map(|(n, ramp)| part(n, &ramp)),
        eyes: inputs.eyes.map(|e| part(e.left.max(e.right), &scales.eyes)),
    };
    QualityReport { score: combine(&parts, &scales.weights), parts }
}

/// The weighted geometric mean of the parts present, each floored at [`PART_FLOOR`], rescaled
/// so that the floor maps to 0 and a perfect face to 1.
pub fn combine(parts: &QualityParts, weights: &[f32; 8]) -> f32 {
    let all = [
        Some(parts.sharpness),
        Some(parts.brightness),
        Some(parts.contrast),
        Some(parts.face_size),
        parts.pose,
        Some(parts.detection),
        parts.embedding_norm,
        parts.eyes,
    ];
    let (mut log_sum, mut weight_sum) = (0.0f32, 0.0f32);
    for (part, weight) in all.iter().zip(weights) {
        if let Some(part) = part
            && *weight > 0.0
        {
            log_sum += weight * part.score.max(PART_FLOOR).ln();
            weight_sum += weight;
        }
    }
    if weight_sum == 0.0 {
        return 0.0;
    }
    let mean = (log_sum / weight_sum).exp();
    ((mean - PART_FLOOR) / (1.0 - PART_FLOOR)).clamp(0.0, 1.0)
}

/// Why the enrolment gate refused a face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum QualityIssue {
    Blurry,
    TooDark,
    TooBright,
    LowContrast,
    TooSmall,
    ProfilePose,
    EyesClosed,
    /// The combined score is under the gate's minimum although no single part is.
    LowQuality,
}

impl std::fmt::Display for QualityIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QualityIssue::Blurry => "blurry",
            QualityIssue::TooDark => "too dark",
            QualityIssue::TooBright => "too bright",
            QualityIssue::LowContrast => "low contrast",
            QualityIssue::TooSmall => "too small",
            QualityIssue::ProfilePose => "profile pose",
            QualityIssue::EyesClosed => "eyes closed",
            QualityIssue::LowQuality => "low quality",
        })
    }
}

/// What enrolment accepts: a floor under the combined score and under each part that has a
/// name a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityGate {
    pub min_score: f32,
    /// Variance of the Laplacian of the face region.
    pub min_sharpness: f32,
    /// Mean grey level of the face region, 0–255.
    pub min_brightness: f32,
    pub max_brightness: f32,
    pub min_contrast: f32,
    /// Inter-ocular distance, pixels.
    pub min_interocular: f32,
    /// |yaw|, degrees.
    pub max_yaw: f32,
    /// |pitch|, degrees.
    pub max_pitch: f32,
    pub refuse_closed_eyes: bool,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self {
            min_score: 0.3,
            min_sharpness: 15.0,
            min_brightness: 35.0,
            max_brightness: 240.0,
            min_contrast: 8.0,
            min_interocular: 15.0,
            max_yaw: 45.0,
            max_pitch: 35.0,
            refuse_closed_eyes: true,
        }
    }
}

impl QualityGate {
    /// Every reason to refuse the face; empty when it passes.
    pub fn check(
        &self,
        report: &QualityReport,
        pose: Option<HeadPose>,
        eyes: Option<EyeOpenness>,
    ) -> Vec<QualityIssue> {
        let parts = &report.parts;
        let mut issues = Vec::new();
        if parts.sharpness.value < self.min_sharpness {
            issues.push(QualityIssue::Blurry);
        }
        if parts.brightness.value < self.min_brightness {
            issues.push(QualityIssue::TooDark);
        }
        if parts.brightness.value > self.max_brightness {
            issues.push(QualityIssue::TooBright);
        }
        if parts.contrast.value < self.min_contrast {
            issues.push(QualityIssue::LowContrast);
        }
        if parts.face_size.value < self.min_interocular {
            issues.push(QualityIssue::TooSmall);
        }
        if pose.is_some_and(|p| p.yaw.abs() > self.max_yaw || p.pitch.abs() > self.max_pitch) {
            issues.push(QualityIssue::ProfilePose);
        }
        if self.refuse_closed_eyes && eyes.is_some_and(|e| e.closed) {
            issues.push(QualityIssue::EyesClosed);
        }
        if issues.is_empty() && report.score < self.min_score {
            issues.push(weakest_issue(parts));
        }
        issues
    }
}

/// The reason named after the weakest part, for a face refused on its combined score alone.
fn weakest_issue(parts: &QualityParts) -> QualityIssue {
    let named = [
        (parts.sharpness.score, QualityIssue::Blurry),
        (
            parts.brightness.score,
            if parts.brightness.value < 128.0 { QualityIssue::TooDark } else { QualityIssue::TooBright },
        ),
        (parts.contrast.score, QualityIssue::LowContrast),
        (parts.face_size.score, QualityIssue::TooSmall),
        (parts.pose.map_or(1.0, |p| p.score), QualityIssue::ProfilePose),
    ];
    let (score, issue) = named
        .into_iter()
        .fold((f32::INFINITY, QualityIssue::LowQuality), |best, next| if next.0 < best.0 { next } else { best });
    // When the named parts all look fine, the detector or the recogniser is what doubts the face.
    if score >= 0.5 { QualityIssue::LowQuality } else { issue }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn part(score: f32) -> Part {
        Part { value: 0.0, score }
    }

    fn parts(scores: [f32; 8]) -> QualityParts {
        QualityParts {
            sharpness: part(scores[0]),
            brightness: part(scores[1]),
            contrast: part(scores[2]),
            face_size: part(scores[3]),
            pose: Some(part(scores[4])),
            detection: part(scores[5]),
            embedding_norm: Some(part(scores[6])),
            eyes: Some(part(scores[7])),
        }
    }

    #[test]
    fn ramps_rise_fall_and_clamp() {
        let up = Ramp::new(10.0, 20.0);
        assert_eq!((up.score(5.0), up.score(15.0), up.score(30.0)), (0.0, 0.5, 1.0));
        let down = Ramp::new(70.0, 25.0);
        assert_eq!((down.score(0.0), down.score(70.0)), (1.0, 0.0));
        assert_eq!(up.score(f32::NAN), 0.0);
    }

    #[test]
    fn the_combined_score_is_one_for_a_perfect_face_and_falls_with_any_part() {
        let w = [1.0; 8];
        assert!((combine(&parts([1.0; 8]), &w) - 1.0).abs() < 1e-6);
        assert_eq!(combine(&parts([0.0; 8]), &w), 0.0);
        let one_bad = combine(&parts([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]), &w);
        let one_weak = combine(&parts([1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0]), &w);
        assert!(one_bad < one_weak && one_weak < 1.0 && one_bad > 0.0, "{one_bad} {one_weak}");
        // A part with zero weight does not count.
        let mut weights = [1.0; 8];
        weights[4] = 0.0;
        let ignored = combine(&parts([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]), &weights);
        assert!((ignored - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_flat_grey_crop_has_no_sharpness_or_contrast_and_a_checkerboard_has_both() {
        let flat = RgbImage::from_pixel(112, 112, Rgb([120, 120, 120]));
        let (mean, std, laplacian) = crop_statistics(&flat);
        assert_eq!((mean.round(), std, laplacian), (120.0, 0.0, 0.0));
        let checks =
            RgbImage::from_fn(112, 112, |x, y| if (x / 2 + y / 2) % 2 == 0 { Rgb([200; 3]) } else { Rgb([40; 3]) });
        let (mean, std, laplacian) = crop_statistics(&checks);
        assert!((mean - 120.0).abs() < 2.0 && std > 70.0 && laplacian > 1000.0);
    }

    #[test]
    fn the_gate_names_each_failing_part() {
        let scales = QualityScales::default();
        let crop = RgbImage::from_pixel(112, 112, Rgb([10, 10, 10]));
        let landmarks = [[0.0, 0.0], [8.0, 0.0], [4.0, 4.0], [1.0, 8.0], [7.0, 8.0]];
        let pose = HeadPose { yaw: 70.0, pitch: 0.0, roll: 0.0 };
        let eyes = EyeOpenness { left: 0.05, right: 0.04, closed: true };
        let inputs = QualityInputs {
            crop: &crop,
            landmarks: &landmarks,
            detection_score: 0.9,
            embedding_norm: None,
            pose: Some(pose),
            eyes: Some(eyes),
        };
        let report = assess(&inputs, &scales);
        let issues = QualityGate::default().check(&report, Some(pose), Some(eyes));
        for expected in [
            QualityIssue::Blurry,
            QualityIssue::TooDark,
            QualityIssue::LowContrast,
            QualityIssue::TooSmall,
            QualityIssue::ProfilePose,
            QualityIssue::EyesClosed,
        ] {
            assert!(issues.contains(&expected), "{expected} missing from {issues:?}");
        }
        assert!(report.score < 0.1);
    }
}
