//! Eyes closed means closed: the `closed` flag against eye states labelled by eye
//! (`tests/data/eye_state.tsv`), where downcast gazes, smiles and squints sit beside real shut
//! eyes, and the default enrolment gate's refusal rate on DevTest.

mod common;

use std::path::PathBuf;

use faceprint::analysis::{IssueSet, QualityGate};
use faceprint::{FaceAnalysis, FaceSelect};

/// (path, labelled closed) of every labelled photo, plus every ORL subject's first photo (open).
fn labelled() -> Vec<(PathBuf, bool)> {
    let root = common::testdata();
    let mut rows: Vec<(PathBuf, bool)> = include_str!("data/eye_state.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            assert!(fields.len() == 3 && ["closed", "open"].contains(&fields[1]), "bad label line {l:?}");
            (root.join(fields[0]), fields[1] == "closed")
        })
        .collect();
    rows.extend((1..=40).map(|s| (root.join(format!("orl/s{s}/1.pgm")), false)));
    rows
}

/// The analysis of the centred face of each photo, in order.
fn analyse_all(paths: Vec<PathBuf>) -> Vec<Option<FaceAnalysis>> {
    let mut out = vec![None; paths.len()];
    let inputs = paths.into_iter().map(|p| (p, None)).collect();
    common::engine().process_inputs_analysed(inputs, FaceSelect::Center, |o| {
        out[o.index] = o.result.ok().and_then(|f| f.faces.into_iter().next()?.analysis);
    });
    out
}

#[test]
fn closed_is_precise_on_downcast_smiling_and_squinting_faces_and_finds_most_shut_eyes() {
    let rows = labelled();
    let analyses = analyse_all(rows.iter().map(|(p, _)| p.clone()).collect());
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for ((path, closed), analysis) in rows.iter().zip(&analyses) {
        let eyes = analysis.as_ref().and_then(|a| a.eyes).unwrap_or_else(|| panic!("{}: no eyes", path.display()));
        match (eyes.closed, *closed) {
            (true, true) => tp += 1,
            (true, false) => {
                fp += 1;
                eprintln!("false closed: {} {eyes:?}", path.display());
            }
            (false, true) => {
                fn_ += 1;
                eprintln!("missed: {} {eyes:?}", path.display());
            }
            (false, false) => {}
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    eprintln!("closed: precision {precision:.3} ({tp}/{}), recall {recall:.3} ({tp}/{})", tp + fp, tp + fn_);
    // Measured: precision 1.00 (10/10), recall 0.83 (10/12: ORL's s11/9 and s26/6, shut with
    // the lids drawn apart by the landmark model, are missed).
    assert!(precision >= 0.9, "precision {precision}");
    assert!(recall >= 0.75, "recall {recall}");
}

#[test]
fn the_default_gate_refuses_at_most_half_a_percent_of_devtest_first_photos() {
    let root = common::testdata().join("lfw-devtest/images");
    let mut people: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|d| d.unwrap().path()).collect();
    people.sort();
    let firsts: Vec<PathBuf> = people
        .iter()
        .map(|dir| {
            let mut photos: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|f| f.unwrap().path()).collect();
            photos.sort();
            photos.swap_remove(0)
        })
        .collect();
    assert_eq!(firsts.len(), 963);
    let analyses = analyse_all(firsts.clone());
    let default = QualityGate::default();
    let strict = QualityGate { refuse: IssueSet::all(), ..QualityGate::default() };
    let (mut refused, mut strictly_refused, mut warned) = (0, 0, 0);
    for (path, analysis) in firsts.iter().zip(&analyses) {
        let a = analysis.as_ref().unwrap_or_else(|| panic!("{}: no face", path.display()));
        let verdict = default.check(&a.quality, a.pose, a.eyes);
        if !verdict.accepted() {
            refused += 1;
            eprintln!("refused {}: {:?}", path.display(), verdict.refused);
        }
        warned += usize::from(!verdict.warnings.is_empty());
        strictly_refused += usize::from(!strict.check(&a.quality, a.pose, a.eyes).accepted());
    }
    let rate = refused as f64 / firsts.len() as f64;
    eprintln!("default gate: {refused} refused, {warned} warned; refusing every finding: {strictly_refused}");
    assert!(rate <= 0.005, "the default gate refuses {refused} of {} ({:.2}%)", firsts.len(), rate * 100.0);
    // The findings are still made: a gate that refused them all would turn faces away.
    assert!(warned > 0 && strictly_refused == warned, "{warned} warned, {strictly_refused} strictly refused");
}
