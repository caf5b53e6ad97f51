//! `faceprint bench`: faceprint's speed, and InsightFace's Python pipeline on the same images
//! and model files in the same run, side by side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use faceprint::{Embedding, FaceEngine, FaceSelect, ModelId, ModelPack, StageTimes};
use faceprint_eval::{k_fold_accuracy, parse_lfw_pairs, score_pairs};
use serde::Deserialize;
use serde_json::json;

use crate::args::{BenchArgs, EngineArgs};

/// The reference pipeline, compiled in so `faceprint bench` needs no checkout.
const REFERENCE_SCRIPT: &str = include_str!("../../../../bench/insightface_reference.py");
const IMAGE_EXTENSIONS: [&str; 10] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "pgm", "ppm"];

pub fn run(engine_args: &EngineArgs, args: &BenchArgs, quiet: bool) -> Result<ExitCode> {
    let mut images = Vec::new();
    for input in &args.inputs {
        collect_images(input, &mut images)?;
    }
    images.sort();
    if let Some(limit) = args.limit {
        images.truncate(limit);
    }
    if images.is_empty() {
        bail!("no images found in the inputs");
    }
    let engine = engine_args.engine()?;
    eprintln!(
        "faceprint: {} images on the {}, {} workers × {} ORT thread(s){}",
        images.len(),
        engine.device(),
        engine.workers(),
        engine_args.threads,
        if engine.is_batched() { ", batched" } else { "" }
    );
    let ours = bench_faceprint(&engine, &images, args.repeat.max(1), quiet);
    // On a GPU, the CPU of the same machine in the same run, and the same answers checked.
    let on_cpu = if engine.device().target.is_gpu() {
        let cpu = EngineArgs { device: faceprint::Device::Cpu, ..engine_args.clone() }.engine()?;
        eprintln!("faceprint on the CPU: {} workers", cpu.workers());
        Some(bench_faceprint(&cpu, &images, args.repeat.max(1), quiet))
    } else {
        None
    };

    let reference = match &args.reference_python {
        Some(python) => Some(bench_reference(python, &images, args)?),
        None => None,
    };

    let mut report = json!({
        "images": images.len(),
        "device": engine.device().to_string(),
        "batched": engine.is_batched(),
        "faceprint": ours.to_json(images.len()),
    });
    let n = images.len() as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n;
    let mut columns: Vec<(String, [f64; 5])> = vec![(format!("faceprint {}", engine.device().target), ours.column(n))];
    if let Some(cpu) = &on_cpu {
        columns.push(("faceprint cpu".into(), cpu.column(n)));
        let agreement = agreement(&ours.first_pass_faces, &cpu.first_pass_faces);
        println!(
            "{} vs CPU: {} of {} images with the same face count; lowest cosine per face {:.5} over {} faces",
            engine.device().target,
            agreement.same_count,
            images.len(),
            agreement.min_cosine,
            agreement.faces
        );
        report["faceprint_cpu"] = cpu.to_json(images.len());
        report["device_vs_cpu"] = json!({
            "images_same_face_count": agreement.same_count,
            "min_cosine": agreement.min_cosine,
            "faces_compared": agreement.faces,
            "ratio_images_per_second": cpu.median.as_secs_f64() / ours.median.as_secs_f64(),
        });
    }
    if let Some(r) = &reference {
        let s = &r.stage_seconds;
        columns.push((
            "InsightFace".into(),
            [
                n / r.median_seconds,
                r.faces as f64 / r.median_seconds,
                s.decode * 1e3 / n,
                s.detect * 1e3 / n,
                s.recognize * 1e3 / n,
            ],
        ));
    }
    print!("{:<28}", "");
    for (label, _) in &columns {
        print!(" {label:>14}");
    }
    println!();
    let labels = ["images/s (median pass)", "faces/s", "ms/image decode", "ms/image detect", "ms/image align+embed"];
    for (row, label) in labels.iter().enumerate() {
        print!("{label:<28}");
        for (_, values) in &columns {
            print!(" {:>14.2}", values[row]);
        }
        println!();
    }
    let model = ours.times.detect_model + ours.times.embed_model;
    let overhead = ours.times.decode + ours.times.detect_other + ours.times.align + ours.times.embed_other;
    println!(
        "faceprint: in ONNX Runtime {:.2} ms/image (detector {:.2}, recogniser {:.2}); own work {:.2} ms/image = {:.1}% of model time",
        ms(model),
        ms(ours.times.detect_model),
        ms(ours.times.embed_model),
        ms(overhead),
        100.0 * overhead.as_secs_f64() / model.as_secs_f64().max(1e-9)
    );
    println!("  (stage times are summed over workers; images/s is wall-clock)");
    if let Some(r) = &reference {
        let ratio = r.median_seconds / ours.median.as_secs_f64();
        println!("speed ratio faceprint / InsightFace: {ratio:.2}x images/s");
        report["insightface"] = serde_json::to_value(r)?;
        report["ratio_images_per_second"] = json!(ratio);
    }
    if let Some(pairs) = &args.lfw_pairs {
        let (ours_acc, reference_acc) = lfw_accuracy(pairs, &ours.first_pass_embeddings, reference.as_ref())?;
        println!(
            "LFW 10-fold accuracy (this run): faceprint {:.2}%{}",
            ours_acc * 100.0,
            match reference_acc {
                Some(r) => format!(", InsightFace {:.2}%", r * 100.0),
                None => String::new(),
            }
        );
        report["lfw_accuracy"] = json!({ "faceprint": ours_acc, "insightface": reference_acc });
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn collect_images(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
            collect_images(&entry?.path(), out)?;
        }
    } else if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
    {
        out.push(path.to_path_buf());
    } else if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    Ok(())
}

struct OurRun {
    median: Duration,
    /// Stage times of the median pass.
    times: StageTimes,
    first_pass_embeddings: HashMap<PathBuf, Embedding>,
    /// Every face's embedding per image, in detection order, from the first pass.
    first_pass_faces: HashMap<PathBuf, Vec<Embedding>>,
}

impl OurRun {
    /// images/s, faces/s, and ms per image decoding, detecting, aligning and embedding.
    fn column(&self, images: f64) -> [f64; 5] {
        let seconds = self.median.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / images;
        let t = &self.times;
        [
            images / seconds,
            t.faces as f64 / seconds,
            ms(t.decode),
            ms(t.detect_model + t.detect_other),
            ms(t.align + t.embed_model + t.embed_other),
        ]
    }

    fn to_json(&self, images: usize) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / images as f64;
        json!({
            "median_seconds": self.median.as_secs_f64(),
            "faces": self.times.faces,
            "ms_per_image": {
                "decode": ms(self.times.decode),
                "detect_model": ms(self.times.detect_model),
                "detect_other": ms(self.times.detect_other),
                "align": ms(self.times.align),
                "embed_model": ms(self.times.embed_model),
                "embed_other": ms(self.times.embed_other),
            }
        })
    }
}

fn bench_faceprint(engine: &FaceEngine, images: &[PathBuf], repeat: usize, quiet: bool) -> OurRun {
    let mut first_pass_embeddings = HashMap::new();
    let mut first_pass_faces = HashMap::new();
    let mut passes: Vec<(Duration, StageTimes)> = Vec::new();
    for pass in 0..=repeat {
        let bar = crate::progress::bar(images.len(), quiet, if pass == 0 { "faceprint warm-up" } else { "faceprint" });
        let mut times = StageTimes::default();
        let started = Instant::now();
        engine.process_inputs(images.iter().map(|p| (p.clone(), None)).collect(), FaceSelect::All, true, |outcome| {
            bar.inc(1);
            times += outcome.times;
            if pass == 0
                && let Ok(faces) = &outcome.result
            {
                let all = faces.faces.iter().filter_map(|f| f.embedding.clone()).collect();
                first_pass_faces.insert(outcome.path.clone(), all);
                // The centred face, as `eval lfw` picks it.
                let detections = faces.faces.iter().map(|f| f.detection.clone()).collect();
                if let Some(centre) = FaceSelect::Center.apply(detections, faces.width, faces.height).first()
                    && let Some(face) = faces.faces.iter().find(|f| f.detection == *centre)
                    && let Some(embedding) = &face.embedding
                {
                    first_pass_embeddings.insert(outcome.path.clone(), embedding.clone());
                }
            }
        });
        bar.finish_and_clear();
        if pass > 0 {
            passes.push((started.elapsed(), times));
        }
    }
    passes.sort_by_key(|p| p.0);
    let (median, times) = passes[passes.len() / 2];
    OurRun { median, times, first_pass_embeddings, first_pass_faces }
}

struct Agreement {
    same_count: usize,
    faces: usize,
    min_cosine: f32,
}

/// How closely two runs over the same images agree: images with the same number of faces, and
/// over their faces the lowest cosine between each face and its closest counterpart.
fn agreement(a: &HashMap<PathBuf, Vec<Embedding>>, b: &HashMap<PathBuf, Vec<Embedding>>) -> Agreement {
    let mut result = Agreement { same_count: 0, faces: 0, min_cosine: 1.0 };
    for (path, faces) in a {
        let Some(others) = b.get(path).filter(|others| others.len() == faces.len()) else {
            continue;
        };
        result.same_count += 1;
        for face in faces {
            let best = others.iter().filter_map(|o| face.similarity(o)).fold(f32::MIN, f32::max);
            result.min_cosine = result.min_cosine.min(best);
            result.faces += 1;
        }
    }
    result
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct ReferenceStages {
    decode: f64,
    detect: f64,
    recognize: f64,
}

#[derive(Debug, Deserialize, serde::Serialize)]
struct ReferenceRun {
    images: usize,
    faces: usize,
    wall_seconds: Vec<f64>,
    median_seconds: f64,
    stage_seconds: ReferenceStages,
    onnxruntime: String,
    /// The centred face's embedding per image; not part of the report.
    #[serde(skip)]
    embeddings: HashMap<PathBuf, Embedding>,
}

fn bench_reference(python: &Path, images: &[PathBuf], args: &BenchArgs) -> Result<ReferenceRun> {
    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let script = scratch.path().join("insightface_reference.py");
    std::fs::write(&script, REFERENCE_SCRIPT)?;
    let list = scratch.path().join("images.txt");
    std::fs::write(&list, images.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n"))?;
    let embeddings = scratch.path().join("embeddings.jsonl");
    let pack = ModelPack::default_pack();
    eprintln!("InsightFace reference: {} images through {}", images.len(), python.display());
    let output = Command::new(python)
        .arg(&script)
        .arg("--models")
        .arg(pack.dir())
        .arg("--list")
        .arg(&list)
        .args(["--repeat", &args.repeat.max(1).to_string()])
        .args(["--threads", &args.reference_threads.to_string()])
        .args(["--det-size", &args.reference_det_size.to_string()])
        .arg("--embeddings")
        .arg(&embeddings)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("the reference pipeline failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().context("the reference printed nothing")?;
    let mut run: ReferenceRun = serde_json::from_str(last).context("parsing the reference's report")?;
    #[derive(Deserialize)]
    struct Line {
        path: PathBuf,
        embedding: Option<Vec<f32>>,
    }
    for line in std::fs::read_to_string(&embeddings)?.lines() {
        let line: Line = serde_json::from_str(line)?;
        if let Some(e) = line.embedding {
            run.embeddings.insert(line.path, Embedding::from_raw(ModelId("insightface".into()), e));
        }
    }
    Ok(run)
}

fn lfw_accuracy(
    pairs_path: &Path,
    ours: &HashMap<PathBuf, Embedding>,
    reference: Option<&ReferenceRun>,
) -> Result<(f64, Option<f64>)> {
    let root = pairs_path.parent().unwrap_or(Path::new(".")).join("images");
    let text = std::fs::read_to_string(pairs_path).with_context(|| format!("reading {}", pairs_path.display()))?;
    let pairs = parse_lfw_pairs(&text, &root).map_err(anyhow::Error::msg)?;
    let accuracy = |embeddings| k_fold_accuracy(&score_pairs(&pairs, embeddings), 10).0;
    Ok((accuracy(ours), reference.map(|r| accuracy(&r.embeddings))))
}
