//! Health, readiness, metrics, the OpenAPI description and the web page.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};

use super::schema::{DeviceInfo, Health};
use crate::pool::blocking;
use crate::state::Verdict;
use crate::{ApiError, AppState};

static PAGE: &str = include_str!("../../static/index.html");
static PAGE_SCRIPT: &str = include_str!("../../static/app.js");
static DOCS: &str = include_str!("../../static/docs.html");
static DOCS_SCRIPT: &str = include_str!("../../static/docs.js");

/// Alive: answers as long as the process serves HTTP, however busy inference is.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), code: None, message: None, device: None })
}

/// Ready: the models are loaded (they are before the server listens) and the gallery answers.
/// The gallery is asked at most once a second; answers in between repeat the last one.
#[utoipa::path(get, path = "/readyz", tag = "system", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let verdict = readiness_verdict(&state).await;
    let choice = state.engine.device();
    let device = Some(DeviceInfo {
        requested: choice.requested.to_string(),
        target: choice.target.to_string(),
        gpu_name: choice.gpu_name.clone(),
        cpu_because: choice.cpu_because.clone(),
    });
    match verdict {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ready".into(), code: None, message: None, device })),
        Err((code, message)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "gallery unavailable".into(), code: Some(code), message: Some(message), device }),
        ),
    }
}

const READINESS_TTL: Duration = Duration::from_secs(1);

/// The gallery's readiness, asked at most once a second and by one request at a time: the
/// others wait for that answer instead of each asking a gallery that may be hanging (single
/// flight). Probes are unauthenticated, so they get the error's code and a plain message; its
/// details (a database URL, a user, a host) go to the log.
async fn readiness_verdict(state: &AppState) -> Verdict {
    let fresh = || -> Option<Verdict> {
        let cached = state.readiness.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        cached.filter(|(at, _)| at.elapsed() < READINESS_TTL).map(|(_, verdict)| verdict)
    };
    if let Some(verdict) = fresh() {
        return verdict;
    }
    let _asking = state.readiness.asking.lock().await;
    if let Some(verdict) = fresh() {
        return verdict; // another request asked while this one waited
    }
    state.readiness.checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let gallery = state.gallery.clone();
    let verdict = match blocking(move || gallery.ready()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(code = e.code(), error = %e, "gallery not ready");
            Err((e.code().to_owned(), "the gallery cannot be used now; the server's log says why".to_owned()))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(("internal".to_owned(), "the readiness check failed; the server's log says why".to_owned()))
        }
    };
    *state.readiness.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), verdict.clone()));
    verdict
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

pub async fn docs_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], DOCS_SCRIPT)
}
