//! Decoding untrusted image bytes into RGB, with limits checked before the pixels are allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, RgbImage};

/// Limits applied to every image before its pixels are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded input accepted, in bytes.
    pub max_bytes: u64,
    /// Largest decoded image accepted, in pixels (width × height).
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    /// 256 MiB and 64 megapixels: admits 40-megapixel camera photos (and their 16-bit TIFFs)
    /// while keeping a decompression bomb to a bounded allocation.
    fn default() -> Self {
        Self { max_bytes: 256 << 20, max_pixels: 64_000_000 }
    }
}

/// Why an image could not be decoded. [`DecodeError::code`] gives the stable machine code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("the input is empty")]
    Empty,
    #[error("the input is {size} bytes, over the limit of {limit} bytes")]
    TooManyBytes { size: u64, limit: u64 },
    #[error("the image is {width}x{height} ({} pixels), over the limit of {limit} pixels", *width as u64 * *height as u64)]
    TooManyPixels { width: u32, height: u32, limit: u64 },
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
            DecodeError::TooManyPixels { .. } | DecodeError::OverMemoryLimit(_) => "image_too_large",
            DecodeError::UnsupportedFormat => "unsupported_format",
            DecodeError::Corrupt(_) => "corrupt_image",
        }
    }
}

/// Decodes `bytes` into 8-bit RGB with the EXIF orientation applied. Grey, alpha, CMYK and
/// 16-bit inputs are converted; GIF gives its first frame.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
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
    let mut decoder_limits = Limits::default();
    // Room for the decoded pixels at up to 4 channels × 16 bits, plus the decoders' own buffers.
    decoder_limits.max_alloc = Some(limits.max_pixels * 8 + (64 << 20));
    decoder.set_limits(decoder_limits).map_err(map_image_error)?;
    let orientation = decoder.orientation().map_err(map_image_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    image.apply_orientation(orientation);
    Ok(match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

fn map_image_error(error: ImageError) -> DecodeError {
    match error {
        ImageError::Unsupported(_) => DecodeError::UnsupportedFormat,
        ImageError::Limits(e) => DecodeError::OverMemoryLimit(e.to_string()),
        other => DecodeError::Corrupt(other.to_string()),
    }
}
