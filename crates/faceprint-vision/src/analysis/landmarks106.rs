//! Geometry of InsightFace's `2d106det` model: where its 192×192 input crop comes from, how its
//! output maps back to image pixels, and which of its 106 points are which.
//!
//! The point layout (found by drawing the model's output on LFW faces; "left" is the image's
//! left, as in [`faceprint_types::Landmarks5`]):
//! 0 chin; 1–32 the rest of the face contour; 33–42 left eye; 43–51 left eyebrow; 52–71 mouth;
//! 72–86 nose; 87–96 right eye; 97–105 right eyebrow.

use faceprint_types::{BBox, Landmarks5, Point};

use crate::align::Similarity2;

/// Side of the model's square input crop.
pub const LANDMARK_CROP_SIZE: u32 = 192;

/// The crop spans this many times the longer side of the detection box (InsightFace's
/// `Landmark.get`: `scale = 192 / (max(w, h) * 1.5)`).
const CROP_SPAN: f32 = 1.5;

/// 106 landmarks in original-image pixels.
pub type Landmarks106 = Vec<Point>;

/// Number of points the model gives.
pub const LANDMARK_COUNT: usize = 106;

/// Indices of named points.
pub mod index {
    pub const CHIN: usize = 0;
    /// Outer and inner corner of the image-left eye (the subject's right eye).
    pub const LEFT_EYE_OUTER: usize = 35;
    pub const LEFT_EYE_INNER: usize = 39;
    /// Upper-lid points of the left eye, outer to inner, and the lower-lid points facing them.
    pub const LEFT_EYE_UPPER: [usize; 3] = [41, 40, 42];
    pub const LEFT_EYE_LOWER: [usize; 3] = [36, 33, 37];
    pub const RIGHT_EYE_INNER: usize = 89;
    pub const RIGHT_EYE_OUTER: usize = 93;
    /// Upper-lid points of the right eye, inner to outer, and the lower-lid points facing them.
    pub const RIGHT_EYE_UPPER: [usize; 3] = [95, 94, 96];
    pub const RIGHT_EYE_LOWER: [usize; 3] = [90, 87, 91];
    pub const NOSE_BRIDGE: usize = 72;
    pub const NOSE_TIP: usize = 86;
    pub const NOSE_BASE: usize = 80;
    pub const MOUTH_LEFT: usize = 52;
    pub const MOUTH_RIGHT: usize = 61;
}

/// The transform from image pixels to the model's input crop: the box centre goes to the crop
/// centre, 1.5 × the box's longer side fills the crop (InsightFace's framing), and the face is
/// turned upright by the angle of its eye line (InsightFace does not turn it). Turning it makes
/// the landmarks follow a rotated photo: measured on LFW faces turned 47° and tilted 18°, a
/// photo rotated 15° moved roll by 11.6° with an unrotated crop.
pub fn landmark_crop_transform(bbox: &BBox, five: &Landmarks5) -> Similarity2 {
    let side = bbox.width().max(bbox.height()).max(1.0) * CROP_SPAN;
    let scale = LANDMARK_CROP_SIZE as f32 / side;
    let tilt = eye_line_angle(five);
    let (a, b) = (scale * tilt.cos(), -scale * tilt.sin());
    let centre = bbox.center();
    let half = LANDMARK_CROP_SIZE as f32 / 2.0;
    Similarity2 { a, b, tx: half - (a * centre[0] - b * centre[1]), ty: half - (b * centre[0] + a * centre[1]) }
}

/// Angle of the line from the left to the right eye, radians, clockwise in the image.
fn eye_line_angle(five: &Landmarks5) -> f32 {
    let (dx, dy) = (five[1][0] - five[0][0], five[1][1] - five[0][1]);
    if dx == 0.0 && dy == 0.0 { 0.0 } else { dy.atan2(dx) }
}

/// The model's raw output (x, y pairs in [-1, 1] of the crop) as image pixels. `None` when the
/// output has the wrong length or the transform cannot be inverted.
pub fn landmarks_from_output(raw: &[f32], crop: &Similarity2) -> Option<Landmarks106> {
    if raw.len() < LANDMARK_COUNT * 2 {
        return None;
    }
    // Models with more points than 106 put the 106 last (InsightFace keeps the last lmk_num).
    let raw = &raw[raw.len() - LANDMARK_COUNT * 2..];
    let to_image = crop.inverse()?;
    let half = (LANDMARK_CROP_SIZE / 2) as f32;
    Some(raw.chunks_exact(2).map(|p| to_image.apply([(p[0] + 1.0) * half, (p[1] + 1.0) * half])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crop_centres_the_box_and_output_maps_back_through_it() {
        let bbox = BBox::new(100.0, 50.0, 180.0, 170.0);
        let level_eyes = [[120.0, 100.0], [160.0, 100.0], [140.0, 120.0], [125.0, 140.0], [155.0, 140.0]];
        let crop = landmark_crop_transform(&bbox, &level_eyes);
        let centre = crop.apply(bbox.center());
        assert!((centre[0] - 96.0).abs() < 1e-3 && (centre[1] - 96.0).abs() < 1e-3);
        // 1.5 × 120 px fill 192 px.
        assert!((crop.scale() - 192.0 / 180.0).abs() < 1e-5);
        let mut raw = vec![0.0; 212];
        raw[0] = -1.0; // point 0 at the crop's left edge, vertical centre
        let points = landmarks_from_output(&raw, &crop).unwrap();
        assert_eq!(points.len(), 106);
        assert!((points[0][0] - (140.0 - 90.0)).abs() < 1e-3 && (points[0][1] - 110.0).abs() < 1e-3);
        assert!((points[1][0] - 140.0).abs() < 1e-3);
    }

    #[test]
    fn a_tilted_face_is_turned_upright_in_the_crop() {
        let bbox = BBox::new(0.0, 0.0, 100.0, 100.0);
        // Eyes on a line 30° clockwise from horizontal.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let five = [
            [50.0 - 20.0 * c, 50.0 - 20.0 * s],
            [50.0 + 20.0 * c, 50.0 + 20.0 * s],
            [50.0, 60.0],
            [40.0, 70.0],
            [60.0, 70.0],
        ];
        let crop = landmark_crop_transform(&bbox, &five);
        let (l, r) = (crop.apply(five[0]), crop.apply(five[1]));
        assert!((l[1] - r[1]).abs() < 1e-3, "{l:?} {r:?}");
        assert!(r[0] > l[0]);
    }

    #[test]
    fn short_output_is_refused() {
        let crop = landmark_crop_transform(&BBox::new(0.0, 0.0, 1.0, 1.0), &[[0.0, 0.0]; 5]);
        assert!(landmarks_from_output(&[0.0; 10], &crop).is_none());
    }
}
