//! `--device` on a machine without a GPU (CI's): CUDA asked for is refused with
//! `gpu_unavailable` naming what is missing, never run on the CPU instead; `auto` takes the CPU
//! and says why; `info` tells what the runtime offers.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn portrait() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/lfw-devtest/images/Aaron_Guiel/Aaron_Guiel_0001.jpg")
}

fn faceprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faceprint")).args(args).env_remove("FACEPRINT_DEVICE").output().unwrap()
}

/// These tests are about a machine without an NVIDIA GPU; on one with a GPU they say so and pass.
fn machine_has_a_gpu() -> bool {
    let present = faceprint::runtime::driver_version().is_some();
    if present {
        eprintln!("an NVIDIA driver is loaded here: the no-GPU checks do not apply");
    }
    present
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn cuda_without_a_gpu_is_gpu_unavailable_naming_what_is_missing_and_nothing_runs() {
    if machine_has_a_gpu() {
        return;
    }
    // The real CUDA build of ONNX Runtime (fetched from PyPI, checked by sha256): its provider
    // is there, the driver and the CUDA libraries it needs are not.
    let output = faceprint(&["-q", "--device", "cuda", "embed", "--json", portrait().to_str().unwrap()]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(output.stdout.is_empty(), "no embedding may be written: {}", String::from_utf8_lossy(&output.stdout));
    assert!(text.contains("[gpu_unavailable]") && text.contains("cuda:0"), "{text}");
    assert!(text.contains("the NVIDIA driver (libcuda.so.1)"), "{text}");
    assert!(text.contains("cuDNN 9 (libcudnn.so.9)"), "{text}");
    assert!(text.contains("never runs on the CPU instead"), "{text}");
    // The same through the environment variable, with GPU number 1.
    let output = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["-q", "detect", portrait().to_str().unwrap()])
        .env("FACEPRINT_DEVICE", "cuda:1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("[gpu_unavailable]") && stderr(&output).contains("cuda:1"), "{}", stderr(&output));
}

#[test]
fn cuda_on_the_cpu_build_of_onnx_runtime_is_refused_naming_the_build() {
    let cpu_build = faceprint::RuntimeSpec::pinned().fetch().unwrap();
    let output = faceprint(&[
        "-q",
        "--device",
        "cuda",
        "detect",
        "--ort-lib",
        cpu_build.to_str().unwrap(),
        portrait().to_str().unwrap(),
    ]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("[gpu_unavailable]") && text.contains("is a build without it"), "{text}");
}

#[test]
fn auto_without_a_gpu_runs_on_the_cpu_and_says_why() {
    if machine_has_a_gpu() {
        return;
    }
    let output = faceprint(&["-q", "--device", "auto", "embed", "--json", portrait().to_str().unwrap()]);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("--device auto: running on the CPU (no usable GPU: no NVIDIA driver"), "{text}");
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["faces"][0]["embedding"].as_array().unwrap().len(), 512);
}

#[test]
fn a_device_that_does_not_exist_is_a_usage_error() {
    let output = faceprint(&["--device", "tpu", "detect", portrait().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("use cpu, cuda, cuda:N (GPU number N) or auto"), "{}", stderr(&output));
}

#[test]
fn info_names_the_runtime_its_providers_and_the_device_outcome() {
    let output = faceprint(&["info", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["device_requested"], "cpu");
    assert_eq!(info["device"]["target"], "cpu");
    assert_eq!(info["runtime"]["version"], "1.31.1");
    assert_eq!(info["runtime"]["providers"], serde_json::json!(["CPUExecutionProvider"]));
    assert!(info["runtime"]["library"].as_str().unwrap().ends_with("libonnxruntime.so.1.31.1"));
    if machine_has_a_gpu() {
        return;
    }
    assert_eq!(info["gpus"], serde_json::json!([]));
    let output = faceprint(&["--device", "cuda", "info"]);
    assert_eq!(output.status.code(), Some(1), "the device check fails");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("CUDAExecutionProvider"), "the CUDA build offers its provider: {text}");
    assert!(text.contains("--device cuda:0  refused [gpu_unavailable]"), "{text}");
    assert!(text.contains("- the NVIDIA driver (libcuda.so.1)"), "{text}");
}
