//! Over a real socket: authorisation, backpressure under a flood (429 with Retry-After while
//! health checks keep answering), and a graceful shutdown that loses no acknowledged enrolment.

mod common;

use std::time::{Duration, Instant};

use common::{App, lfw};
use faceprint_server::ServerConfig;

async fn start(app: &App) -> (String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(faceprint_server::serve(listener, app.state.clone(), async {
        let _ = stopped.await;
    }));
    (base, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_checked_over_the_socket() {
    let app = App::new();
    let (base, stop, server) = start(&app).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/collections/default/subjects");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(client.get(&url).bearer_auth(&app.read).send().await.unwrap().status(), 200);
    let post =
        client.post(&url).bearer_auth(&app.read).body(r#"{"name":"x"}"#).header("content-type", "application/json");
    assert_eq!(post.send().await.unwrap().status(), 403);
    let post =
        client.post(&url).bearer_auth(&app.write).body(r#"{"name":"x"}"#).header("content-type", "application/json");
    assert_eq!(post.send().await.unwrap().status(), 201);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_gets_429_with_retry_after_and_health_checks_still_answer() {
    let app = App::with_config(ServerConfig { queue_capacity: 2, ..Default::default() });
    let (base, stop, server) = start(&app).await;
    let client = reqwest::Client::new();
    let photo = std::fs::read(lfw("Donald_Regan", 1)).unwrap();
    let flood: Vec<_> = (0..40)
        .map(|_| {
            let request = client
                .post(format!("{base}/v1/analyze"))
                .bearer_auth(&app.read)
                .header("content-type", "image/jpeg")
                .body(photo.clone());
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (response.status().as_u16(), retry_after)
            })
        })
        .collect();
    // While the queue is full, health checks answer at once.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let health_latency = started.elapsed();
    let mut counts = std::collections::BTreeMap::new();
    for task in flood {
        let (status, retry_after) = task.await.unwrap();
        if status == 429 {
            assert_eq!(retry_after.as_deref(), Some("1"));
        }
        *counts.entry(status).or_insert(0) += 1;
    }
    eprintln!("statuses {counts:?}, health check {health_latency:?}");
    assert!(counts.get(&429).copied().unwrap_or(0) > 0, "{counts:?}");
    assert!(counts.get(&200).copied().unwrap_or(0) >= 2, "{counts:?}");
    assert_eq!(counts.keys().filter(|s| **s != 200 && **s != 429).count(), 0, "{counts:?}");
    assert!(health_latency < Duration::from_millis(500), "health check took {health_latency:?}");
    let metrics =
        client.get(format!("{base}/metrics")).bearer_auth(&app.read).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("faceprint_inference_queue_rejections_total"), "{metrics}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_during_an_enrolment_finishes_it_and_keeps_the_face() {
    let app = App::new();
    let subject =
        faceprint::Gallery::create_subject(app.gallery.as_ref(), "default", "Donald Regan", serde_json::json!({}))
            .unwrap();
    let (base, stop, server) = start(&app).await;
    // A large photo keeps the enrolment in flight long enough to stop the server under it.
    let big = image::imageops::resize(
        &image::open(lfw("Donald_Regan", 1)).unwrap().to_rgb8(),
        2500,
        2500,
        image::imageops::FilterType::Triangle,
    );
    let mut png = std::io::Cursor::new(Vec::new());
    big.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let client = reqwest::Client::new();
    let enrol = client
        .post(format!("{base}/v1/collections/default/subjects/{}/faces", subject.id))
        .bearer_auth(&app.write)
        .header("content-type", "image/png")
        .body(png.into_inner())
        .send();
    let in_flight = tokio::spawn(enrol);
    // Wait until the request is being served, then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state_queue_depth() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(app.state_queue_depth() > 0, "the enrolment reached the engine");
    stop.send(()).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201, "the request in flight is finished, not cut");
    let face: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    server.await.unwrap().unwrap();
    // Acknowledged means stored: a fresh instance of the gallery file has the face.
    let reopened = faceprint::SqliteGallery::open(app.dir.path().join("g.db")).unwrap();
    let faces = faceprint::Gallery::faces(&reopened, "default", &faceprint::SubjectKey::Id(subject.id)).unwrap();
    assert_eq!(faces.iter().map(|f| f.id).collect::<Vec<_>>(), vec![face["face_id"].as_i64().unwrap()]);
    // And the server no longer accepts connections.
    assert!(client.get(format!("{base}/healthz")).send().await.is_err());
}
