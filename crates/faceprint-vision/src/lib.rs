//! Everything faceprint does to pixels and geometry, with no model runtime in sight:
//! decoding (with limits and EXIF orientation), detector input preparation and output decoding
//! (SCRFD anchors, NMS), alignment onto the ArcFace 112×112 template, face analysis (106-point
//! landmark geometry, head pose, eye openness, quality) and drawing results.

pub mod align;
pub mod analysis;
pub mod decode;
pub mod draw;
pub mod scrfd;
pub mod sheet;

pub use align::{ARCFACE_TEMPLATE_112, Similarity2, align_to_arcface_112, estimate_similarity};
pub use decode::{DecodeError, DecodeLimits, Decoded, decode_image, decode_oriented};
pub use image::RgbImage;
