use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use faceprint::{DecodeLimits, DetectOptions, FaceEngine, FaceSelect, InputSizing, ModelPack, RuntimeOptions};
use faceprint_eval::{k_fold_accuracy, pair_images, parse_lfw_pairs, roc_auc, roc_curve, score_pairs, tar_at_far};

use crate::cli::{BenchCommand, Cli, Command, EngineArgs, EvalCommand, ModelsCommand, PhotoArgs, ProtocolArg};
use crate::gallery_cmd::{self, open_store};
use crate::output::{CompareRecord, image_record};
use crate::progress;

pub fn run(mut cli: Cli) -> Result<ExitCode> {
    let quiet = cli.quiet;
    if let Some(engine) = cli.command.engine_args_mut() {
        engine.device = cli.device;
    }
    match cli.command {
        Command::Detect { photos, engine } => detect_or_embed(&engine, photos, Work::Detect, quiet),
        Command::Embed { files, json, select, engine } => {
            let photos = PhotoArgs { files, json, draw: None, select };
            detect_or_embed(&engine, photos, Work::Embed, quiet)
        }
        Command::Analyze { photos, engine } => detect_or_embed(&engine, photos, Work::Analyse, quiet),
        Command::Compare { a, b, json, select, engine } => compare(&engine, &a, &b, select.into(), json),
        Command::Eval { benchmark: EvalCommand::Lfw { pairs, root, plot, json, select }, engine } => {
            eval_lfw(&engine, &pairs, &root, plot.as_deref(), json, select.into(), quiet)
        }
        Command::Eval {
            benchmark: EvalCommand::Quality { pairs, root, fmr, max_discard, plot, json, select },
            engine,
        } => {
            let args = crate::eval_quality::QualityEvalArgs {
                pairs: &pairs,
                root: &root,
                fmr,
                max_discard,
                plot: plot.as_deref(),
                json,
                select: select.into(),
            };
            crate::eval_quality::run(&engine, &args, quiet)
        }
        Command::Eval {
            benchmark: EvalCommand::Gate { root, fmr, max_discard, bootstrap, plot, json, select },
            engine,
        } => {
            let args = crate::eval_gate::GateEvalArgs {
                roots: &root,
                fmrs: &fmr,
                max_discard,
                resamples: bootstrap,
                plot: plot.as_deref(),
                json,
                select: select.into(),
            };
            crate::eval_gate::run(&engine, &args, quiet)
        }
        Command::Eval { benchmark: EvalCommand::Cluster { root, all_faces, sheet, json, cluster }, engine } => {
            let args = crate::eval_cluster::ClusterEvalArgs { root, sheet, all_faces, json, params: cluster.into() };
            crate::eval_cluster::run(&engine, &args, quiet)
        }
        Command::Eval { benchmark: EvalCommand::Identify { protocol, root, json, select, force }, engine } => {
            let gate = (!force).then(faceprint::analysis::QualityGate::default);
            eval_identify(&engine, protocol, &root, json, select.into(), gate, quiet)
        }
        Command::Enroll { subject, list, files, select, min_score, min_size, force, min_quality, refuse, engine } => {
            let gate = faceprint::analysis::QualityGate {
                min_score: min_quality,
                refuse: faceprint::analysis::IssueSet::of(&refuse),
                ..Default::default()
            };
            let policy = faceprint::EnrolPolicy {
                select: select.into(),
                min_detection_score: min_score,
                min_face_size: min_size,
                quality_gate: (!force).then_some(gate),
            };
            let gallery = open_store(&cli.gallery)?.gallery;
            let engine = build_engine(&engine)?;
            gallery_cmd::enroll(&engine, &*gallery, &cli.gallery.collection, subject, list, files, policy, quiet)
        }
        Command::Identify { files, json, top_k, engine } => {
            let gallery = open_store(&cli.gallery)?.gallery;
            let engine = build_engine(&engine)?;
            gallery_cmd::identify(&engine, &*gallery, &cli.gallery.collection, files, json, top_k, quiet)
        }
        Command::Verify { subject, probe, json, select, engine } => {
            let gallery = open_store(&cli.gallery)?.gallery;
            let engine = build_engine(&engine)?;
            gallery_cmd::verify(&engine, &*gallery, &cli.gallery.collection, &subject, &probe, select.into(), json)
        }
        Command::Subjects { action } => {
            gallery_cmd::subjects(&*open_store(&cli.gallery)?.gallery, &cli.gallery.collection, action)
        }
        Command::Faces { action } => {
            gallery_cmd::faces(&*open_store(&cli.gallery)?.gallery, &cli.gallery.collection, action)
        }
        Command::Collections { action } => gallery_cmd::collections(&*open_store(&cli.gallery)?.gallery, action),
        Command::Gallery { action: crate::cli::GalleryCommand::Copy { from, to, json } } => {
            gallery_cmd::copy(&from, &to, &cli.gallery, json)
        }
        Command::Export { out } => {
            let store = open_store(&cli.gallery)?;
            crate::transfer::export(&*store.gallery, store.library.as_deref(), &out)
        }
        Command::Import { input } => {
            let store = open_store(&cli.gallery)?;
            crate::transfer::import(&*store.gallery, store.library.as_deref(), &input)
        }
        Command::Reembed { engine } => {
            let gallery = open_store(&cli.gallery)?.gallery;
            gallery_cmd::reembed(&build_engine(&engine)?, &*gallery, quiet)
        }
        Command::Models { action, engine } => models(action, &engine),
        Command::Bench { what: BenchCommand::Pipeline(args), engine } => crate::bench::run(&engine, &args, quiet),
        Command::Bench { what: BenchCommand::Recognition(args), engine } => {
            crate::bench_recognition::run(&engine, &args, quiet)
        }
        Command::Bench { what: BenchCommand::Search(args), engine } => crate::bench_search::run(&engine, &args),
        Command::Bench { what: BenchCommand::Serve(args), .. } => crate::bench_serve::run(&args),
        Command::Bench { what: BenchCommand::Stores(args), engine } => crate::bench_stores::run(&engine, &args),
        Command::Bench { what: BenchCommand::Cluster(args), engine } => crate::bench_cluster::run(&engine, &args),
        Command::Bench { what: BenchCommand::Library(args), engine } => crate::bench_library::run(&engine, &args),
        Command::Demo { out, engine } => demo(&engine, &out),
        Command::Info { engine, json } => crate::info::run(&engine, json),
        Command::Library { action } => crate::library_cmd::run(&open_store(&cli.gallery)?, action, quiet),
        Command::Keys { action } => crate::serve_cmd::keys(&*open_store(&cli.gallery)?.keys, action),
        Command::Serve { listen, max_body_mb, queue, timeout_s, engine } => {
            let config = faceprint_server::ServerConfig {
                max_body_bytes: max_body_mb << 20,
                request_timeout: std::time::Duration::from_secs(timeout_s),
                queue_capacity: queue,
                ..faceprint_server::ServerConfig::default()
            };
            let store = open_store(&cli.gallery)?;
            crate::serve_cmd::serve(build_server_engine(&engine)?, store, &listen, config)
        }
    }
}

/// The server's engine: lower image limits and a face cap per image unless the flags say
/// otherwise, because many requests decode and embed at once.
fn build_server_engine(args: &EngineArgs) -> Result<FaceEngine> {
    let args = EngineArgs { max_faces: Some(args.max_faces.unwrap_or(SERVER_MAX_FACES)), ..args.clone() };
    engine_with_limits(&args, DecodeLimits::server())
}

/// Faces per image the server embeds and answers with, by default.
const SERVER_MAX_FACES: usize = 50;

pub fn build_engine(args: &EngineArgs) -> Result<FaceEngine> {
    engine_with_limits(args, DecodeLimits::default())
}

/// `limits`, with `--max-megapixels` in place of its pixel limit when given.
fn engine_with_limits(args: &EngineArgs, limits: DecodeLimits) -> Result<FaceEngine> {
    let limits = match args.max_megapixels {
        Some(megapixels) => DecodeLimits { max_pixels: (megapixels * 1e6) as u64, ..limits },
        None => limits,
    };
    let sizing = match args.det_size.as_str() {
        "auto" => DetectOptions::default().sizing,
        side => {
            let side: u32 =
                side.parse().with_context(|| format!("--det-size {side:?}: use auto or a number like 640"))?;
            if side < 32 || !side.is_multiple_of(32) {
                bail!("--det-size must be a multiple of 32, at least 32");
            }
            InputSizing::Fixed { width: side, height: side }
        }
    };
    let detect = DetectOptions {
        score_threshold: args.det_threshold,
        min_face_size: args.min_face,
        max_faces: args.max_faces,
        sizing,
        second_pass: !args.no_second_pass,
        ..DetectOptions::default()
    };
    let mut builder = FaceEngine::builder()
        .threads_per_worker(args.threads)
        .flip(args.flip && !args.no_flip)
        .detect_options(detect)
        .decode_limits(limits)
        .runtime(RuntimeOptions { library: args.ort_lib.clone() })
        .device(args.device);
    if let Some(workers) = args.workers {
        builder = builder.workers(workers);
    }
    if let Some(max_batch) = args.max_batch {
        builder = builder.max_batch(max_batch);
    }
    if let Some(batched) = args.batched {
        builder = builder.batched(batched);
    }
    if let Some(path) = &args.detector {
        builder = builder.detector_path(path);
    }
    if let Some(path) = &args.recognizer {
        builder = builder.recognizer_path(path);
    }
    if let Some(path) = &args.landmarker {
        builder = builder.landmarker_path(path);
    }
    builder = builder.landmarks(!args.no_landmarks);
    if let Some(threshold) = args.threshold {
        builder = builder.recognizer_threshold(threshold);
    }
    if let Some(threshold) = args.identify_threshold {
        builder = builder.identify_threshold(threshold);
    }
    if let Some(fpir) = args.identify_fpir {
        builder = builder.identify_fpir(fpir);
    }
    let engine = builder.commit()?;
    if engine.device().requested == faceprint::Device::Auto {
        eprintln!("faceprint: --device auto: running on the {}", engine.device());
    }
    Ok(engine)
}

/// Reads "-" from standard input (bounded), leaves files to the workers.
pub(crate) fn inputs(files: Vec<PathBuf>, max_bytes: u64) -> Result<Vec<(PathBuf, Option<Vec<u8>>)>> {
    let mut stdin_used = false;
    files
        .into_iter()
        .map(|path| {
            if path.as_os_str() != "-" {
                return Ok((path, None));
            }
            if std::mem::replace(&mut stdin_used, true) {
                bail!("\"-\" (standard input) may be given only once");
            }
            let mut bytes = Vec::new();
            std::io::stdin().take(max_bytes + 1).read_to_end(&mut bytes).context("reading standard input")?;
            Ok((path, Some(bytes)))
        })
        .collect()
}

/// How far `detect`, `embed` and `analyze` take each face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Detect,
    Embed,
    Analyse,
}

fn detect_or_embed(args: &EngineArgs, photos: PhotoArgs, work: Work, quiet: bool) -> Result<ExitCode> {
    let PhotoArgs { files, json, draw, select } = photos;
    let select = FaceSelect::from(select);
    let engine = build_engine(args)?;
    let inputs = inputs(files, engine.decode_limits().max_bytes)?;
    let several = inputs.len() > 1;
    if let (Some(dir), true) = (&draw, several) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Standard input can be read only once: keep its bytes for drawing.
    let stdin_bytes = draw.as_ref().and_then(|_| inputs.iter().find_map(|(_, bytes)| bytes.clone()));
    let label = match work {
        Work::Detect => "detecting",
        Work::Embed => "embedding",
        Work::Analyse => "analysing",
    };
    let bar = progress::bar(inputs.len(), quiet, label);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut write_error = None;
    let on_result = |outcome: faceprint::FileOutcome| {
        bar.inc(1);
        if outcome.result.is_err() {
            failed += 1;
        }
        if let (Some(target), Ok(faces)) = (&draw, &outcome.result)
            && let Err(e) = draw_to(&engine, &outcome.path, stdin_bytes.as_deref(), faces, target, several)
        {
            bar.suspend(|| eprintln!("faceprint: could not draw {}: {e:#}", outcome.path.display()));
        }
        let written = match (json, work) {
            (true, _) => {
                let record = image_record(&outcome.path, &outcome.result, work == Work::Embed);
                serde_json::to_writer(&mut out, &record).map_err(std::io::Error::other).and_then(|_| writeln!(out))
            }
            (false, Work::Analyse) => crate::analyze_cmd::write_human(&mut out, &outcome.path, &outcome.result),
            (false, _) => write_human(&mut out, &outcome.path, &outcome.result),
        };
        if let Err(e) = written.and_then(|_| out.flush()) {
            write_error.get_or_insert(e);
        }
    };
    match work {
        Work::Analyse => engine.process_inputs_analysed(inputs, select, on_result),
        _ => engine.process_inputs(inputs, select, work == Work::Embed, on_result),
    }
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e).context("writing output");
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn write_human(
    out: &mut impl Write,
    path: &Path,
    result: &Result<faceprint::ImageFaces, faceprint::Error>,
) -> std::io::Result<()> {
    match result {
        Ok(image) => {
            writeln!(out, "{}: {}x{}, {} face(s)", path.display(), image.width, image.height, image.faces.len())?;
            for (i, face) in image.faces.iter().enumerate() {
                let b = face.detection.bbox;
                write!(
                    out,
                    "  #{i} box [{:.0}, {:.0}, {:.0}, {:.0}] score {:.3}",
                    b.x1, b.y1, b.x2, b.y2, face.detection.score
                )?;
                if let Some(e) = &face.embedding {
                    write!(out, " embedding {}-d norm {:.2}", e.dims(), e.raw_norm)?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
        Err(e) => writeln!(out, "{}: error [{}]: {e}", path.display(), e.code()),
    }
}

/// Draws onto the decoded image and writes it to `target` (a file, or with several inputs a
/// directory receiving `<stem>.faces.png`). `stdin` holds the bytes of "-".
fn draw_to(
    engine: &FaceEngine,
    source: &Path,
    stdin: Option<&[u8]>,
    faces: &faceprint::ImageFaces,
    target: &Path,
    into_dir: bool,
) -> Result<()> {
    let bytes = match stdin {
        Some(bytes) if source.as_os_str() == "-" => bytes.to_vec(),
        _ => std::fs::read(source).with_context(|| format!("reading {}", source.display()))?,
    };
    let mut image = engine.decode(&bytes)?;
    let detections: Vec<_> = faces.faces.iter().map(|f| f.detection.clone()).collect();
    faceprint::draw::draw_faces(&mut image, &detections);
    crate::analyze_cmd::draw_analysis(&mut image, faces);
    let path = if into_dir {
        let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        target.join(format!("{stem}.faces.png"))
    } else {
        target.to_path_buf()
    };
    image.save(&path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn compare(args: &EngineArgs, a: &Path, b: &Path, select: FaceSelect, json: bool) -> Result<ExitCode> {
    let engine = build_engine(args)?;
    let inputs = inputs(vec![a.to_path_buf(), b.to_path_buf()], engine.decode_limits().max_bytes)?;
    let mut results = Vec::new();
    engine.process_inputs(inputs, select, true, |o| results.push(o));
    let mut embeddings = Vec::new();
    for outcome in results {
        let faces = match outcome.result {
            // A read error names the file already.
            Err(error @ faceprint::Error::Read { .. }) => return Err(error.into()),
            result => result.with_context(|| format!("{}", outcome.path.display()))?,
        };
        let embedding = faces.embedding(0).with_context(|| format!("{}", outcome.path.display()))?.clone();
        embeddings.push(embedding);
    }
    let verdict = engine.compare(&embeddings[0], &embeddings[1])?;
    if json {
        let record = CompareRecord::from(verdict);
        println!("{}", serde_json::to_string(&record)?);
    } else {
        let answer = if verdict.same { "same person" } else { "different people" };
        println!("similarity {:.4} (threshold {:.2}): {answer}", verdict.similarity, verdict.threshold);
    }
    Ok(if verdict.same { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// An LFW-style `pairs.txt` with its images under `root`; none is an error.
pub(crate) fn read_lfw_pairs(pairs_path: &Path, root: &Path) -> Result<Vec<faceprint_eval::LfwPair>> {
    let text = std::fs::read_to_string(pairs_path).with_context(|| format!("reading {}", pairs_path.display()))?;
    let pairs = parse_lfw_pairs(&text, root)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("parsing {}", pairs_path.display()))?;
    if pairs.is_empty() {
        bail!("{} lists no pairs", pairs_path.display());
    }
    Ok(pairs)
}

fn eval_lfw(
    args: &EngineArgs,
    pairs_path: &Path,
    root: &Path,
    plot: Option<&Path>,
    json: bool,
    select: FaceSelect,
    quiet: bool,
) -> Result<ExitCode> {
    let pairs = read_lfw_pairs(pairs_path, root)?;
    let engine = build_engine(args)?;
    // Each image once, even when it appears in several pairs.
    let images = pair_images(&pairs);
    let bar = progress::bar(images.len(), quiet, "embedding");
    let started = std::time::Instant::now();
    let mut embeddings = std::collections::HashMap::new();
    let mut failures = Vec::new();
    engine.process_inputs(images.iter().map(|p| (p.clone(), None)).collect(), select, true, |o| {
        bar.inc(1);
        match o.result.and_then(|faces| faces.embedding(0).cloned()) {
            Ok(e) => {
                embeddings.insert(o.path, e);
            }
            Err(e) => failures.push((o.path, e.code())),
        }
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let scores = score_pairs(&pairs, &embeddings);
    let (mean, std, _) = k_fold_accuracy(&scores, 10);
    let threshold = engine.threshold();
    let at_threshold = faceprint_eval::accuracy_at(&scores, threshold);
    let (best_t, best_acc) = faceprint_eval::best_threshold(&scores);
    let roc = roc_curve(&scores);
    let auc = roc_auc(&roc);
    let tar2 = tar_at_far(&scores, 1e-2);
    let tar3 = tar_at_far(&scores, 1e-3);
    let failed_pairs = scores.iter().filter(|s| s.similarity.is_none()).count();
    if let Some(path) = plot {
        let title = format!("{} on {} pairs: 10-fold accuracy {:.2}%", engine.model_id(), scores.len(), mean * 100.0);
        crate::plot::write_roc_png(path, &title, &roc)?;
    }
    let report = serde_json::json!({
        "pairs": scores.len(),
        "images": images.len(),
        "images_without_face": failures.len(),
        "pairs_failed": failed_pairs,
        "model": engine.model_id().to_string(),
        "accuracy_10fold": mean,
        "accuracy_10fold_std": std,
        "threshold": threshold,
        "accuracy_at_threshold": at_threshold,
        "best_threshold": best_t,
        "accuracy_at_best_threshold": best_acc,
        "tar_at_far_1e-2": tar2.tar,
        "tar_at_far_1e-3": tar3.tar,
        "roc_auc": auc,
        "seconds": elapsed.as_secs_f64(),
    });
    if json {
        println!("{report}");
    } else {
        println!("LFW verification, {} pairs ({} images) with {}", scores.len(), images.len(), engine.model_id());
        println!("  10-fold accuracy          {:.2}% ± {:.2}", mean * 100.0, std * 100.0);
        println!("  accuracy at threshold {threshold:.2}  {:.2}%", at_threshold * 100.0);
        println!("  best threshold            {best_t:.3} ({:.2}%, tuned on these pairs)", best_acc * 100.0);
        println!("  TAR @ FAR 1e-2            {:.2}%", tar2.tar * 100.0);
        println!("  TAR @ FAR 1e-3            {:.2}%", tar3.tar * 100.0);
        println!("  ROC AUC                   {auc:.5}");
        println!("  images without a face     {} (pairs failed: {failed_pairs}, counted as errors)", failures.len());
        for (path, code) in &failures {
            println!("    {} [{code}]", path.display());
        }
        println!(
            "  time                      {:.1} s ({:.1} images/s)",
            elapsed.as_secs_f64(),
            images.len() as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn models(action: ModelsCommand, args: &EngineArgs) -> Result<ExitCode> {
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
            let engine =
                build_engine(&EngineArgs { workers: Some(1), device: faceprint::Device::Cpu, ..args.clone() })?;
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

fn demo(args: &EngineArgs, out: &Path) -> Result<ExitCode> {
    let engine = build_engine(args)?;
    let pack = ModelPack::default_pack();
    let players = pack.path_of("players.jpg");
    let faces = engine.faces_in_file(&players, FaceSelect::All, true)?;
    println!("{}: {}x{}, {} faces found", players.display(), faces.width, faces.height, faces.faces.len());
    let mut image = engine.decode(&std::fs::read(&players)?)?;
    let detections: Vec<_> = faces.faces.iter().map(|f| f.detection.clone()).collect();
    faceprint::draw::draw_faces(&mut image, &detections);
    image.save(out).with_context(|| format!("writing {}", out.display()))?;
    println!("boxes and landmarks drawn to {}", out.display());
    // Who in the team photo is the man in the portrait? (Both photos ship with the pack.)
    let portrait = engine.faces_in_file(&pack.path_of("yaoming.jpg"), FaceSelect::Largest, true)?;
    let probe = portrait.embedding(0)?;
    let mut ranked: Vec<(f32, &faceprint::Face)> = faces
        .faces
        .iter()
        .filter_map(|f| Some((engine.compare(probe, f.embedding.as_ref()?).ok()?.similarity, f)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("yaoming.jpg against the {} faces of the team photo (threshold {:.2}):", ranked.len(), engine.threshold());
    for (similarity, face) in ranked.iter().take(3) {
        let b = face.detection.bbox;
        let verdict = if *similarity >= engine.threshold() { "same person" } else { "someone else" };
        println!(
            "  face at [{:.0}, {:.0}, {:.0}, {:.0}]  similarity {similarity:.3}  {verdict}",
            b.x1, b.y1, b.x2, b.y2
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn eval_identify(
    args: &EngineArgs,
    protocol: ProtocolArg,
    root: &Path,
    json: bool,
    select: FaceSelect,
    gate: Option<faceprint::analysis::QualityGate>,
    quiet: bool,
) -> Result<ExitCode> {
    use faceprint_eval::identification::{lfw_protocol, orl_protocol};
    let protocol = match protocol {
        ProtocolArg::Orl => orl_protocol(root)?,
        ProtocolArg::Lfw => lfw_protocol(root)?,
    };
    if protocol.enrol.is_empty() || protocol.probes.is_empty() {
        bail!("{} holds no gallery photos or no probes for this protocol", root.display());
    }
    let engine = build_engine(args)?;
    // A real gallery file, in a temporary folder: the evaluation runs through the store.
    let dir = tempfile::tempdir()?;
    let gallery =
        faceprint::SqliteGallery::builder().index(faceprint::IndexKind::Exact).open(dir.path().join("eval.db"))?;
    let bar = progress::bar(protocol.enrol.len() + protocol.probes.len(), quiet, "enrol, then identify");
    let (report, _) = faceprint_eval::identification::evaluate_identification(
        &engine,
        &gallery,
        faceprint::DEFAULT_COLLECTION,
        &protocol,
        select,
        gate,
        |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "subjects enrolled {} ({} photos refused), probes {} ({} without a face)",
            report.enrolled_subjects,
            report.enrolment_failures.len(),
            report.probes,
            report.probes_without_face
        );
        println!("rank-1 {:.2}%", report.rank1 * 100.0);
        println!(
            "TPIR at FPIR 1%: {:.2}% (threshold {:.3})",
            report.tpir_at_fpir_1pct * 100.0,
            report.threshold_at_fpir_1pct
        );
        println!(
            "at the identification threshold {:.2}: TPIR {:.2}%, FPIR {:.2}%",
            report.engine_threshold,
            report.tpir_at_engine_threshold * 100.0,
            report.fpir_at_engine_threshold * 100.0
        );
        for (path, reason) in &report.enrolment_failures {
            println!("  refused {}: {reason}", path.display());
        }
        println!("rank-1 of probes whose subject's enrolled photo breaks a gate rule, against the rest:");
        for e in report.rule_effects.iter().filter(|e| e.probes > 0) {
            println!(
                "  {:<14} {:>4} probes  {:.2}% vs {:.2}%  loss {:+.2} [{:+.2}, {:+.2}] points",
                e.issue.to_string(),
                e.probes,
                e.rank1_flagged * 100.0,
                e.rank1_other * 100.0,
                e.loss.estimate * 100.0,
                e.loss.low * 100.0,
                e.loss.high * 100.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
