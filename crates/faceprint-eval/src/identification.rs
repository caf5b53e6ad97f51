//! Open-set identification (1:N) evaluation: enrol a gallery, search with probes, and report
//! rank-1 and TPIR at a fixed FPIR.
//!
//! Every probe is a mated search (its subject is enrolled, unless enrolment failed). Its
//! non-mated score is its best score over the *other* subjects, so the same searches give the
//! false-positive side: FPIR(t) is the fraction of probes whose non-mated score reaches t.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use faceprint::{Gallery, SubjectKey};
use serde::Serialize;

use super::evidence::{Interval, bootstrap};
use faceprint::analysis::{QualityGate, QualityIssue};

use faceprint::{EnrolPolicy, Error, FaceEngine, FaceSelect};

/// Who is enrolled from which photo, and which photos are searched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentificationProtocol {
    pub enrol: Vec<(String, PathBuf)>,
    pub probes: Vec<(String, PathBuf)>,
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read = |reason| Error::Read { path: dir.to_path_buf(), reason };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(read)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(read)?;
    entries.sort();
    Ok(entries)
}

/// AT&T/ORL: subjects `s1`..`s40` with photos `1.pgm`..`10.pgm`; photos 1–5 are enrolled and
/// 6–10 are probes.
pub fn orl_protocol(root: &Path) -> Result<IdentificationProtocol, Error> {
    let mut protocol = IdentificationProtocol::default();
    for dir in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        let subject = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for photo in 1..=10 {
            let path = dir.join(format!("{photo}.pgm"));
            if !path.exists() {
                continue;
            }
            let list = if photo <= 5 { &mut protocol.enrol } else { &mut protocol.probes };
            list.push((subject.clone(), path));
        }
    }
    Ok(protocol)
}

/// LFW-style folders (one per person): each person's first photo (by name) is enrolled, the
/// others are probes. People with one photo are enrolled only, as distractors.
pub fn lfw_protocol(root: &Path) -> Result<IdentificationProtocol, Error> {
    let mut protocol = IdentificationProtocol::default();
    for dir in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        let subject = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let photos: Vec<PathBuf> = sorted_entries(&dir)?.into_iter().filter(|p| p.is_file()).collect();
        for (i, path) in photos.into_iter().enumerate() {
            let list = if i == 0 { &mut protocol.enrol } else { &mut protocol.probes };
            list.push((subject.clone(), path));
        }
    }
    Ok(protocol)
}

/// One probe's search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeOutcome {
    pub subject: String,
    pub path: PathBuf,
    /// Similarity to its own subject's best template; `None` when the probe had no face or its
    /// subject could not be enrolled.
    pub mated: Option<f32>,
    /// Best similarity over every other subject; `None` when the probe had no face.
    pub non_mated: Option<f32>,
    /// Whether its own subject came first.
    pub rank1: bool,
    /// The gate rules its subject's enrolled photo breaks (whether or not the gate refused it).
    pub enrolment_issues: Vec<QualityIssue>,
}

/// Summary of an identification run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentificationReport {
    pub enrolled_subjects: usize,
    pub enrolment_failures: Vec<(PathBuf, String)>,
    pub probes: usize,
    pub probes_without_face: usize,
    pub rank1: f64,
    /// The threshold at which FPIR is at most 1%, and the TPIR there.
    pub threshold_at_fpir_1pct: f32,
    pub tpir_at_fpir_1pct: f64,
    /// FPIR and TPIR at the engine's identification threshold.
    pub engine_threshold: f32,
    pub fpir_at_engine_threshold: f64,
    pub tpir_at_engine_threshold: f64,
    /// For each gate rule: rank-1 of the probes whose subject's enrolled photo breaks it,
    /// against the others.
    pub rule_effects: Vec<Rank1RuleEffect>,
}

/// How rank-1 differs for probes whose subject's enrolled photo breaks a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rank1RuleEffect {
    pub issue: QualityIssue,
    /// Probes whose subject's enrolled photo breaks the rule.
    pub probes: usize,
    pub rank1_flagged: f64,
    pub rank1_other: f64,
    /// `rank1_other − rank1_flagged` (a rank-1 loss, positive when the rule predicts misses),
    /// with a bootstrap interval over the subjects.
    pub loss: Interval,
}

/// Bootstrap resamples for the rules' intervals.
const RULE_RESAMPLES: usize = 1000;

/// Rank-1 loss of each rule, with intervals from a bootstrap over subjects.
pub fn rank1_rule_effects(outcomes: &[ProbeOutcome], resamples: usize) -> Vec<Rank1RuleEffect> {
    let probes: Vec<&ProbeOutcome> = outcomes.iter().collect();
    QualityIssue::ALL
        .iter()
        .map(|&issue| {
            // (flagged probes, rank-1 of those, rank-1 of the others)
            let split = |sample: &[&ProbeOutcome]| {
                let (hit, rest): (Vec<&ProbeOutcome>, Vec<&ProbeOutcome>) =
                    sample.iter().partition(|o| o.enrolment_issues.contains(&issue));
                let rate = |v: &[&ProbeOutcome]| v.iter().filter(|o| o.rank1).count() as f64 / v.len().max(1) as f64;
                (hit.len(), rate(&hit), rate(&rest))
            };
            let (flagged, rank1_flagged, rank1_other) = split(&probes);
            let [loss] = bootstrap(
                &probes,
                |o| o.subject.as_str(),
                resamples,
                2026,
                |sample| {
                    // A resample without a flagged probe says nothing about the rule.
                    let (n, flagged, other) = split(sample);
                    [if n > 0 { other - flagged } else { f64::NAN }]
                },
            );
            let loss = if flagged > 0 { loss } else { Interval::NO_EFFECT };
            Rank1RuleEffect { issue, probes: flagged, rank1_flagged, rank1_other, loss }
        })
        .collect()
}

/// Fraction of probes whose own subject ranked first.
pub fn rank1_rate(outcomes: &[ProbeOutcome]) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    outcomes.iter().filter(|o| o.rank1).count() as f64 / outcomes.len() as f64
}

/// (FPIR, TPIR) at threshold `t`: a probe is a true positive when its own subject ranks first
/// and scores at least `t`; a false positive when another subject scores at least `t`.
pub fn rates_at(outcomes: &[ProbeOutcome], threshold: f32) -> (f64, f64) {
    if outcomes.is_empty() {
        return (0.0, 0.0);
    }
    let n = outcomes.len() as f64;
    let false_positives = outcomes.iter().filter(|o| o.non_mated.is_some_and(|s| s >= threshold)).count();
    let true_positives = outcomes.iter().filter(|o| o.rank1 && o.mated.is_some_and(|s| s >= threshold)).count();
    (false_positives as f64 / n, true_positives as f64 / n)
}

/// The lowest threshold whose FPIR is at most `fpir`, and the TPIR there.
pub fn tpir_at_fpir(outcomes: &[ProbeOutcome], fpir: f64) -> (f32, f64) {
    let mut non_mated: Vec<f32> = outcomes.iter().filter_map(|o| o.non_mated).collect();
    non_mated.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fpir * outcomes.len() as f64).floor() as usize;
    let threshold = super::threshold_admitting(&non_mated, allowed);
    (threshold, rates_at(outcomes, threshold).1)
}

/// Enrols with `engine` the protocol's gallery photos into `gallery` (selecting faces with `select`),
/// searches with every probe and reports. `progress` gets (done, total) over both phases.
///
/// `gate` is the enrolment quality gate (`None`: every photo is enrolled whatever its
/// quality, as `--force` does). Whatever the gate, the rules each enrolled photo breaks are
/// recorded, so the report says how rank-1 differs for people whose photo breaks each rule.
pub fn evaluate_identification(
    engine: &FaceEngine,
    gallery: &dyn Gallery,
    collection: &str,
    protocol: &IdentificationProtocol,
    select: FaceSelect,
    gate: Option<QualityGate>,
    mut progress: impl FnMut(usize, usize),
) -> Result<(IdentificationReport, Vec<ProbeOutcome>), Error> {
    let total = protocol.enrol.len() + protocol.probes.len();
    let policy = EnrolPolicy { select, quality_gate: gate, ..EnrolPolicy::default() };
    let judge = gate.unwrap_or_default();
    let mut failures = Vec::new();
    let mut findings: HashMap<String, Vec<QualityIssue>> = HashMap::new();
    let inputs = protocol.enrol.iter().map(|(_, p)| (p.clone(), None)).collect();
    let mut done = 0;
    let mut write_error = None;
    engine.process_inputs_for_enrolment(inputs, select, |outcome| {
        done += 1;
        progress(done, total);
        let subject = &protocol.enrol[outcome.index].0;
        let enrolled = outcome.result.and_then(|faces| {
            if let Some(a) = faces.faces.first().and_then(|f| f.analysis.as_ref()) {
                findings.entry(subject.clone()).or_default().extend(judge.findings(&a.quality, a.pose, a.eyes));
            }
            engine.enrol_faces(gallery, collection, &SubjectKey::Name(subject.to_owned()), faces, &policy)
        });
        match enrolled {
            Ok(_) => {}
            Err(Error::Gallery(e)) => write_error = Some(e),
            Err(e) => failures.push((outcome.path, e.to_string())),
        }
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }

    let inputs = protocol.probes.iter().map(|(_, p)| (p.clone(), None)).collect();
    let mut outcomes = Vec::with_capacity(protocol.probes.len());
    let mut search_error = None;
    engine.process_inputs(inputs, select, true, |outcome| {
        done += 1;
        progress(done, total);
        let subject = protocol.probes[outcome.index].0.clone();
        let probe = match outcome.result.as_ref().map(|faces| faces.embedding(0)) {
            Ok(Ok(embedding)) => score_probe(engine, gallery, collection, &subject, &embedding.vector),
            _ => Ok((None, None, false)),
        };
        match probe {
            Ok((mated, non_mated, rank1)) => {
                let enrolment_issues = findings.get(&subject).cloned().unwrap_or_default();
                outcomes.push(ProbeOutcome { subject, path: outcome.path, mated, non_mated, rank1, enrolment_issues })
            }
            Err(e) => search_error = Some(e),
        }
    });
    if let Some(e) = search_error {
        return Err(e);
    }

    let enrolled_subjects = gallery.subjects(collection)?.iter().filter(|s| s.faces > 0).count();
    let (threshold_at_fpir_1pct, tpir_at_fpir_1pct) = tpir_at_fpir(&outcomes, 0.01);
    let engine_threshold = engine.identify_threshold_for(gallery.collection_faces(collection)?);
    let (fpir_at_engine_threshold, tpir_at_engine_threshold) = rates_at(&outcomes, engine_threshold);
    let report = IdentificationReport {
        enrolled_subjects,
        enrolment_failures: failures,
        probes: outcomes.len(),
        probes_without_face: outcomes.iter().filter(|o| o.non_mated.is_none()).count(),
        rank1: rank1_rate(&outcomes),
        threshold_at_fpir_1pct,
        tpir_at_fpir_1pct,
        engine_threshold,
        fpir_at_engine_threshold,
        tpir_at_engine_threshold,
        rule_effects: rank1_rule_effects(&outcomes, RULE_RESAMPLES),
    };
    Ok((report, outcomes))
}

/// (mated score, best non-mated score, rank-1 hit) of one probe embedding.
fn score_probe(
    engine: &FaceEngine,
    gallery: &dyn Gallery,
    collection: &str,
    subject: &str,
    query: &[f32],
) -> Result<(Option<f32>, Option<f32>, bool), Error> {
    let top = gallery.search(collection, engine.model_id(), query, 2)?;
    let rank1 = top.first().is_some_and(|c| c.subject == subject);
    let non_mated = top.iter().find(|c| c.subject != subject).map(|c| c.similarity);
    let mated =
        match gallery.subject_similarity(collection, &SubjectKey::Name(subject.to_owned()), engine.model_id(), query) {
            Ok((_, best)) => best.map(|b| b.similarity),
            Err(faceprint::GalleryError::UnknownSubject(_)) => None,
            Err(e) => return Err(e.into()),
        };
    // Only one subject in the gallery: nothing else to false-alarm on.
    Ok((mated, non_mated.or(Some(f32::NEG_INFINITY)), rank1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(mated: f32, non_mated: f32) -> ProbeOutcome {
        ProbeOutcome {
            subject: "s".into(),
            path: PathBuf::new(),
            mated: Some(mated),
            non_mated: Some(non_mated),
            rank1: mated > non_mated,
            enrolment_issues: vec![],
        }
    }

    #[test]
    fn tpir_at_fpir_picks_the_threshold_just_above_the_allowed_false_alarms() {
        // 10 probes; FPIR 10% allows one false alarm: the threshold sits just above the second
        // highest non-mated score (0.5), so only 0.6 false-alarms.
        let outcomes: Vec<ProbeOutcome> = [
            (0.9, 0.6),
            (0.8, 0.5),
            (0.7, 0.1),
            (0.45, 0.2),
            (0.52, 0.3),
            (0.4, 0.1),
            (0.3, 0.35),
            (0.95, 0.0),
            (0.85, 0.1),
            (0.6, 0.2),
        ]
        .iter()
        .map(|&(m, n)| probe(m, n))
        .collect();
        let (threshold, tpir) = tpir_at_fpir(&outcomes, 0.1);
        assert!(threshold > 0.5 && threshold < 0.5001);
        let (fpir, _) = rates_at(&outcomes, threshold);
        assert!((fpir - 0.1).abs() < 1e-9);
        // Hits at ≥ threshold with rank 1: 0.9, 0.8, 0.7, 0.52, 0.95, 0.85, 0.6 → 7 of 10.
        assert!((tpir - 0.7).abs() < 1e-9);
        // Rank-1: every probe but (0.3, 0.35).
        assert!((rank1_rate(&outcomes) - 0.9).abs() < 1e-9);
    }

    #[test]
    fn probes_without_a_face_are_misses_but_not_false_alarms() {
        let mut outcomes = vec![probe(0.9, 0.1)];
        outcomes.push(ProbeOutcome {
            subject: "s".into(),
            path: PathBuf::new(),
            mated: None,
            non_mated: None,
            rank1: false,
            enrolment_issues: vec![],
        });
        let (fpir, tpir) = rates_at(&outcomes, 0.5);
        assert_eq!((fpir, tpir), (0.0, 0.5));
    }
}
