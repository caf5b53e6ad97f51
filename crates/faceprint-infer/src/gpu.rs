//! What the CUDA provider needs from the machine, and which of it is missing: so that a GPU that
//! cannot be used is refused with a message naming the driver, library or device at fault,
//! rather than ONNX Runtime's first failed `dlopen` (or, worse, a quiet run on the CPU).
//!
//! Libraries are looked for where the dynamic loader looks: `LD_LIBRARY_PATH`, the folder of the
//! ONNX Runtime library, the loader's cache (`ldconfig -p`) and the usual system and CUDA
//! folders. This is a diagnosis only: whether CUDA works is decided by ONNX Runtime itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries ONNX Runtime's CUDA provider (built for CUDA 13) loads, by the part of the CUDA
/// stack they belong to. Read from the provider's ELF dependencies (`readelf -d`) and the
/// libraries it opens at run time (cuDNN).
const CUDA_PARTS: [(&str, &[&str]); 5] = [
    ("the NVIDIA driver", &["libcuda.so.1"]),
    ("the CUDA 13 runtime", &["libcudart.so.13"]),
    ("cuBLAS 13", &["libcublas.so.13", "libcublasLt.so.13"]),
    ("cuRAND 10", &["libcurand.so.10"]),
    ("cuDNN 9", &["libcudnn.so.9"]),
];

/// The provider's own libraries, which ONNX Runtime loads from its own folder.
pub const PROVIDER_LIBRARIES: [&str; 2] = ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"];

const SYSTEM_DIRS: [&str; 8] = [
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/x86_64-linux/lib",
];

/// One NVIDIA GPU the driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    /// The PCI bus id, as the driver names the GPU's folder.
    pub bus_id: String,
    pub model: String,
}

/// The GPUs the NVIDIA kernel driver sees (`/proc/driver/nvidia/gpus/*/information`), in bus
/// order, which is CUDA's default device order.
pub fn visible_gpus() -> Vec<GpuInfo> {
    let Ok(entries) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return Vec::new();
    };
    let mut gpus: Vec<GpuInfo> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let text = std::fs::read_to_string(entry.path().join("information")).ok()?;
            let model = text.lines().find_map(|line| line.strip_prefix("Model:"))?.trim().to_string();
            Some(GpuInfo { bus_id: entry.file_name().to_string_lossy().into_owned(), model })
        })
        .collect();
    gpus.sort_by(|a, b| a.bus_id.cmp(&b.bus_id));
    gpus
}

/// The NVIDIA kernel driver's version line, when one is loaded.
pub fn driver_version() -> Option<String> {
    let text = std::fs::read_to_string("/proc/driver/nvidia/version").ok()?;
    text.lines().next().map(|line| line.trim().to_string())
}

/// Where a library named `name` would be found, if anywhere.
pub fn find_library(name: &str, runtime_dir: Option<&Path>) -> Option<PathBuf> {
    search_dirs(runtime_dir).into_iter().map(|dir| dir.join(name)).find(|path| path.exists())
}

fn search_dirs(runtime_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|paths| std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    dirs.extend(runtime_dir.map(Path::to_path_buf));
    dirs.extend(loader_cache_dirs());
    dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
    dirs.dedup();
    dirs
}

/// The folders of every library in the dynamic loader's cache.
fn loader_cache_dirs() -> Vec<PathBuf> {
    let output = ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|program| Command::new(program).arg("-p").output().ok().filter(|o| o.status.success()));
    let Some(output) = output else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.rsplit_once("=> ").and_then(|(_, path)| Path::new(path.trim()).parent()))
        .map(Path::to_path_buf)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Everything the CUDA provider needs that this machine lacks, each named with the library that
/// shows it ("cuDNN 9 (libcudnn.so.9)"): the provider libraries beside `runtime_library`, the
/// CUDA stack, and a GPU for the driver to drive. Empty when all is there.
pub fn missing_for_cuda(runtime_library: &Path) -> Vec<String> {
    let runtime_dir = runtime_library.parent();
    let absent: Vec<&str> =
        PROVIDER_LIBRARIES.into_iter().filter(|name| runtime_dir.is_none_or(|dir| !dir.join(name).exists())).collect();
    let mut missing = Vec::new();
    if !absent.is_empty() {
        missing.push(format!(
            "ONNX Runtime's CUDA provider ({} beside {})",
            absent.join(", "),
            runtime_library.display()
        ));
    }
    let dirs = search_dirs(runtime_dir);
    for (part, libraries) in CUDA_PARTS {
        let absent: Vec<&str> =
            libraries.iter().copied().filter(|name| !dirs.iter().any(|dir| dir.join(name).exists())).collect();
        if !absent.is_empty() {
            missing.push(format!("{part} ({})", absent.join(", ")));
        }
    }
    let driver_loaded = driver_version().is_some();
    if driver_loaded && visible_gpus().is_empty() {
        missing.push("a GPU (the NVIDIA driver is loaded but reports none)".into());
    } else if !driver_loaded && !Path::new("/dev/nvidia0").exists() {
        missing.push("a GPU (no NVIDIA kernel driver is loaded: /proc/driver/nvidia is absent)".into());
    }
    missing
}

/// Whether a GPU is worth trying for `--device auto`: the driver is loaded or its library is there.
pub fn driver_present() -> bool {
    driver_version().is_some() || find_library("libcuda.so.1", None).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_provider_libraries_are_named_with_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("libonnxruntime.so.1.31.1");
        std::fs::write(&runtime, b"").unwrap();
        let missing = missing_for_cuda(&runtime);
        assert!(
            missing[0].contains("libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so"),
            "{missing:?}"
        );
        assert!(missing[0].contains(&dir.path().display().to_string()), "{missing:?}");
        for name in PROVIDER_LIBRARIES {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let missing = missing_for_cuda(&runtime);
        assert!(missing.iter().all(|m| !m.contains("providers")), "{missing:?}");
    }

    #[test]
    fn a_library_is_found_in_the_runtime_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libcudnn.so.9"), b"").unwrap();
        assert_eq!(find_library("libcudnn.so.9", Some(dir.path())), Some(dir.path().join("libcudnn.so.9")));
        assert_eq!(find_library("libfaceprint-none.so.7", Some(dir.path())), None);
        // The C library is in the loader's cache or a system folder on every Linux.
        assert!(find_library("libc.so.6", None).is_some());
    }
}
