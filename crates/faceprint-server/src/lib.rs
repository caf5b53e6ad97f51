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

/// Entry points for the fuzz targets (`fuzz/`): request parsing without a server.
#[doc(hidden)]
pub mod fuzzing {
    pub use axum::body::Bytes;

    pub use crate::images::parse_images;

    /// Every query string the API parses, as each endpoint parses it; errors are answers.
    pub fn parse_queries(query: &str) {
        use crate::extract::parse_query;
        use crate::routes::schema::{EnrolQuery, IdentifyQuery, PageQuery, SelectQuery, VerifyQuery};
        if let Ok(q) = parse_query::<SelectQuery>(query) {
            let _ = crate::routes::schema::parse_select(q.select.as_deref(), faceprint::FaceSelect::All);
        }
        let _ = parse_query::<IdentifyQuery>(query);
        let _ = parse_query::<PageQuery>(query);
        if let Ok(q) = parse_query::<VerifyQuery>(query) {
            let _ = faceprint::SubjectKey::parse(&q.subject);
        }
        if let Ok(q) = parse_query::<EnrolQuery>(query)
            && let Some(codes) = q.refuse
        {
            let _ = crate::routes::gallery::parse_refusals(&codes);
        }
        // The photo library's queries: pages, splits and searches, with their bounds.
        use crate::routes::library;
        if let Ok(q) = parse_query::<library::PageQuery>(query) {
            let _ = q.page();
        }
        if let Ok(q) = parse_query::<library::SplitQuery>(query) {
            let _ = library::checked_strictness(q.strictness);
        }
        if let Ok(q) = parse_query::<library::SearchQuery>(query) {
            let _ = library::checked_search_bounds(q.threshold.unwrap_or(0.3), q.limit);
            let _ = q.subject.as_deref().map(faceprint::SubjectKey::parse);
        }
    }
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
