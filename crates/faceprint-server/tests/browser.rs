//! The web page in a real browser: headless Debian Chromium driven by playwright-core (npm)
//! against this server over a real socket. `scripts/test` installs both.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{App, lfw};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_detects_draws_enrols_identifies_and_deletes_in_chromium() {
    let app = App::new();
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-page-canvas.png");
    let (a, b) = (lfw("Abdullah_Gul", 13), lfw("Abdullah_Gul", 14));
    let mut args = vec![app.write.clone()];
    args.extend([a, b, screenshot].iter().map(|p| p.to_string_lossy().into_owned()));
    let seen = run_page_script(app.state.clone(), "page.test.mjs", args).await;
    eprintln!("{seen}");
    assert!(seen["pageError"].is_null(), "{seen}");
    assert!(seen["detected"].as_str().unwrap().starts_with("1 face(s)"), "{seen}");
    // A box of about 100×120 px drawn 2 px wide: several hundred green pixels; landmarks red.
    assert!(seen["boxPixels"].as_u64().unwrap() > 300, "boxes drawn: {seen}");
    assert!(seen["landmarkPixels"].as_u64().unwrap() > 20, "landmarks drawn: {seen}");
    assert_eq!(seen["subjectsAfterEnrol"], 1);
    assert!(seen["identified"].as_str().unwrap().contains("Abdullah Gul"), "{seen}");
    assert_eq!(seen["subjectsAfterDelete"], 0);
}

/// Runs a web-test script (`node SCRIPT BASE_URL ARGS…`) against a server over `state` on a
/// real socket, returning the JSON line it printed.
async fn run_page_script(state: faceprint_server::AppState, script: &str, args: Vec<String>) -> serde_json::Value {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web-test");
    assert!(
        std::path::Path::new(&chromium).exists() && web.join("node_modules/playwright-core").is_dir(),
        "the browser test needs Debian's chromium and the npm packages: run scripts/test (it installs them)"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(faceprint_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let script = script.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&web)
            .env("CHROMIUM", chromium)
            .arg(script)
            .arg(base)
            .args(args)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_people_and_search_views_name_remove_and_find_in_chromium() {
    let app = App::new();
    // A small library: three people with several photos each.
    let photos = app.dir.path().join("photos");
    let probe = lfw("Amelie_Mauresmo", 6);
    for name in ["Abdullah_Gul", "Amelie_Mauresmo", "Alvaro_Uribe"] {
        std::fs::create_dir_all(photos.join(name)).unwrap();
        let source = common::testdata().join("lfw-devtest/images").join(name);
        for entry in std::fs::read_dir(source).unwrap() {
            let from = entry.unwrap().path();
            if from != probe {
                std::fs::copy(&from, photos.join(name).join(from.file_name().unwrap())).unwrap();
            }
        }
    }
    let (engine, gallery, folder) = (common::engine(), app.gallery.clone(), photos.clone());
    tokio::task::spawn_blocking(move || {
        faceprint::library::index_folders(&engine, gallery.as_ref(), &[folder], |_, _| {}).unwrap();
        faceprint::library::group_new_faces(gallery.as_ref(), gallery.as_ref(), &Default::default()).unwrap();
    })
    .await
    .unwrap();
    let state = app.state.clone().with_library(app.gallery.clone());
    let args = vec![app.library.clone(), probe.to_string_lossy().into_owned()];
    let seen = run_page_script(state, "library.test.mjs", args).await;
    eprintln!("{seen}");
    assert!(seen["pageError"].is_null(), "{seen}");
    assert!(seen["people"].as_u64().unwrap() >= 3, "{seen}");
    assert_eq!(seen["cropWidth"], 112, "the representative face's crop is shown");
    assert_eq!(seen["peopleUnchangedBySplitProposal"], true, "Split proposes before it applies: {seen}");
    assert!(seen["named"].as_str().unwrap().contains("Library Person"), "{seen}");
    assert!(seen["subjects"].as_str().unwrap().contains("Library Person"), "naming enrols a subject: {seen}");
    assert!(seen["facesBefore"].as_u64().unwrap() >= 2, "{seen}");
    assert!(seen["found"].as_str().unwrap().starts_with(|c: char| c.is_ascii_digit() && c != '0'), "{seen}");
    let top = &seen["topHit"];
    assert!(top["similarity"].as_f64().unwrap() > 0.4, "{seen}");
    assert!(top["path"].as_str().unwrap().contains("Amelie_Mauresmo"), "the probe's person comes first: {seen}");
}
