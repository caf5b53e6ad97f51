//! Eye openness from the 106 landmarks: the eye aspect ratio (Soukupová and Čech, "Real-time
//! eye blink detection using facial landmarks", 2016), averaged over the model's three pairs of
//! facing lid points, and whether the eyes are shut.
//!
//! A low lid gap alone does not mean shut eyes: a downcast gaze lowers the upper lid and a
//! smile pushes the lower lid up, and in a photo both look much like a blink. On LFW DevTest,
//! most of the faces under the old single threshold (0.14) were looking down or smiling. Both
//! leave a trace at the mouth that shut eyes do not: looking down (or the head pitched down)
//! bends the mouth line upwards at the corners in the image, and a smile lifts the corners
//! or opens the mouth wide. So `closed` needs a narrow gap in both eyes *and* a level,
//! mostly closed mouth. Checked against faces labelled by eye (`faceprint/tests/eye_state.rs`,
//! precision and recall in BENCHMARKS.md).

use faceprint_types::Point;
use serde::Serialize;

use super::landmarks106::index;

/// Both eyes' aspect ratios under this: a candidate for shut eyes. Open eyes measure 0.2–0.35;
/// the shut eyes labelled on DevTest and ORL measure 0.045–0.124 when the model finds them.
pub const EYES_CLOSED_BELOW: f32 = 0.13;

/// Mouth corners higher than the mouth's centre by more than this fraction of the mouth's
/// width: a smile or a downcast face, not shut eyes. Labelled shut eyes measure −0.10 to +0.04;
/// downcast and smiling faces with as narrow a lid gap +0.06 to +0.20.
pub const MOUTH_CORNERS_RAISED_ABOVE: f32 = 0.05;

/// A mouth open wider than this fraction of its width: laughing, which squeezes the eyes
/// (labelled shut eyes, grimaces included: up to 0.18; a laugh at 0.38).
pub const MOUTH_WIDE_OPEN_ABOVE: f32 = 0.3;

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
    let narrow = left < EYES_CLOSED_BELOW && right < EYES_CLOSED_BELOW;
    let (corners_raised, opening) = mouth_shape(landmarks);
    let closed = narrow && corners_raised <= MOUTH_CORNERS_RAISED_ABOVE && opening <= MOUTH_WIDE_OPEN_ABOVE;
    Some(EyeOpenness { left, right, closed })
}

/// The mouth in the frame turned upright by the eye line: how far the corners sit above the
/// mouth's centre, and how far the inner lips stand apart, both over the corner-to-corner
/// width.
pub fn mouth_shape(points: &[Point]) -> (f32, f32) {
    let centre = |eye: [usize; 2]| {
        [(points[eye[0]][0] + points[eye[1]][0]) / 2.0, (points[eye[0]][1] + points[eye[1]][1]) / 2.0]
    };
    let (left_eye, right_eye) = (
        centre([index::LEFT_EYE_OUTER, index::LEFT_EYE_INNER]),
        centre([index::RIGHT_EYE_OUTER, index::RIGHT_EYE_INNER]),
    );
    let angle = (right_eye[1] - left_eye[1]).atan2(right_eye[0] - left_eye[0]);
    let (c, s) = (angle.cos(), angle.sin());
    // y in the upright frame (image y grows downwards).
    let upright_y = |i: usize| -s * points[i][0] + c * points[i][1];
    let width = distance(points[index::MOUTH_LEFT], points[index::MOUTH_RIGHT]);
    if width <= f32::EPSILON {
        return (0.0, 0.0);
    }
    let mouth_centre = (upright_y(index::UPPER_LIP_INNER) + upright_y(index::LOWER_LIP_INNER)) / 2.0;
    let corners = (upright_y(index::MOUTH_LEFT) + upright_y(index::MOUTH_RIGHT)) / 2.0;
    ((mouth_centre - corners) / width, (upright_y(index::LOWER_LIP_INNER) - upright_y(index::UPPER_LIP_INNER)) / width)
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

    /// Puts a mouth 40 px wide into `points`: corners `raised` px above the centre line, inner
    /// lips `open` px apart.
    fn with_mouth(mut points: Vec<Point>, raised: f32, open: f32) -> Vec<Point> {
        points[index::MOUTH_LEFT] = [30.0, 100.0 - raised];
        points[index::MOUTH_RIGHT] = [70.0, 100.0 - raised];
        points[index::UPPER_LIP_INNER] = [50.0, 100.0 - open / 2.0];
        points[index::LOWER_LIP_INNER] = [50.0, 100.0 + open / 2.0];
        points
    }

    #[test]
    fn narrow_eyes_over_a_smile_or_a_laugh_are_not_closed() {
        let shut = face_with_eye_gaps(1.5, 1.5);
        assert!(eye_openness(&with_mouth(shut.clone(), 0.0, 2.0)).unwrap().closed, "level, closed mouth");
        let (raised, open) = mouth_shape(&with_mouth(shut.clone(), 6.0, 2.0));
        assert!((raised - 0.15).abs() < 1e-5 && (open - 0.05).abs() < 1e-5, "{raised} {open}");
        assert!(!eye_openness(&with_mouth(shut.clone(), 6.0, 2.0)).unwrap().closed, "smile");
        assert!(!eye_openness(&with_mouth(shut, 0.0, 16.0)).unwrap().closed, "laugh");
    }

    #[test]
    fn wrong_point_count_gives_nothing() {
        assert!(eye_openness(&[[0.0, 0.0]; 5]).is_none());
    }
}
