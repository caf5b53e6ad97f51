//! The batched pipeline (a GPU's: many photos per detector run, the faces of many photos per
//! recogniser run) answers as the per-photo one does, photo by photo, on real photos: crowds,
//! LFW portraits, ORL's tight grey crops (found by the second pass) and a broken file.

mod common;

use std::path::PathBuf;

use faceprint::{FaceEngine, FaceSelect, FileOutcome, InputSizing};

fn photos() -> Vec<PathBuf> {
    let data = common::testdata();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data.join("detection"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .collect();
    let mut lfw: Vec<PathBuf> = walk(&data.join("lfw-devtest/images"));
    lfw.sort();
    paths.extend(lfw.into_iter().step_by(15));
    paths.extend((1..=12).map(|s| data.join(format!("orl/s{s}/1.pgm"))));
    paths.push(PathBuf::from("Cargo.toml"));
    paths.sort();
    paths
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

fn run(engine: &FaceEngine, paths: &[PathBuf]) -> Vec<FileOutcome> {
    let inputs = paths.iter().map(|p| (p.clone(), None)).collect();
    let mut outcomes = Vec::new();
    engine.process_inputs(inputs, FaceSelect::All, true, |o| outcomes.push(o));
    outcomes
}

fn assert_same_answers(per_photo: &[FileOutcome], batched: &[FileOutcome]) -> usize {
    assert_eq!(per_photo.len(), batched.len());
    let mut faces = 0;
    for (a, b) in per_photo.iter().zip(batched) {
        assert_eq!((a.index, &a.path), (b.index, &b.path), "results come back in input order");
        match (&a.result, &b.result) {
            (Ok(a_faces), Ok(b_faces)) => {
                assert_eq!(a_faces.faces.len(), b_faces.faces.len(), "{}: face count", a.path.display());
                for (fa, fb) in a_faces.faces.iter().zip(&b_faces.faces) {
                    let (ba, bb) = (fa.detection.bbox, fb.detection.bbox);
                    let moved = (ba.x1 - bb.x1).abs().max((ba.y2 - bb.y2).abs());
                    assert!(moved < 0.5, "{}: box moved {moved} px", a.path.display());
                    let cosine = fa.embedding.as_ref().unwrap().similarity(fb.embedding.as_ref().unwrap()).unwrap();
                    assert!(cosine >= 0.999, "{}: cosine {cosine}", a.path.display());
                    faces += 1;
                }
            }
            (Err(ea), Err(eb)) => assert_eq!(ea.code(), eb.code(), "{}", a.path.display()),
            (ra, rb) => panic!("{}: per photo {:?}, batched {:?}", a.path.display(), ra.is_ok(), rb.is_ok()),
        }
    }
    faces
}

#[test]
fn batched_photos_get_the_faces_and_faceprints_of_the_per_photo_pipeline() {
    let paths = photos();
    let batched = FaceEngine::builder().workers(1).batched(true).commit().unwrap();
    assert!(batched.is_batched() && !common::engine().is_batched(), "the CPU runs per photo unless asked");
    let faces = assert_same_answers(&run(common::engine(), &paths), &run(&batched, &paths));
    assert!(faces > 150, "the photos hold many faces; {faces} compared");
}

#[test]
fn at_a_fixed_detector_size_every_photo_shares_one_run_and_still_answers_the_same() {
    let paths = photos();
    let fixed = faceprint::DetectOptions {
        sizing: InputSizing::Fixed { width: 640, height: 640 },
        ..faceprint::DetectOptions::default()
    };
    let per_photo = FaceEngine::builder().detect_options(fixed.clone()).commit().unwrap();
    let batched = FaceEngine::builder().workers(1).detect_options(fixed).batched(true).commit().unwrap();
    assert_same_answers(&run(&per_photo, &paths), &run(&batched, &paths));
}

#[test]
fn aligned_crops_embed_as_the_pipeline_embeds_them() {
    let data = common::testdata();
    let path = data.join("detection").join(
        std::fs::read_dir(data.join("detection"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .find(|n| n.to_string_lossy().ends_with(".jpg"))
            .unwrap(),
    );
    let bytes = std::fs::read(path).unwrap();
    let faces = common::engine().faces_for_enrolment(&bytes, FaceSelect::All).unwrap();
    let crops: Vec<_> = faces.faces.iter().map(|f| f.aligned.clone().unwrap()).collect();
    assert!(crops.len() >= 2);
    let again = common::engine().embed_aligned(&crops).unwrap();
    for (face, embedding) in faces.faces.iter().zip(&again) {
        assert!(face.embedding.as_ref().unwrap().similarity(embedding).unwrap() > 0.9999);
    }
}
