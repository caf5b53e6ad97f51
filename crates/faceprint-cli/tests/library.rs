//! `faceprint library` end to end on real photos: resume after kill -9, renamed and deleted
//! files, a sideways photo without an orientation tag, the grouping constraints, naming,
//! search, and incremental against full grouping.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn devtest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/lfw-devtest/images")
}

fn faceprint(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["-q", "--gallery", s(db)])
        .args(args)
        .output()
        .expect("faceprint runs")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn ok_json(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

fn json_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn status(db: &Path) -> Value {
    ok_json(&faceprint(db, &["library", "status", "--json"]))["status"].clone()
}

/// DevTest people in name order, with their photos.
fn people(min_photos: usize) -> Vec<(String, Vec<PathBuf>)> {
    let mut names: Vec<_> = std::fs::read_dir(devtest()).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|dir| {
            let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
            photos.sort();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            (photos.len() >= min_photos).then_some((name, photos))
        })
        .collect()
}

fn copy_person(photos: &[PathBuf], into: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(into).unwrap();
    photos
        .iter()
        .map(|photo| {
            let to = into.join(photo.file_name().unwrap());
            std::fs::copy(photo, &to).unwrap();
            to
        })
        .collect()
}

/// Every person's faces: person id → (photo path, face id) of each face.
fn grouping(db: &Path) -> BTreeMap<i64, Vec<(String, i64)>> {
    let mut out = BTreeMap::new();
    for person in json_lines(&faceprint(db, &["library", "people", "--json"])) {
        let id = person["id"].as_i64().unwrap();
        let faces = json_lines(&faceprint(db, &["library", "people", "faces", &id.to_string()]))
            .into_iter()
            .map(|f| (f["paths"][0].as_str().unwrap().to_owned(), f["face"]["face_id"].as_i64().unwrap()))
            .collect();
        out.insert(id, faces);
    }
    out
}

#[test]
fn library_add_resumes_after_kill_9_and_renamed_or_deleted_files_are_not_processed_again() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let mut total = 0;
    for (name, files) in people(2).into_iter().take(60) {
        total += copy_person(&files, &photos.join(&name)).len();
    }
    let db = dir.path().join("lib.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["-q", "--gallery", s(&db), "library", "add", s(&photos)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let before_kill = loop {
        std::thread::sleep(Duration::from_millis(50));
        assert!(child.try_wait().unwrap().is_none(), "library add finished before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(300), "library add made no progress");
        if db.exists() {
            let photos = faceprint(&db, &["library", "status", "--json"]);
            if photos.status.success() {
                let indexed = ok_json(&photos)["status"]["photos"].as_u64().unwrap() as usize;
                if indexed >= 10 {
                    break indexed;
                }
            }
        }
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = status(&db)["photos"].as_u64().unwrap() as usize;
    assert!(kept >= before_kill && kept < total, "killed part way: {kept} of {total} photos kept");

    let resumed = ok_json(&faceprint(&db, &["library", "add", "--json", s(&photos)]));
    let indexed = &resumed["indexed"];
    assert_eq!(indexed["unchanged"].as_u64().unwrap() as usize, kept, "photos stored before the kill are not redone");
    assert_eq!(indexed["added"].as_u64().unwrap() as usize, total - kept);
    assert_eq!(indexed["failed"], 0);
    let after = status(&db);
    assert_eq!(after["photos"].as_u64().unwrap() as usize, total);
    assert!(after["people"].as_u64().unwrap() >= 20, "people were grouped: {after}");

    // A renamed folder: its files are recognised by content, not read by the pipeline again.
    let (name, _) = people(2).into_iter().next().unwrap();
    let moved = photos.join(format!("{name}_renamed"));
    std::fs::rename(photos.join(&name), &moved).unwrap();
    let moved_files = std::fs::read_dir(&moved).unwrap().count();
    let renamed = ok_json(&faceprint(&db, &["library", "add", "--json", s(&photos)]));
    let indexed = &renamed["indexed"];
    assert_eq!((indexed["added"].as_u64(), indexed["faces"].as_u64()), (Some(0), Some(0)), "{indexed}");
    assert_eq!(indexed["linked"].as_u64().unwrap() as usize, moved_files);
    assert_eq!(indexed["missing"].as_u64().unwrap() as usize, moved_files, "the old paths are marked missing");
    assert_eq!(status(&db)["files"].as_u64().unwrap() as usize, total);

    // A deleted file is marked missing and keeps its photo; forget-missing removes it.
    let deleted = std::fs::read_dir(&moved).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_file(&deleted).unwrap();
    let pruned = ok_json(&faceprint(&db, &["library", "add", "--json", s(&photos)]));
    assert_eq!(pruned["indexed"]["missing"].as_u64(), Some(1));
    assert_eq!(status(&db)["photos"].as_u64().unwrap() as usize, total);
    let forgotten = ok_json(&faceprint(&db, &["library", "forget-missing", "--json"]));
    assert_eq!(forgotten["files"].as_array().unwrap().len(), moved_files + 1, "{forgotten}");
    assert_eq!(forgotten["removed_photos"], 1, "only the deleted file's photo had no other file");
    assert_eq!(status(&db)["photos"].as_u64().unwrap() as usize, total - 1);
}

#[test]
fn people_keep_one_face_per_photo_stay_apart_once_separated_and_a_named_person_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let mut chosen = people(5).into_iter().take(4);
    let (anchor, anchor_photos) = chosen.next().unwrap();
    let (held_back, first) = anchor_photos.split_last().unwrap();
    let anchor_files = copy_person(first, &photos.join(&anchor));
    for (name, files) in chosen {
        copy_person(&files, &photos.join(&name));
    }
    // Two photos of the anchor side by side: one photo, two faces of one person.
    let left = image::open(&first[0]).unwrap().to_rgb8();
    let right = image::open(&first[1]).unwrap().to_rgb8();
    let mut pair = image::RgbImage::new(left.width() + right.width(), left.height().max(right.height()));
    image::imageops::replace(&mut pair, &left, 0, 0);
    image::imageops::replace(&mut pair, &right, left.width() as i64, 0);
    pair.save(photos.join("pair.png")).unwrap();
    // A photo turned a quarter, with nothing to say which way is up (PNG: no EXIF).
    let db = dir.path().join("lib.db");
    let sideways = photos.join("sideways.png");
    image::imageops::rotate90(&image::open(&first[2]).unwrap().to_rgb8()).save(&sideways).unwrap();

    let added = ok_json(&faceprint(&db, &["library", "add", "--json", s(&photos)]));
    assert_eq!(added["indexed"]["turned"], 1, "{added}");
    let sideways_hit = json_lines(&faceprint(&db, &["library", "search", "--photo", s(&first[2]), "--json"]));
    let sideways_hit = sideways_hit.iter().find(|hit| hit["path"] == s(&sideways)).expect("found turned");
    assert!(sideways_hit["similarity"].as_f64().unwrap() > 0.9, "turned upright, the face embeds as before");
    let groups = grouping(&db);
    for faces in groups.values() {
        let photos: HashSet<&str> = faces.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(photos.len(), faces.len(), "a person has two faces of one photo: {faces:?}");
    }
    let in_person = |groups: &BTreeMap<i64, Vec<(String, i64)>>, path: &Path| {
        groups.iter().find(|(_, faces)| faces.iter().any(|(p, _)| p == s(path))).map(|(id, _)| *id)
    };
    let anchor_person = in_person(&groups, &anchor_files[3]).expect("the anchor's photos form a person");
    for file in &anchor_files {
        assert_eq!(in_person(&groups, file), Some(anchor_person), "{} is with the anchor", file.display());
    }
    assert_eq!(in_person(&groups, &sideways), Some(anchor_person), "the turned photo's face is the anchor's");
    let pair_face = in_person(&groups, &photos.join("pair.png"));
    assert_eq!(pair_face, Some(anchor_person), "one face of the pair photo joins the anchor");

    // Removed faces never rejoin; new photos join the existing person without a re-grouping.
    let removed = groups[&anchor_person].iter().find(|(p, _)| p == s(&anchor_files[0])).unwrap().1;
    let remove =
        faceprint(&db, &["library", "people", "remove-face", &anchor_person.to_string(), &removed.to_string()]);
    assert!(remove.status.success(), "{}", String::from_utf8_lossy(&remove.stderr));
    let late = photos.join(&anchor).join("late.jpg");
    std::fs::copy(held_back, &late).unwrap();
    let again = ok_json(&faceprint(&db, &["library", "add", "--json", s(&photos)]));
    assert_eq!(again["indexed"]["added"], 1);
    assert!(again["grouped"]["joined"].as_u64().unwrap() >= 1, "{again}");
    let groups = grouping(&db);
    assert_eq!(in_person(&groups, &late), Some(anchor_person), "a new photo joins the existing person");
    assert!(!groups[&anchor_person].iter().any(|(_, face)| *face == removed), "the removed face stays out");
    let rejoin = faceprint(&db, &["library", "people", "merge", &anchor_person.to_string(), "999999"]);
    assert_eq!(rejoin.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&rejoin.stderr).contains("unknown_person"));

    // Named, the person is a gallery subject: identify and verify find her, and search uses her.
    let named = faceprint(&db, &["library", "people", "name", &anchor_person.to_string(), "Anchor Person"]);
    assert!(named.status.success(), "{}", String::from_utf8_lossy(&named.stderr));
    let identified = json_lines(&faceprint(&db, &["identify", "--json", s(held_back)]));
    assert_eq!(identified[0]["faces"][0]["match"], "Anchor Person", "{identified:?}");
    let verified = ok_json(&faceprint(&db, &["verify", "--json", "--subject", "Anchor Person", s(held_back)]));
    assert_eq!(verified["same"], true, "{verified}");

    let sheet = dir.path().join("sheet.png");
    let found = json_lines(&faceprint(
        &db,
        &["library", "search", "--subject", "Anchor Person", "--json", "--contact-sheet", s(&sheet)],
    ));
    let found_paths: HashSet<&str> = found.iter().map(|hit| hit["path"].as_str().unwrap()).collect();
    for file in anchor_files.iter().chain([&late, &sideways]) {
        assert!(found_paths.contains(s(file)), "search by subject finds {}", file.display());
    }
    assert!(found.windows(2).all(|w| w[0]["similarity"].as_f64() >= w[1]["similarity"].as_f64()), "ranked");
    let sheet = image::open(&sheet).unwrap();
    assert!(sheet.width() >= 160 && sheet.height() >= 160);
    let by_photo = json_lines(&faceprint(&db, &["library", "search", "--photo", s(held_back), "--json"]));
    assert!(by_photo[0]["similarity"].as_f64().unwrap() > 0.99, "the probe's own photo comes first");
    let hits: HashSet<&str> = by_photo.iter().map(|hit| hit["path"].as_str().unwrap()).collect();
    let anchor_found = anchor_files.iter().filter(|f| hits.contains(s(f))).count();
    assert!(anchor_found * 10 >= anchor_files.len() * 8, "{anchor_found} of {} found", anchor_files.len());
}

#[test]
fn grouping_photos_as_they_arrive_agrees_with_grouping_them_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    for (name, files) in people(3).into_iter().take(40) {
        let half = files.len() / 2;
        copy_person(&files[..half], &first.join(&name));
        copy_person(&files[half..], &second.join(&name));
    }
    let step_db = dir.path().join("steps.db");
    ok_json(&faceprint(&step_db, &["library", "add", "--json", s(&first)]));
    ok_json(&faceprint(&step_db, &["library", "add", "--json", s(&second)]));
    let once_db = dir.path().join("once.db");
    ok_json(&faceprint(&once_db, &["library", "add", "--json", s(&first), s(&second)]));
    // Pairs of photos put together by each run (LFW photos are labelled by their centred
    // face; only photos whose faces all went to people are compared).
    let pairs = |db: &Path| -> HashSet<(String, String)> {
        let mut pairs = HashSet::new();
        for faces in grouping(db).values() {
            let mut paths: Vec<&String> = faces.iter().map(|(p, _)| p).collect();
            paths.sort();
            for (i, a) in paths.iter().enumerate() {
                for b in &paths[i + 1..] {
                    pairs.insert(((*a).clone(), (*b).clone()));
                }
            }
        }
        pairs
    };
    let (steps, once) = (pairs(&step_db), pairs(&once_db));
    let common = steps.intersection(&once).count() as f64;
    let agreement = 2.0 * common / (steps.len() + once.len()) as f64;
    assert!(once.len() > 40, "the full run grouped people: {} pairs", once.len());
    assert!(agreement >= 0.95, "pairwise agreement {agreement:.3} ({} and {} pairs)", steps.len(), once.len());
}

/// Regression: a root that exists but is empty (an unmounted drive's mount point) made
/// `library add` forget every photo under it, with names, faces and curation (`gone:21`, a
/// named person 7 → 0 faces). Missing files are now marked and kept, and come back attached.
#[test]
fn an_empty_mount_point_or_deleted_files_lose_no_curation() {
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("drive");
    let (name, files) = people(5).into_iter().next().unwrap();
    let copied = copy_person(&files, &drive.join(&name));
    let db = dir.path().join("lib.db");
    ok_json(&faceprint(&db, &["library", "add", "--json", s(&drive)]));
    let person = json_lines(&faceprint(&db, &["library", "people", "--json"]))[0].clone();
    let id = person["id"].to_string();
    let named = faceprint(&db, &["library", "people", "name", &id, "Kept Person"]);
    assert!(named.status.success(), "{}", String::from_utf8_lossy(&named.stderr));
    let faces = person["faces"].as_u64().unwrap();

    // Unmounted: the mount point is there, empty.
    let away = dir.path().join("away");
    std::fs::rename(&drive, &away).unwrap();
    std::fs::create_dir(&drive).unwrap();
    let output = faceprint(&db, &["library", "add", "--json", s(&drive)]);
    let empty = ok_json(&output);
    assert_eq!(empty["indexed"]["missing"], 0, "{empty}");
    assert_eq!(empty["indexed"]["skipped"][0]["path"], s(&drive), "{empty}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing under it is taken for missing"));
    let kept = &json_lines(&faceprint(&db, &["library", "people", "--json"]))[0];
    assert_eq!((kept["name"].as_str(), kept["faces"].as_u64()), (Some("Kept Person"), Some(faces)));

    // Remounted with one photo deleted: it is marked missing, its face kept with the person.
    std::fs::remove_dir(&drive).unwrap();
    std::fs::rename(&away, &drive).unwrap();
    let gone = copied[0].clone();
    let held = dir.path().join("held.jpg");
    std::fs::rename(&gone, &held).unwrap();
    let marked = ok_json(&faceprint(&db, &["library", "add", "--json", s(&drive)]));
    assert_eq!(marked["indexed"]["missing"], 1, "{marked}");
    assert_eq!(status(&db)["missing_files"], 1);
    let kept = &json_lines(&faceprint(&db, &["library", "people", "--json"]))[0];
    assert_eq!(kept["faces"].as_u64(), Some(faces), "a missing photo keeps its face with the person");
    // Back where it was: attached again, nothing re-read.
    std::fs::rename(&held, &gone).unwrap();
    let back = ok_json(&faceprint(&db, &["library", "add", "--json", s(&drive)]));
    assert_eq!((back["indexed"]["returned"].as_u64(), back["indexed"]["added"].as_u64()), (Some(1), Some(0)), "{back}");
    assert_eq!(status(&db)["missing_files"], 0);

    // Removing missing files is explicit, and says what it removes first.
    std::fs::remove_file(&gone).unwrap();
    ok_json(&faceprint(&db, &["library", "add", "--json", s(&drive)]));
    let recent = ok_json(&faceprint(&db, &["library", "forget-missing", "--older-than", "1", "--json"]));
    assert_eq!(recent["files"].as_array().unwrap().len(), 0, "missing for less than a day: {recent}");
    let dry = faceprint(&db, &["library", "forget-missing", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains(&format!("would forget {}", s(&gone))));
    assert_eq!(status(&db)["missing_files"], 1, "a dry run removes nothing");
    let forgotten = ok_json(&faceprint(&db, &["library", "forget-missing", "--json"]));
    assert_eq!(forgotten["removed_photos"], 1, "{forgotten}");
    let kept = &json_lines(&faceprint(&db, &["library", "people", "--json"]))[0];
    assert_eq!(kept["faces"].as_u64(), Some(faces - 1));
}

/// Regression: export then import left the library unusable (`UNIQUE constraint failed` on
/// the next `library add`): the export carried the library's crops but none of its people,
/// names or files.
#[test]
fn an_exported_library_imports_whole_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let mut chosen = people(4).into_iter().take(3);
    let (late_name, late_files) = chosen.next().unwrap();
    for (name, files) in chosen {
        copy_person(&files, &photos.join(&name));
    }
    let db = dir.path().join("lib.db");
    ok_json(&faceprint(&db, &["library", "add", "--json", s(&photos)]));
    let first = json_lines(&faceprint(&db, &["library", "people", "--json"]))[0]["id"].to_string();
    assert!(faceprint(&db, &["library", "people", "name", &first, "Moved Person"]).status.success());
    let export = dir.path().join("export.jsonl");
    assert!(faceprint(&db, &["export", s(&export)]).status.success());

    let moved = dir.path().join("moved.db");
    let imported = ok_json(&faceprint(&moved, &["import", s(&export)]));
    assert!(imported["library_photos"].as_u64().unwrap() > 0, "{imported}");
    assert!(imported["library_people"].as_u64().unwrap() >= 2, "{imported}");
    let (before, after) = (status(&db), status(&moved));
    assert_eq!(before, after, "the same library");
    let listed = |db: &Path| -> Vec<(Value, Value)> {
        json_lines(&faceprint(db, &["library", "people", "--json"]))
            .iter()
            .map(|p| (p["name"].clone(), p["faces"].clone()))
            .collect()
    };
    assert_eq!(listed(&db), listed(&moved));
    // It keeps working: the same folder is unchanged, new photos are added and grouped, and
    // the named person is still an enrolled subject.
    let again = ok_json(&faceprint(&moved, &["library", "add", "--json", s(&photos)]));
    assert_eq!(
        (again["indexed"]["added"].as_u64(), again["indexed"]["failed"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    copy_person(&late_files, &photos.join(&late_name));
    let grown = ok_json(&faceprint(&moved, &["library", "add", "--json", s(&photos)]));
    assert_eq!(grown["indexed"]["added"].as_u64().unwrap() as usize, late_files.len(), "{grown}");
    let subjects = String::from_utf8_lossy(&faceprint(&moved, &["subjects", "list"]).stdout).into_owned();
    assert!(subjects.contains("Moved Person"), "{subjects}");
    // Importing twice adds nothing.
    let twice = ok_json(&faceprint(&moved, &["import", s(&export)]));
    assert_eq!((twice["library_photos"].as_u64(), twice["library_people"].as_u64()), (Some(0), Some(0)), "{twice}");
}
