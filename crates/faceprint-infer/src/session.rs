use std::path::Path;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::InferError;
use crate::runtime::{RuntimeOptions, environment};

/// Opens a CPU session with `threads` intra-op threads and spinning off: measured here, two
/// spinning ORT threads on a busy 2-core machine ran 2× slower than one.
pub(crate) fn open_session(path: &Path, threads: usize, runtime: &RuntimeOptions) -> Result<Session, InferError> {
    if !path.is_file() {
        return Err(InferError::MissingModel { path: path.to_path_buf() });
    }
    let env = environment(runtime)?;
    let load = |reason: String| InferError::ModelLoad { path: path.to_path_buf(), reason };
    let configure = |e: ort::Error<ort::session::builder::SessionBuilder>| load(e.to_string());
    Session::builder(env)
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
        .map_err(configure)?
        .commit_from_file(path)
        .map_err(|e| load(e.to_string()))
}

/// `(name, dims)` of a session input, with -1 for dynamic axes.
pub(crate) fn input_dims(session: &Session, index: usize) -> Option<(String, Vec<i64>)> {
    let input = session.inputs().get(index)?;
    let dims = input.dtype().tensor_shape()?.to_vec();
    Some((input.name().to_string(), dims))
}
