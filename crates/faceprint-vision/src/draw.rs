//! Drawing detection results onto a photo, for people to look at.

use ab_glyph::{FontRef, PxScale};
use faceprint_types::DetectedFace;
use faceprint_types::Point;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_rect_mut, draw_line_segment_mut, draw_text_mut};
use imageproc::rect::Rect;

/// DejaVu Sans (free licence, see `assets/fonts/LICENSE-DejaVu.txt`), embedded so drawing works
/// on machines without fonts.
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

const BOX_COLOUR: Rgb<u8> = Rgb([0, 255, 0]);
/// Left eye, right eye, nose, left and right mouth corner: the order of `Landmarks5`.
const LANDMARK_COLOURS: [Rgb<u8>; 5] =
    [Rgb([255, 0, 0]), Rgb([0, 0, 255]), Rgb([255, 255, 0]), Rgb([255, 0, 255]), Rgb([0, 255, 255])];

/// The embedded font's bytes, for other renderers (plots).
pub fn font_bytes() -> &'static [u8] {
    FONT_BYTES
}

pub fn font() -> FontRef<'static> {
    FontRef::try_from_slice(FONT_BYTES).expect("the embedded font is a valid TrueType file")
}

/// Draws each face's box, its five landmarks and its score, with line widths and text scaled to
/// the photo so they stay visible on 40-megapixel images and small crops alike.
pub fn draw_faces(image: &mut RgbImage, faces: &[DetectedFace]) {
    let font = font();
    let unit = (image.width().max(image.height()) as f32 / 400.0).max(1.0);
    let thickness = unit.round() as i32;
    for face in faces {
        let b = face.bbox;
        for t in 0..thickness {
            let (x, y) = (b.x1.round() as i32 - t, b.y1.round() as i32 - t);
            let (w, h) = ((b.width().round() as i32 + 2 * t).max(1), (b.height().round() as i32 + 2 * t).max(1));
            draw_hollow_rect_mut(image, Rect::at(x, y).of_size(w as u32, h as u32), BOX_COLOUR);
        }
        for (point, colour) in face.landmarks.iter().zip(LANDMARK_COLOURS) {
            let centre = (point[0].round() as i32, point[1].round() as i32);
            draw_filled_circle_mut(image, centre, (thickness + 1).max(2), colour);
        }
        let scale = PxScale::from(12.0 * unit);
        let label = format!("{:.2}", face.score);
        let text_y = (b.y1 - 13.0 * unit).max(0.0) as i32;
        draw_text_mut(image, BOX_COLOUR, b.x1.max(0.0) as i32, text_y, scale, &font, &label);
    }
}

/// Line width and text unit for a photo of this size.
fn unit_of(image: &RgbImage) -> f32 {
    (image.width().max(image.height()) as f32 / 400.0).max(1.0)
}

/// Dense landmarks as small dots.
pub fn draw_points(image: &mut RgbImage, points: &[Point], colour: Rgb<u8>) {
    let radius = (unit_of(image) * 0.8).round().max(1.0) as i32;
    for p in points {
        draw_filled_circle_mut(image, (p[0].round() as i32, p[1].round() as i32), radius, colour);
    }
}

/// Head pose axes from `origin`: x red (towards the subject's left), y green (down), z blue
/// (out of the face), drawn several pixels wide.
pub fn draw_axes(image: &mut RgbImage, origin: Point, ends: [Point; 3]) {
    const COLOURS: [Rgb<u8>; 3] = [Rgb([255, 40, 40]), Rgb([40, 255, 40]), Rgb([60, 120, 255])];
    let width = unit_of(image).round().max(1.0) as i32;
    for (end, colour) in ends.iter().zip(COLOURS) {
        for dx in 0..width {
            for dy in 0..width {
                let shift = |p: Point| (p[0] + dx as f32, p[1] + dy as f32);
                draw_line_segment_mut(image, shift(origin), shift(*end), colour);
            }
        }
    }
}

/// A line of text at `at` (top left), scaled to the photo.
pub fn draw_label(image: &mut RgbImage, at: Point, text: &str, colour: Rgb<u8>) {
    let unit = unit_of(image);
    let (x, y) = (at[0].max(0.0) as i32, at[1].max(0.0) as i32);
    draw_text_mut(image, colour, x, y, PxScale::from(12.0 * unit), &font(), text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use faceprint_types::BBox;

    #[test]
    fn drawing_marks_the_box_outline_and_leaves_the_inside() {
        let mut image = RgbImage::new(100, 100);
        let face = DetectedFace { bbox: BBox::new(20.0, 30.0, 60.0, 80.0), score: 0.9, landmarks: [[40.0, 50.0]; 5] };
        draw_faces(&mut image, &[face]);
        assert_eq!(image.get_pixel(20, 55), &BOX_COLOUR);
        assert_eq!(image.get_pixel(30, 70), &Rgb([0, 0, 0]));
        assert_ne!(image.get_pixel(40, 50), &Rgb([0, 0, 0]));
    }
}
