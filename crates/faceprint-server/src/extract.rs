//! Path, query and JSON extractors whose rejections are API errors: the JSON error shape with a
//! stable code, never axum's plain-text rejection.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::images::read_body;
use crate::{ApiError, AppState};

/// Largest JSON body of the subject endpoints: a name and metadata (itself at most 16 KiB).
pub const JSON_BODY_LIMIT: usize = 64 << 10;

/// Path parameters; a malformed one (`/subjects/abc` where an id is wanted) is `400 bad_path`.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|e| ApiError::bad_request("bad_path", e.body_text()))
    }
}

/// Query parameters; a malformed one (`?k=many`) is `400 bad_query`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// A query string into `T`. Public for the fuzzer through [`crate::fuzzing`].
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|e| ApiError::bad_request("bad_query", e.to_string()))
}

/// A JSON body of at most [`JSON_BODY_LIMIT`] bytes, read under the body budget.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let media = request.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !media.is_some_and(|m| m.to_ascii_lowercase().starts_with("application/json")) {
            return Err(ApiError::bad_request("bad_json", "send the body as Content-Type: application/json"));
        }
        let (body, _share) = read_body(request, JSON_BODY_LIMIT, &state.bodies).await?;
        serde_json::from_slice(&body).map(ApiJson).map_err(|e| ApiError::bad_request("bad_json", e.to_string()))
    }
}
