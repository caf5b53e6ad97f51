//! The process-wide ONNX Runtime environment, and the shared library it is loaded from.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use crate::InferError;
use crate::fetch::{WheelRequest, cache_home, download_wheel, extract_member};
use crate::pack::tempfile_dir;

/// The pinned ONNX Runtime wheel, compiled in.
pub const RUNTIME_MANIFEST: &str = include_str!("../../../models/onnxruntime.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeSpec {
    pub package: String,
    pub version: String,
    pub platform: String,
    pub python_version: String,
    pub wheel_sha256: String,
    pub library_member: String,
}

impl RuntimeSpec {
    pub fn pinned() -> RuntimeSpec {
        toml::from_str(RUNTIME_MANIFEST).expect("the compiled-in runtime manifest is valid")
    }

    /// Where the fetched library is cached.
    pub fn cached_library(&self) -> PathBuf {
        let file = self.library_member.rsplit('/').next().unwrap_or("libonnxruntime.so");
        cache_home().join("onnxruntime").join(&self.version).join(file)
    }
}

/// Where the library comes from.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// An explicit `libonnxruntime.so`; else `FACEPRINT_ORT_LIB`, else the cached pinned wheel's
    /// library, fetched on first use.
    pub library: Option<PathBuf>,
}

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// The library path that would be used, fetching the pinned one if needed.
pub fn locate_library(options: &RuntimeOptions) -> Result<PathBuf, InferError> {
    if let Some(path) = options.library.clone().or_else(|| std::env::var_os("FACEPRINT_ORT_LIB").map(PathBuf::from)) {
        return Ok(path);
    }
    let spec = RuntimeSpec::pinned();
    let library = spec.cached_library();
    if !library.is_file() {
        let scratch = tempfile_dir(&cache_home())?;
        let request = WheelRequest {
            package: &spec.package,
            version: &spec.version,
            platform: Some((&spec.platform, &spec.python_version)),
        };
        let wheel = download_wheel(&request, scratch.path())?;
        crate::fetch::verify_sha256(&wheel, &spec.wheel_sha256)?;
        extract_member(&wheel, &spec.library_member, &library, None)?;
    }
    Ok(library)
}

/// The one ONNX Runtime environment of this process, created on first call. Later calls
/// return it whatever options they pass (ONNX Runtime allows one per process).
pub fn environment(options: &RuntimeOptions) -> Result<&'static ort::environment::Environment, InferError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = locate_library(options)?;
    if !path.is_file() {
        return Err(InferError::RuntimeUnavailable { path, reason: "no such file".into() });
    }
    let unavailable = |reason: String| InferError::RuntimeUnavailable { path: path.clone(), reason };
    let env = ort::init_from(&path)
        .map_err(|e| unavailable(e.to_string()))?
        .with_name("faceprint")
        .build()
        .map_err(|e| unavailable(e.to_string()))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}
