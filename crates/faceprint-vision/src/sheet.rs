//! Contact sheets: rows of thumbnails, each with its face boxed and a caption under it, for
//! people to look through (clusters, search results).

use ab_glyph::PxScale;
use faceprint_types::BBox;
use image::imageops::{FilterType, resize};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_hollow_rect_mut, draw_text_mut};
use imageproc::rect::Rect;

use crate::draw::font;

const BACKGROUND: Rgb<u8> = Rgb([32, 32, 32]);
const BOX_COLOUR: Rgb<u8> = Rgb([0, 255, 0]);
const TEXT_COLOUR: Rgb<u8> = Rgb([240, 240, 240]);
/// Height of the caption strip under each thumbnail, and the text in it.
const CAPTION_PX: u32 = 18;
const CAPTION_SCALE: f32 = 13.0;

/// One thumbnail: a photo (or crop), the face to box in its coordinates, and a caption.
#[derive(Debug)]
pub struct Tile<'a> {
    pub image: &'a RgbImage,
    pub face: Option<BBox>,
    pub caption: String,
}

/// A photo brought down to fit `size`×`size` (never enlarged), with its face box in the
/// thumbnail's pixels: a sheet of many large photos holds one full photo at a time, not all.
pub fn thumbnail(image: &RgbImage, face: Option<BBox>, size: u32) -> (RgbImage, Option<BBox>) {
    let (w, h) = image.dimensions();
    let scale = (size as f32 / w.max(1) as f32).min(size as f32 / h.max(1) as f32).min(1.0);
    let (tw, th) = (((w as f32 * scale) as u32).max(1), ((h as f32 * scale) as u32).max(1));
    let thumb = resize(image, tw, th, FilterType::Triangle);
    let face = face.map(|b| BBox::new(b.x1 * scale, b.y1 * scale, b.x2 * scale, b.y2 * scale));
    (thumb, face)
}

/// Lays out `rows` of tiles, each row on its own line (up to `columns` tiles; more are left
/// out), every thumbnail fitted into `size`×`size` with its aspect kept.
pub fn contact_sheet(rows: &[Vec<Tile<'_>>], columns: usize, size: u32) -> RgbImage {
    let columns = columns.max(1) as u32;
    let size = size.max(16);
    let cell_height = size + CAPTION_PX;
    let mut sheet = RgbImage::from_pixel(columns * size, (rows.len().max(1) as u32) * cell_height, BACKGROUND);
    let font = font();
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().take(columns as usize).enumerate() {
            let (x0, y0) = (c as u32 * size, r as u32 * cell_height);
            let (w, h) = tile.image.dimensions();
            let scale = (size as f32 / w.max(1) as f32).min(size as f32 / h.max(1) as f32);
            let (tw, th) = (((w as f32 * scale) as u32).max(1), ((h as f32 * scale) as u32).max(1));
            let mut thumb = resize(tile.image, tw, th, FilterType::Triangle);
            if let Some(b) = tile.face {
                let (x, y) = ((b.x1 * scale).max(0.0) as i32, (b.y1 * scale).max(0.0) as i32);
                let (bw, bh) = (((b.x2 - b.x1) * scale).max(2.0) as u32, ((b.y2 - b.y1) * scale).max(2.0) as u32);
                for inset in 0..2 {
                    let rect = Rect::at(x + inset, y + inset).of_size(
                        bw.saturating_sub(2 * inset as u32).max(1),
                        bh.saturating_sub(2 * inset as u32).max(1),
                    );
                    draw_hollow_rect_mut(&mut thumb, rect, BOX_COLOUR);
                }
            }
            image::imageops::overlay(
                &mut sheet,
                &thumb,
                i64::from(x0 + (size - tw) / 2),
                i64::from(y0 + (size - th) / 2),
            );
            let y = (y0 + size + 2) as i32;
            draw_text_mut(
                &mut sheet,
                TEXT_COLOUR,
                x0 as i32 + 3,
                y,
                PxScale::from(CAPTION_SCALE),
                &font,
                &tile.caption,
            );
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_in_their_cells_with_the_face_boxed_and_a_caption() {
        let photo = RgbImage::from_pixel(200, 100, Rgb([200, 50, 50]));
        let rows = vec![
            vec![Tile { image: &photo, face: Some(BBox::new(50.0, 20.0, 150.0, 80.0)), caption: "0.83".into() }],
            vec![],
        ];
        let sheet = contact_sheet(&rows, 3, 100);
        assert_eq!(sheet.dimensions(), (300, 2 * (100 + CAPTION_PX)));
        // The 200×100 photo fits as 100×50, centred vertically in its cell: red at its centre,
        // the box's edge at x = 25, background above and in the empty cells.
        assert_eq!(sheet.get_pixel(60, 50), &Rgb([200, 50, 50]));
        assert_eq!(sheet.get_pixel(25, 50), &BOX_COLOUR);
        assert_eq!(sheet.get_pixel(50, 10), &BACKGROUND);
        assert_eq!(sheet.get_pixel(250, 50), &BACKGROUND);
        let caption = (0..100).flat_map(|x| (100..100 + CAPTION_PX).map(move |y| (x, y)));
        assert!(caption.into_iter().any(|(x, y)| sheet.get_pixel(x, y) != &BACKGROUND), "no caption drawn");
    }
}
