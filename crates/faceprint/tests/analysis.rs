//! Face analysis on real photos: 106 landmarks, head pose (mirror and rotation checks), eye
//! openness, and the enrolment quality gate.

mod common;

use std::path::PathBuf;

use faceprint::analysis::{IssueSet, QualityGate, QualityIssue};
use faceprint::imaging::RgbImage;
use faceprint::{EnrolPolicy, Error, FaceAnalysis, FaceSelect, IndexKind, SqliteGallery};
use image::ImageEncoder;

fn lfw(name: &str, n: u32) -> PathBuf {
    common::testdata().join(format!("lfw-devtest/images/{name}/{name}_{n:04}.jpg"))
}

fn orl(subject: u32, photo: u32) -> PathBuf {
    common::testdata().join(format!("orl/s{subject}/{photo}.pgm"))
}

fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn decoded(path: &PathBuf) -> RgbImage {
    common::engine().decode(&std::fs::read(path).unwrap()).unwrap()
}

/// The analysis of the centred face of encoded image bytes.
fn analyse(bytes: &[u8]) -> FaceAnalysis {
    let faces = common::engine().analyse_bytes(bytes, FaceSelect::Center).unwrap();
    faces.faces[0].analysis.clone().expect("analysed")
}

fn analyse_file(path: &PathBuf) -> FaceAnalysis {
    analyse(&std::fs::read(path).unwrap())
}

/// Photos with some head turn either way, and frontal ones.
fn pose_photos() -> Vec<PathBuf> {
    vec![
        lfw("AJ_Lamas", 1),
        lfw("Abdullah_Gul", 16),
        lfw("Jose_Dirceu", 2),
        lfw("Vaclav_Havel", 1),
        orl(4, 10),
        orl(23, 9),
        orl(1, 1),
    ]
}

#[test]
fn the_106_landmarks_put_eyes_nose_and_mouth_where_the_detector_does() {
    let faces = common::engine().analyse_bytes(&std::fs::read(lfw("AJ_Lamas", 1)).unwrap(), FaceSelect::All).unwrap();
    let face = &faces.faces[0];
    let points = face.analysis.as_ref().unwrap().landmarks106.as_ref().expect("the default pack has a landmark model");
    assert_eq!(points.len(), 106);
    let five = face.detection.landmarks;
    let iod = ((five[0][0] - five[1][0]).powi(2) + (five[0][1] - five[1][1]).powi(2)).sqrt();
    let near = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt() < 0.25 * iod;
    let centre = |ids: &[usize]| {
        let n = ids.len() as f32;
        ids.iter().fold([0.0, 0.0], |acc, &i| [acc[0] + points[i][0] / n, acc[1] + points[i][1] / n])
    };
    // Eye contours around the detector's eye centres, the nose tip on its nose, the mouth
    // corners on its mouth corners: in original-image pixels.
    assert!(near(centre(&[33, 35, 36, 37, 39, 40, 41, 42]), five[0]), "left eye");
    assert!(near(centre(&[87, 89, 90, 91, 93, 94, 95, 96]), five[1]), "right eye");
    assert!(near(points[86], five[2]), "nose tip");
    assert!(near(points[52], five[3]) && near(points[61], five[4]), "mouth corners");
}

/// Regression: the landmark model is not mirror-symmetric, and the detector's box moves by a
/// pixel between a photo and its mirror image; mirroring a photo moved yaw by up to 4.2° more
/// than a sign change (4 of 40 ordinary photos over 3.7°). Now the landmark crop is framed from
/// a detection averaged with the mirror image's and the points are averaged with the mirrored
/// crop's: every DevTest face within 1° (measured: 0.12° at most).
#[test]
fn a_mirrored_photo_negates_yaw_and_roll_within_1_degree_on_every_devtest_face() {
    let root = common::testdata().join("lfw-devtest/images");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().map(|f| f.unwrap().path()))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 1549);
    // Both versions through the same decoder and encoder: PNGs of the decoded photo and of its
    // mirror image.
    let inputs: Vec<(PathBuf, Option<Vec<u8>>)> = paths
        .iter()
        .flat_map(|p| {
            let image = decoded(p);
            [(p.clone(), Some(png(&image))), (p.clone(), Some(png(&image::imageops::flip_horizontal(&image))))]
        })
        .collect();
    let mut poses = vec![None; inputs.len()];
    common::engine().process_inputs_analysed(inputs, FaceSelect::Center, |o| {
        poses[o.index] = o.result.ok().and_then(|f| f.faces.first().and_then(|face| face.analysis.as_ref()?.pose));
    });
    let (mut checked, mut worst) = (0, 0.0f32);
    for (path, pair) in paths.iter().zip(poses.chunks(2)) {
        let (Some(original), Some(mirrored)) = (pair[0], pair[1]) else { continue };
        if original.yaw.abs() >= 60.0 {
            continue;
        }
        let (yaw_gap, roll_gap) = ((original.yaw + mirrored.yaw).abs(), (original.roll + mirrored.roll).abs());
        assert!(yaw_gap < 1.0 && roll_gap < 1.0, "{}: {original:?} vs mirrored {mirrored:?}", path.display());
        worst = worst.max(yaw_gap).max(roll_gap);
        checked += 1;
    }
    eprintln!("{checked} faces, worst gap {worst:.2}°");
    assert!(checked >= 1500, "only {checked} faces with a pose under 60° yaw");
    // Not a trivial pass: the turned ones are turned.
    assert!(analyse_file(&lfw("Abdullah_Gul", 16)).pose.unwrap().yaw < -30.0);
    assert!(analyse_file(&orl(4, 10)).pose.unwrap().yaw > 15.0);
}

#[test]
fn a_photo_rotated_in_plane_changes_roll_by_the_angle_within_3_degrees() {
    // Faces turned up to about 45°: on Abdullah_Gul_0016 (53° yaw) the detector's and the
    // landmark model's points on the rotated copies move enough to put roll 3.2° off at +30°.
    for path in pose_photos().into_iter().filter(|p| !p.ends_with("Abdullah_Gul_0016.jpg")) {
        let image = decoded(&path);
        let before = analyse(&png(&image)).pose.unwrap();
        for degrees in [-25.0f32, 15.0, 30.0] {
            // imageproc rotates clockwise, which is the direction roll counts.
            let rotated = imageproc::geometric_transformations::rotate_about_center(
                &image,
                degrees.to_radians(),
                imageproc::geometric_transformations::Interpolation::Bilinear,
                imageproc::geometric_transformations::Border::Constant(image::Rgb([0, 0, 0])),
            );
            let after = analyse(&png(&rotated)).pose.unwrap();
            let change = after.roll - before.roll;
            eprintln!("{}: rotated {degrees:+}°: roll {:+.1} → {:+.1}", path.display(), before.roll, after.roll);
            assert!((change - degrees).abs() < 3.0, "{}: {degrees}° gave {change:.1}°", path.display());
        }
    }
}

#[test]
fn frontal_orl_faces_have_small_yaw() {
    // Photo 1 of each ORL subject faces the camera.
    for subject in 1..=40 {
        let pose = analyse_file(&orl(subject, 1)).pose.unwrap();
        assert!(pose.yaw.abs() < 20.0, "s{subject}/1.pgm: {pose:?}");
    }
}

/// Enrols `bytes` into a fresh gallery and returns the refusal reasons (empty: enrolled).
fn gate_reasons(bytes: &[u8], policy: &EnrolPolicy) -> Vec<QualityIssue> {
    let dir = tempfile::tempdir().unwrap();
    let gallery = SqliteGallery::builder().index(IndexKind::Exact).open(dir.path().join("g.db")).unwrap();
    match common::engine().enrol_bytes(
        &gallery,
        "default",
        &faceprint::SubjectKey::Name("someone".into()),
        bytes,
        policy,
    ) {
        Ok(enrolled) => {
            assert!(enrolled.analysis.is_some());
            Vec::new()
        }
        Err(Error::LowQuality { issues, score }) => {
            assert!(!issues.is_empty() && (0.0..=1.0).contains(&score));
            issues
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn a_gate_that_refuses_every_finding_names_each_bad_face_and_force_overrides_it() {
    // The default gate only warns (no finding has shown an effect on errors); a caller can make
    // each finding refuse.
    let strict = QualityGate { refuse: IssueSet::all(), ..QualityGate::default() };
    let policy = EnrolPolicy {
        select: FaceSelect::Center,
        min_face_size: 0.0,
        quality_gate: Some(strict),
        ..EnrolPolicy::default()
    };
    let forced = EnrolPolicy { quality_gate: None, ..policy };
    // A frontal, sharp, well-lit face with open eyes (AJ_Lamas_0001 would not do: his broad
    // smile narrows his eyes under the closed-eyes line).
    let good = decoded(&lfw("Donald_Regan", 1));
    assert_eq!(gate_reasons(&png(&good), &policy), vec![]);

    let blurred = image::imageops::blur(&good, 4.0);
    assert!(gate_reasons(&png(&blurred), &policy).contains(&QualityIssue::Blurry));

    let mut dark = good.clone();
    dark.pixels_mut().for_each(|p| p.0 = p.0.map(|v| v / 8));
    assert!(gate_reasons(&png(&dark), &policy).contains(&QualityIssue::TooDark));

    let small = image::imageops::resize(&good, 80, 80, image::imageops::FilterType::Triangle);
    assert!(gate_reasons(&png(&small), &policy).contains(&QualityIssue::TooSmall));

    let profile = std::fs::read(lfw("Kosuke_Kitajima", 2)).unwrap();
    assert!(gate_reasons(&profile, &policy).contains(&QualityIssue::ProfilePose));

    let shut = std::fs::read(lfw("Allison_Searing", 1)).unwrap();
    assert!(gate_reasons(&shut, &policy).contains(&QualityIssue::EyesClosed));

    for bytes in [png(&blurred), png(&dark), profile, shut] {
        assert_eq!(gate_reasons(&bytes, &forced), vec![], "force enrols what the gate refuses");
    }
}

#[test]
fn the_quality_score_orders_a_photo_above_its_blurred_and_darkened_copies() {
    let good = decoded(&lfw("AJ_Lamas", 1));
    let sharp = analyse(&png(&good)).quality;
    let blurred = analyse(&png(&image::imageops::blur(&good, 3.0))).quality;
    let mut dark = good.clone();
    dark.pixels_mut().for_each(|p| p.0 = p.0.map(|v| v / 6));
    let dark = analyse(&png(&dark)).quality;
    assert!(sharp.score > 0.6, "{sharp:?}");
    assert!(
        blurred.score < sharp.score && dark.score < sharp.score,
        "{} {} {}",
        sharp.score,
        blurred.score,
        dark.score
    );
    assert!(blurred.parts.sharpness.value < sharp.parts.sharpness.value / 4.0);
    assert!(sharp.parts.embedding_norm.is_some(), "the default pack knows its norm scale");
}

#[test]
fn identification_reports_the_probe_quality() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = SqliteGallery::builder().index(IndexKind::Exact).open(dir.path().join("g.db")).unwrap();
    let engine = common::engine();
    let policy = EnrolPolicy { select: FaceSelect::Center, ..EnrolPolicy::default() };
    engine
        .enrol_bytes(
            &gallery,
            "default",
            &faceprint::SubjectKey::Name("s1".into()),
            &std::fs::read(orl(1, 1)).unwrap(),
            &policy,
        )
        .unwrap();
    let found = engine.identify_bytes(&gallery, "default", &std::fs::read(orl(1, 2)).unwrap(), 3).unwrap();
    let quality = found[0].quality.expect("identify analyses the probe");
    assert!(quality.score > 0.0 && quality.score <= 1.0);
    assert_eq!(found[0].matched.as_ref().map(|c| c.subject.as_str()), Some("s1"));
}

#[test]
fn enrolment_by_id_follows_a_rename_and_refuses_a_deleted_subject() {
    use faceprint::{Gallery, GalleryError, SubjectKey};
    let dir = tempfile::tempdir().unwrap();
    let gallery = SqliteGallery::builder().index(IndexKind::Exact).open(dir.path().join("g.db")).unwrap();
    let engine = common::engine();
    let policy = EnrolPolicy { select: FaceSelect::Center, ..EnrolPolicy::default() };
    let subject = gallery.create_subject("default", "before", serde_json::json!({})).unwrap();
    // Renamed between the lookup and the add (a concurrent PATCH): the face stays with the id.
    gallery.rename_subject("default", &SubjectKey::Id(subject.id), "after").unwrap();
    let id = SubjectKey::Id(subject.id);
    let enrolled = engine.enrol_bytes(&gallery, "default", &id, &std::fs::read(orl(2, 1)).unwrap(), &policy).unwrap();
    assert_eq!((enrolled.subject.id, enrolled.subject.name.as_str()), (subject.id, "after"));
    assert!(matches!(
        gallery.subject("default", &SubjectKey::Name("before".into())),
        Err(GalleryError::UnknownSubject(_))
    ));
    // Deleted meanwhile: no face is added anywhere, and no subject is created.
    gallery.delete_subject("default", &id).unwrap();
    let refused = engine.enrol_bytes(&gallery, "default", &id, &std::fs::read(orl(2, 2)).unwrap(), &policy);
    assert!(matches!(refused, Err(Error::Gallery(GalleryError::UnknownSubject(_)))), "{refused:?}");
    assert_eq!(gallery.stats().unwrap().faces, 0);
    assert!(gallery.subjects("default").unwrap().is_empty());
}
