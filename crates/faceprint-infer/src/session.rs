use std::path::Path;

use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use crate::InferError;
use crate::device::Target;
use crate::gpu::missing_for_cuda;
use crate::runtime::{RuntimeOptions, environment, loaded_library};

/// Opens a session on `target`. On the CPU: `threads` intra-op threads and spinning off
/// (measured here, two spinning ORT threads on a busy 2-core machine ran 2× slower than one). On
/// a GPU: the CUDA provider, registered so that any failure is an error ([`gpu_unavailable`])
/// rather than ONNX Runtime's default of carrying on with the CPU.
pub(crate) fn open_session(
    path: &Path,
    threads: usize,
    runtime: &RuntimeOptions,
    target: Target,
) -> Result<Session, InferError> {
    if !path.is_file() {
        return Err(InferError::MissingModel { path: path.to_path_buf() });
    }
    let env = environment(runtime, target.is_gpu())?;
    let load = |reason: String| InferError::ModelLoad { path: path.to_path_buf(), reason };
    let configure = |e: ort::Error<SessionBuilder>| load(e.to_string());
    let mut builder = Session::builder(env)
        .map_err(|e| load(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(configure)?
        .with_intra_threads(threads.max(1))
        .map_err(configure)?
        .with_inter_threads(1)
        .map_err(configure)?
        .with_intra_op_spinning(false)
        .map_err(configure)?
        .with_inter_op_spinning(false)
        .map_err(configure)?;
    if let Target::Cuda(id) = target {
        builder = with_cuda(builder, id)?;
    }
    builder.commit_from_file(path).map_err(|e| {
        let reason = e.to_string();
        // With the CUDA provider registered, a missing driver, device or cuDNN shows up only
        // when the session is made; a broken model file still reads as one.
        if target.is_gpu() && mentions_cuda(&reason) { gpu_unavailable(target, reason) } else { load(reason) }
    })
}

fn with_cuda(builder: SessionBuilder, id: u32) -> Result<SessionBuilder, InferError> {
    let target = Target::Cuda(id);
    if !ort::ep::CUDA::is_available().unwrap_or(false) {
        let library = loaded_library().map(|p| p.display().to_string()).unwrap_or_default();
        return Err(InferError::GpuUnavailable {
            device: target.to_string(),
            missing: vec![format!(
                "ONNX Runtime's CUDA provider: the library loaded ({library}) is a build without it; faceprint \
                 fetches the onnxruntime-gpu build for GPU devices unless FACEPRINT_ORT_LIB names another library"
            )],
            detail: String::new(),
        });
    }
    // Heuristic convolution search: the exhaustive default benchmarks every new input shape, and
    // photos of every aspect ratio give the detector a new shape again and again.
    let cuda = ort::ep::CUDA::default()
        .with_device_id(id as i32)
        .with_conv_algorithm_search(ort::ep::cuda::ConvAlgorithmSearch::Heuristic)
        .build()
        .error_on_failure();
    builder.with_execution_providers([cuda]).map_err(|e| gpu_unavailable(target, e.to_string()))
}

fn mentions_cuda(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    ["cuda", "cudnn", "cublas", "gpu", "libonnxruntime_providers"].iter().any(|word| reason.contains(word))
}

/// `gpu_unavailable` for `target`, naming what this machine lacks beside ONNX Runtime's own words.
fn gpu_unavailable(target: Target, detail: String) -> InferError {
    let missing = loaded_library().map(missing_for_cuda).unwrap_or_default();
    InferError::GpuUnavailable { device: target.to_string(), missing, detail: detail.trim().to_string() }
}

/// `(name, dims)` of a session input, with -1 for dynamic axes.
pub(crate) fn input_dims(session: &Session, index: usize) -> Option<(String, Vec<i64>)> {
    let input = session.inputs().get(index)?;
    let dims = input.dtype().tensor_shape()?.to_vec();
    Some((input.name().to_string(), dims))
}
