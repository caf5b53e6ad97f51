//! `faceprint info`: the runtime library, the GPUs the driver sees, what the CUDA provider
//! would miss, and whether the chosen device works (by opening sessions on it).

use std::process::ExitCode;

use anyhow::Result;
use faceprint::runtime::{driver_version, missing_for_cuda, runtime_report, visible_gpus};
use faceprint::{Device, ModelPack, RuntimeOptions};
use serde_json::json;

use crate::args::{EngineArgs, ModelsCommand};

pub fn info(args: &EngineArgs, json: bool) -> Result<ExitCode> {
    let options = RuntimeOptions { library: args.ort_lib.clone() };
    // The device check first: it loads the runtime build that device needs.
    let check = EngineArgs { workers: Some(1), no_landmarks: true, ..args.clone() }.engine();
    let runtime = runtime_report(&options, args.device != Device::Cpu);
    let gpus = visible_gpus();
    let missing = match &runtime {
        Ok(report) => missing_for_cuda(&report.library),
        Err(_) => Vec::new(),
    };
    if json {
        let device = match &check {
            Ok(engine) => json!({
                "target": engine.device().target.to_string(),
                "gpu_name": engine.device().gpu_name,
                "cpu_because": engine.device().cpu_because,
            }),
            Err(e) => json!({ "error": error_code(e), "message": format!("{e:#}") }),
        };
        let record = json!({
            "faceprint": env!("CARGO_PKG_VERSION"),
            "device_requested": args.device.to_string(),
            "device": device,
            "runtime": match &runtime {
                Ok(report) => serde_json::to_value(report)?,
                Err(e) => json!({ "error": e.code(), "message": e.to_string() }),
            },
            "nvidia_driver": driver_version(),
            "gpus": gpus.iter().enumerate().map(|(i, g)| json!({ "index": i, "model": g.model, "bus_id": g.bus_id })).collect::<Vec<_>>(),
            "cuda_missing": missing,
        });
        println!("{record}");
    } else {
        println!("faceprint {}", env!("CARGO_PKG_VERSION"));
        match &runtime {
            Ok(report) => {
                println!("ONNX Runtime     {}", report.library.display());
                println!("  version        {}", report.version.as_deref().unwrap_or("unknown"));
                println!("  providers      {}", report.providers.join(", "));
            }
            Err(e) => println!("ONNX Runtime     not loaded [{}]: {e}", e.code()),
        }
        println!("NVIDIA driver    {}", driver_version().unwrap_or_else(|| "none loaded".into()));
        if gpus.is_empty() {
            println!("GPUs             none seen");
        }
        for (index, gpu) in gpus.iter().enumerate() {
            println!("GPU cuda:{index:<7} {} ({})", gpu.model, gpu.bus_id);
        }
        if missing.is_empty() {
            println!("CUDA provider    everything it needs is present");
        } else {
            println!("CUDA provider    would miss:");
            for part in &missing {
                println!("  - {part}");
            }
        }
        let flag = format!("--device {}", args.device);
        match &check {
            Ok(engine) => println!("{flag:<16} works: models open on the {}", engine.device()),
            Err(e) => println!("{flag:<16} refused [{}]: {e:#}", error_code(e)),
        }
    }
    Ok(if check.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn error_code(error: &anyhow::Error) -> &'static str {
    error.chain().find_map(|cause| cause.downcast_ref::<faceprint::Error>().map(|e| e.code())).unwrap_or("error")
}

pub(crate) fn models(action: ModelsCommand, args: &EngineArgs) -> Result<ExitCode> {
    let pack = ModelPack::default_pack();
    match action {
        ModelsCommand::List => {
            println!("pack {} from PyPI {}=={}", pack.name, pack.source.package, pack.source.version);
            println!("licence: {}", pack.licence);
            println!("cache: {}", pack.dir().display());
            let missing = pack.missing_files();
            for model in &pack.models {
                let state = if missing.contains(&model.file) { "missing" } else { "cached" };
                println!(
                    "  {:<18} {:<12} {:<8} {}",
                    model.name,
                    format!("{:?}", model.task).to_lowercase(),
                    state,
                    model.description
                );
            }
            for (runtime, what) in [
                (faceprint::RuntimeSpec::pinned(), "shared library"),
                (faceprint::RuntimeSpec::pinned_gpu(), "with the CUDA provider, for --device cuda"),
            ] {
                let state = if runtime.is_cached() { "cached" } else { "missing" };
                println!(
                    "  {:<18} {:<12} {:<8} ONNX Runtime {} {what}",
                    runtime.package, "runtime", state, runtime.version
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Fetch { from_wheel } => {
            match from_wheel {
                Some(wheel) => pack.install_from_wheel(&wheel)?,
                None => pack.ensure_fetched()?,
            };
            // Loading the runtime fetches it if needed and proves it works.
            let engine = EngineArgs { workers: Some(1), device: faceprint::Device::Cpu, ..args.clone() }.engine()?;
            println!("models in {}; ONNX Runtime ready; recogniser {}", pack.dir().display(), engine.model_id());
            // The CUDA build too when a GPU is meant; whether it works here, `faceprint info` says.
            if args.device != faceprint::Device::Cpu {
                let library = faceprint::RuntimeSpec::pinned_gpu().fetch()?;
                println!("ONNX Runtime with the CUDA provider in {}", library.parent().unwrap_or(&library).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify => {
            let mut bad = 0;
            for (file, result) in pack.verify() {
                match result {
                    Ok(()) => println!("ok       {file}"),
                    Err(e) => {
                        bad += 1;
                        println!("FAILED   {file}: {e}");
                    }
                }
            }
            Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
