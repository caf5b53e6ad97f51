//! Eye openness from the 106 landmarks: the eye aspect ratio (Soukupová and Čech, "Real-time
//! eye blink detection using facial landmarks", 2016), averaged over the model's three pairs of
//! facing lid points.

use faceprint_types::Point;
use serde::Serialize;

use super::landmarks106::index;

/// Below this eye aspect ratio in both eyes, the eyes count as closed. Chosen by looking at the
/// faces it flags: on LFW DevTest it flags 28 of 1,549 faces (1.8%), nearly all shut or looking
/// down, a few squeezed by a broad smile; open eyes measure 0.2–0.35. On ORL's small photos it
/// flags s8/7 (eyes shut); the downcast s26/6 and s3/4 measure just above it (0.15).
pub const EYES_CLOSED_BELOW: f32 = 0.14;

/// Eye aspect ratio of each eye (lid gap over eye width: about 0.25–0.35 open, under 0.1 shut)
/// and whether both are closed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EyeOpenness {
    /// The image-left eye (the subject's right).
    pub left: f32,
    pub right: f32,
    pub closed: bool,
}

/// Eye openness of a face's 106 landmarks; `None` when there are not 106.
pub fn eye_openness(landmarks: &[Point]) -> Option<EyeOpenness> {
    if landmarks.len() != super::landmarks106::LANDMARK_COUNT {
        return None;
    }
    let left = aspect_ratio(
        landmarks,
        index::LEFT_EYE_OUTER,
        index::LEFT_EYE_INNER,
        index::LEFT_EYE_UPPER,
        index::LEFT_EYE_LOWER,
    );
    let right = aspect_ratio(
        landmarks,
        index::RIGHT_EYE_INNER,
        index::RIGHT_EYE_OUTER,
        index::RIGHT_EYE_UPPER,
        index::RIGHT_EYE_LOWER,
    );
    Some(EyeOpenness { left, right, closed: left < EYES_CLOSED_BELOW && right < EYES_CLOSED_BELOW })
}

fn distance(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Mean lid gap over the corner-to-corner width.
pub fn aspect_ratio(points: &[Point], corner_a: usize, corner_b: usize, upper: [usize; 3], lower: [usize; 3]) -> f32 {
    let width = distance(points[corner_a], points[corner_b]);
    if width <= f32::EPSILON {
        return 0.0;
    }
    let gap: f32 = upper.iter().zip(lower).map(|(&u, l)| distance(points[u], points[l])).sum::<f32>() / 3.0;
    gap / width
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An eye 30 px wide whose lids stand `gap` apart, drawn into a 106-point set.
    fn face_with_eye_gaps(left_gap: f32, right_gap: f32) -> Vec<Point> {
        let mut points = vec![[0.0, 0.0]; 106];
        let mut eye = |outer: usize, inner: usize, upper: [usize; 3], lower: [usize; 3], x0: f32, gap: f32| {
            points[outer] = [x0, 50.0];
            points[inner] = [x0 + 30.0, 50.0];
            for (i, (u, l)) in upper.iter().zip(lower).enumerate() {
                let x = x0 + 7.5 * (i as f32 + 1.0);
                points[*u] = [x, 50.0 - gap / 2.0];
                points[l] = [x, 50.0 + gap / 2.0];
            }
        };
        eye(index::LEFT_EYE_OUTER, index::LEFT_EYE_INNER, index::LEFT_EYE_UPPER, index::LEFT_EYE_LOWER, 10.0, left_gap);
        eye(
            index::RIGHT_EYE_OUTER,
            index::RIGHT_EYE_INNER,
            index::RIGHT_EYE_UPPER,
            index::RIGHT_EYE_LOWER,
            60.0,
            right_gap,
        );
        points
    }

    #[test]
    fn aspect_ratio_is_gap_over_width_and_closed_needs_both_eyes_shut() {
        let open = eye_openness(&face_with_eye_gaps(9.0, 9.0)).unwrap();
        assert!((open.left - 0.3).abs() < 1e-5 && (open.right - 0.3).abs() < 1e-5 && !open.closed);
        let shut = eye_openness(&face_with_eye_gaps(1.5, 1.5)).unwrap();
        assert!((shut.left - 0.05).abs() < 1e-5 && shut.closed);
        // A wink is not closed eyes.
        assert!(!eye_openness(&face_with_eye_gaps(1.5, 9.0)).unwrap().closed);
    }

    #[test]
    fn wrong_point_count_gives_nothing() {
        assert!(eye_openness(&[[0.0, 0.0]; 5]).is_none());
    }
}
