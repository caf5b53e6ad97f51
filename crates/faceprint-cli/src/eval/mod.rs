//! `faceprint eval …`: accuracy on labelled benchmarks (LFW pairs, identification, quality,
//! the enrolment gate, clustering), computed by the faceprint-eval crate.

pub(crate) mod cluster;
pub(crate) mod gate;
pub(crate) mod plot;
pub(crate) mod quality;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use faceprint::FaceSelect;
use faceprint_eval::{k_fold_accuracy, pair_images, parse_lfw_pairs, roc_auc, roc_curve, score_pairs, tar_at_far};

use crate::args::{EngineArgs, ProtocolArg};
use crate::progress;

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

pub(crate) fn eval_lfw(
    args: &EngineArgs,
    pairs_path: &Path,
    root: &Path,
    plot: Option<&Path>,
    json: bool,
    select: FaceSelect,
    quiet: bool,
) -> Result<ExitCode> {
    let pairs = read_lfw_pairs(pairs_path, root)?;
    let engine = args.engine()?;
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
        crate::eval::plot::write_roc_png(path, &title, &roc)?;
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

pub(crate) fn eval_identify(
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
    let engine = args.engine()?;
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
