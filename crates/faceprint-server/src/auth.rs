//! API keys: `Authorization: Bearer <key>` checked before the handler runs (so before the body
//! is read or any subject looked up), against the scope the route needs. The photo library is
//! private: its routes, and the gallery routes when they name its collection, need a key of
//! the `library` scope (or `admin`), which `read` and `write` keys are not.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use faceprint::KeyScope;

use crate::pool::blocking;
use crate::{ApiError, AppState};

/// Refuses requests without a live key of `needed` scope or better (and of the library scope
/// when the request names the library's collection).
pub async fn require(state: AppState, needed: KeyScope, request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned));
    let library = names_library_collection(&request);
    match authorise(&state, needed, library, header).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

pub async fn require_read(State(state): State<AppState>, request: Request, next: Next) -> Response {
    require(state, KeyScope::Read, request, next).await
}

pub async fn require_write(State(state): State<AppState>, request: Request, next: Next) -> Response {
    require(state, KeyScope::Write, request, next).await
}

pub async fn require_library(State(state): State<AppState>, request: Request, next: Next) -> Response {
    require(state, KeyScope::Library, request, next).await
}

/// Whether a gallery route is pointed at the library's collection, by its path
/// (`/v1/collections/library/…`, percent-encoded or not) or by `?collection=library`.
fn names_library_collection(request: &Request) -> bool {
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned();
    let library = faceprint::library::LIBRARY_COLLECTION;
    let in_path = request
        .uri()
        .path()
        .strip_prefix("/v1/collections/")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|segment| decoded(segment) == library);
    let in_query = request.uri().query().is_some_and(|query| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map(|pairs| pairs.iter().any(|(name, value)| name == "collection" && value == library))
            // A query that does not parse is refused by the handler's extractor anyway.
            .unwrap_or(false)
    });
    in_path || in_query
}

/// `header`: the `Authorization` value, `Err` when it is not text.
async fn authorise(
    state: &AppState,
    needed: KeyScope,
    library: bool,
    header: Option<Result<String, axum::http::header::ToStrError>>,
) -> Result<(), ApiError> {
    let value = header.ok_or(ApiError::MissingKey)?;
    let secret = value
        .ok()
        .as_deref()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|s| s.trim().to_owned())
        .ok_or(ApiError::BadKey)?;
    let keys = state.keys.clone();
    let scope = blocking(move || keys.api_key_scope(&secret)).await??.ok_or(ApiError::BadKey)?;
    if !scope.allows(needed) {
        Err(ApiError::WrongScope { needed: needed.as_str() })
    } else if library && !scope.allows(KeyScope::Library) {
        Err(ApiError::WrongScope { needed: KeyScope::Library.as_str() })
    } else {
        Ok(())
    }
}
