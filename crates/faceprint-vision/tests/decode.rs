//! Decoding every supported format and colour model, EXIF orientation, and hostile input.

use std::io::Cursor;

use faceprint_vision::{DecodeLimits, decode_image, decode_oriented};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

/// 32×16, quadrants red | green over blue | white: asymmetric both ways, so every one of the
/// eight EXIF orientations gives a different picture.
fn quadrants() -> RgbImage {
    RgbImage::from_fn(32, 16, |x, y| {
        Rgb(match (x < 16, y < 8) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        })
    })
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

fn jpeg_with_orientation(orientation: u16) -> Vec<u8> {
    let image = quadrants();
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 100);
    // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112, SHORT).
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    encoder.add_app_segment(1, &exif).unwrap();
    encoder.encode(image.as_raw(), 32, 16, jpeg_encoder::ColorType::Rgb).unwrap();
    bytes
}

/// The colour at the centre of each quadrant: top-left, top-right, bottom-left, bottom-right.
fn corners(image: &RgbImage) -> [[u8; 3]; 4] {
    let (w, h) = image.dimensions();
    let at = |x: u32, y: u32| {
        let p = image.get_pixel(x, y).0;
        // JPEG is lossy: snap each channel to 0 or 255.
        p.map(|c| if c > 127 { 255 } else { 0 })
    };
    [at(w / 4, h / 4), at(3 * w / 4, h / 4), at(w / 4, 3 * h / 4), at(3 * w / 4, 3 * h / 4)]
}

#[test]
fn exif_orientations_one_to_eight_are_applied() {
    let expected = [
        (1, (32, 16), [RED, GREEN, BLUE, WHITE]),
        (2, (32, 16), [GREEN, RED, WHITE, BLUE]),
        (3, (32, 16), [WHITE, BLUE, GREEN, RED]),
        (4, (32, 16), [BLUE, WHITE, RED, GREEN]),
        (5, (16, 32), [RED, BLUE, GREEN, WHITE]),
        (6, (16, 32), [BLUE, RED, WHITE, GREEN]),
        (7, (16, 32), [WHITE, GREEN, BLUE, RED]),
        (8, (16, 32), [GREEN, WHITE, RED, BLUE]),
    ];
    for (orientation, dims, quadrant_colours) in expected {
        let image = decode_image(&jpeg_with_orientation(orientation), &DecodeLimits::default()).unwrap();
        assert_eq!(image.dimensions(), dims, "orientation {orientation}");
        assert_eq!(corners(&image), quadrant_colours, "orientation {orientation}");
    }
}

#[test]
fn an_orientation_tag_is_reported_even_when_it_says_upright() {
    for orientation in [1, 3, 6] {
        let decoded = decode_oriented(&jpeg_with_orientation(orientation), &DecodeLimits::default()).unwrap();
        assert!(decoded.orientation_tagged, "orientation {orientation}");
    }
    let untagged = encode(&DynamicImage::ImageRgb8(quadrants()), ImageFormat::Jpeg);
    assert!(!decode_oriented(&untagged, &DecodeLimits::default()).unwrap().orientation_tagged);
}

#[test]
fn every_supported_format_decodes_to_the_same_rgb() {
    let original = DynamicImage::ImageRgb8(quadrants());
    for format in
        [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Tiff, ImageFormat::Gif, ImageFormat::Pnm, ImageFormat::WebP]
    {
        let decoded = decode_image(&encode(&original, format), &DecodeLimits::default()).unwrap();
        assert_eq!(decoded.dimensions(), (32, 16), "{format:?}");
        assert_eq!(corners(&decoded), [RED, GREEN, BLUE, WHITE], "{format:?}");
    }
}

#[test]
fn grey_alpha_and_sixteen_bit_images_become_eight_bit_rgb() {
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(8, 4, image::Luma([200])));
    assert_eq!(
        decode_image(&encode(&grey, ImageFormat::Png), &DecodeLimits::default()).unwrap().get_pixel(3, 3).0,
        [200; 3]
    );

    let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(8, 4, image::Rgba([10, 20, 30, 128])));
    assert_eq!(
        decode_image(&encode(&rgba, ImageFormat::Png), &DecodeLimits::default()).unwrap().get_pixel(0, 0).0,
        [10, 20, 30]
    );

    let deep = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(8, 4, Rgb([65535u16, 0, 32896])));
    for format in [ImageFormat::Png, ImageFormat::Tiff] {
        assert_eq!(
            decode_image(&encode(&deep, format), &DecodeLimits::default()).unwrap().get_pixel(1, 1).0,
            [255, 0, 128]
        );
    }
}

#[test]
fn cmyk_jpeg_decodes_to_rgb() {
    // Two halves of different ink: the decoded halves must differ, and the size must hold.
    let mut cmyk = Vec::new();
    for _y in 0..16 {
        for x in 0..32 {
            cmyk.extend_from_slice(if x < 16 { &[0, 0, 0, 0] } else { &[0, 255, 255, 0] });
        }
    }
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 100).encode(&cmyk, 32, 16, jpeg_encoder::ColorType::Cmyk).unwrap();
    let image = decode_image(&bytes, &DecodeLimits::default()).unwrap();
    assert_eq!(image.dimensions(), (32, 16));
    assert_ne!(image.get_pixel(4, 8), image.get_pixel(28, 8));
}

fn code_of(bytes: &[u8], limits: &DecodeLimits) -> &'static str {
    decode_image(bytes, limits).map(|_| "ok").unwrap_or_else(|e| e.code())
}

#[test]
fn hostile_and_broken_inputs_give_their_error_codes() {
    let limits = DecodeLimits::default();
    assert_eq!(code_of(b"", &limits), "empty_input");
    assert_eq!(code_of(b"this is a text file, not a photo", &limits), "unsupported_format");

    let jpeg = jpeg_with_orientation(1);
    assert_eq!(code_of(&jpeg[..jpeg.len() / 3], &limits), "corrupt_image");
    let png = encode(&DynamicImage::ImageRgb8(quadrants()), ImageFormat::Png);
    assert_eq!(code_of(&png[..png.len() / 2], &limits), "corrupt_image");

    let small = DecodeLimits { max_bytes: 100, ..limits };
    assert_eq!(code_of(&png, &small), "input_too_large");
}

/// A valid PNG header of `side`×`side` pixels of `bit_depth` bits and PNG colour type `color`,
/// with an empty first IDAT: a few bytes that claim a huge picture.
fn png_header_only(side: u32, bit_depth: u8, color: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32fast::hash(&ihdr).to_be_bytes());
    // A first IDAT (an empty zlib stream) and IEND, so the header reads as complete.
    for (kind, data) in [(&b"IDAT"[..], &b"\x78\x9c\x03\x00\x00\x00\x00\x01"[..]), (&b"IEND"[..], &b""[..])] {
        let chunk = [kind, data].concat();
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    }
    png
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header_without_allocating() {
    // 100000×100000 RGB pixels (30 GB decoded) in a few bytes.
    let png = png_header_only(100_000, 8, 2);
    let error = decode_image(&png, &DecodeLimits::default()).unwrap_err();
    assert_eq!(error.code(), "image_too_large", "{error}");
    assert!(error.to_string().contains("100000x100000"), "{error}");
}

#[test]
fn the_default_limits_admit_a_forty_megapixel_photo() {
    // 7728×5152 is a 40-megapixel sensor; a flat grey PNG of it is small to encode.
    let big = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(7728, 5152, image::Luma([90])));
    let decoded = decode_image(&encode(&big, ImageFormat::Png), &DecodeLimits::default()).unwrap();
    assert_eq!(decoded.dimensions(), (7728, 5152));
}

#[test]
fn sixteen_bit_pixels_count_against_the_byte_budget_under_the_pixel_limit() {
    // 5000×5000 RGBA at 16 bits: 25 MP, under the server's 36 MP, but 200 MB at its own depth
    // plus a 75 MB RGB copy, over the server's 256 MiB of pixels per decode.
    let png = png_header_only(5000, 16, 6);
    let error = decode_image(&png, &DecodeLimits::server()).unwrap_err();
    assert!(matches!(error, faceprint_vision::DecodeError::TooManyDecodedBytes { .. }), "{error}");
    assert_eq!(error.code(), "image_too_large");
    // The same size at 8 bits RGB costs 75 MB: refused only for its truncated pixels.
    let png = png_header_only(5000, 8, 2);
    assert_eq!(decode_image(&png, &DecodeLimits::server()).unwrap_err().code(), "corrupt_image");
}

#[test]
fn a_rotating_orientation_counts_its_copy() {
    use image::ColorType;
    use image::metadata::Orientation;
    let plain = DecodeLimits::decode_cost(100, 10, ColorType::Rgb8, Orientation::NoTransforms);
    assert_eq!(plain, 3000);
    assert_eq!(DecodeLimits::decode_cost(100, 10, ColorType::Rgb8, Orientation::Rotate90), 6000);
    assert_eq!(DecodeLimits::decode_cost(100, 10, ColorType::Rgba16, Orientation::NoTransforms), 8000 + 3000);
}

#[test]
fn a_jpeg_that_panics_the_decoder_is_a_corrupt_image() {
    // Found by the decode fuzz target (fuzz/): zune-jpeg 0.5.15 asserts in its AVX2 upsampler.
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/zune-jpeg-upsampler-panic.jpg")).unwrap();
    let error = decode_image(&bytes, &DecodeLimits::default()).unwrap_err();
    assert_eq!(error.code(), "corrupt_image", "{error}");
}
