//! API keys: `Authorization: Bearer <key>` checked before the handler runs (so before the body
//! is read or any subject looked up), against the scope the route needs.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use faceprint::KeyScope;

use crate::pool::blocking;
use crate::{ApiError, AppState};

/// Refuses requests without a live key of `needed` scope or better.
pub async fn require(state: AppState, needed: KeyScope, request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned));
    match authorise(&state, needed, header).await {
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

/// `header`: the `Authorization` value, `Err` when it is not text.
async fn authorise(
    state: &AppState,
    needed: KeyScope,
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
    if scope.allows(needed) {
        Ok(())
    } else {
        Err(ApiError::WrongScope { needed: if needed == KeyScope::Write { "write" } else { "read" } })
    }
}
