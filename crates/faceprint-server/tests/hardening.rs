//! What an attacker with a read key (or none) can try: made-up methods, floods of unkeyed
//! probes, malformed paths and queries, framing the page, long lists, big metadata, many bodies
//! at once, slow headers, many connections.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::App;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

#[tokio::test]
async fn made_up_methods_add_no_metric_series() {
    let app = App::new();
    for i in 0..40 {
        let method = Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
        app.send(method, "/v1/detect", None, Body::empty(), None).await;
    }
    let (status, metrics) = app.send(Method::GET, "/metrics", Some(&app.read), Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(!metrics.contains("method=\"M1\""), "a series per made-up method");
    assert!(metrics.contains("method=\"other\""));
    let series = metrics.lines().filter(|l| l.starts_with("faceprint_http_requests_total")).count();
    assert!(series <= 4, "{series} series:\n{metrics}");
}

#[tokio::test]
async fn a_flood_of_readiness_probes_asks_the_gallery_once_a_second() {
    let app = App::new();
    for _ in 0..200 {
        let (status, _) = app.send(Method::GET, "/readyz", None, Body::empty(), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(app.state.readiness_checks() <= 2, "{} gallery checks", app.state.readiness_checks());
}

#[tokio::test]
async fn bad_paths_and_queries_answer_the_json_error_shape() {
    let app = App::new();
    let cases = [
        (Method::GET, "/v1/collections/default/subjects/abc", "bad_path"),
        (Method::POST, "/v1/identify?k=many", "bad_query"),
        (Method::POST, "/v1/detect?select=all&select=all", "bad_query"),
        (Method::GET, "/v1/collections/default/subjects?limit=-1", "bad_query"),
    ];
    for (method, path, code) in cases {
        let (status, body) = app.send(method.clone(), path, Some(&app.read), Body::empty(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}");
        assert_eq!(common::code(&body), code, "{method} {path}: {}", String::from_utf8_lossy(&body));
    }
}

#[tokio::test]
async fn answers_carry_security_headers_and_api_answers_are_not_cached() {
    let app = App::new();
    for (path, key, cache) in
        [("/", None, "no-cache"), ("/healthz", None, "no-store"), ("/metrics", Some(&app.read), "no-store")]
    {
        let mut request = Request::builder().uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], cache, "{path}");
    }
    // The page has no inline script left for the policy to block.
    let (_, page) = app.send(Method::GET, "/docs", None, Body::empty(), None).await;
    assert!(!String::from_utf8(page).unwrap().contains("<script>"));
}

#[tokio::test]
async fn subject_lists_come_in_pages_and_metadata_is_bounded() {
    let app = App::new();
    for i in 0..25 {
        let body = format!(r#"{{"name":"person {i:02}"}}"#);
        app.json(
            Method::POST,
            "/v1/collections/default/subjects",
            &app.write,
            Body::from(body),
            Some("application/json"),
        )
        .await;
    }
    let mut path = "/v1/collections/default/subjects?limit=10".to_owned();
    let mut seen = 0;
    loop {
        let request = Request::builder()
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {}", app.read))
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        let next = response.headers().get(header::LINK).map(|v| v.to_str().unwrap().to_owned());
        let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        let page: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        assert!(page.len() <= 10);
        seen += page.len();
        match next {
            Some(link) => path = link.trim_start_matches('<').split('>').next().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 25);

    // Metadata over 16 KiB is refused by the gallery; a body over 64 KiB is not even read.
    let cases = [
        (20 << 10, StatusCode::BAD_REQUEST, "invalid_argument"),
        (100 << 10, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    ];
    for (notes, status, code) in cases {
        let body = format!(r#"{{"name":"big","metadata":{{"notes":"{}"}}}}"#, "x".repeat(notes));
        let (got, answer) = app
            .send(
                Method::POST,
                "/v1/collections/default/subjects",
                Some(&app.write),
                Body::from(body),
                Some("application/json"),
            )
            .await;
        assert_eq!((got, common::code(&answer)), (status, code.to_owned()), "{notes} bytes of notes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_beyond_the_budget_wait_then_get_429_busy() {
    let app = App::with_config(faceprint_server::ServerConfig {
        max_body_bytes: 1 << 20,
        body_budget_bytes: 3 << 20,
        ..Default::default()
    });
    // A slow upload that declares 1 MiB holds 2 MiB of the budget while it trickles in.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = detect_of_one_mib(&app.read, Body::from_stream(tokio_stream(receiver)));
    let router = app.router.clone();
    let first = tokio::spawn(async move { router.oneshot(slow).await.unwrap().status() });
    sender.send(Ok(vec![0; 1000])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.state.body_budget_available(), 1 << 20);
    // A second one of the same size does not fit: refused after a short wait, unread.
    let second = detect_of_one_mib(&app.read, Body::from(vec![0u8; 1 << 20]));
    let response = app.router.clone().oneshot(second).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    drop(sender);
    first.await.unwrap();
    assert_eq!(app.state.body_budget_available(), 3 << 20, "the budget is given back");
}

/// `POST /v1/detect` declaring a 1 MiB JPEG body.
fn detect_of_one_mib(key: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/v1/detect")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "image/jpeg")
        .header(header::CONTENT_LENGTH, 1 << 20)
        .body(body)
        .unwrap()
}

fn tokio_stream(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

async fn start(
    config: faceprint_server::ServerConfig,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, App) {
    let app = App::with_config(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(faceprint_server::serve(listener, app.state.clone(), async {
        let _ = stopped.await;
    }));
    (address, stop, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let config = faceprint_server::ServerConfig { header_timeout: Duration::from_millis(500), ..Default::default() };
    let (address, _stop, _app) = start(config).await;
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buffer)).await;
    assert!(read.is_ok(), "the connection is still open after 5 s");
    // Closed (0 bytes) or answered with an error status, and then closed: never held open.
    let text = String::from_utf8_lossy(&buffer[..read.unwrap().unwrap_or(0)]).to_string();
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let config = faceprint_server::ServerConfig {
        max_connections: 1,
        header_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let (address, _stop, _app) = start(config).await;
    // The holder is served once and keeps its connection open: a silent socket would not count.
    let mut holder = tokio::net::TcpStream::connect(address).await.unwrap();
    holder.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 512];
    let n = holder.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let mut waiting = tokio::net::TcpStream::connect(address).await.unwrap();
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buffer = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(700), waiting.read_to_end(&mut buffer)).await;
    assert!(early.is_err(), "served while the cap was reached: {}", String::from_utf8_lossy(&buffer));
    drop(holder);
    tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut buffer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buffer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buffer));
}

/// Regression: hyper-util's `auto` builder ran no timer while it read the first bytes, so 520
/// sockets that connected and said nothing took `/healthz` offline for as long as they stayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_silent_connections_neither_stall_the_server_nor_stay_open() {
    let header_timeout = Duration::from_secs(3);
    let config = faceprint_server::ServerConfig { header_timeout, ..Default::default() };
    let (address, _stop, _app) = start(config).await;
    let mut silent = Vec::new();
    for i in 0..1_050 {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        if i % 20 == 0 {
            // Half an HTTP/2 preface, then nothing.
            stream.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        }
        silent.push(stream);
    }
    let opened = std::time::Instant::now();
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let asked = std::time::Instant::now();
        let mut probe = tokio::net::TcpStream::connect(address).await.unwrap();
        probe.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(1), probe.read_to_end(&mut answer))
            .await
            .expect("/healthz took over 1 s beside 1,050 silent connections")
            .unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
        latencies.push(asked.elapsed());
    }
    latencies.sort();
    eprintln!("/healthz beside 1,050 silent connections: median {:?}, worst {:?}", latencies[2], latencies[4]);
    // Every silent socket is closed by the server within the header deadline (and a margin).
    let limit = header_timeout + Duration::from_secs(3);
    for (i, stream) in silent.iter_mut().enumerate() {
        let left = limit.saturating_sub(opened.elapsed()).max(Duration::from_millis(10));
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(left, stream.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "silent connection {i} still open after {:?}",
            opened.elapsed()
        );
    }
}

/// Regression: `/readyz` was not single-flight: probes arriving together each asked the
/// gallery, so a flood of unkeyed probes reached the database at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn probes_arriving_together_ask_the_gallery_once() {
    let (address, _stop, app) = start(faceprint_server::ServerConfig::default()).await;
    let probes: Vec<_> = (0..64)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
                stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).await.unwrap();
                String::from_utf8_lossy(&answer).into_owned()
            })
        })
        .collect();
    for probe in probes {
        let answer = probe.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert_eq!(app.state.readiness_checks(), 1, "64 probes within a second ask the gallery once");
}

/// Regression: axum's own 405 answered an empty body instead of the JSON error shape.
#[tokio::test]
async fn a_wrong_method_answers_the_json_error_shape() {
    let app = App::new();
    let (status, body) = app.send(Method::DELETE, "/healthz", None, Body::empty(), None).await;
    assert_eq!((status, common::code(&body)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".to_owned()));
    let (status, body) = app.send(Method::PUT, "/v1/detect", Some(&app.read), Body::empty(), None).await;
    assert_eq!((status, common::code(&body)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".to_owned()));
}
