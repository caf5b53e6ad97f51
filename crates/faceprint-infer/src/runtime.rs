//! The process-wide ONNX Runtime environment, and the shared library it is loaded from.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use crate::InferError;
use crate::fetch::{WheelRequest, cache_home, download_wheel, extract_member};
use crate::pack::tempfile_dir;

/// The pinned ONNX Runtime wheel (CPU build), compiled in.
pub const RUNTIME_MANIFEST: &str = include_str!("../../../models/onnxruntime.toml");
/// The pinned ONNX Runtime wheel with the CUDA provider, compiled in.
pub const GPU_RUNTIME_MANIFEST: &str = include_str!("../../../models/onnxruntime-gpu.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeSpec {
    pub package: String,
    pub version: String,
    pub platform: String,
    pub python_version: String,
    pub wheel_sha256: String,
    pub library_member: String,
    /// Execution provider libraries that must sit beside the runtime library (the CUDA build's).
    #[serde(default)]
    pub provider_members: Vec<String>,
}

impl RuntimeSpec {
    /// The CPU build, used unless a GPU is asked for.
    pub fn pinned() -> RuntimeSpec {
        toml::from_str(RUNTIME_MANIFEST).expect("the compiled-in runtime manifest is valid")
    }

    /// The build with the CUDA provider, for `--device cuda` and `auto`.
    pub fn pinned_gpu() -> RuntimeSpec {
        toml::from_str(GPU_RUNTIME_MANIFEST).expect("the compiled-in GPU runtime manifest is valid")
    }

    /// The build for sessions on `gpu` or not.
    pub fn for_gpu(gpu: bool) -> RuntimeSpec {
        if gpu { Self::pinned_gpu() } else { Self::pinned() }
    }

    /// Where the fetched library is cached: one folder per package and version, so the CPU and
    /// the CUDA builds never mix.
    pub fn cached_library(&self) -> PathBuf {
        self.cache_dir().join(member_file(&self.library_member))
    }

    fn cache_dir(&self) -> PathBuf {
        cache_home().join(&self.package).join(&self.version)
    }

    /// Whether the library and every provider library beside it are cached.
    pub fn is_cached(&self) -> bool {
        self.cached_library().is_file()
            && self.provider_members.iter().all(|m| self.cache_dir().join(member_file(m)).is_file())
    }

    /// Fetches the wheel through pip, checks its sha256 and takes the libraries out of it.
    /// Provider libraries come first and the runtime library last, so a cached runtime library
    /// means a complete folder.
    pub fn fetch(&self) -> Result<PathBuf, InferError> {
        let library = self.cached_library();
        if self.is_cached() {
            return Ok(library);
        }
        let scratch = tempfile_dir(&cache_home())?;
        let request = WheelRequest {
            package: &self.package,
            version: &self.version,
            platform: Some((&self.platform, &self.python_version)),
        };
        let wheel = download_wheel(&request, scratch.path())?;
        crate::fetch::verify_sha256(&wheel, &self.wheel_sha256)?;
        for member in &self.provider_members {
            extract_member(&wheel, member, &self.cache_dir().join(member_file(member)), None)?;
        }
        extract_member(&wheel, &self.library_member, &library, None)?;
        Ok(library)
    }
}

fn member_file(member: &str) -> &str {
    member.rsplit('/').next().unwrap_or(member)
}

/// Where the library comes from.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// An explicit `libonnxruntime.so`; else `FACEPRINT_ORT_LIB`, else the cached pinned wheel's
    /// library (the CUDA build when a GPU is asked for), fetched on first use.
    pub library: Option<PathBuf>,
}

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
static LOADED_FROM: OnceLock<PathBuf> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// The library path that would be used, fetching the pinned one (the CUDA build for `gpu`) if
/// needed.
pub fn locate_library(options: &RuntimeOptions, gpu: bool) -> Result<PathBuf, InferError> {
    if let Some(path) = options.library.clone().or_else(|| std::env::var_os("FACEPRINT_ORT_LIB").map(PathBuf::from)) {
        return Ok(path);
    }
    RuntimeSpec::for_gpu(gpu).fetch()
}

/// The library this process loaded ONNX Runtime from, once it has.
pub fn loaded_library() -> Option<&'static std::path::Path> {
    LOADED_FROM.get().map(PathBuf::as_path)
}

/// The one ONNX Runtime environment of this process, created on first call from the library for
/// `gpu` sessions or CPU ones. Later calls return it whatever they pass (ONNX Runtime allows one
/// per process; a CPU-built library then refuses GPU sessions with `gpu_unavailable`).
pub fn environment(options: &RuntimeOptions, gpu: bool) -> Result<&'static ort::environment::Environment, InferError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = locate_library(options, gpu)?;
    if !path.is_file() {
        return Err(InferError::RuntimeUnavailable { path, reason: "no such file".into() });
    }
    let unavailable = |reason: String| InferError::RuntimeUnavailable { path: path.clone(), reason };
    let env = ort::init_from(&path)
        .map_err(|e| unavailable(e.to_string()))?
        .with_name("faceprint")
        .build()
        .map_err(|e| unavailable(e.to_string()))?;
    let _ = LOADED_FROM.set(std::fs::canonicalize(&path).unwrap_or(path));
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// What `faceprint info` shows of the loaded runtime.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeReport {
    pub library: PathBuf,
    /// From the library's build information ("1.31.1"), when it says.
    pub version: Option<String>,
    /// The execution providers faceprint can use that this build offers.
    pub providers: Vec<&'static str>,
    pub build_info: String,
}

/// The loaded runtime's library, version and providers (loading it for `gpu` if not yet loaded).
pub fn runtime_report(options: &RuntimeOptions, gpu: bool) -> Result<RuntimeReport, InferError> {
    use ort::ep::ExecutionProvider;
    environment(options, gpu)?;
    let build_info = ort::info().to_string();
    let library = loaded_library().map(PathBuf::from).unwrap_or_default();
    // The release builds say their version in the file name (libonnxruntime.so.1.31.1), some
    // builds in their branch (git-branch=rel-1.31.1).
    let from_name = library.file_name().and_then(|n| n.to_str()).and_then(|n| n.split_once(".so.")).map(|(_, v)| v);
    let from_branch = || {
        build_info.split(|c: char| c == ',' || c.is_whitespace()).find_map(|part| part.strip_prefix("git-branch=rel-"))
    };
    let version = from_name.or_else(from_branch).map(str::to_string);
    let mut providers = vec![ort::ep::CPU::NAME];
    if ort::ep::CUDA::is_available().unwrap_or(false) {
        providers.push(ort::ep::CUDA::NAME);
    }
    Ok(RuntimeReport { library, version, providers, build_info })
}
