//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use faceprint::{FaceEngine, Gallery, GalleryError, KeyScope, SqliteGallery};

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { max_body_bytes: 20 << 20, request_timeout: Duration::from_secs(30), queue_capacity: 32 }
    }
}

/// Looks up an API key's scope.
pub trait KeyCheck: Send + Sync + std::fmt::Debug {
    fn scope(&self, secret: &str) -> Result<Option<KeyScope>, GalleryError>;
}

impl KeyCheck for SqliteGallery {
    fn scope(&self, secret: &str) -> Result<Option<KeyScope>, GalleryError> {
        self.api_key_scope(secret)
    }
}

/// The engine, the gallery, the key store, the inference queue and the metrics.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) engine: Arc<FaceEngine>,
    pub(crate) gallery: Arc<dyn Gallery>,
    pub(crate) keys: Arc<dyn KeyCheck>,
    pub(crate) pool: Arc<InferencePool>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: ServerConfig,
}

impl AppState {
    /// State over an embedded gallery, which also holds the API keys.
    pub fn new(engine: Arc<FaceEngine>, gallery: Arc<SqliteGallery>, config: ServerConfig) -> AppState {
        let keys: Arc<dyn KeyCheck> = gallery.clone();
        Self::with_parts(engine, gallery, keys, config)
    }

    /// Inference requests admitted and not finished.
    pub fn queue_depth(&self) -> usize {
        self.pool.depth()
    }

    /// State over any gallery and key store.
    pub fn with_parts(
        engine: Arc<FaceEngine>,
        gallery: Arc<dyn Gallery>,
        keys: Arc<dyn KeyCheck>,
        config: ServerConfig,
    ) -> AppState {
        AppState {
            engine,
            gallery,
            keys,
            pool: Arc::new(InferencePool::new(config.queue_capacity.max(1))),
            metrics: Arc::new(Metrics::default()),
            config,
        }
    }
}
