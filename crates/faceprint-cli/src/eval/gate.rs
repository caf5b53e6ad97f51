//! `faceprint eval gate`: the evidence behind the quality score and the enrolment gate, on every
//! pair of one or more folders of labelled photos (one subfolder per person). The people are
//! split into two halves by name: the recipe is chosen on half A and its areas are reported on
//! half B, where it was not chosen; each rule of the gate gets its effect on false non-matches
//! with a bootstrap interval.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use faceprint::FaceSelect;
use faceprint::analysis::QualityGate;
use faceprint_eval::evidence::{
    EdcEvidence, LabelledFace, PairSet, RuleEffect, edc, edc_evidence, half_of, rule_effects,
};
use faceprint_eval::quality::{EdcPoint, QUALITY_MEASURES, quality_measures};

use crate::args::EngineArgs;
use crate::progress;

/// Options of `eval gate`.
#[derive(Debug)]
pub struct GateEvalArgs<'a> {
    pub roots: &'a [PathBuf],
    pub fmrs: &'a [f64],
    pub max_discard: f64,
    pub resamples: usize,
    pub plot: Option<&'a Path>,
    pub json: bool,
    pub select: FaceSelect,
}

/// The FMR the rules' effects are measured at (the issue's protocol: FNMR at FMR 1%).
const RULE_FMR: f64 = 0.01;
const SEED: u64 = 2026;

/// Photos labelled by person.
#[derive(Debug)]
pub(crate) struct LabelledPhotos {
    /// Person names (a later root's prefixed with its position: `1:s1`).
    pub(crate) people: Vec<String>,
    /// (index into `people`, path).
    pub(crate) photos: Vec<(usize, PathBuf)>,
}

/// Every photo under `roots`, labelled by its folder. People are told apart by root and
/// folder, so two datasets with an `s1` stay two people.
pub(crate) fn labelled_photos(roots: &[PathBuf]) -> Result<LabelledPhotos> {
    let mut people = Vec::new();
    let mut photos = Vec::new();
    for (r, root) in roots.iter().enumerate() {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(|e| anyhow::anyhow!("{}: {e}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            files.sort();
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            people.push(if r == 0 { name.into_owned() } else { format!("{r}:{name}") });
            photos.extend(files.into_iter().map(|f| (people.len() - 1, f)));
        }
    }
    if photos.is_empty() {
        bail!("no photos in one-folder-per-person layout under the given roots");
    }
    Ok(LabelledPhotos { people, photos })
}

/// One half of the people (or all), with its curves at each FMR.
#[derive(Debug, serde::Serialize)]
struct HalfReport {
    half: &'static str,
    people: usize,
    at: Vec<EdcEvidence>,
}

/// A rule's effect and what the default gate does with it.
#[derive(Debug, serde::Serialize)]
struct RuleReport {
    #[serde(flatten)]
    effect: RuleEffect,
    /// The effect's interval lies above zero.
    more_than_noise: bool,
    refused_by_default: bool,
}

pub fn run(engine_args: &EngineArgs, args: &GateEvalArgs<'_>, quiet: bool) -> Result<ExitCode> {
    if args.fmrs.iter().any(|f| !(0.0..1.0).contains(f)) || !(0.0..1.0).contains(&args.max_discard) {
        bail!("--fmr and --max-discard are fractions in [0, 1)");
    }
    let LabelledPhotos { people, photos } = labelled_photos(args.roots)?;
    let engine = engine_args.engine()?;
    let gate = QualityGate::default();
    let bar = progress::bar(photos.len(), quiet, "analysing");
    let mut faces: Vec<LabelledFace> = photos
        .iter()
        .map(|(person, _)| LabelledFace {
            person: *person,
            embedding: None,
            measures: [None; QUALITY_MEASURES.len()],
            issues: vec![],
        })
        .collect();
    let inputs = photos.iter().map(|(_, p)| (p.clone(), None)).collect();
    engine.process_inputs_analysed(inputs, args.select, |o| {
        bar.inc(1);
        let Ok(found) = o.result else { return };
        if let Some(face) = found.faces.first()
            && let (Some(embedding), Some(analysis)) = (&face.embedding, &face.analysis)
        {
            let labelled = &mut faces[o.index];
            labelled.embedding = Some(embedding.vector.clone());
            labelled.measures = quality_measures(analysis);
            labelled.issues = gate.findings(&analysis.quality, analysis.pose, analysis.eyes);
        }
    });
    bar.finish_and_clear();

    let halves: [(&'static str, Option<usize>); 3] =
        [("A (recipe chosen)", Some(0)), ("B (held out)", Some(1)), ("all", None)];
    let (mut reports, mut sets) = (Vec::new(), Vec::new());
    for (label, half) in halves {
        let keep = |p: usize| half.is_none_or(|h| half_of(&people[p]) == h);
        let set = PairSet::build(&faces, keep);
        let at = args
            .fmrs
            .iter()
            .filter_map(|&fmr| edc_evidence(&faces, &set, fmr, args.max_discard, args.resamples, SEED))
            .collect();
        reports.push(HalfReport { half: label, people: (0..people.len()).filter(|&p| keep(p)).count(), at });
        sets.push(set);
    }
    let (held_out, all) = (&sets[1], &sets[2]);
    let threshold = all.threshold_at_fmr(RULE_FMR).unwrap_or(f32::INFINITY);
    let rules: Vec<RuleReport> = rule_effects(&faces, &all.mated, threshold, args.resamples, SEED)
        .into_iter()
        .map(|effect| RuleReport {
            more_than_noise: effect.effect.above_zero(),
            refused_by_default: gate.refuse.contains(effect.issue),
            effect,
        })
        .collect();
    let refused: Vec<(String, Vec<String>)> = faces
        .iter()
        .zip(&photos)
        .filter_map(|(f, (_, path))| {
            let reasons: Vec<String> =
                f.issues.iter().filter(|i| gate.refuse.contains(**i)).map(|i| i.to_string()).collect();
            (!reasons.is_empty()).then(|| (path.display().to_string(), reasons))
        })
        .collect();
    let without_face = faces.iter().filter(|f| f.embedding.is_none()).count();

    if let Some(path) = args.plot {
        plot_held_out(path, &faces, held_out, args.max_discard, &reports[1])?;
    }
    if args.json {
        let report = serde_json::json!({
            "photos": photos.len(),
            "people": people.len(),
            "without_face": without_face,
            "max_discard": args.max_discard,
            "halves": reports,
            "rule_fmr": RULE_FMR,
            "rule_threshold": threshold,
            "rules": rules,
            "refused_by_default": refused,
        });
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} photos of {} people ({} without a face, counted as errors)", photos.len(), people.len(), without_face);
    for half in &reports {
        println!("\nhalf {}: {} people", half.half, half.people);
        for e in &half.at {
            print_edc(e, args.max_discard);
        }
    }
    println!(
        "\nrules at FMR {:.0}% (threshold {threshold:.3}), FNMR of mated pairs holding a face that breaks the rule vs the rest:",
        RULE_FMR * 100.0
    );
    println!(
        "  {:<14} {:>5} {:>7} {:>6} {:>9} {:>8}  {:<28} default",
        "rule", "faces", "pairs", "errors", "flagged", "other", "effect [95% CI]"
    );
    for r in &rules {
        let e = &r.effect;
        println!(
            "  {:<14} {:>5} {:>7} {:>6} {:>8.2}% {:>7.2}%  {:+.2}% [{:+.2}, {:+.2}]{:<8} {}",
            e.issue.to_string(),
            e.faces,
            e.flagged_pairs,
            e.flagged_errors,
            e.fnmr_flagged * 100.0,
            e.fnmr_other * 100.0,
            e.effect.estimate * 100.0,
            e.effect.low * 100.0,
            e.effect.high * 100.0,
            if r.more_than_noise { " *" } else { "" },
            if r.refused_by_default { "refuse" } else { "warn" }
        );
    }
    println!("  (* the interval lies above zero: more than noise)");
    println!("\nthe default gate refuses {} of {} photos", refused.len(), photos.len());
    for (path, reasons) in &refused {
        println!("  {path}: {}", reasons.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_edc(e: &EdcEvidence, max_discard: f64) {
    println!(
        "  FMR {:.0e}: threshold {:.3}, {} mated / {} non-mated pairs, FNMR {:.2}% ({} errors); area to {:.0}% discarded:",
        e.fmr,
        e.threshold,
        e.mated_pairs,
        e.non_mated_pairs,
        e.fnmr * 100.0,
        e.errors,
        max_discard * 100.0
    );
    let mut areas = e.areas.clone();
    areas.sort_by(|a, b| a.1.estimate.total_cmp(&b.1.estimate));
    for (name, a) in &areas {
        let ratio = if e.flat > 0.0 { a.estimate / e.flat } else { f64::NAN };
        println!("    {name:<15} {:.5} [{:.5}, {:.5}]  {ratio:.2}× flat", a.estimate, a.low, a.high);
    }
    println!("    {:<15} {:.5}   (a measure that predicts nothing)", "flat", e.flat);
    println!("    {:<15} {:.5}   (discarding by the similarity itself: the floor)", "oracle", e.oracle);
}

/// The held-out half's curves at the last FMR asked for.
fn plot_held_out(
    path: &Path,
    faces: &[LabelledFace],
    held_out: &PairSet,
    max_discard: f64,
    report: &HalfReport,
) -> Result<()> {
    let Some(evidence) = report.at.last() else { return Ok(()) };
    let curve = |measure| edc(faces, &held_out.mated, measure, evidence.threshold, max_discard);
    let mut curves: Vec<(String, Vec<EdcPoint>)> = (0..QUALITY_MEASURES.len())
        .map(|m| (format!("{} ({:.5})", QUALITY_MEASURES[m], evidence.areas[m].1.estimate), curve(Some(m))))
        .collect();
    curves.push((format!("oracle ({:.5})", evidence.oracle), curve(None)));
    let title = format!(
        "EDC, held-out half, FMR {:.0e} (threshold {:.3}), {} errors in {} mated pairs",
        evidence.fmr, evidence.threshold, evidence.errors, evidence.mated_pairs
    );
    crate::eval::plot::write_edc_png(path, &title, &curves)
}
