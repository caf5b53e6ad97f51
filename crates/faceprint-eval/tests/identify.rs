//! Open-set identification on real faces, through the real embedded gallery (a SQLite file):
//! ORL (photos 1–5 enrolled, 6–10 searched) and LFW DevTest (each person's first photo enrolled,
//! the rest searched, every other DevTest person enrolled as a distractor).

mod common;

use faceprint::CompressedParams;
use faceprint::analysis::QualityGate;
use faceprint::{DEFAULT_COLLECTION, FaceSelect, IndexKind, SqliteGallery, SqliteGalleryBuilder};
use faceprint_eval::identification::{IdentificationReport, evaluate_identification, lfw_protocol, orl_protocol};

fn run(protocol: faceprint_eval::identification::IdentificationProtocol) -> IdentificationReport {
    run_with_gate(protocol, None)
}

fn run_with_gate(
    protocol: faceprint_eval::identification::IdentificationProtocol,
    gate: Option<QualityGate>,
) -> IdentificationReport {
    run_on(SqliteGallery::builder().index(IndexKind::Exact), protocol, gate)
}

fn run_on(
    builder: SqliteGalleryBuilder,
    protocol: faceprint_eval::identification::IdentificationProtocol,
    gate: Option<QualityGate>,
) -> IdentificationReport {
    let dir = tempfile::tempdir().unwrap();
    let gallery = builder.open(dir.path().join("g.db")).unwrap();
    let (report, outcomes) = evaluate_identification(
        common::engine(),
        &gallery,
        DEFAULT_COLLECTION,
        &protocol,
        FaceSelect::Center,
        gate,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(outcomes.len(), protocol.probes.len(), "every probe is reported");
    eprintln!("{report:#?}");
    report
}

#[test]
fn orl_rank1_with_five_photos_enrolled_per_subject() {
    let protocol = orl_protocol(&common::testdata().join("orl")).unwrap();
    assert_eq!((protocol.enrol.len(), protocol.probes.len()), (200, 200));
    let report = run(protocol);
    assert_eq!(report.enrolled_subjects, 40);
    assert!(report.rank1 >= 0.99, "ORL rank-1 {}", report.rank1);
}

/// Real faceprints through the compressed index, re-ranking as few faces as a search allows (so
/// the codes choose the shortlist from ORL's 200 enrolled faces): the same rank-1 and the same
/// scores at the top as exact search.
#[test]
fn orl_through_the_compressed_index_answers_like_exact_search() {
    let protocol = orl_protocol(&common::testdata().join("orl")).unwrap();
    let exact = run(protocol.clone());
    let compressed = run_on(
        SqliteGallery::builder()
            .index(IndexKind::Compressed)
            .compressed_params(CompressedParams { rerank: 1, shortlist: 1 }),
        protocol,
        None,
    );
    // Scores agree to rounding: exact search scores a batch with a matrix product, the
    // compressed index one face at a time.
    assert_eq!(compressed.rank1, exact.rank1);
    assert!((compressed.tpir_at_fpir_1pct - exact.tpir_at_fpir_1pct).abs() <= 1.0 / 200.0);
    assert!((compressed.threshold_at_fpir_1pct - exact.threshold_at_fpir_1pct).abs() < 1e-4);
}

#[test]
fn lfw_devtest_rank1_and_tpir_at_fpir_one_percent_and_what_the_gate_costs() {
    let protocol = lfw_protocol(&common::testdata().join("lfw-devtest/images")).unwrap();
    let report = run(protocol.clone());
    // Regression: the gate turned away one person in forty with a wrong reason ("eyes closed"
    // on open, downcast eyes) and cost 1.3 points of rank-1 on unseen LFW people. With the gate
    // on (its default), rank-1 may lose at most 0.1 point against enrolling everything.
    let gated = run_with_gate(protocol, Some(QualityGate::default()));
    eprintln!("rank-1 gated {:.4} forced {:.4}; refused {:?}", gated.rank1, report.rank1, gated.enrolment_failures);
    assert!(report.rank1 - gated.rank1 <= 0.001, "gated {} vs forced {}", gated.rank1, report.rank1);
    assert!(gated.enrolment_failures.len() <= 4, "{:?}", gated.enrolment_failures);
    // Each rule's rank-1 effect is reported, whether or not it refuses.
    assert_eq!(gated.rule_effects.len(), 8);
    assert!(gated.rule_effects.iter().any(|e| e.probes > 0), "{:?}", gated.rule_effects);
    assert!(report.enrolled_subjects >= 960, "{} subjects enrolled", report.enrolled_subjects);
    // Measured: rank-1 98.8%, TPIR 97.95% at FPIR 1% (threshold 0.333).
    assert!(report.rank1 >= 0.98, "LFW DevTest rank-1 {}", report.rank1);
    assert!(report.tpir_at_fpir_1pct >= 0.96, "TPIR at FPIR 1% {}", report.tpir_at_fpir_1pct);
    // The shipped identification threshold keeps false matches near 1% at this gallery size.
    assert!(
        report.fpir_at_engine_threshold <= 0.015,
        "FPIR at the shipped threshold {}",
        report.fpir_at_engine_threshold
    );
}
