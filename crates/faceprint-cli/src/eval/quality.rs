//! `faceprint eval quality`: does the quality score predict verification errors? The
//! error-versus-discard characteristic on labelled pairs, for the combined score and each part.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use faceprint::{Embedding, FaceSelect};
use faceprint_eval::quality::{
    EdcPoint, QUALITY_MEASURES, QualityPair, edc_area, error_versus_discard, quality_measures, threshold_at_fmr,
};
use faceprint_eval::{pair_images, score_pairs};

use crate::args::EngineArgs;
use crate::eval::read_lfw_pairs;
use crate::progress;

/// Options of `eval quality`.
#[derive(Debug)]
pub struct QualityEvalArgs<'a> {
    pub pairs: &'a Path,
    pub root: &'a Path,
    pub fmr: f64,
    pub max_discard: f64,
    pub plot: Option<&'a Path>,
    pub json: bool,
    pub select: FaceSelect,
}

/// One measure's curve and area.
#[derive(Debug, serde::Serialize)]
struct MeasureReport {
    measure: String,
    area: f64,
    curve: Vec<EdcPoint>,
}

pub fn run(engine_args: &EngineArgs, args: &QualityEvalArgs<'_>, quiet: bool) -> Result<ExitCode> {
    let pairs = read_lfw_pairs(args.pairs, args.root)?;
    if !(0.0..1.0).contains(&args.fmr) || !(0.0..1.0).contains(&args.max_discard) {
        bail!("--fmr and --max-discard are fractions in [0, 1)");
    }
    let engine = engine_args.engine()?;
    let images = pair_images(&pairs);
    let bar = progress::bar(images.len(), quiet, "analysing");
    let mut embeddings: HashMap<PathBuf, Embedding> = HashMap::new();
    let mut measures: HashMap<PathBuf, [Option<f32>; 9]> = HashMap::new();
    engine.process_inputs_analysed(images.iter().map(|p| (p.clone(), None)).collect(), args.select, |o| {
        bar.inc(1);
        let Ok(faces) = o.result else { return };
        if let Some(face) = faces.faces.first()
            && let (Some(embedding), Some(analysis)) = (&face.embedding, &face.analysis)
        {
            embeddings.insert(o.path.clone(), embedding.clone());
            measures.insert(o.path, quality_measures(analysis));
        }
    });
    bar.finish_and_clear();
    let scores = score_pairs(&pairs, &embeddings);
    let pair_quality = |i: usize, m: usize| {
        let (a, b) = (measures.get(&pairs[i].left)?[m]?, measures.get(&pairs[i].right)?[m]?);
        Some(a.min(b))
    };
    let with_quality = |m: usize| -> Vec<QualityPair> {
        scores.iter().enumerate().map(|(i, s)| QualityPair { score: *s, quality: pair_quality(i, m) }).collect()
    };
    let threshold =
        threshold_at_fmr(&with_quality(0), args.fmr).context("the pairs include no different-person pair")?;
    let step = 0.01;
    let mut reports: Vec<MeasureReport> = QUALITY_MEASURES
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let curve = error_versus_discard(&with_quality(m), threshold, args.max_discard, step);
            MeasureReport { measure: name.to_string(), area: edc_area(&curve), curve }
        })
        .collect();
    // The best any measure could do: discard the mated pairs in order of their similarity.
    let oracle: Vec<QualityPair> = scores.iter().map(|s| QualityPair { score: *s, quality: s.similarity }).collect();
    let oracle_curve = error_versus_discard(&oracle, threshold, args.max_discard, step);
    let oracle_area = edc_area(&oracle_curve);
    let start = reports[0].curve.first().map_or(0.0, |p| p.fnmr);
    let flat_area = start * args.max_discard;
    if let Some(path) = args.plot {
        let mut curves: Vec<(String, Vec<EdcPoint>)> =
            reports.iter().map(|r| (format!("{} ({:.5})", r.measure, r.area), r.curve.clone())).collect();
        curves.push((format!("oracle ({oracle_area:.5})"), oracle_curve.clone()));
        let title = format!("EDC at FMR {:.1}% (threshold {threshold:.3}), {} pairs", args.fmr * 100.0, scores.len());
        crate::eval::plot::write_edc_png(path, &title, &curves)?;
    }
    let best = reports.iter().min_by(|a, b| a.area.total_cmp(&b.area)).map(|r| r.measure.clone());
    if args.json {
        let report = serde_json::json!({
            "pairs": scores.len(),
            "fmr": args.fmr,
            "threshold": threshold,
            "fnmr_at_start": start,
            "flat_area": flat_area,
            "oracle_area": oracle_area,
            "best": best,
            "measures": reports,
        });
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Error versus discard on {} pairs: threshold {threshold:.3} at FMR {:.1}%, FNMR {:.2}% before discarding",
        scores.len(),
        args.fmr * 100.0,
        start * 100.0
    );
    println!("  area under FNMR from 0 to {:.0}% discarded (smaller is better):", args.max_discard * 100.0);
    reports.sort_by(|a, b| a.area.total_cmp(&b.area));
    for r in &reports {
        let at = |x: f64| r.curve.iter().find(|p| (p.discarded - x).abs() < 1e-9).map_or(f64::NAN, |p| p.fnmr * 100.0);
        println!(
            "    {:<15} {:.5}   FNMR {:.2}% → {:.2}% (10%) → {:.2}% ({:.0}%)",
            r.measure,
            r.area,
            at(0.0),
            at(0.1),
            at(args.max_discard),
            args.max_discard * 100.0
        );
    }
    println!("    {:<15} {flat_area:.5}   (a measure that predicts nothing)", "flat");
    println!("    {:<15} {oracle_area:.5}   (discarding by the similarity itself: the floor)", "oracle");
    Ok(ExitCode::SUCCESS)
}
