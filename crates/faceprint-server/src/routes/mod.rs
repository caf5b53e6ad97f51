//! The routes, and which scope each needs. Authorisation runs as a route layer, before any
//! extractor, so a request with the wrong scope gets 403 even for a subject that does not exist.

pub(crate) mod engine;
pub(crate) mod gallery;
pub(crate) mod library;
pub(crate) mod schema;
pub(crate) mod system;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, post};

use crate::{ApiError, AppState, auth, metrics};

/// Entries of a list in one answer when the client names no limit, and the most it may name
/// (subjects, library people and faces, library searches).
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub fn router(state: AppState) -> Router {
    let read = Router::new()
        .route("/v1/detect", post(engine::detect))
        .route("/v1/embed", post(engine::embed))
        .route("/v1/compare", post(engine::compare))
        .route("/v1/analyze", post(engine::analyze))
        .route("/v1/verify", post(gallery::verify))
        .route("/v1/identify", post(gallery::identify))
        .route("/v1/collections/{collection}/subjects", get(gallery::list_subjects))
        .route("/v1/collections/{collection}/subjects/{id}", get(gallery::get_subject))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi))
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let write = Router::new()
        .route("/v1/collections/{collection}/subjects", post(gallery::create_subject))
        .route(
            "/v1/collections/{collection}/subjects/{id}",
            axum::routing::patch(gallery::update_subject).delete(gallery::delete_subject),
        )
        .route("/v1/collections/{collection}/subjects/{id}/faces", post(gallery::enrol))
        .route("/v1/collections/{collection}/faces/{id}", delete(gallery::delete_face))
        .route_layer(from_fn_with_state(state.clone(), auth::require_write));
    // The private photo library: where people appear, their crops and the photos' paths.
    let private_library = Router::new()
        .route("/v1/library", get(library::status))
        .route("/v1/library/people", get(library::people))
        .route("/v1/library/people/{id}/faces", get(library::person_faces))
        .route("/v1/library/faces/{id}/crop", get(library::face_crop))
        .route("/v1/library/search", get(library::search_by_subject).post(library::search_by_photo))
        .route("/v1/library/people/{id}/name", post(library::name_person))
        .route("/v1/library/people/{id}/merge", post(library::merge_people))
        .route("/v1/library/people/{id}/split", post(library::split_person))
        .route("/v1/library/people/{id}/faces/{face}", delete(library::remove_face))
        .route_layer(from_fn_with_state(state.clone(), auth::require_library));
    let open = Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/", get(system::page))
        .route("/static/app.js", get(system::page_script))
        .route("/static/docs.js", get(system::docs_script))
        .route("/docs", get(system::docs));
    let timeout = state.config.request_timeout;
    Router::new()
        .merge(read)
        .merge(write)
        .merge(private_library)
        .merge(open)
        .fallback(|| async { ApiError::NoRoute })
        // axum's own 405 has an empty body; clients get the JSON error shape everywhere.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn(move |request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(response) => response,
                Err(_) => axum::response::IntoResponse::into_response(ApiError::Timeout { seconds: timeout.as_secs() }),
            }
        }))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(from_fn(security_headers))
        .layer(from_fn_with_state(state.clone(), metrics::observe))
        .with_state(state)
}

/// The page runs only its own scripts and cannot be framed; no answer is sniffed as another
/// type; API answers (faceprints, names) are never stored by a cache.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let page = matches!(request.uri().path(), "/" | "/docs") || request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(headers, header::CACHE_CONTROL, if page { "no-cache" } else { "no-store" });
    response
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";
