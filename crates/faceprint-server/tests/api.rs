//! Every endpoint and every error code, in process (`oneshot`), against a real engine and a
//! real gallery file.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{App, lfw, multipart, orl, testdata};
use serde_json::{Value, json};

#[tokio::test]
async fn health_and_readiness_need_no_key_and_everything_else_does() {
    let app = App::new();
    for path in ["/healthz", "/readyz", "/", "/static/app.js", "/docs"] {
        let (status, _) = app.send(Method::GET, path, None, Body::empty(), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, body) = app.send(Method::GET, "/readyz", None, Body::empty(), None).await;
    let ready: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ready["device"], json!({ "requested": "cpu", "target": "cpu" }), "where the models run");
    let (status, body) = app.send(Method::GET, "/metrics", None, Body::empty(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(common::code(&body), "missing_api_key");
    let (status, body) = app.send(Method::GET, "/metrics", Some("fp_not-a-key"), Body::empty(), None).await;
    assert_eq!((status, common::code(&body)), (StatusCode::UNAUTHORIZED, "invalid_api_key".to_owned()));
    let (status, body) = app.send(Method::GET, "/metrics", Some(&app.read), Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("faceprint_http_requests_total") && text.contains("faceprint_gallery_faces"), "{text}");
    let (status, body) = app.send(Method::GET, "/openapi.json", Some(&app.read), Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    for path in ["/v1/detect", "/v1/compare", "/v1/identify", "/v1/collections/{collection}/subjects/{id}/faces"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI description");
    }
}

#[tokio::test]
async fn a_read_key_gets_403_on_writes_before_the_subject_is_looked_up() {
    let app = App::new();
    let (status, body) =
        app.send(Method::DELETE, "/v1/collections/default/subjects/999", Some(&app.read), Body::empty(), None).await;
    assert_eq!((status, common::code(&body)), (StatusCode::FORBIDDEN, "insufficient_scope".to_owned()));
    let (status, body) =
        app.send(Method::DELETE, "/v1/collections/default/subjects/999", Some(&app.write), Body::empty(), None).await;
    assert_eq!((status, common::code(&body)), (StatusCode::NOT_FOUND, "unknown_subject".to_owned()));
    // A revoked key stops working at once.
    use faceprint::KeyStore;
    let (key, secret) = app.gallery.create_api_key(faceprint::KeyScope::Read, "gone").unwrap();
    app.gallery.revoke_api_key(key.id).unwrap();
    let (status, _) =
        app.send(Method::GET, "/v1/collections/default/subjects", Some(&secret), Body::empty(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn detect_embed_and_analyze_take_raw_multipart_and_base64_images() {
    let app = App::new();
    let photo = std::fs::read(lfw("Donald_Regan", 1)).unwrap();
    let raw = app.json(Method::POST, "/v1/detect", &app.read, Body::from(photo.clone()), Some("image/jpeg")).await;
    assert_eq!(raw["faces"].as_array().unwrap().len(), 1);
    assert_eq!((raw["width"].as_u64(), raw["height"].as_u64()), (Some(250), Some(250)));
    let (body, content_type) = multipart(&[("image", &photo)]);
    let form = app.json(Method::POST, "/v1/detect", &app.read, body, Some(&content_type)).await;
    assert_eq!(form["faces"], raw["faces"]);
    let encoded = json!({ "image": base64_of(&photo) }).to_string();
    let base64 = app.json(Method::POST, "/v1/detect", &app.read, Body::from(encoded), Some("application/json")).await;
    assert_eq!(base64["faces"], raw["faces"]);
    let embedded = app.json(Method::POST, "/v1/embed", &app.read, Body::from(photo.clone()), Some("image/jpeg")).await;
    assert_eq!(embedded["faces"][0]["embedding"].as_array().unwrap().len(), 512);
    let analysed = app.json(Method::POST, "/v1/analyze", &app.read, Body::from(photo), Some("image/jpeg")).await;
    let face = &analysed["faces"][0];
    assert_eq!(face["landmarks106"].as_array().unwrap().len(), 106);
    assert!(face["pose"]["yaw"].is_number() && face["quality"]["score"].is_number(), "{face}");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn compare_says_same_or_different() {
    let app = App::new();
    let a = std::fs::read(lfw("Abdullah_Gul", 13)).unwrap();
    let b = std::fs::read(lfw("Abdullah_Gul", 14)).unwrap();
    let c = std::fs::read(lfw("Donald_Regan", 1)).unwrap();
    let (body, content_type) = multipart(&[("image1", &a), ("image2", &b)]);
    let same = app.json(Method::POST, "/v1/compare", &app.read, body, Some(&content_type)).await;
    assert_eq!(same["same"], true, "{same}");
    let encoded = json!({ "image1": base64_of(&a), "image2": base64_of(&c) }).to_string();
    let different =
        app.json(Method::POST, "/v1/compare", &app.read, Body::from(encoded), Some("application/json")).await;
    assert_eq!(different["same"], false, "{different}");
    let (body, content_type) = multipart(&[("image1", &a)]);
    let (status, body) = app.send(Method::POST, "/v1/compare", Some(&app.read), body, Some(&content_type)).await;
    assert_eq!((status, common::code(&body)), (StatusCode::BAD_REQUEST, "missing_image".to_owned()));
}

#[tokio::test]
async fn subjects_enrolment_identification_and_verification_end_to_end() {
    let app = App::new();
    let created = app
        .json(
            Method::POST,
            "/v1/collections/default/subjects",
            &app.write,
            Body::from(r#"{"name":"Abdullah Gul","metadata":{"team":"a"}}"#),
            Some("application/json"),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["metadata"]["team"], "a");
    let (status, body) = app
        .send(
            Method::POST,
            "/v1/collections/default/subjects",
            Some(&app.write),
            Body::from(r#"{"name":"Abdullah Gul"}"#),
            Some("application/json"),
        )
        .await;
    assert_eq!((status, common::code(&body)), (StatusCode::CONFLICT, "duplicate_subject".to_owned()));

    let faces = format!("/v1/collections/default/subjects/{id}/faces");
    let photo = std::fs::read(lfw("Abdullah_Gul", 13)).unwrap();
    let (status, body) =
        app.send(Method::POST, &faces, Some(&app.write), Body::from(photo.clone()), Some("image/jpeg")).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let enrolled: Value = serde_json::from_slice(&body).unwrap();
    assert!(enrolled["quality"]["score"].is_number());
    let face_id = enrolled["face_id"].as_i64().unwrap();
    let (status, body) = app.send(Method::POST, &faces, Some(&app.write), Body::from(photo), Some("image/jpeg")).await;
    assert_eq!(status, StatusCode::OK, "the same photo again is a no-op");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["duplicate"], true);

    // The quality gate: a finding refuses only when asked to, else it is a warning; force
    // turns the gate off.
    let shut = std::fs::read(lfw("Allison_Searing", 1)).unwrap();
    let strict = format!("{faces}?refuse=eyes_closed,profile_pose");
    let (status, body) =
        app.send(Method::POST, &strict, Some(&app.write), Body::from(shut.clone()), Some("image/jpeg")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "low_quality");
    assert!(error["error"]["reasons"].as_array().unwrap().contains(&json!("eyes closed")), "{error}");
    let bogus = format!("{faces}?refuse=squinting");
    let (status, body) =
        app.send(Method::POST, &bogus, Some(&app.write), Body::from(shut.clone()), Some("image/jpeg")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"], "bad_refuse");
    let (status, body) =
        app.send(Method::POST, &faces, Some(&app.write), Body::from(shut.clone()), Some("image/jpeg")).await;
    assert_eq!(status, StatusCode::CREATED);
    let warned: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(warned["warnings"], json!(["eyes closed"]), "{warned}");
    let forced = format!("{faces}?force=true");
    let (status, body) = app.send(Method::POST, &forced, Some(&app.write), Body::from(shut), Some("image/jpeg")).await;
    assert_eq!(status, StatusCode::OK, "already enrolled");
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["warnings"], json!([]), "no gate, no warnings");

    let probe = std::fs::read(lfw("Abdullah_Gul", 14)).unwrap();
    let found = app.json(Method::POST, "/v1/identify", &app.read, Body::from(probe.clone()), Some("image/jpeg")).await;
    assert_eq!(found["faces"][0]["match"], "Abdullah Gul", "{found}");
    assert!(found["faces"][0]["threshold"].as_f64().is_some_and(|t| t >= 0.28), "{found}");
    assert!(found["faces"][0]["quality"]["score"].is_number());
    let verified = app
        .json(
            Method::POST,
            &format!("/v1/verify?subject=%23{id}"),
            &app.read,
            Body::from(probe.clone()),
            Some("image/jpeg"),
        )
        .await;
    assert_eq!(verified["same"], true, "{verified}");
    let (status, body) = app
        .send(Method::POST, "/v1/verify?subject=Nobody", Some(&app.read), Body::from(probe), Some("image/jpeg"))
        .await;
    assert_eq!((status, common::code(&body)), (StatusCode::NOT_FOUND, "unknown_subject".to_owned()));

    let subject = format!("/v1/collections/default/subjects/{id}");
    let renamed = app
        .json(Method::PATCH, &subject, &app.write, Body::from(r#"{"name":"A. Gul"}"#), Some("application/json"))
        .await;
    assert_eq!(renamed["name"], "A. Gul");
    let detail = app.json(Method::GET, &subject, &app.read, Body::empty(), None).await;
    assert_eq!(detail["face_records"].as_array().unwrap().len(), 2);
    let listed = app.json(Method::GET, "/v1/collections/default/subjects", &app.read, Body::empty(), None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let face = format!("/v1/collections/default/faces/{face_id}");
    let (status, _) = app.send(Method::DELETE, &face, Some(&app.write), Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.send(Method::DELETE, &face, Some(&app.write), Body::empty(), None).await;
    assert_eq!((status, common::code(&body)), (StatusCode::NOT_FOUND, "unknown_face".to_owned()));
    let deleted = app.json(Method::DELETE, &subject, &app.write, Body::empty(), None).await;
    assert_eq!(deleted["faces"], 1);
    let (status, _) = app.send(Method::GET, &subject, Some(&app.read), Body::empty(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Method, path, body, content type, expected status and code ("" when the request succeeds).
type ErrorCase = (Method, &'static str, Body, Option<&'static str>, StatusCode, &'static str);

#[tokio::test]
async fn every_client_error_has_its_status_and_code() {
    let app = App::with_config(faceprint_server::ServerConfig { max_body_bytes: 1 << 20, ..Default::default() });
    let jpeg = Some("image/jpeg");
    let cases: Vec<ErrorCase> = vec![
        (
            Method::POST,
            "/v1/detect",
            Body::from(&b"not an image"[..]),
            jpeg,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_format",
        ),
        (
            Method::POST,
            "/v1/detect",
            Body::from(truncated_jpeg()),
            jpeg,
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt_image",
        ),
        (Method::POST, "/v1/detect", Body::empty(), jpeg, StatusCode::UNPROCESSABLE_ENTITY, "empty_input"),
        (
            Method::POST,
            "/v1/detect",
            Body::from(vec![0u8; 2 << 20]),
            jpeg,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            Method::POST,
            "/v1/detect",
            Body::from(png_claiming(30_000, 30_000)),
            Some("image/png"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
        ),
        (Method::POST, "/v1/detect?select=middle", Body::from(photo()), jpeg, StatusCode::BAD_REQUEST, "bad_select"),
        (Method::POST, "/v1/detect", Body::from("{"), Some("application/json"), StatusCode::BAD_REQUEST, "bad_json"),
        (
            Method::POST,
            "/v1/detect",
            Body::from(r#"{"image":"%%%"}"#),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "bad_base64",
        ),
        (Method::POST, "/v1/compare", Body::from(photo()), jpeg, StatusCode::BAD_REQUEST, "missing_image"),
        (Method::POST, "/v1/embed?select=largest", Body::from(blank_png()), Some("image/png"), StatusCode::OK, ""),
        (
            Method::POST,
            "/v1/identify?collection=nowhere",
            Body::from(photo()),
            jpeg,
            StatusCode::NOT_FOUND,
            "unknown_collection",
        ),
        (
            Method::GET,
            "/v1/collections/nowhere/subjects",
            Body::empty(),
            None,
            StatusCode::NOT_FOUND,
            "unknown_collection",
        ),
        (Method::GET, "/v1/nothing", Body::empty(), None, StatusCode::NOT_FOUND, "not_found"),
    ];
    for (method, path, body, content_type, status, code) in cases {
        let (got, body) = app.send(method.clone(), path, Some(&app.read), body, content_type).await;
        assert_eq!(got, status, "{method} {path}: {}", String::from_utf8_lossy(&body));
        if !code.is_empty() {
            assert_eq!(common::code(&body), code, "{method} {path}");
            let error: Value = serde_json::from_slice(&body).unwrap();
            assert!(error["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        }
    }
    // No face: detection answers with none, comparison and enrolment refuse.
    let (body, content_type) = multipart(&[("image1", &blank_png()), ("image2", &photo())]);
    let (status, body) = app.send(Method::POST, "/v1/compare", Some(&app.read), body, Some(&content_type)).await;
    assert_eq!((status, common::code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "no_face".to_owned()));
    // Several faces where enrolment takes one.
    let created = app
        .json(
            Method::POST,
            "/v1/collections/default/subjects",
            &app.write,
            Body::from(r#"{"name":"Team"}"#),
            Some("application/json"),
        )
        .await;
    let team = std::fs::read(common::players()).unwrap();
    let path = format!("/v1/collections/default/subjects/{}/faces", created["id"]);
    let (status, body) = app.send(Method::POST, &path, Some(&app.write), Body::from(team), jpeg).await;
    assert_eq!((status, common::code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "multiple_faces".to_owned()));
    let (status, body) = app
        .send(
            Method::PATCH,
            &format!("/v1/collections/default/subjects/{}", created["id"]),
            Some(&app.write),
            Body::from("{}"),
            Some("application/json"),
        )
        .await;
    assert_eq!((status, common::code(&body)), (StatusCode::BAD_REQUEST, "bad_json".to_owned()));
    // ORL photos are grey PGMs: accepted like any image.
    let grey =
        app.json(Method::POST, "/v1/detect", &app.read, Body::from(std::fs::read(orl(1, 1)).unwrap()), None).await;
    assert_eq!(grey["faces"].as_array().unwrap().len(), 1);
    assert!(testdata().is_dir());
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_504() {
    let app = App::with_config(faceprint_server::ServerConfig {
        request_timeout: std::time::Duration::from_millis(1),
        ..Default::default()
    });
    let (status, body) =
        app.send(Method::POST, "/v1/analyze", Some(&app.read), Body::from(photo()), Some("image/jpeg")).await;
    assert_eq!((status, common::code(&body)), (StatusCode::GATEWAY_TIMEOUT, "timeout".to_owned()));
}

fn photo() -> Vec<u8> {
    std::fs::read(lfw("Donald_Regan", 1)).unwrap()
}

fn truncated_jpeg() -> Vec<u8> {
    let mut bytes = photo();
    bytes.truncate(600);
    bytes
}

fn blank_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A 1×1 PNG whose header claims `width × height`: a decompression bomb's calling card.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = {
        let image = image::RgbImage::new(1, 1);
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    // IHDR data starts at byte 16: width, height; its CRC covers type and data (12..29).
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[tokio::test]
async fn a_gallery_of_another_model_answers_409_model_mismatch() {
    let app = App::new();
    let subject = faceprint::Gallery::create_subject(app.gallery.as_ref(), "default", "x", json!({})).unwrap();
    let mut vector = vec![0.0f32; 512];
    vector[0] = 1.0;
    let face = faceprint::NewFace {
        model: faceprint::ModelId("another-model".into()),
        embedding: vector,
        detection_score: 0.9,
        bbox: faceprint::BBox::new(0.0, 0.0, 10.0, 10.0),
        image_sha256: "0".repeat(64),
        crop_png: None,
    };
    faceprint::Gallery::add_face(app.gallery.as_ref(), "default", &faceprint::SubjectKey::Id(subject.id), face)
        .unwrap();
    let (status, body) =
        app.send(Method::POST, "/v1/identify", Some(&app.read), Body::from(photo()), Some("image/jpeg")).await;
    assert_eq!((status, common::code(&body)), (StatusCode::CONFLICT, "model_mismatch".to_owned()));
}
