//! Geometry of InsightFace's `2d106det` model: where its 192×192 input crop comes from, how its
//! output maps back to image pixels, and which of its 106 points are which.
//!
//! The point layout (found by drawing the model's output on LFW faces; "left" is the image's
//! left, as in [`faceprint_types::Landmarks5`]):
//! 0 chin; 1–32 the rest of the face contour; 33–42 left eye; 43–51 left eyebrow; 52–71 mouth;
//! 72–86 nose; 87–96 right eye; 97–105 right eyebrow.

use faceprint_types::{BBox, DetectedFace, Landmarks5, Point};

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
    /// The inner edges of the upper and lower lip, on the midline.
    pub const UPPER_LIP_INNER: usize = 62;
    pub const LOWER_LIP_INNER: usize = 60;
}

/// The transform from image pixels to the model's input crop: the box centre goes to the crop
/// centre, 1.5 × the box's longer side fills the crop (InsightFace's framing), and the face is
/// turned upright by the angle of its eye line (InsightFace does not turn it). Turning it makes
/// the landmarks follow a rotated photo: measured on LFW faces turned 47° and tilted 18°, a
/// photo rotated 15° moved roll by 11.6° with an unrotated crop.
pub fn landmark_crop_transform(bbox: &BBox, five: &Landmarks5) -> Similarity2 {
    let side = bbox.width().max(bbox.height()).max(1.0) * CROP_SPAN;
    crop_transform(bbox.center(), side, eye_line_angle(five[0], five[1]))
}

/// The crop that puts `centre` at the crop's centre, `side` image pixels across it, turned by
/// `-tilt`.
fn crop_transform(centre: Point, side: f32, tilt: f32) -> Similarity2 {
    let scale = LANDMARK_CROP_SIZE as f32 / side.max(1.0);
    let (a, b) = (scale * tilt.cos(), -scale * tilt.sin());
    // The centre of the crop's pixel grid (pixel centres on integers): a mirrored crop flips
    // about it, so a mirrored face's crop is exactly the mirror of the face's crop. (InsightFace
    // puts the box centre at 96, half a pixel off; then the crop of a mirrored photo is the
    // mirrored crop shifted by a pixel, and the points by about as much.)
    let half = (LANDMARK_CROP_SIZE - 1) as f32 / 2.0;
    Similarity2 { a, b, tx: half - (a * centre[0] - b * centre[1]), ty: half - (b * centre[0] + a * centre[1]) }
}

/// The detection as found in the image's mirror image (`width` pixels wide): x mirrored about
/// the image's centre (pixel centres on integer coordinates, as in the warp), the left and right
/// eyes and mouth corners swapped so that "left" stays the image's left.
pub fn mirror_detection(face: &DetectedFace, width: u32) -> DetectedFace {
    let flip = |x: f32| (width as f32 - 1.0) - x;
    let m = |p: Point| [flip(p[0]), p[1]];
    let k = &face.landmarks;
    DetectedFace {
        bbox: BBox::new(flip(face.bbox.x2), face.bbox.y1, flip(face.bbox.x1), face.bbox.y2),
        score: face.score,
        landmarks: [m(k[1]), m(k[0]), m(k[2]), m(k[4]), m(k[3])],
    }
}

/// Below this overlap a detection of the mirrored image is not the same face.
const SAME_FACE_IOU: f32 = 0.5;

/// The detection averaged with its counterpart among the detections of the image's mirror image
/// (`on_mirror`, in the mirror image's pixels), so it no longer depends on which way round the
/// photo is. The detector alone is not mirror-symmetric: its box moves by about a pixel between
/// a photo and its mirror image (1.15 px standard deviation on DevTest), and the landmark model
/// turns that into up to 4° of yaw. Without a counterpart the detection is kept as it is.
pub fn symmetric_detection(face: &DetectedFace, on_mirror: &[DetectedFace], width: u32) -> DetectedFace {
    let counterpart = on_mirror
        .iter()
        .map(|d| mirror_detection(d, width))
        .map(|d| (d.bbox.iou(&face.bbox), d))
        .filter(|(iou, _)| *iou >= SAME_FACE_IOU)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, other)) = counterpart else { return face.clone() };
    let mean = |a: f32, b: f32| (a + b) / 2.0;
    let b = (&face.bbox, &other.bbox);
    DetectedFace {
        bbox: BBox::new(mean(b.0.x1, b.1.x1), mean(b.0.y1, b.1.y1), mean(b.0.x2, b.1.x2), mean(b.0.y2, b.1.y2)),
        score: face.score,
        landmarks: std::array::from_fn(|i| {
            [mean(face.landmarks[i][0], other.landmarks[i][0]), mean(face.landmarks[i][1], other.landmarks[i][1])]
        }),
    }
}

/// Angle of the line from the left to the right eye, radians, clockwise in the image.
fn eye_line_angle(left: Point, right: Point) -> f32 {
    let (dx, dy) = (right[0] - left[0], right[1] - left[1]);
    if dx == 0.0 && dy == 0.0 { 0.0 } else { dy.atan2(dx) }
}

/// For each point, the point of the mirrored face: the model's left-right correspondence (0 the
/// chin, 53/60/62/71 the mouth's and 72–74/80/86 the nose's midline points map to themselves).
/// Found by running the model on LFW crops and their mirror images and matching each point to
/// the nearest mirrored one, on 60 faces (`tests::the_mirror_map_is_an_involution_that_keeps_the_midline`
/// checks its shape; on real faces a wrong pairing would pull the averaged eye, nose and mouth
/// points off the detector's, which `faceprint`'s analysis tests check). Points 34/38 and 88/92
/// coincide (the eye centres), so either pairing of them is right.
pub const MIRROR: [usize; LANDMARK_COUNT] = {
    let mut map = [0usize; LANDMARK_COUNT];
    let pairs: [(usize, usize); 48] = [
        // contour: 1..=16 on one side, 17..=32 on the other
        (1, 17),
        (2, 18),
        (3, 19),
        (4, 20),
        (5, 21),
        (6, 22),
        (7, 23),
        (8, 24),
        (9, 25),
        (10, 26),
        (11, 27),
        (12, 28),
        (13, 29),
        (14, 30),
        (15, 31),
        (16, 32),
        // eyes
        (33, 87),
        (34, 88),
        (35, 93),
        (36, 91),
        (37, 90),
        (38, 92),
        (39, 89),
        (40, 94),
        (41, 96),
        (42, 95),
        // eyebrows
        (43, 101),
        (44, 100),
        (45, 99),
        (46, 97),
        (47, 98),
        (48, 105),
        (49, 104),
        (50, 102),
        (51, 103),
        // mouth
        (52, 61),
        (54, 57),
        (55, 58),
        (56, 59),
        (63, 67),
        (64, 68),
        (65, 69),
        (66, 70),
        // nose
        (75, 81),
        (76, 82),
        (77, 83),
        (78, 84),
        (79, 85),
    ];
    let mut i = 0;
    while i < LANDMARK_COUNT {
        map[i] = i;
        i += 1;
    }
    let mut k = 0;
    while k < pairs.len() {
        map[pairs[k].0] = pairs[k].1;
        map[pairs[k].1] = pairs[k].0;
        k += 1;
    }
    map
};

/// The model's raw output (x, y pairs in [-1, 1] of the crop) as crop pixels. `None` when the
/// output is too short.
pub fn crop_points_from_output(raw: &[f32]) -> Option<Vec<Point>> {
    if raw.len() < LANDMARK_COUNT * 2 {
        return None;
    }
    // Models with more points than 106 put the 106 last (InsightFace keeps the last lmk_num).
    let raw = &raw[raw.len() - LANDMARK_COUNT * 2..];
    let half = (LANDMARK_CROP_SIZE / 2) as f32;
    Some(raw.chunks_exact(2).map(|p| [(p[0] + 1.0) * half, (p[1] + 1.0) * half]).collect())
}

/// Crop pixel column `x` of the horizontally flipped crop, as a column of the original crop
/// (pixel centres sit on integer coordinates, as in the warp).
fn unflip_x(x: f32) -> f32 {
    (LANDMARK_CROP_SIZE - 1) as f32 - x
}

/// The average of the points found on the crop and those found on its mirror image (mapped
/// back: x flipped, each point swapped with its counterpart through [`MIRROR`]). The model alone
/// is not mirror-symmetric (mirroring a photo moved yaw by up to 4° more than a sign change);
/// the average is, so a mirrored face gets exactly mirrored points.
pub fn mirror_average(points: &[Point], on_flipped_crop: &[Point]) -> Vec<Point> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let m = on_flipped_crop[MIRROR[i]];
            [(p[0] + unflip_x(m[0])) / 2.0, (p[1] + m[1]) / 2.0]
        })
        .collect()
}

/// The image mirrored left to right (for [`mirror_average`] and [`symmetric_detection`]).
pub fn mirror_image(crop: &image::RgbImage) -> image::RgbImage {
    image::imageops::flip_horizontal(crop)
}

/// Crop pixels back to image pixels; `None` when the transform cannot be inverted.
pub fn crop_points_to_image(points: &[Point], crop: &Similarity2) -> Option<Landmarks106> {
    let to_image = crop.inverse()?;
    Some(points.iter().map(|&p| to_image.apply(p)).collect())
}

/// The model's raw output (x, y pairs in [-1, 1] of the crop) as image pixels. `None` when the
/// output has the wrong length or the transform cannot be inverted.
pub fn landmarks_from_output(raw: &[f32], crop: &Similarity2) -> Option<Landmarks106> {
    crop_points_to_image(&crop_points_from_output(raw)?, crop)
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
        assert!((centre[0] - 95.5).abs() < 1e-3 && (centre[1] - 95.5).abs() < 1e-3);
        // 1.5 × 120 px fill 192 px.
        assert!((crop.scale() - 192.0 / 180.0).abs() < 1e-5);
        let mut raw = vec![0.0; 212];
        raw[0] = -1.0; // point 0 at the crop's left edge, vertical centre
        let points = landmarks_from_output(&raw, &crop).unwrap();
        assert_eq!(points.len(), 106);
        // Output (-1, 0) is crop pixel (0, 96): 95.5 crop pixels left of the box centre and half
        // a pixel below it, at 180/192 image pixels per crop pixel.
        let per_crop_pixel = 180.0 / 192.0;
        assert!((points[0][0] - (140.0 - 95.5 * per_crop_pixel)).abs() < 1e-3);
        assert!((points[0][1] - (110.0 + 0.5 * per_crop_pixel)).abs() < 1e-3);
        assert!((points[1][0] - (140.0 + 0.5 * per_crop_pixel)).abs() < 1e-3);
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
    fn the_mirror_map_is_an_involution_that_keeps_the_midline() {
        for (i, &j) in MIRROR.iter().enumerate() {
            assert_eq!(MIRROR[j], i, "{i} -> {j} -> {}", MIRROR[j]);
        }
        let fixed: Vec<usize> = (0..LANDMARK_COUNT).filter(|&i| MIRROR[i] == i).collect();
        assert_eq!(
            fixed,
            vec![index::CHIN, 53, 60, 62, 71, index::NOSE_BRIDGE, 73, 74, index::NOSE_BASE, index::NOSE_TIP]
        );
        assert_eq!(MIRROR[index::LEFT_EYE_OUTER], index::RIGHT_EYE_OUTER);
        assert_eq!(MIRROR[index::LEFT_EYE_INNER], index::RIGHT_EYE_INNER);
        assert_eq!(MIRROR[index::MOUTH_LEFT], index::MOUTH_RIGHT);
        for k in 0..3 {
            // Upper lids run outer→inner on the left and inner→outer on the right.
            assert_eq!(MIRROR[index::LEFT_EYE_UPPER[k]], index::RIGHT_EYE_UPPER[2 - k]);
            assert_eq!(MIRROR[index::LEFT_EYE_LOWER[k]], index::RIGHT_EYE_LOWER[2 - k]);
        }
    }

    #[test]
    fn mirror_averaging_makes_a_flipped_crop_give_flipped_points() {
        // Any points from the crop and any from its flip: the average of the swapped inputs is
        // the mirror of the average.
        let a: Vec<Point> = (0..106).map(|i| [i as f32 * 1.7 % 191.0, (i * i) as f32 % 180.0]).collect();
        let b: Vec<Point> = (0..106).map(|i| [(i * 7) as f32 % 191.0, i as f32 * 0.9]).collect();
        let direct = mirror_average(&a, &b);
        let flipped = mirror_average(&b, &a);
        for i in 0..106 {
            let m = flipped[MIRROR[i]];
            assert!((unflip_x(m[0]) - direct[i][0]).abs() < 1e-4 && (m[1] - direct[i][1]).abs() < 1e-4);
        }
    }

    #[test]
    fn a_detection_averaged_with_its_mirror_counterpart_mirrors_exactly() {
        let face = DetectedFace {
            bbox: BBox::new(40.0, 30.0, 120.0, 140.0),
            score: 0.9,
            landmarks: [[60.0, 70.0], [100.0, 72.0], [82.0, 95.0], [64.0, 115.0], [98.0, 116.0]],
        };
        // What a detector that jitters might find on the mirror image of a 200 px wide photo.
        let mut jittered = mirror_detection(&face, 200);
        jittered.bbox.x1 += 1.5;
        jittered.landmarks[2][0] -= 0.8;
        let unrelated =
            mirror_detection(&DetectedFace { bbox: BBox::new(150.0, 0.0, 190.0, 40.0), ..face.clone() }, 200);
        let on_mirror = [unrelated.clone(), jittered.clone()];
        let sym = symmetric_detection(&face, &on_mirror, 200);
        // The same construction on the mirror image, seeing the original as its mirror.
        let sym_of_mirror = symmetric_detection(&jittered, std::slice::from_ref(&face), 200);
        let back = mirror_detection(&sym_of_mirror, 200);
        assert!((back.bbox.x1 - sym.bbox.x1).abs() < 1e-4 && (back.bbox.x2 - sym.bbox.x2).abs() < 1e-4);
        for (a, b) in back.landmarks.iter().zip(&sym.landmarks) {
            assert!((a[0] - b[0]).abs() < 1e-4 && (a[1] - b[1]).abs() < 1e-4, "{a:?} {b:?}");
        }
        // No counterpart: unchanged.
        assert_eq!(symmetric_detection(&face, &[unrelated], 200), face);
        // Mirroring twice is the identity.
        assert_eq!(mirror_detection(&mirror_detection(&face, 200), 200), face);
    }

    #[test]
    fn short_output_is_refused() {
        let crop = landmark_crop_transform(&BBox::new(0.0, 0.0, 1.0, 1.0), &[[0.0, 0.0]; 5]);
        assert!(landmarks_from_output(&[0.0; 10], &crop).is_none());
    }
}
