//! The PostgreSQL + pgvector gallery: the same data model as the embedded store in a database
//! server, so that many faceprint servers share one gallery. Each process keeps its own
//! in-memory indexes ([`crate::follow`]) and follows the database's change log, woken by
//! LISTEN/NOTIFY; embeddings are also a pgvector column, for users who query in SQL.
//!
//! The client is tokio-postgres with a deadpool pool on a small private Tokio runtime: the
//! [`Gallery`](crate::Gallery) trait is blocking, so each call runs its queries to completion on
//! that runtime, under a deadline. Call it from a thread that may block (in an async server, from
//! `spawn_blocking`), as with the embedded store.

mod connect;
mod follow;
mod keys;
mod library;
mod schema;
mod sql;
mod store;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use connect::Target;
pub use connect::is_postgres_url;

use crate::follow::{IndexSettings, IndexState};
use crate::{CompressedParams, GalleryError, HnswParams, IndexKind, Result};

/// The deadline for reading every vector of the gallery (on open, or when a server fell behind
/// the log's cut).
const LOAD_TIMEOUT: Duration = Duration::from_secs(3600);

/// Settings for [`PgGallery`]; [`PgGalleryBuilder::open`] commits them.
#[derive(Debug, Clone)]
pub struct PgGalleryBuilder {
    indexes: IndexSettings,
    change_log_keep: i64,
    pool_size: usize,
    timeout: Duration,
    root_certificate: Option<std::path::PathBuf>,
}

impl Default for PgGalleryBuilder {
    fn default() -> Self {
        Self {
            indexes: IndexSettings::default(),
            change_log_keep: crate::sqlite::DEFAULT_CHANGE_LOG_KEEP,
            pool_size: 16,
            timeout: Duration::from_secs(10),
            root_certificate: None,
        }
    }
}

impl PgGalleryBuilder {
    crate::follow::index_setters!();

    /// Connections kept open to the database (default 16).
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }
    /// The longest any one call waits for the database, connecting included (default 10 s):
    /// after it, the call fails with `gallery_unreachable` rather than hang.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(100));
        self
    }

    /// With `sslmode=require`: a PEM file of certificates the server's may chain to, besides the
    /// public root authorities (default: the file `PGSSLROOTCERT` names, if any).
    pub fn root_certificate(mut self, pem: impl Into<std::path::PathBuf>) -> Self {
        self.root_certificate = Some(pem.into());
        self
    }

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database[?sslmode=require]`),
    /// checks pgvector and the schema (migrating it under an advisory lock), loads the indexes,
    /// and starts following the change log.
    pub fn open(self, url: &str) -> Result<PgGallery> {
        let target = Target::parse(url, self.timeout)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("faceprint-pg")
            .enable_all()
            .build()
            .map_err(|e| GalleryError::Storage(format!("could not start the database client's runtime: {e}")))?;
        let tls = connect::tls(&target, self.root_certificate.as_deref())?;
        let manager = Manager::from_config(
            target.config.clone(),
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(self.timeout))
            .create_timeout(Some(self.timeout))
            .recycle_timeout(Some(self.timeout))
            .build()
            .map_err(|e| GalleryError::Storage(format!("could not make the connection pool: {e}")))?;
        let listener = Arc::new(follow::Listener::default());
        let mut gallery = PgGallery {
            location: target.location.clone(),
            runtime: Some(runtime),
            pool,
            state: RwLock::new(IndexState::new(String::new(), None, 0, self.indexes.clone())),
            listener: listener.clone(),
            synced_generation: AtomicU64::new(0),
            stop: Arc::new(AtomicBool::new(false)),
            settings: self,
        };
        gallery.block(async {
            let mut client = gallery.client().await?;
            schema::prepare(&gallery.location, &mut client).await
        })?;
        let state = gallery.block_loading(follow::load(&gallery, &gallery.settings.indexes))?;
        *gallery.state.get_mut().unwrap_or_else(|e| e.into_inner()) = state;
        let stop = gallery.stop.clone();
        gallery.runtime().spawn(follow::listen(target, tls, listener, stop));
        Ok(gallery)
    }
}

/// A gallery in a PostgreSQL database with pgvector. Shared by threads; searches run in memory
/// under a read lock, writes are transactions that commit before the call returns.
#[derive(Debug)]
pub struct PgGallery {
    location: String,
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    state: RwLock<IndexState>,
    listener: Arc<follow::Listener>,
    /// The listener's generation when this process last caught up.
    synced_generation: AtomicU64,
    stop: Arc<AtomicBool>,
    settings: PgGalleryBuilder,
}

impl PgGallery {
    pub fn builder() -> PgGalleryBuilder {
        PgGalleryBuilder::default()
    }

    /// Opens with the default settings.
    pub fn open(url: &str) -> Result<Self> {
        Self::builder().open(url)
    }

    /// The database, as `postgres://user@host:port/database` (no password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Which index answers searches in `collection` now.
    pub fn index_kind(&self, collection: &str) -> Result<IndexKind> {
        crate::storage::index_kind(self, collection)
    }

    /// Changes the HNSW search width (efSearch) of every graph: recall against speed.
    pub fn set_expansion_search(&self, expansion: usize) {
        crate::storage::set_expansion_search(self, expansion)
    }

    /// Changes how many faces every compressed index re-ranks exactly: recall against speed.
    pub fn set_rerank(&self, rerank: usize) {
        crate::storage::set_rerank(self, rerank)
    }

    /// Bytes of memory held by the vector indexes and the face → subject map.
    pub fn index_memory_bytes(&self) -> usize {
        crate::storage::index_memory_bytes(self)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives as long as the gallery")
    }

    /// Runs `work` on the client's runtime under the call deadline.
    fn block<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_within(self.settings.timeout, work)
    }

    /// Loading every vector takes as long as the gallery is large (a million faces are 2 GiB):
    /// it gets a deadline of its own, long enough for any gallery one machine can hold. A dead
    /// server still fails it early, through the connection's own errors and keepalives.
    fn block_loading<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_within(self.settings.timeout.max(LOAD_TIMEOUT), work)
    }

    fn block_within<T>(&self, timeout: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
        match self.runtime().block_on(async { tokio::time::timeout(timeout, work).await }) {
            Ok(out) => out,
            Err(_) => Err(GalleryError::Unreachable {
                location: self.location.clone(),
                reason: format!("no answer within {:.1} s", timeout.as_secs_f64()),
            }),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => connect::classify(&self.location, &e),
            other => GalleryError::Unreachable { location: self.location.clone(), reason: other.to_string() },
        })
    }
}

impl Drop for PgGallery {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Not waiting: the gallery may be dropped on an async runtime's thread, where blocking
        // is refused; the listener sees `stop` and its connection closes with the runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
