//! Plain data types shared by every faceprint crate.
//!
//! This crate sits at the bottom of the workspace: it has no heavy dependencies and knows nothing
//! of images, models or storage. Everything here serialises to the JSON contracts of the CLI.

mod embedding;
mod geometry;

pub use embedding::{Embedding, ModelId, cosine_similarity};
pub use geometry::{BBox, DetectedFace, Landmarks5, Point};
