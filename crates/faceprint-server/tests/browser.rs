//! The web page in a real browser: headless Debian Chromium driven by playwright-core (npm)
//! against this server over a real socket. `scripts/test` installs both.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{App, lfw};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_detects_draws_enrols_identifies_and_deletes_in_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web-test");
    assert!(
        std::path::Path::new(&chromium).exists() && web.join("node_modules/playwright-core").is_dir(),
        "the browser test needs Debian's chromium and the npm packages: run scripts/test (it installs them)"
    );
    let app = App::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(faceprint_server::serve(listener, app.state.clone(), async {
        let _ = stopped.await;
    }));
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-page-canvas.png");
    let (a, b) = (lfw("Abdullah_Gul", 13), lfw("Abdullah_Gul", 14));
    let key = app.write.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(&web)
            .env("CHROMIUM", chromium)
            .arg("page.test.mjs")
            .args([base.as_str(), key.as_str()])
            .arg(a)
            .arg(b)
            .arg(&screenshot)
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
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
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
