//! faceprint over HTTP: the engine and the gallery behind a REST API (axum), with API keys,
//! body and queue limits, Prometheus metrics, an OpenAPI description generated from the
//! handlers, and a web page.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let engine = Arc::new(faceprint::FaceEngine::builder().commit().unwrap());
//! let gallery = Arc::new(faceprint::SqliteGallery::open("g.db").unwrap());
//! let state = faceprint_server::AppState::new(engine, gallery, faceprint_server::ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! faceprint_server::serve(listener, state, faceprint_server::shutdown_signal()).await
//! # }
//! ```

mod auth;
mod error;
mod images;
mod metrics;
mod openapi;
mod pool;
mod routes;
mod state;

pub use error::{ApiError, ErrorBody};
pub use state::{AppState, KeyCheck, ServerConfig};

use std::future::Future;

/// The whole application: routes, authorisation, limits, metrics.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting and lets the
/// requests in flight finish (an enrolment that was acknowledged is committed before its
/// response is written).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
