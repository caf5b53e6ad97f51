//! Alignment of a face onto the ArcFace 112×112 template by a least-squares similarity
//! transform (Umeyama, 1991) of its five landmarks, then a bilinear warp.

use faceprint_types::{Landmarks5, Point};
use image::{Rgb, RgbImage};

/// Side of the aligned crop the ArcFace recognisers take.
pub const ARCFACE_SIZE: u32 = 112;

/// Where the five landmarks sit in a 112×112 ArcFace crop: InsightFace's reference points
/// (`insightface/utils/face_align.py`, `arcface_dst`).
pub const ARCFACE_TEMPLATE_112: Landmarks5 =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// A 2-D similarity transform: `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`
/// (rotation, uniform scale and translation, no reflection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity2 {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity2 {
    pub fn apply(&self, p: Point) -> Point {
        [self.a * p[0] - self.b * p[1] + self.tx, self.b * p[0] + self.a * p[1] + self.ty]
    }

    /// The inverse transform; `None` for a degenerate (zero-scale) transform.
    pub fn inverse(&self) -> Option<Similarity2> {
        let det = self.a * self.a + self.b * self.b;
        if det <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / det, -self.b / det);
        Some(Similarity2 { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) })
    }

    /// Uniform scale factor.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// The similarity transform that maps `src` onto `dst` with least squared error (Umeyama's
/// estimate, which in 2-D without reflection has this closed form). `None` when `src` has no
/// spread (all points equal) or the point counts differ.
pub fn estimate_similarity(src: &[Point], dst: &[Point]) -> Option<Similarity2> {
    if src.len() != dst.len() || src.is_empty() {
        return None;
    }
    let n = src.len() as f64;
    let mean = |pts: &[Point]| {
        let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(x, y), p| (x + p[0] as f64, y + p[1] as f64));
        (sx / n, sy / n)
    };
    let (smx, smy) = mean(src);
    let (dmx, dmy) = mean(dst);
    let (mut dot, mut cross, mut spread) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] as f64 - smx, s[1] as f64 - smy);
        let (dx, dy) = (d[0] as f64 - dmx, d[1] as f64 - dmy);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        spread += sx * sx + sy * sy;
    }
    if spread <= 1e-12 {
        return None;
    }
    let (a, b) = (dot / spread, cross / spread);
    Some(Similarity2 {
        a: a as f32,
        b: b as f32,
        tx: (dmx - (a * smx - b * smy)) as f32,
        ty: (dmy - (b * smx + a * smy)) as f32,
    })
}

/// Samples `image` at every pixel of a `width × height` output through `to_output`'s inverse,
/// bilinearly, with black outside the image: OpenCV's `warpAffine` with `BORDER_CONSTANT` 0,
/// which InsightFace's `norm_crop` uses.
pub fn warp_similarity(image: &RgbImage, to_output: &Similarity2, width: u32, height: u32) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    let Some(to_source) = to_output.inverse() else {
        return out;
    };
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let pixel = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let i = ((y * w + x) * 3) as usize;
        [raw[i] as f32, raw[i + 1] as f32, raw[i + 2] as f32]
    };
    for (x, y, px) in out.enumerate_pixels_mut() {
        let [sx, sy] = to_source.apply([x as f32, y as f32]);
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let (p00, p10, p01, p11) = (pixel(x0, y0), pixel(x0 + 1, y0), pixel(x0, y0 + 1), pixel(x0 + 1, y0 + 1));
        let mut rgb = [0u8; 3];
        for c in 0..3 {
            let top = p00[c] + (p10[c] - p00[c]) * fx;
            let bottom = p01[c] + (p11[c] - p01[c]) * fx;
            rgb[c] = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
        }
        *px = Rgb(rgb);
    }
    out
}

/// The 112×112 ArcFace crop of the face with these landmarks.
pub fn align_to_arcface_112(image: &RgbImage, landmarks: &Landmarks5) -> RgbImage {
    let transform = estimate_similarity(landmarks, &ARCFACE_TEMPLATE_112).unwrap_or(Similarity2 {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    });
    warp_similarity(image, &transform, ARCFACE_SIZE, ARCFACE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_from_its_own_projection() {
        let truth = Similarity2 { a: 1.3 * 0.3f32.cos(), b: 1.3 * 0.3f32.sin(), tx: 12.5, ty: -7.0 };
        let src = ARCFACE_TEMPLATE_112;
        let dst: Vec<Point> = src.iter().map(|p| truth.apply(*p)).collect();
        let got = estimate_similarity(&src, &dst).unwrap();
        for (g, t) in [(got.a, truth.a), (got.b, truth.b), (got.tx, truth.tx), (got.ty, truth.ty)] {
            assert!((g - t).abs() < 1e-3, "{got:?} vs {truth:?}");
        }
    }

    #[test]
    fn least_squares_fit_averages_noise_out() {
        // x squeezed to 0.9, y kept: the best uniform scale is their average, and the centre
        // still maps onto the centre.
        let src = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
        let dst = [[5.5, 5.0], [14.5, 5.0], [5.5, 15.0], [14.5, 15.0]];
        let got = estimate_similarity(&src, &dst).unwrap();
        assert!(got.b.abs() < 1e-6 && (got.a - 0.95).abs() < 1e-6);
        assert!((got.apply([5.0, 5.0])[0] - 10.0).abs() < 1e-4);
    }

    #[test]
    fn degenerate_landmarks_give_no_transform() {
        assert!(estimate_similarity(&[[1.0, 1.0]; 5], &ARCFACE_TEMPLATE_112).is_none());
    }

    #[test]
    fn inverse_undoes_the_transform() {
        let t = Similarity2 { a: 0.8, b: -0.4, tx: 3.0, ty: 9.0 };
        let p = t.inverse().unwrap().apply(t.apply([17.0, -4.0]));
        assert!((p[0] - 17.0).abs() < 1e-4 && (p[1] + 4.0).abs() < 1e-4);
    }

    #[test]
    fn warp_by_a_translation_moves_pixels_and_fills_black() {
        let mut image = RgbImage::new(4, 4);
        image.put_pixel(1, 1, Rgb([200, 100, 50]));
        let shift = Similarity2 { a: 1.0, b: 0.0, tx: 2.0, ty: 1.0 };
        let out = warp_similarity(&image, &shift, 4, 4);
        assert_eq!(out.get_pixel(3, 2), &Rgb([200, 100, 50]));
        assert_eq!(out.get_pixel(0, 0), &Rgb([0, 0, 0]));
    }
}
