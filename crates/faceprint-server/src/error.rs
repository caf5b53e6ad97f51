//! Every error a response can carry, and the one place that maps each to an HTTP status. The
//! maps have no wildcard arm (and the workspace's error enums are not `#[non_exhaustive]`), so a
//! new error variant does not compile until it is given its status here.
//! Clients get a stable code, a message and the request id; internal details go to the log
//! under that id, never into the response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faceprint::contract::ErrorOut;
use faceprint::{DecodeError, Error as EngineError, GalleryError};
use serde::Serialize;

tokio::task_local! {
    /// The id of the request being handled, set by the request-id middleware.
    pub(crate) static REQUEST_ID: String;
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("an API key is required: send `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("the API key is not valid")]
    BadKey,
    #[error("this API key lacks the `{needed}` scope")]
    WrongScope { needed: &'static str },
    #[error("the server is busy: the inference queue is full, retry shortly")]
    QueueFull,
    #[error("the server is busy: too many request bodies are being received, retry shortly")]
    BodiesBusy,
    #[error("the server is busy: too many photo-library calls are running, retry shortly")]
    LibraryBusy,
    #[error("the request took longer than {seconds} s")]
    Timeout { seconds: u64 },
    #[error("the request body is over the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("no route for this path")]
    NoRoute,
    #[error("this path does not take this method")]
    MethodNotAllowed,
    #[error("this server was started without a photo library")]
    NoLibrary,
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Something that is the server's fault; the detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl From<GalleryError> for ApiError {
    fn from(e: GalleryError) -> Self {
        ApiError::Engine(EngineError::Gallery(e))
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_api_key",
            ApiError::BadKey => "invalid_api_key",
            ApiError::WrongScope { .. } => "insufficient_scope",
            ApiError::QueueFull => "queue_full",
            ApiError::BodiesBusy | ApiError::LibraryBusy => "busy",
            ApiError::Timeout { .. } => "timeout",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::BadRequest { code, .. } => code,
            ApiError::NoRoute => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NoLibrary => "no_library",
            ApiError::Engine(e) => e.code(),
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status of each error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::BadKey => StatusCode::UNAUTHORIZED,
            ApiError::WrongScope { .. } => StatusCode::FORBIDDEN,
            ApiError::QueueFull | ApiError::BodiesBusy | ApiError::LibraryBusy => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NoLibrary => StatusCode::NOT_IMPLEMENTED,
            ApiError::Engine(e) => engine_status(e),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn engine_status(error: &EngineError) -> StatusCode {
    match error {
        EngineError::Decode(e) => decode_status(e),
        EngineError::NoFace
        | EngineError::NoSuchFace { .. }
        | EngineError::MultipleFaces { .. }
        | EngineError::LowDetectionScore { .. }
        | EngineError::FaceTooSmall { .. }
        | EngineError::LowQuality { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        EngineError::ModelMismatch { .. } | EngineError::MissingCrops { .. } => StatusCode::CONFLICT,
        EngineError::BadExport { .. } => StatusCode::BAD_REQUEST,
        EngineError::Gallery(e) => gallery_status(e),
        EngineError::Model(_) | EngineError::Read { .. } | EngineError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn decode_status(error: &DecodeError) -> StatusCode {
    match error {
        DecodeError::TooManyBytes { .. }
        | DecodeError::TooManyPixels { .. }
        | DecodeError::TooManyDecodedBytes { .. }
        | DecodeError::OverMemoryLimit(_) => StatusCode::PAYLOAD_TOO_LARGE,
        DecodeError::Empty | DecodeError::UnsupportedFormat | DecodeError::Corrupt(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

fn gallery_status(error: &GalleryError) -> StatusCode {
    match error {
        GalleryError::UnknownCollection(_)
        | GalleryError::UnknownSubject(_)
        | GalleryError::UnknownFace(_)
        | GalleryError::UnknownPerson(_) => StatusCode::NOT_FOUND,
        GalleryError::DuplicateCollection(_)
        | GalleryError::DuplicateSubject(_)
        | GalleryError::ModelMismatch { .. }
        | GalleryError::DimensionMismatch { .. } => StatusCode::CONFLICT,
        GalleryError::Invalid(_) => StatusCode::BAD_REQUEST,
        GalleryError::Foreign { .. }
        | GalleryError::Corrupt { .. }
        | GalleryError::TooNew { .. }
        | GalleryError::Storage(_)
        | GalleryError::Index(_)
        | GalleryError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        // The database server is down, restarting or misconfigured: another try, or another
        // instance, may succeed.
        GalleryError::Unreachable { .. } | GalleryError::AuthFailed { .. } | GalleryError::ExtensionMissing { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The body of every error response: `{"error": {"code", "message", "request_id"}}`, the
/// command line's error record ([`ErrorOut`]) with the request's id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[serde(flatten)]
    pub error: ErrorOut,
    pub request_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default();
        // Server faults are logged with their detail; the client sees only the code and id.
        let message = if status.is_server_error() {
            tracing::error!(request_id = %request_id, error = ?self, "request failed");
            "internal error; the server log has the details under this request id".to_owned()
        } else {
            self.to_string()
        };
        let mut error = match &self {
            ApiError::Engine(error) => ErrorOut::from(error),
            _ => ErrorOut::new(self.code(), ""),
        };
        error.message = message;
        let body = ErrorBody { error: ErrorDetail { error, request_id } };
        let mut response = (status, axum::Json(body)).into_response();
        match &self {
            ApiError::QueueFull | ApiError::BodiesBusy | ApiError::LibraryBusy => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::MissingKey | ApiError::BadKey => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
