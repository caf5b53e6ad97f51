//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use faceprint::library::Library;
use faceprint::{FaceEngine, Gallery, KeyStore};

use crate::images::BodyBudget;
use crate::metrics::Metrics;
use crate::pool::InferencePool;

/// Limits and sizes of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body, bytes (images come in the body).
    pub max_body_bytes: usize,
    /// A request taking longer gets `504 timeout`.
    pub request_timeout: Duration,
    /// Inference requests admitted at once (running or waiting for a pipeline); more get
    /// `429 queue_full` with `Retry-After`.
    pub queue_capacity: usize,
    /// Bytes of request bodies held at once, counted twice (the body and the images taken out
    /// of it) from the declared length, or the body limit when none is declared. A request that
    /// finds no room within a second gets `429 busy`.
    pub body_budget_bytes: usize,
    /// Connections served at once; a client past the cap waits for a slot until its header
    /// deadline.
    pub max_connections: usize,
    /// Connections accepted that have not yet said which protocol they speak (each is cut at
    /// the header deadline); more wait in the kernel's accept queue.
    pub max_pending_connections: usize,
    /// A client must send a request's headers within this long of connecting (or of its last
    /// request), and an idle keep-alive connection is closed after it.
    pub header_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 20 << 20,
            request_timeout: Duration::from_secs(30),
            queue_capacity: 32,
            body_budget_bytes: 128 << 20,
            max_connections: 512,
            max_pending_connections: 4096,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// The engine, the gallery, the key store, the inference queue and the metrics.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) engine: Arc<FaceEngine>,
    pub(crate) gallery: Arc<dyn Gallery>,
    pub(crate) keys: Arc<dyn KeyStore>,
    /// The photo library kept with the gallery, when the backend has one.
    pub(crate) library: Option<Arc<dyn Library>>,
    pub(crate) pool: Arc<InferencePool>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) bodies: Arc<BodyBudget>,
    pub(crate) readiness: Arc<Readiness>,
    /// Photo-library calls running at once (each holds the gallery's reader a while).
    pub(crate) library_calls: Arc<tokio::sync::Semaphore>,
    pub(crate) config: ServerConfig,
}

/// Photo-library calls at once: enough for a person browsing, and never every blocking thread.
const LIBRARY_CALLS: usize = 4;

impl AppState {
    /// State over any gallery backend and the key store beside it (for the embedded gallery,
    /// the same object: its file holds the keys).
    pub fn new(
        engine: Arc<FaceEngine>,
        gallery: Arc<dyn Gallery>,
        keys: Arc<dyn KeyStore>,
        config: ServerConfig,
    ) -> AppState {
        AppState {
            engine,
            gallery,
            keys,
            library: None,
            pool: Arc::new(InferencePool::new(config.queue_capacity.max(1))),
            metrics: Arc::new(Metrics::default()),
            bodies: Arc::new(BodyBudget::new(config.body_budget_bytes)),
            readiness: Arc::new(Readiness::default()),
            library_calls: Arc::new(tokio::sync::Semaphore::new(LIBRARY_CALLS)),
            config,
        }
    }

    /// Serves the photo library kept with the gallery (`/v1/library/…`, the People and Search
    /// views); without one those answer `501 no_library`.
    pub fn with_library(mut self, library: Arc<dyn Library>) -> AppState {
        self.library = Some(library);
        self
    }

    /// Inference requests admitted and not finished.
    pub fn queue_depth(&self) -> usize {
        self.pool.depth()
    }

    /// Bytes of the body budget free now (all of it when no body is being received or held).
    pub fn body_budget_available(&self) -> usize {
        self.bodies.available()
    }

    /// How many times `/readyz` has asked the gallery (at most once a second).
    pub fn readiness_checks(&self) -> u64 {
        self.readiness.checks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Ready, or why not: the gallery error's code and message.
pub(crate) type Verdict = Result<(), (String, String)>;

/// `/readyz`'s last answer: the gallery is asked at most once a second, so a flood of unkeyed
/// probes cannot crowd out the connection that key checks need.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    /// When the gallery was last asked, and its answer.
    pub(crate) last: std::sync::Mutex<Option<(std::time::Instant, Verdict)>>,
    /// Held by the one request asking the gallery; the others wait for its answer.
    pub(crate) asking: tokio::sync::Mutex<()>,
    pub(crate) checks: std::sync::atomic::AtomicU64,
}
