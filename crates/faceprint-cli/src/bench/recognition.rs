//! `faceprint bench recognition`: the recogniser alone on aligned 112×112 crops, faces/s per
//! batch size, on the chosen device and (for a GPU) on the CPU of the same machine in the same run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use faceprint::{Device, FaceEngine};
use serde_json::json;

use crate::args::EngineArgs;
use crate::args::RecognitionBenchArgs;

pub fn run(engine_args: &EngineArgs, args: &RecognitionBenchArgs, quiet: bool) -> Result<ExitCode> {
    let mut photos = Vec::new();
    for input in &args.inputs {
        crate::bench::pipeline::collect_images(input, &mut photos)?;
    }
    photos.sort();
    photos.truncate(args.limit);
    let crops = aligned_crops(engine_args, photos, args.faces, quiet)?;
    let mut devices = vec![engine_args.device];
    if engine_args.device != Device::Cpu {
        devices.push(Device::Cpu);
    }
    let mut rows = Vec::new();
    println!("{:<10} {:>8} {:>12} {:>14}", "device", "batch", "faces/s", "ms per batch");
    for device in devices {
        for &batch in &args.batch {
            let engine =
                EngineArgs { device, max_batch: Some(batch.max(1)), no_landmarks: true, ..engine_args.clone() }
                    .engine()?;
            let median = time_passes(&engine, &crops, args.repeat.max(1))?;
            let faces_per_second = crops.len() as f64 / median.as_secs_f64();
            let runs = crops.len().div_ceil(batch.max(1) * engine.workers()) as f64;
            let target = engine.device().target.to_string();
            println!("{target:<10} {batch:>8} {faces_per_second:>12.0} {:>14.2}", median.as_secs_f64() * 1000.0 / runs);
            rows.push(json!({
                "device": target,
                "gpu": engine.device().gpu_name,
                "workers": engine.workers(),
                "batch": batch,
                "faces": crops.len(),
                "median_seconds": median.as_secs_f64(),
                "faces_per_second": faces_per_second,
            }));
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&json!({ "recognition": rows }))?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every face of the photos, aligned on the CPU once, repeated up to `count` crops.
fn aligned_crops(
    engine_args: &EngineArgs,
    photos: Vec<PathBuf>,
    count: usize,
    quiet: bool,
) -> Result<Vec<image::RgbImage>> {
    let engine = EngineArgs { device: Device::Cpu, no_landmarks: true, ..engine_args.clone() }.engine()?;
    let bar = crate::progress::bar(photos.len(), quiet, "aligning faces");
    let mut crops = Vec::new();
    engine.process_inputs_for_library(photos.into_iter().map(|p| (p, None)).collect(), |outcome| {
        bar.inc(1);
        if let Ok(faces) = outcome.result {
            crops.extend(faces.faces.into_iter().filter_map(|f| f.aligned));
        }
    });
    bar.finish_and_clear();
    if crops.is_empty() {
        bail!("no face found in the photos");
    }
    let found = crops.len();
    Ok(crops.into_iter().cycle().take(count.max(found)).collect())
}

fn time_passes(engine: &FaceEngine, crops: &[image::RgbImage], repeat: usize) -> Result<Duration> {
    let mut passes = Vec::with_capacity(repeat);
    for pass in 0..=repeat {
        let started = Instant::now();
        let embedded = engine.embed_aligned(crops)?;
        if embedded.len() != crops.len() {
            bail!("{} embeddings for {} crops", embedded.len(), crops.len());
        }
        if pass > 0 {
            passes.push(started.elapsed());
        }
    }
    passes.sort();
    Ok(passes[passes.len() / 2])
}
