//! Decoding untrusted image bytes into RGB, with limits checked before the pixels are allocated.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage};

/// Limits applied to every image before its pixels are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_bytes: u64,
    /// Largest decoded image accepted, in pixels (width × height).
    pub max_pixels: u64,
    /// Largest memory a decode may hold at once, in bytes: the decoder's pixels at their own
    /// depth (16-bit and alpha count), plus the 8-bit RGB copy, plus the copy a rotating EXIF
    /// orientation makes. Checked from the header, before any pixel is allocated.
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    /// 256 MiB, 64 megapixels and 1 GiB of pixels: admits 40-megapixel camera photos (and their
    /// 16-bit TIFFs) while keeping a decompression bomb to a bounded allocation.
    fn default() -> Self {
        Self { max_bytes: 256 << 20, max_pixels: 64_000_000, max_decoded_bytes: 1 << 30 }
    }
}

impl DecodeLimits {
    /// The server's limits, lower than the command line's because many requests decode at once
    /// (one per pipeline): 36 megapixels and 256 MiB of pixels per decode, so an 8-bit RGB or
    /// RGBA photo of up to 36 MP passes, rotated or not, and a 16-bit one up to about 24 MP.
    pub fn server() -> Self {
        Self { max_bytes: 64 << 20, max_pixels: 36_000_000, max_decoded_bytes: 256 << 20 }
    }

    /// What decoding a `width`×`height` image stored as `color` and oriented by `orientation`
    /// holds at most, in bytes.
    pub fn decode_cost(width: u32, height: u32, color: ColorType, orientation: Orientation) -> u64 {
        let pixels = width as u64 * height as u64;
        let native = pixels * color.bytes_per_pixel() as u64;
        let rgb8 = pixels * 3;
        let converted = if color == ColorType::Rgb8 { 0 } else { rgb8 };
        let rotated = if orientation == Orientation::NoTransforms { 0 } else { rgb8 };
        native + converted + rotated
    }
}

/// Why an image could not be decoded. [`DecodeError::code`] gives the stable machine code.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the input is empty")]
    Empty,
    #[error("the input is {size} bytes, over the limit of {limit} bytes")]
    TooManyBytes { size: u64, limit: u64 },
    #[error("the image is {width}x{height} ({} pixels), over the limit of {limit} pixels", *width as u64 * *height as u64)]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("decoding the image would take {bytes} bytes, over the limit of {limit} bytes")]
    TooManyDecodedBytes { bytes: u64, limit: u64 },
    #[error("decoding the image would exceed the memory limit: {0}")]
    OverMemoryLimit(String),
    #[error("not an image in a supported format (JPEG, PNG, WebP, BMP, TIFF, GIF, PNM)")]
    UnsupportedFormat,
    #[error("the image data is corrupt or truncated: {0}")]
    Corrupt(String),
}

impl DecodeError {
    /// A stable machine-readable code, as written in the CLI's JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty_input",
            DecodeError::TooManyBytes { .. } => "input_too_large",
            DecodeError::TooManyPixels { .. }
            | DecodeError::TooManyDecodedBytes { .. }
            | DecodeError::OverMemoryLimit(_) => "image_too_large",
            DecodeError::UnsupportedFormat => "unsupported_format",
            DecodeError::Corrupt(_) => "corrupt_image",
        }
    }
}

/// Decodes `bytes` into 8-bit RGB with the EXIF orientation applied. Grey, alpha, CMYK and
/// 16-bit inputs are converted; GIF gives its first frame.
///
/// A decoder that panics on hostile bytes (fuzzing found one: zune-jpeg 0.5.15's AVX2
/// upsampler asserts on a crafted JPEG) gives `Corrupt`, not a crashed process: decoders are
/// third-party code reading untrusted input, and nothing they built survives the panic.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    decode_oriented(bytes, limits).map(|decoded| decoded.image)
}

/// A decoded image and whether its file said which way up it is.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// 8-bit RGB, the EXIF orientation applied.
    pub image: RgbImage,
    /// The file carries an EXIF orientation tag (any value, "normal" included): its camera
    /// knew which way up it was held, so a photo with no face is not worth turning.
    pub orientation_tagged: bool,
}

/// [`decode_image`], also reporting whether the file had an EXIF orientation tag.
pub fn decode_oriented(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_checked(bytes, limits))).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(DecodeError::Corrupt(format!("the decoder failed on this input: {reason}")))
    })
}

fn decode_checked(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let size = bytes.len() as u64;
    if size > limits.max_bytes {
        return Err(DecodeError::TooManyBytes { size, limit: limits.max_bytes });
    }
    let reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if reader.format().is_none() {
        return Err(DecodeError::UnsupportedFormat);
    }
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    // The header gives the size: refuse a bomb here, before any pixel buffer exists.
    let (width, height) = decoder.dimensions();
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(DecodeError::TooManyPixels { width, height, limit: limits.max_pixels });
    }
    if width == 0 || height == 0 {
        return Err(DecodeError::Corrupt(format!("the image is {width}x{height}")));
    }
    let orientation = decoder.orientation().map_err(map_image_error)?;
    // `orientation()` answers "no transform" both for a missing tag and for one that says
    // upright: only the EXIF block itself tells them apart.
    let orientation_tagged = orientation != Orientation::NoTransforms
        || decoder
            .exif_metadata()
            .map_err(map_image_error)?
            .as_deref()
            .and_then(Orientation::from_exif_chunk)
            .is_some();
    let bytes = DecodeLimits::decode_cost(width, height, decoder.color_type(), orientation);
    if bytes > limits.max_decoded_bytes {
        return Err(DecodeError::TooManyDecodedBytes { bytes, limit: limits.max_decoded_bytes });
    }
    let mut decoder_limits = Limits::default();
    // The decoders' own buffers (rows, palettes, tables) on top of the pixels counted above.
    decoder_limits.max_alloc = Some(limits.max_decoded_bytes + (64 << 20));
    decoder.set_limits(decoder_limits).map_err(map_image_error)?;
    let image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    // To 8-bit RGB first, then rotate: the rotation copies 3 bytes a pixel, not the decoder's 8.
    let rgb = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    let mut image = DynamicImage::ImageRgb8(rgb);
    image.apply_orientation(orientation);
    let image = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    };
    Ok(Decoded { image, orientation_tagged })
}

fn map_image_error(error: ImageError) -> DecodeError {
    match error {
        ImageError::Unsupported(_) => DecodeError::UnsupportedFormat,
        ImageError::Limits(e) => DecodeError::OverMemoryLimit(e.to_string()),
        other => DecodeError::Corrupt(other.to_string()),
    }
}
