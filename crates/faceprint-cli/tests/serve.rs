//! `faceprint keys` and `faceprint serve` as a user runs them: a real process, a real socket,
//! and a real SIGTERM in the middle of an enrolment.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

fn faceprint(db: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faceprint")).arg("--gallery").arg(db).args(args).output().unwrap()
}

#[test]
fn sigterm_during_an_enrolment_finishes_it_then_the_server_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let created = faceprint(&db, &["keys", "create", "--scope", "write", "--label", "test"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("fp_"));
    let listed = String::from_utf8(faceprint(&db, &["keys", "list"]).stdout).unwrap();
    assert!(listed.contains("\"scope\":\"write\"") && !listed.contains(&key[3..]), "{listed}");
    assert!(faceprint(&db, &["subjects", "create", "Donald Regan"]).status.success());

    let mut server = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .arg("--gallery")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("faceprint listening on ").expect("the address line").to_owned();

    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    assert_eq!(client.get(format!("{base}/healthz")).send().unwrap().status(), 200);
    // A large photo keeps the enrolment in flight while the signal arrives.
    let photo = testdata().join("lfw-devtest/images/Donald_Regan/Donald_Regan_0001.jpg");
    let big = image::imageops::resize(
        &image::open(photo).unwrap().to_rgb8(),
        3000,
        3000,
        image::imageops::FilterType::Triangle,
    );
    let mut png = std::io::Cursor::new(Vec::new());
    big.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let request = client
        .post(format!("{base}/v1/collections/default/subjects/1/faces"))
        .bearer_auth(&key)
        .header("content-type", "image/png")
        .body(png.into_inner());
    let in_flight =
        std::thread::spawn(move || request.send().map(|r| (r.status().as_u16(), r.text().unwrap_or_default())));
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());

    let (status, body) = in_flight.join().unwrap().expect("the request in flight gets its answer");
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let shown = String::from_utf8(faceprint(&db, &["subjects", "show", "Donald Regan", "--json"]).stdout).unwrap();
    let face: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["face_records"][0]["id"], face["face_id"], "{shown}");
}
