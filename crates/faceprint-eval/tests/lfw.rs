//! Verification accuracy on real faces: the LFW DevTest view (../shared/testdata/lfw-devtest),
//! 500 same and 500 different pairs of unaligned 250×250 photos. A pair whose face is not found
//! counts as an error, never dropped. For scale: InsightFace's own Python pipeline with these
//! very models scores 98.9% (10-fold) here.

mod common;

use std::collections::HashMap;

use faceprint::FaceSelect;
use faceprint_eval::{accuracy_at, k_fold_accuracy, pair_images, parse_lfw_pairs, score_pairs};

#[test]
fn lfw_devtest_accuracy_reaches_the_bar_ten_fold_and_at_the_shipped_threshold() {
    let root = common::testdata().join("lfw-devtest");
    let text = std::fs::read_to_string(root.join("pairs.txt")).expect("pairs.txt");
    let pairs = parse_lfw_pairs(&text, &root.join("images")).expect("valid pair list");
    assert_eq!(pairs.len(), 1000);
    let images = pair_images(&pairs);

    let engine = common::engine();
    let embeddings: HashMap<_, _> = engine
        .process_files(&images, FaceSelect::Center, true)
        .into_iter()
        .filter_map(|o| Some((o.path, o.result.ok()?.embedding(0).ok()?.clone())))
        .collect();
    let scores = score_pairs(&pairs, &embeddings);

    let (ten_fold, _, _) = k_fold_accuracy(&scores, 10);
    let at_threshold = accuracy_at(&scores, engine.threshold());
    let missing = images.len() - embeddings.len();
    eprintln!(
        "LFW DevTest: 10-fold {ten_fold:.4}, at threshold {:.2}: {at_threshold:.4}, images without a face: {missing}",
        engine.threshold()
    );
    assert!(ten_fold >= 0.993, "10-fold accuracy {ten_fold}");
    assert!(at_threshold >= 0.990, "accuracy at the shipped threshold {at_threshold}");
}
