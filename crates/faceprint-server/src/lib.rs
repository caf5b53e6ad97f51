//! faceprint over HTTP: the engine and the gallery behind a REST API (axum), with API keys,
//! body and queue limits, Prometheus metrics, an OpenAPI description generated from the
//! handlers, and a web page.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let engine = Arc::new(faceprint::FaceEngine::builder().commit().unwrap());
//! let gallery = Arc::new(faceprint::SqliteGallery::open("g.db").unwrap());
//! let state = faceprint_server::AppState::new(engine, gallery.clone(), gallery, faceprint_server::ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! faceprint_server::serve(listener, state, faceprint_server::shutdown_signal()).await
//! # }
//! ```

mod auth;
mod error;
mod extract;
mod images;
mod metrics;
mod openapi;
mod pool;
mod routes;
mod serve;
mod state;

pub use error::{ApiError, ErrorBody};
pub use serve::serve;
pub use state::{AppState, ServerConfig};

/// The whole application: routes, authorisation, limits, metrics.
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Entry points for the fuzz targets (`fuzz/`), and the functions their bodies are: the
/// fuzzers and the corpus replay test (`tests/fuzz_corpora.rs`) call the same code.
#[doc(hidden)]
pub mod fuzzing;

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
