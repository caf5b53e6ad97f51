//! Shared by the server tests: one engine per test binary, an app over a fresh gallery file with
//! a read key and a write key, and request helpers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use faceprint::{FaceEngine, KeyScope, KeyStore, SqliteGallery};
use faceprint_server::{AppState, ServerConfig};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

pub fn lfw(name: &str, n: u32) -> PathBuf {
    testdata().join(format!("lfw-devtest/images/{name}/{name}_{n:04}.jpg"))
}

pub fn orl(subject: u32, photo: u32) -> PathBuf {
    testdata().join(format!("orl/s{subject}/{photo}.pgm"))
}

/// The pack's 22-face team photo.
pub fn players() -> PathBuf {
    faceprint::ModelPack::default_pack().path_of("players.jpg")
}

pub fn engine() -> Arc<FaceEngine> {
    static ENGINE: OnceLock<Arc<FaceEngine>> = OnceLock::new();
    ENGINE.get_or_init(|| Arc::new(FaceEngine::builder().commit().expect("the default engine loads"))).clone()
}

/// An application over a fresh gallery file.
pub struct App {
    pub router: axum::Router,
    pub state: AppState,
    pub gallery: Arc<SqliteGallery>,
    pub read: String,
    pub write: String,
    /// A key of the `library` scope: the only one (with `admin`) the photo library answers.
    pub library: String,
    pub dir: tempfile::TempDir,
}

impl App {
    pub fn new() -> App {
        Self::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> App {
        let dir = tempfile::tempdir().unwrap();
        let gallery = Arc::new(SqliteGallery::open(dir.path().join("g.db")).unwrap());
        let (_, read) = gallery.create_api_key(KeyScope::Read, "test").unwrap();
        let (_, write) = gallery.create_api_key(KeyScope::Write, "test").unwrap();
        let (_, library) = gallery.create_api_key(KeyScope::Library, "test").unwrap();
        let state = AppState::new(engine(), gallery.clone(), gallery.clone(), config);
        App { router: faceprint_server::app(state.clone()), state, gallery, read, write, library, dir }
    }

    /// An application whose gallery file also serves its photo library, indexed from `folders`
    /// and grouped.
    pub fn with_library(folders: &[PathBuf]) -> App {
        let mut app = App::new();
        faceprint::library::index_folders(&engine(), app.gallery.as_ref(), folders, |_, _| {}).unwrap();
        faceprint::library::group_new_faces(app.gallery.as_ref(), app.gallery.as_ref(), &Default::default()).unwrap();
        app.state = app.state.clone().with_library(app.gallery.clone());
        app.router = faceprint_server::app(app.state.clone());
        app
    }

    /// Inference requests admitted and not finished.
    pub fn state_queue_depth(&self) -> usize {
        self.state.queue_depth()
    }

    /// Sends one request in process; returns the status and the body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Body,
        content_type: Option<&str>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        assert!(response.headers().contains_key("x-request-id"), "every response carries its request id");
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, bytes)
    }

    /// Sends and expects a 2xx JSON answer.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> serde_json::Value {
        let (status, bytes) = self.send(method.clone(), path, Some(key), body, content_type).await;
        assert!(status.is_success(), "{method} {path}: {status} {}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// The `error.code` of an error body.
pub fn code(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    value["error"]["code"].as_str().unwrap_or("").to_owned()
}

/// A multipart/form-data body with the given file fields, and its content type.
pub fn multipart(fields: &[(&str, &[u8])]) -> (Body, String) {
    let boundary = "faceprint-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, bytes) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (Body::from(body), format!("multipart/form-data; boundary={boundary}"))
}

/// A 200×200 grey PNG: a valid image without a face.
pub fn blank_png_bytes() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
