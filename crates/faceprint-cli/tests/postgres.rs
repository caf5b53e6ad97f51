//! `faceprint serve` on PostgreSQL as an operator runs it: several real server processes on one
//! real database, the database restarted underneath them, a server killed -9 during a bulk
//! enrolment, and `gallery copy` from the command line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faceprint_gallery::testing::postgres::PgServer;
use serde_json::{Value, json};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

fn photos(person: &str) -> Vec<PathBuf> {
    let dir = testdata().join("lfw-devtest/images").join(person);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn faceprint(gallery: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faceprint")).arg("--gallery").arg(gallery).args(args).output().unwrap()
}

fn write_key(gallery: &str) -> String {
    let created = faceprint(gallery, &["keys", "create", "--scope", "write", "--label", "test"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    String::from_utf8(created.stdout).unwrap().trim().to_owned()
}

/// A `faceprint serve` child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(gallery: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faceprint"))
            .args(["--gallery", gallery])
            .args(extra)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("faceprint listening on ").expect("the address line").to_owned();
        Server { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn create_subject(server: &Server, key: &str, name: &str) -> (u16, Value) {
    let response = client()
        .post(server.url("/v1/collections/default/subjects"))
        .bearer_auth(key)
        .json(&json!({"name": name}))
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

fn enrol(server: &Server, key: &str, subject: i64, photo: &Path) -> reqwest::Result<(u16, Value)> {
    let response = client()
        .post(server.url(&format!("/v1/collections/default/subjects/{subject}/faces")))
        .bearer_auth(key)
        .header("content-type", "image/jpeg")
        .body(std::fs::read(photo).unwrap())
        .send()?;
    Ok((response.status().as_u16(), response.json().unwrap_or(Value::Null)))
}

fn identify(server: &Server, key: &str, photo: &Path) -> (u16, Value) {
    let response = client()
        .post(server.url("/v1/identify"))
        .bearer_auth(key)
        .header("content-type", "image/jpeg")
        .body(std::fs::read(photo).unwrap())
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn readyz(server: &Server) -> (u16, Value) {
    let response = client().get(server.url("/readyz")).timeout(Duration::from_secs(15)).send().unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

#[test]
fn two_servers_on_one_database_see_each_others_enrolments_and_make_one_subject_of_one_name() {
    let url = PgServer::shared().new_database();
    let key = write_key(&url);
    let (a, b) = (Server::start(&url, &[]), Server::start(&url, &[]));

    // The same new name on both at once: one subject, the other server says it exists.
    let both = std::thread::scope(|scope| {
        let one = scope.spawn(|| create_subject(&a, &key, "Paul Martin"));
        let two = scope.spawn(|| create_subject(&b, &key, "Paul Martin"));
        [one.join().unwrap(), two.join().unwrap()]
    });
    let mut statuses: Vec<u16> = both.iter().map(|o| o.0).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{both:?}");
    let subject = both.iter().find(|o| o.0 == 201).unwrap().1["id"].as_i64().unwrap();

    let paul = photos("Paul_Martin");
    let (status, body) = enrol(&a, &key, subject, &paul[0]).unwrap();
    assert_eq!(status, 201, "{body}");
    let start = Instant::now();
    loop {
        let (status, found) = identify(&b, &key, &paul[1]);
        assert_eq!(status, 200, "{found}");
        if found["faces"][0]["match"] == "Paul Martin" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(1), "B did not find A's enrolment within 1 s: {found}");
    }

    // The command line's enrolment by name from two processes at once: still one subject.
    let donald = photos("Donald_Rumsfeld");
    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = donald[..2]
            .iter()
            .map(|photo| {
                let url = url.clone();
                scope.spawn(move || {
                    faceprint(&url, &["enroll", "--subject", "Donald Rumsfeld", photo.to_str().unwrap()])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        runs.iter().all(|r| r.status.success()),
        "{:?}",
        runs.iter().map(|r| String::from_utf8_lossy(&r.stderr)).collect::<Vec<_>>()
    );
    let listed: Value =
        client().get(a.url("/v1/collections/default/subjects")).bearer_auth(&key).send().unwrap().json().unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| **n == "Donald Rumsfeld").count(), 1, "{listed}");
    let donald_faces =
        listed.as_array().unwrap().iter().find(|s| s["name"] == "Donald Rumsfeld").unwrap()["faces"].clone();
    assert_eq!(donald_faces, 2, "{listed}");
}

#[test]
fn a_database_restart_turns_readiness_off_then_on_without_hanging_or_losing_anything() {
    let server = PgServer::start();
    let url = server.new_database();
    let key = write_key(&url);
    let faceprint = Server::start(&url, &["--db-timeout", "3"]);
    let (status, subject) = create_subject(&faceprint, &key, "Tang Jiaxuan");
    assert_eq!(status, 201);
    let tang = photos("Tang_Jiaxuan");
    let (status, enrolled) = enrol(&faceprint, &key, subject["id"].as_i64().unwrap(), &tang[0]).unwrap();
    assert_eq!(status, 201, "{enrolled}");
    assert_eq!(readyz(&faceprint).0, 200);

    server.stop();
    let start = Instant::now();
    let (status, health) = loop {
        let (status, health) = readyz(&faceprint);
        if status == 503 {
            break (status, health);
        }
        assert!(start.elapsed() < Duration::from_secs(5), "readiness stayed on: {health}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!((status, health["code"].as_str()), (503, Some("gallery_unreachable")), "{health}");
    // Regression: the unauthenticated probe printed `postgres://user@host:port/db`.
    let said = health.to_string();
    let port = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()).unwrap_or("");
    assert!(!said.contains("postgres") && !said.contains(port), "readiness tells where the database is: {said}");
    let start = Instant::now();
    let (status, body) = identify(&faceprint, &key, &tang[1]);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "gallery_unreachable");
    assert!(start.elapsed() < Duration::from_secs(10), "the request ended within its timeout");

    server.start_again();
    let start = Instant::now();
    while readyz(&faceprint).0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(15), "readiness came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, found) = identify(&faceprint, &key, &tang[1]);
    assert_eq!((status, found["faces"][0]["match"].as_str()), (200, Some("Tang Jiaxuan")), "{found}");
    let (status, again) = enrol(&faceprint, &key, subject["id"].as_i64().unwrap(), &tang[2]).unwrap();
    assert_eq!(status, 201, "writes work again: {again}");
}

#[test]
fn a_server_killed_during_a_bulk_enrolment_keeps_every_acknowledged_face_and_a_rerun_adds_no_duplicates() {
    let url = PgServer::shared().new_database();
    let key = write_key(&url);
    let people = ["John_Bolton", "Amelie_Mauresmo", "Dominique_de_Villepin", "Robert_Redford"];
    let mut work = Vec::new();
    let server = Server::start(&url, &[]);
    for person in people {
        let (status, subject) = create_subject(&server, &key, &person.replace('_', " "));
        assert_eq!(status, 201);
        work.extend(photos(person).into_iter().map(|p| (subject["id"].as_i64().unwrap(), p)));
    }

    let mut server = server;
    let count = std::sync::atomic::AtomicUsize::new(0);
    let acknowledged: Vec<i64> = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut acknowledged = Vec::new();
            for (subject, photo) in &work {
                // A refused photo (two faces, say) is answered too; only a dead server stops this.
                match enrol(&server, &key, *subject, photo) {
                    Ok((201, body)) => acknowledged.push(body["face_id"].as_i64().unwrap()),
                    Ok(_) => {}
                    Err(_) => break,
                }
                count.store(acknowledged.len(), std::sync::atomic::Ordering::Release);
            }
            acknowledged
        });
        // Killed once a few enrolments are acknowledged, with most of the run still to go.
        let deadline = Instant::now() + Duration::from_secs(300);
        while count.load(std::sync::atomic::Ordering::Acquire) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = Command::new("kill").args(["-9", &server.child.id().to_string()]).status();
        sender.join().unwrap()
    });
    let _ = server.child.wait();
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < work.len(),
        "killed mid-run: {} acknowledged",
        acknowledged.len()
    );

    let restarted = Server::start(&url, &[]);
    let mut stored = Vec::new();
    let listed: Value = client()
        .get(restarted.url("/v1/collections/default/subjects"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    for subject in listed.as_array().unwrap() {
        let detail: Value = client()
            .get(restarted.url(&format!("/v1/collections/default/subjects/{}", subject["id"])))
            .bearer_auth(&key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        stored.extend(detail["face_records"].as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()));
    }
    for face in &acknowledged {
        assert!(stored.contains(face), "acknowledged face {face} is missing after kill -9");
    }

    // The whole run again: what is there is reported as a duplicate, the rest is added.
    let mut enrolled = 0;
    for (subject, photo) in &work {
        let (status, body) = enrol(&restarted, &key, *subject, photo).unwrap();
        if status != 422 {
            assert!(status == 201 || status == 200, "{status} {body}");
            enrolled += 1;
        }
    }
    let stats = faceprint(&url, &["subjects", "list", "--json"]);
    let subjects: Vec<Value> =
        String::from_utf8(stats.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let faces: i64 = subjects.iter().map(|s| s["faces"].as_i64().unwrap()).sum();
    assert_eq!(faces as usize, enrolled, "one face per enrolled photo, none twice: {subjects:?}");
    assert!(enrolled > acknowledged.len());
}

#[test]
fn gallery_copy_moves_a_file_gallery_to_postgres_and_back_and_reruns_add_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.db");
    let file = file.to_str().unwrap();
    let enrolled =
        faceprint(file, &["enroll", "--subject", "Leonid Kuchma", photos("Leonid_Kuchma")[0].to_str().unwrap()]);
    assert!(enrolled.status.success(), "{}", String::from_utf8_lossy(&enrolled.stderr));
    let key = write_key(file);
    let url = PgServer::shared().new_database();
    let copy = |from: &str, to: &str| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_faceprint"))
            .args(["gallery", "copy", from, to, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let first = copy(file, &url);
    assert_eq!(
        (first["faces"].as_i64(), first["faces_added"].as_i64(), first["faces_verified"].as_i64()),
        (Some(1), Some(1), Some(1))
    );
    let again = copy(file, &url);
    assert_eq!((again["faces_added"].as_i64(), again["api_keys_added"].as_i64()), (Some(0), Some(0)));
    // The copied key opens the server on the database; the copied face is identified there.
    let server = Server::start(&url, &[]);
    let (status, found) = identify(&server, &key, &photos("Leonid_Kuchma")[1]);
    assert_eq!((status, found["faces"][0]["match"].as_str()), (200, Some("Leonid Kuchma")), "{found}");
    let back = dir.path().join("back.db");
    assert_eq!(copy(&url, back.to_str().unwrap())["faces_verified"].as_i64(), Some(1));

    // A wrong password is told apart from a server that is not there, in the code that leads.
    let wrong = url.replace(faceprint_gallery::testing::postgres::ADMIN_PASSWORD, "wrong");
    let refused = faceprint(&wrong, &["subjects", "list"]);
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("[gallery_auth_failed]"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("wrong"), "no password in messages");
}

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ok_json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The photo library on PostgreSQL, as on a file: two `library add` runs at once store each
/// file once; people are named, split, merged and have faces removed from the command line;
/// a named person is identified; the server's library routes answer a library key.
#[test]
fn the_photo_library_works_on_postgresql_and_two_indexing_runs_store_each_file_once() {
    let url = PgServer::shared().new_database();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("photos");
    let mut files = 0;
    for person in ["Paul_Martin", "John_Bolton", "Amelie_Mauresmo"] {
        let into = folder.join(person);
        std::fs::create_dir_all(&into).unwrap();
        for photo in photos(person).iter().take(6) {
            std::fs::copy(photo, into.join(photo.file_name().unwrap())).unwrap();
            files += 1;
        }
    }
    let add = || {
        Command::new(env!("CARGO_BIN_EXE_faceprint"))
            .args(["-q", "--gallery", &url, "library", "add", "--no-grouping", "--json"])
            .arg(&folder)
            .output()
            .unwrap()
    };
    let runs = std::thread::scope(|scope| {
        let one = scope.spawn(add);
        let two = scope.spawn(add);
        [one.join().unwrap(), two.join().unwrap()]
    });
    for run in &runs {
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let status = ok_json(&faceprint(&url, &["library", "status", "--json"]))["status"].clone();
    assert_eq!((status["photos"].as_u64(), status["files"].as_u64()), (Some(files), Some(files)), "{status}");

    // Grouping, then curation from the command line.
    ok_json(&faceprint(&url, &["-q", "library", "add", "--json", folder.to_str().unwrap()]));
    let people = json_lines(&faceprint(&url, &["library", "people", "--json"]));
    assert!(people.len() >= 3, "{people:?}");
    let biggest = people[0]["id"].as_i64().unwrap().to_string();
    let faces = json_lines(&faceprint(&url, &["library", "people", "faces", &biggest]));
    let named = faceprint(&url, &["library", "people", "name", &biggest, "Anchor Person"]);
    assert!(named.status.success(), "{}", String::from_utf8_lossy(&named.stderr));
    let probe = faces[0]["paths"][0].as_str().unwrap().to_owned();
    let identified = json_lines(&faceprint(&url, &["identify", "--json", &probe]));
    assert_eq!(identified[0]["faces"][0]["match"], "Anchor Person", "{identified:?}");
    let found = json_lines(&faceprint(&url, &["library", "search", "--subject", "Anchor Person", "--json"]));
    assert!(found.len() >= faces.len() - 1, "{} hits for {} faces", found.len(), faces.len());

    let proposal = faceprint(&url, &["library", "people", "split", &biggest, "--json"]);
    assert!(proposal.status.success(), "{}", String::from_utf8_lossy(&proposal.stderr));
    let face = faces.last().unwrap()["face"]["face_id"].as_i64().unwrap().to_string();
    let removed = faceprint(&url, &["library", "people", "remove-face", &biggest, &face]);
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let unknown = faceprint(&url, &["library", "people", "merge", &biggest, "999999"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown_person"));
    let left = json_lines(&faceprint(&url, &["library", "people", "faces", &biggest]));
    assert_eq!(left.len(), faces.len() - 1);

    // The server's library routes, for a library key.
    let created = faceprint(&url, &["keys", "create", "--scope", "library", "--label", "test"]);
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let server = Server::start(&url, &[]);
    let get = |path: &str| {
        let response = client().get(server.url(path)).bearer_auth(&key).send().unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap())
    };
    let (code, body) = get("/v1/library");
    assert_eq!((code, body["status"]["photos"].as_u64()), (200, Some(files)), "{body}");
    let (code, body) = get("/v1/library/people");
    assert_eq!(code, 200);
    assert!(body.as_array().unwrap().iter().any(|p| p["name"] == "Anchor Person"), "{body}");
}
