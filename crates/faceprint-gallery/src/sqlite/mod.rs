//! The embedded gallery: one SQLite file (WAL) holding everything, plus an in-memory vector
//! index per collection that follows the file's change log.

mod follow;
pub(crate) mod keys;
mod library;
mod saved;
mod schema;
mod sql;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use rusqlite::Connection;

use crate::follow::{IndexSettings, IndexState};
use crate::{CompressedParams, HnswParams, IndexKind, Result};

/// Change-log entries kept by default: enough for any follower that reads within minutes.
pub(crate) const DEFAULT_CHANGE_LOG_KEEP: i64 = 100_000;

/// Settings for [`SqliteGallery`]; [`SqliteGalleryBuilder::open`] commits them.
#[derive(Debug, Clone)]
pub struct SqliteGalleryBuilder {
    indexes: IndexSettings,
    change_log_keep: i64,
}

impl Default for SqliteGalleryBuilder {
    fn default() -> Self {
        Self { indexes: IndexSettings::default(), change_log_keep: DEFAULT_CHANGE_LOG_KEEP }
    }
}

impl SqliteGalleryBuilder {
    crate::follow::index_setters!();

    /// Opens (or creates) the gallery file, migrates its schema and loads its indexes: HNSW
    /// graphs from their saved files when those are current (then only the changes since are
    /// applied), otherwise built on every thread.
    pub fn open(self, path: impl AsRef<Path>) -> Result<SqliteGallery> {
        let path = path.as_ref().to_path_buf();
        let mut writer = schema::connect(&path)?;
        schema::prepare(&path, &mut writer)?;
        let reader = schema::connect(&path)?;
        let key_reader = schema::connect(&path)?;
        let state = IndexState::load(&path, &reader, &self.indexes)?;
        Ok(SqliteGallery {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            key_reader: Mutex::new(key_reader),
            state: RwLock::new(state),
            settings: self,
        })
    }
}

/// The embedded gallery. One writer connection and one reader connection, shared by threads,
/// and a connection of its own for API-key checks, so that no long read (a page of the photo
/// library, an export) makes every other client's key check wait; searches run in parallel
/// under a read lock on the index.
#[derive(Debug)]
pub struct SqliteGallery {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    key_reader: Mutex<Connection>,
    state: RwLock<IndexState>,
    settings: SqliteGalleryBuilder,
}

impl SqliteGallery {
    pub fn builder() -> SqliteGalleryBuilder {
        SqliteGalleryBuilder::default()
    }

    /// Opens with the default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder().open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which index answers searches in `collection` now.
    pub fn index_kind(&self, collection: &str) -> Result<IndexKind> {
        crate::storage::index_kind(self, collection)
    }

    /// Bytes of memory held by the vector indexes and the face → subject map.
    pub fn index_memory_bytes(&self) -> usize {
        crate::storage::index_memory_bytes(self)
    }

    /// Changes the HNSW search width (efSearch) of every graph: recall against speed.
    pub fn set_expansion_search(&self, expansion: usize) {
        crate::storage::set_expansion_search(self, expansion)
    }

    /// Changes how many faces every compressed index re-ranks exactly: recall against speed.
    pub fn set_rerank(&self, rerank: usize) {
        crate::storage::set_rerank(self, rerank)
    }

    /// Saves every HNSW graph that has unsaved changes, so the next open loads instead of
    /// rebuilding. Also done when the gallery is dropped.
    pub fn save_index(&self) -> Result<()> {
        crate::storage::sync(self)?;
        // The state's lock before the reader's.
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.save(&self.path, &self.reader())
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SqliteGallery {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.worth_saving() {
            // Best effort: a missing or stale saved index is rebuilt or caught up on next open.
            let reader = self.reader.get_mut().unwrap_or_else(|e| e.into_inner());
            let _ = state.save(&self.path, reader);
        }
    }
}
