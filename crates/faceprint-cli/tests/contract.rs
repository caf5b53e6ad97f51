//! The JSON contracts, pinned: for each, the command line's line (less the `path` it adds) and
//! the HTTP API's body for the same photos have the same shape, and that shape is the golden
//! file's (`crates/faceprint/tests/golden/`). A shape keeps every key and the type of every value
//! (numbers become 0, strings "", arrays their first element), so real outputs compare exactly.
//! `UPDATE_GOLDEN=1` rewrites the files from the command line's output.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Map, Value};

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../faceprint/tests/golden")
}

fn lfw(name: &str, n: u32) -> PathBuf {
    testdata().join(format!("lfw-devtest/images/{name}/{name}_{n:04}.jpg"))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every key, and each value's type.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect::<Map<_, _>>()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::Number(_) => Value::from(0),
        Value::String(_) => Value::from(""),
        Value::Bool(_) => Value::from(false),
        Value::Null => Value::Null,
    }
}

fn without(mut value: Value, keys: &[&str]) -> Value {
    for key in keys {
        value.as_object_mut().unwrap().remove(*key);
    }
    value
}

/// The command line's one JSON line for `args`.
fn cli(db: &Path, args: &[&str]) -> Value {
    let output =
        Command::new(env!("CARGO_BIN_EXE_faceprint")).args(["-q", "--gallery", s(db)]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{args:?}: no output: {}", String::from_utf8_lossy(&output.stderr)));
    serde_json::from_str(line).unwrap()
}

fn check(name: &str, from_cli: Value, from_api: Value) {
    let path = golden_dir().join(format!("{name}.json"));
    let cli_shape = shape(&from_cli);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&cli_shape).unwrap() + "\n").unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(cli_shape, golden, "{name}: the command line's shape is not the golden file's:\n{from_cli}");
    assert_eq!(shape(&from_api), golden, "{name}: the API's shape is not the golden file's:\n{from_api}");
}

/// A key of `scope` for the gallery, and `faceprint serve` on it: (key, server, base URL).
fn serve_with_key(db: &Path, scope: &str) -> (String, Child, String) {
    let key = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["--gallery", s(db), "keys", "create", "--scope", scope])
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let mut server = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["--gallery", s(db), "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("faceprint listening on ").unwrap().to_owned();
    (key, server, base)
}

#[test]
fn the_command_line_and_the_api_answer_in_the_same_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let (a, b) = (lfw("Abdullah_Gul", 13), lfw("Abdullah_Gul", 14));
    let enrolled = cli(&db, &["enroll", "--subject", "Abdullah Gul", s(&a)]);
    let (key, mut server, base) = serve_with_key(&db, "write");
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, body: Vec<u8>| -> Value {
        let response = client.post(format!("{base}{path}")).bearer_auth(&key).body(body).send().unwrap();
        serde_json::from_slice(&response.bytes().unwrap()).unwrap()
    };
    let get = |path: &str| -> Value {
        serde_json::from_slice(&client.get(format!("{base}{path}")).bearer_auth(&key).send().unwrap().bytes().unwrap())
            .unwrap()
    };
    let photo = std::fs::read(&b).unwrap();

    check("image", without(cli(&db, &["detect", "--json", s(&b)]), &["path"]), post("/v1/detect", photo.clone()));
    check(
        "image_embedded",
        without(cli(&db, &["embed", "--json", s(&b)]), &["path"]),
        post("/v1/embed", photo.clone()),
    );
    check(
        "image_analysed",
        without(cli(&db, &["analyze", "--json", s(&b)]), &["path"]),
        post("/v1/analyze", photo.clone()),
    );
    let form = |a: &Path, b: &Path| {
        reqwest::blocking::multipart::Form::new()
            .part("image1", reqwest::blocking::multipart::Part::bytes(std::fs::read(a).unwrap()).file_name("a.jpg"))
            .part("image2", reqwest::blocking::multipart::Part::bytes(std::fs::read(b).unwrap()).file_name("b.jpg"))
    };
    let compared: Value = serde_json::from_slice(
        &client
            .post(format!("{base}/v1/compare"))
            .bearer_auth(&key)
            .multipart(form(&a, &b))
            .send()
            .unwrap()
            .bytes()
            .unwrap(),
    )
    .unwrap();
    check("compare", cli(&db, &["compare", "--json", s(&a), s(&b)]), compared);
    check(
        "identify",
        without(cli(&db, &["identify", "--json", s(&b)]), &["path"]),
        post("/v1/identify", photo.clone()),
    );
    check(
        "verify",
        without(cli(&db, &["verify", "--json", "--subject", "Abdullah Gul", s(&b)]), &["path"]),
        post("/v1/verify?subject=Abdullah%20Gul", photo.clone()),
    );
    let api_enrolled =
        post(&format!("/v1/collections/default/subjects/{}/faces", enrolled["subject_id"]), photo.clone());
    check("enrolled", without(enrolled, &["path", "subject"]), api_enrolled);
    let subject_id = cli(&db, &["subjects", "list", "--json"])["id"].clone();
    check("subject", cli(&db, &["subjects", "list", "--json"]), get("/v1/collections/default/subjects")[0].clone());
    check(
        "subject_detail",
        cli(&db, &["subjects", "show", "Abdullah Gul", "--json"]),
        get(&format!("/v1/collections/default/subjects/{subject_id}")),
    );
    // An error: the line's `error` and the body's `error` (which adds the request id).
    let not_image = dir.path().join("text.jpg");
    std::fs::write(&not_image, "not a photo").unwrap();
    let mut api_error = post("/v1/detect", b"not a photo".to_vec());
    api_error["error"].as_object_mut().unwrap().remove("request_id");
    check("error", without(cli(&db, &["detect", "--json", s(&not_image)]), &["path"]), api_error);

    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}

/// The photo library's answers (status, a person, a split, a search hit) in one shape on the
/// command line and in the API, pinned by golden files as the others.
#[test]
fn the_library_answers_in_the_same_shapes_on_the_command_line_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("g.db");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (name, n) in [("Abdullah_Gul", 13), ("Abdullah_Gul", 14), ("Abdullah_Gul", 16), ("Paul_Martin", 1)] {
        std::fs::copy(lfw(name, n), photos.join(format!("{name}_{n}.jpg"))).unwrap();
    }
    let added = Command::new(env!("CARGO_BIN_EXE_faceprint"))
        .args(["-q", "--gallery", s(&db), "library", "add", s(&photos)])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let (key, mut server, base) = serve_with_key(&db, "library");
    let client = reqwest::blocking::Client::new();
    let answer = |request: reqwest::blocking::RequestBuilder| -> Value {
        let response = request.bearer_auth(&key).send().unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        serde_json::from_slice(&response.bytes().unwrap()).unwrap()
    };

    check(
        "library_status",
        cli(&db, &["library", "status", "--json"]),
        answer(client.get(format!("{base}/v1/library"))),
    );
    let person = cli(&db, &["library", "people", "--json"]);
    let id = person["id"].as_i64().unwrap();
    check("library_person", person, answer(client.get(format!("{base}/v1/library/people")))[0].clone());
    check(
        "library_split",
        cli(&db, &["library", "people", "split", &id.to_string(), "--json"]),
        answer(client.post(format!("{base}/v1/library/people/{id}/split"))),
    );
    let probe = lfw("Abdullah_Gul", 13);
    check(
        "library_hit",
        cli(&db, &["library", "search", "--photo", s(&probe), "--json"]),
        answer(client.post(format!("{base}/v1/library/search")).body(std::fs::read(&probe).unwrap()))[0].clone(),
    );

    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let _ = server.wait();
}
