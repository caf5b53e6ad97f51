//! The photo library over HTTP, in process: people, crops, naming, removing a face, splitting,
//! search by photo and by subject, scopes and errors.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{App, code, lfw, testdata};

#[tokio::test]
async fn a_server_without_a_library_says_so() {
    let app = App::new();
    let (status, body) = app.send(Method::GET, "/v1/library", Some(&app.library), Body::empty(), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_IMPLEMENTED, "no_library".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_can_be_listed_named_corrected_and_found_over_http() {
    let scratch = tempfile::tempdir().unwrap();
    let probe = lfw("Alvaro_Uribe", 7);
    for name in ["Alvaro_Uribe", "Amelie_Mauresmo", "Ann_Veneman"] {
        let into = scratch.path().join(name);
        std::fs::create_dir_all(&into).unwrap();
        for entry in std::fs::read_dir(testdata().join("lfw-devtest/images").join(name)).unwrap() {
            let from = entry.unwrap().path();
            if from != probe {
                std::fs::copy(&from, into.join(from.file_name().unwrap())).unwrap();
            }
        }
    }
    let folder = scratch.path().to_path_buf();
    let app = tokio::task::spawn_blocking(move || App::with_library(&[folder])).await.unwrap();

    let status = app.json(Method::GET, "/v1/library", &app.library, Body::empty(), None).await;
    assert_eq!(status["status"]["photos"], 18, "{status}");
    let people = app.json(Method::GET, "/v1/library/people", &app.library, Body::empty(), None).await;
    assert!(people.as_array().unwrap().len() >= 3, "{people}");
    let person = &people[0];
    let id = person["id"].as_i64().unwrap();
    let faces_path = format!("/v1/library/people/{id}/faces");
    let faces = app.json(Method::GET, &faces_path, &app.library, Body::empty(), None).await;
    let count = faces.as_array().unwrap().len();
    assert_eq!(count as u64, person["faces"].as_u64().unwrap());

    let crop = format!("/v1/library/faces/{}/crop", person["representative_face"]);
    let (status, png) = app.send(Method::GET, &crop, Some(&app.library), Body::empty(), None).await;
    assert_eq!(status, StatusCode::OK);
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
    assert_eq!((image.width(), image.height()), (112, 112));

    let name_path = format!("/v1/library/people/{id}/name");
    let name_body = || Body::from(r#"{"name":"Found Person"}"#);
    for key in [&app.read, &app.write] {
        let (status, body) = app.send(Method::POST, &name_path, Some(key), name_body(), Some("application/json")).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "insufficient_scope".to_owned()));
    }
    let named = app.json(Method::POST, &name_path, &app.library, name_body(), Some("application/json")).await;
    assert_eq!(named["name"], "Found Person");
    let subjects = app.json(Method::GET, "/v1/collections/default/subjects", &app.read, Body::empty(), None).await;
    assert_eq!(subjects[0]["name"], "Found Person");

    let by_subject =
        app.json(Method::GET, "/v1/library/search?subject=Found%20Person", &app.library, Body::empty(), None).await;
    assert!(by_subject.as_array().unwrap().len() >= count, "{by_subject}");
    let probe_bytes = std::fs::read(&probe).unwrap();
    let by_photo =
        app.json(Method::POST, "/v1/library/search", &app.library, Body::from(probe_bytes), Some("image/jpeg")).await;
    assert!(by_photo[0]["path"].as_str().unwrap().contains("Alvaro_Uribe"), "{by_photo}");

    let face = faces[count - 1]["face_id"].as_i64().unwrap();
    let remove = format!("/v1/library/people/{id}/faces/{face}");
    let after = app.json(Method::DELETE, &remove, &app.library, Body::empty(), None).await;
    assert_eq!(after["faces"].as_u64().unwrap() as usize, count - 1);
    let (status, body) = app.send(Method::DELETE, &remove, Some(&app.library), Body::empty(), None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_argument".to_owned()));

    let split =
        app.json(Method::POST, &format!("/v1/library/people/{id}/split"), &app.library, Body::empty(), None).await;
    assert!(!split["groups"].as_array().unwrap().is_empty() && split["created"].as_array().unwrap().is_empty());
    let (status, body) =
        app.send(Method::GET, "/v1/library/people/424242/faces", Some(&app.library), Body::empty(), None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "unknown_person".to_owned()));
    let (status, body) =
        app.send(Method::GET, "/v1/library/people/abc/faces", Some(&app.library), Body::empty(), None).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "bad_path".to_owned()));
}
