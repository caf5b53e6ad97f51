//! Health, readiness, metrics, the OpenAPI description and the web page.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};

use super::schema::Health;
use crate::pool::blocking;
use crate::{ApiError, AppState};

static PAGE: &str = include_str!("../../static/index.html");
static PAGE_SCRIPT: &str = include_str!("../../static/app.js");
static DOCS: &str = include_str!("../../static/docs.html");

/// Alive: answers as long as the process serves HTTP, however busy inference is.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Ready: the models are loaded (they are before the server listens) and the gallery answers.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let gallery = state.gallery.clone();
    match blocking(move || gallery.stats()).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(Health { status: "ready".into() })),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "gallery unavailable".into() })),
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, body = String)), security(("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let gallery = state.gallery.clone();
    let stats = blocking(move || gallery.stats()).await??;
    state.metrics.gallery_faces.set(stats.faces as i64);
    state.metrics.gallery_subjects.set(stats.subjects as i64);
    state.metrics.queue_depth.set(state.pool.depth() as i64);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.encode()))
}

/// This API's OpenAPI 3.1 description, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn page_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], PAGE_SCRIPT)
}

pub async fn docs() -> Html<&'static str> {
    Html(DOCS)
}
