//! SCRFD detector input preparation and output decoding (anchors, distances, NMS).
//!
//! Matches InsightFace's `scrfd.py`: the image is resized keeping its aspect ratio, pasted at
//! the top-left of a zero canvas, normalised as `(v - 127.5) / 128` in RGB order, and the model
//! predicts, per stride and anchor, a score, four distances to the box sides and 5 keypoint
//! offsets, all in units of the stride.

use faceprint_types::{BBox, DetectedFace, Landmarks5};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// SCRFD's input normalisation (InsightFace `scrfd.py`).
pub const SCRFD_MEAN: f32 = 127.5;
pub const SCRFD_STD: f32 = 128.0;
/// Detector inputs must be multiples of the largest stride.
pub const SIZE_MULTIPLE: u32 = 32;

/// How the detector input canvas is sized for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputSizing {
    /// Scale so the longer side lies in `[min_side, max_side]` (shrinking large photos,
    /// enlarging small ones, leaving those in between alone), keep the aspect ratio, and round
    /// the canvas up to a multiple of 32: a 250×250 photo runs at 480×480 and a 4000×3000 one at
    /// 640×480, with no square padding.
    Adaptive { min_side: u32, max_side: u32 },
    /// InsightFace's behaviour: fit (up- or down-scaling) into a fixed `width × height` canvas.
    Fixed { width: u32, height: u32 },
}

/// The geometry of one prepared detector input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputGeometry {
    pub canvas_width: u32,
    pub canvas_height: u32,
    pub resized_width: u32,
    pub resized_height: u32,
    /// Where the resized image's top-left corner sits on the canvas (0 but for margins).
    pub offset_x: u32,
    pub offset_y: u32,
    /// Original pixels per canvas pixel, per axis, to map detections back exactly.
    pub inverse_scale_x: f32,
    pub inverse_scale_y: f32,
}

impl InputSizing {
    pub fn plan(&self, width: u32, height: u32) -> InputGeometry {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        match *self {
            InputSizing::Adaptive { min_side, max_side } => {
                let longer = w.max(h);
                let scale = if longer > max_side as f32 {
                    max_side as f32 / longer
                } else if longer < min_side as f32 {
                    min_side as f32 / longer
                } else {
                    1.0
                };
                let canvas_width = round_up((w * scale).round().max(1.0) as u32);
                let canvas_height = round_up((h * scale).round().max(1.0) as u32);
                InputGeometry::place(width, height, scale, canvas_width, canvas_height, false)
            }
            InputSizing::Fixed { width: cw, height: ch } => {
                let scale = (cw as f32 / w).min(ch as f32 / h);
                InputGeometry::place(width, height, scale, cw, ch, false)
            }
        }
    }
}

impl InputGeometry {
    /// The image scaled so that it plus a margin of `margin` × its longer side all round fits a
    /// `side × side` canvas, centred. Tightly cropped faces (ID photos, face crops from other
    /// tools) touch the image border, where the detector, trained on whole scenes, misses them;
    /// with a margin they look like faces in a scene again.
    pub fn with_margin(width: u32, height: u32, side: u32, margin: f32) -> InputGeometry {
        let longer = width.max(height).max(1) as f32;
        let scale = side as f32 / (longer * (1.0 + 2.0 * margin));
        InputGeometry::place(width, height, scale, side, side, true)
    }

    /// `width × height` scaled by `scale` onto a canvas, at its top-left corner or centred.
    fn place(
        width: u32,
        height: u32,
        scale: f32,
        canvas_width: u32,
        canvas_height: u32,
        centred: bool,
    ) -> InputGeometry {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let resized_width = ((w * scale).round() as u32).clamp(1, canvas_width);
        let resized_height = ((h * scale).round() as u32).clamp(1, canvas_height);
        let (offset_x, offset_y) =
            if centred { ((canvas_width - resized_width) / 2, (canvas_height - resized_height) / 2) } else { (0, 0) };
        InputGeometry {
            canvas_width,
            canvas_height,
            resized_width,
            resized_height,
            offset_x,
            offset_y,
            inverse_scale_x: w / resized_width as f32,
            inverse_scale_y: h / resized_height as f32,
        }
    }
}

fn round_up(v: u32) -> u32 {
    v.div_ceil(SIZE_MULTIPLE).max(1) * SIZE_MULTIPLE
}

/// Writes the normalised NCHW (RGB) blob of `image` resized as `geometry` says into `blob`,
/// which is resized to `3 × canvas_height × canvas_width`. Padding is black, as in InsightFace.
pub fn prepare_input(image: &RgbImage, geometry: &InputGeometry, resizer: &mut Resizer, blob: &mut Vec<f32>) {
    let (cw, ch) = (geometry.canvas_width as usize, geometry.canvas_height as usize);
    let (rw, rh) = (geometry.resized_width as usize, geometry.resized_height as usize);
    let resized;
    let pixels: &[u8] = if (rw as u32, rh as u32) == image.dimensions() {
        image.as_raw()
    } else {
        let src = ImageRef::new(image.width(), image.height(), image.as_raw(), PixelType::U8x3)
            .expect("an RgbImage buffer always matches its dimensions");
        let mut dst = Image::new(rw as u32, rh as u32, PixelType::U8x3);
        // Plain bilinear interpolation, like OpenCV's `resize`, which the models were trained with.
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
        resizer.resize(&src, &mut dst, &options).expect("same pixel type on both sides");
        resized = dst.into_vec();
        &resized
    };
    let pad = (0.0 - SCRFD_MEAN) / SCRFD_STD;
    blob.clear();
    blob.resize(3 * cw * ch, pad);
    let plane = cw * ch;
    let (ox, oy) = (geometry.offset_x as usize, geometry.offset_y as usize);
    for y in 0..rh {
        let row = &pixels[y * rw * 3..(y + 1) * rw * 3];
        let base = (y + oy) * cw + ox;
        for (x, px) in row.chunks_exact(3).enumerate() {
            blob[base + x] = (px[0] as f32 - SCRFD_MEAN) / SCRFD_STD;
            blob[plane + base + x] = (px[1] as f32 - SCRFD_MEAN) / SCRFD_STD;
            blob[2 * plane + base + x] = (px[2] as f32 - SCRFD_MEAN) / SCRFD_STD;
        }
    }
}

/// One stride level of raw SCRFD output for one image: row-major `[cells × anchors, C]`.
#[derive(Debug, Clone, Copy)]
pub struct StrideOutput<'a> {
    pub stride: u32,
    pub scores: &'a [f32],
    pub boxes: &'a [f32],
    pub keypoints: &'a [f32],
}

/// Decodes every anchor whose score reaches `score_threshold` into a face in original-image
/// pixels (not yet suppressed).
pub fn decode_outputs(
    levels: &[StrideOutput<'_>],
    geometry: &InputGeometry,
    anchors_per_cell: usize,
    score_threshold: f32,
) -> Vec<DetectedFace> {
    let (sx, sy) = (geometry.inverse_scale_x, geometry.inverse_scale_y);
    let (ox, oy) = (geometry.offset_x as f32, geometry.offset_y as f32);
    let mut faces = Vec::new();
    for level in levels {
        let stride = level.stride as f32;
        let cells_x = geometry.canvas_width.div_ceil(level.stride) as usize;
        for (i, &score) in level.scores.iter().enumerate() {
            if score < score_threshold {
                continue;
            }
            let cell = i / anchors_per_cell;
            // Anchor centre, relative to the image's corner on the canvas.
            let cx = (cell % cells_x) as f32 * stride - ox;
            let cy = (cell / cells_x) as f32 * stride - oy;
            let d = &level.boxes[i * 4..i * 4 + 4];
            let bbox = BBox::new(
                (cx - d[0] * stride) * sx,
                (cy - d[1] * stride) * sy,
                (cx + d[2] * stride) * sx,
                (cy + d[3] * stride) * sy,
            );
            let k = &level.keypoints[i * 10..i * 10 + 10];
            let mut landmarks: Landmarks5 = [[0.0; 2]; 5];
            for (j, point) in landmarks.iter_mut().enumerate() {
                *point = [(cx + k[2 * j] * stride) * sx, (cy + k[2 * j + 1] * stride) * sy];
            }
            faces.push(DetectedFace { bbox, score, landmarks });
        }
    }
    faces
}

/// Greedy non-maximum suppression: keeps the best-scoring face of every group overlapping by
/// more than `iou_threshold`. The result is sorted by score, best first.
pub fn non_maximum_suppression(mut faces: Vec<DetectedFace>, iou_threshold: f32) -> Vec<DetectedFace> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<DetectedFace> = Vec::with_capacity(faces.len());
    for face in faces {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= iou_threshold) {
            kept.push(face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> DetectedFace {
        DetectedFace { bbox: BBox::new(x, 0.0, x + 10.0, 10.0), score, landmarks: [[0.0; 2]; 5] }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_faces_and_all_disjoint_ones() {
        let kept = non_maximum_suppression(vec![face(0.0, 0.6), face(1.0, 0.9), face(50.0, 0.7)], 0.4);
        let scores: Vec<f32> = kept.iter().map(|f| f.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
    }

    #[test]
    fn adaptive_sizing_brings_the_longer_side_into_range_without_padding_to_a_square() {
        let g = InputSizing::Adaptive { min_side: 480, max_side: 640 }.plan(250, 250);
        assert_eq!((g.canvas_width, g.canvas_height), (480, 480));
        assert_eq!((g.resized_width, g.resized_height), (480, 480));
        assert!((g.inverse_scale_x - 250.0 / 480.0).abs() < 1e-6);
        let mid = InputSizing::Adaptive { min_side: 480, max_side: 640 }.plan(500, 300);
        assert_eq!((mid.canvas_width, mid.canvas_height, mid.resized_width), (512, 320, 500));
        assert_eq!(mid.inverse_scale_x, 1.0);
        let big = InputSizing::Adaptive { min_side: 480, max_side: 640 }.plan(4000, 3000);
        assert_eq!((big.canvas_width, big.canvas_height), (640, 480));
        assert!((big.inverse_scale_x - 6.25).abs() < 1e-4);
    }

    #[test]
    fn fixed_sizing_matches_insightface_letterbox() {
        let g = InputSizing::Fixed { width: 640, height: 640 }.plan(250, 125);
        assert_eq!((g.canvas_width, g.canvas_height), (640, 640));
        assert_eq!((g.resized_width, g.resized_height), (640, 320));
    }

    #[test]
    fn decoding_places_an_anchor_at_its_cell_and_scales_back() {
        // A 64×64 canvas at stride 32 has 2×2 cells; anchor 1 of cell (1, 1) fires.
        let geometry = InputSizing::Fixed { width: 64, height: 64 }.plan(128, 128);
        let mut scores = vec![0.0; 8];
        scores[7] = 0.9;
        let mut boxes = vec![0.0; 32];
        boxes[28..32].copy_from_slice(&[0.5, 0.5, 0.5, 0.5]);
        let keypoints = vec![0.0; 80];
        let levels = [StrideOutput { stride: 32, scores: &scores, boxes: &boxes, keypoints: &keypoints }];
        let faces = decode_outputs(&levels, &geometry, 2, 0.5);
        assert_eq!(faces.len(), 1);
        // Cell centre (32, 32) in canvas pixels, ±16, times 2 back to the original.
        assert_eq!(faces[0].bbox, BBox::new(32.0, 32.0, 96.0, 96.0));
        assert_eq!(faces[0].landmarks[0], [64.0, 64.0]);
    }

    #[test]
    fn a_margin_centres_the_image_and_decoding_undoes_the_offset() {
        let g = InputGeometry::with_margin(100, 100, 64, 0.5);
        assert_eq!((g.resized_width, g.offset_x, g.offset_y), (32, 16, 16));
        let mut scores = vec![0.0; 8];
        scores[7] = 0.9; // anchor 1 of cell (1, 1) at stride 32: centre (32, 32) on the canvas
        let boxes = vec![0.5; 32];
        let keypoints = vec![0.0; 80];
        let levels = [StrideOutput { stride: 32, scores: &scores, boxes: &boxes, keypoints: &keypoints }];
        let faces = decode_outputs(&levels, &g, 2, 0.5);
        // (32 ± 16 − 16) canvas pixels × 100/32 original pixels per canvas pixel.
        assert_eq!(faces[0].bbox, BBox::new(0.0, 0.0, 100.0, 100.0));
    }

    #[test]
    fn blob_is_normalised_rgb_planes_with_black_padding() {
        let image = RgbImage::from_pixel(2, 1, image::Rgb([255, 0, 128]));
        let geometry = InputSizing::Adaptive { min_side: 1, max_side: 640 }.plan(2, 1);
        let mut blob = Vec::new();
        prepare_input(&image, &geometry, &mut Resizer::new(), &mut blob);
        assert_eq!(blob.len(), 3 * 32 * 32);
        assert_eq!(blob[0], (255.0 - 127.5) / 128.0);
        assert_eq!(blob[32 * 32], -127.5 / 128.0);
        assert_eq!(blob[2 * 32 * 32 + 1], 0.5 / 128.0);
        assert_eq!(blob[2], -127.5 / 128.0);
    }
}
