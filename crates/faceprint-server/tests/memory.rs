//! Memory a request body can make the server hold, measured by a counting allocator (this test
//! binary's own, so one test runs in it).

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use common::App;
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Peak bytes allocated above the level when `work` started.
async fn peak_during<F: Future>(work: F) -> (F::Output, usize) {
    let base = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let out = work.await;
    (out, ALLOCATOR.peak_usage().saturating_sub(base))
}

#[tokio::test]
async fn a_json_body_costs_about_its_length_whatever_it_holds() {
    let app = App::new();
    // 10 MB of `{"x":[0,0,…]}`: as a JSON tree that was ~32 bytes a number (over 150 MB).
    let mut body = String::from(r#"{"x":["#);
    body.push_str(&"0,".repeat(5 << 20));
    body.push_str(r#"0],"image":""#);
    body.push_str(&base64::engine::general_purpose::STANDARD.encode(common::blank_png_bytes()));
    body.push_str(r#""}"#);
    let length = body.len();
    let ((status, answer), peak) =
        peak_during(app.send(Method::POST, "/v1/detect", Some(&app.read), Body::from(body), Some("application/json")))
            .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    // The body itself (our copy and the request's) plus the engine's working set for a tiny image.
    assert!(peak < 3 * length + (16 << 20), "peak {peak} bytes for a {length}-byte body");
}
