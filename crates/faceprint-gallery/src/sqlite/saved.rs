//! Indexes saved beside the gallery file (`g.db.index/`): an HNSW graph or the compressed
//! index's codes per collection, each with a description that says what it holds. A saved
//! index is only trusted when its description matches the gallery, the model and the settings,
//! and it is not from the future; the changes logged since its position are applied on open.

use std::path::{Path, PathBuf};

use faceprint_types::ModelId;
use serde::{Deserialize, Serialize};

use crate::{GalleryError, IndexKind, Result};

/// Written beside a saved index.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct SavedIndex {
    /// Descriptions written before the compressed index existed are of graphs.
    #[serde(default = "hnsw")]
    pub(super) kind: IndexKind,
    pub(super) gallery_id: String,
    pub(super) model: ModelId,
    pub(super) dims: usize,
    /// HNSW links per node (0 for other kinds).
    pub(super) connectivity: usize,
    pub(super) seq: i64,
    /// The random token of the change-log entry at `seq`. A gallery restored from a backup
    /// reuses log positions, so a position alone could name another history; the token names
    /// this one. Descriptions written before tokens existed have none and are rebuilt.
    #[serde(default)]
    pub(super) token: Option<i64>,
    /// The data file, named after the log position it holds, so a description can never point
    /// at an index of another position (two processes may save at once).
    pub(super) file: String,
}

fn hnsw() -> IndexKind {
    IndexKind::Hnsw
}

/// The folder of saved indexes, and the description file of a collection's index.
fn paths(db: &Path, collection: i64) -> (PathBuf, PathBuf) {
    let mut dir = db.as_os_str().to_owned();
    dir.push(".index");
    let dir = PathBuf::from(dir);
    let description = dir.join(format!("collection-{collection}.json"));
    (dir, description)
}

/// The data file name of a collection's index of `kind` at log position `seq`.
fn file_name(collection: i64, kind: IndexKind, seq: i64) -> String {
    let extension = if kind == IndexKind::Hnsw { "usearch" } else { "codes" };
    format!("collection-{collection}-{seq}.{extension}")
}

/// The folder of saved indexes, readable by its owner alone (it holds faceprints, or codes
/// made from them).
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error(dir))
}

/// A name no other process or thread is writing to at the same time.
fn unique_temporary(dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{stem}.{}.{n}.tmp", std::process::id()))
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> GalleryError {
    let path = path.to_path_buf();
    move |reason| GalleryError::Io { path, reason }
}

/// Flushes a file (or folder) to disk.
fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io_error(path))
}

/// Saves a collection's index: `write` puts the data in a file, which is flushed and renamed
/// into place, then the description naming it is written the same way, then the folder is
/// flushed. A crash leaves the old description (and its data), or the new one; never a
/// description of other data.
pub(super) fn save(
    db: &Path,
    collection: i64,
    mut description: SavedIndex,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let (dir, description_path) = paths(db, collection);
    create_private_dir(&dir)?;
    description.file = file_name(collection, description.kind, description.seq);
    let data_path = dir.join(&description.file);
    let temporary = unique_temporary(&dir, &description.file);
    write(&temporary)?;
    sync(&temporary)?;
    std::fs::rename(&temporary, &data_path).map_err(io_error(&data_path))?;
    let previous: Option<SavedIndex> =
        std::fs::read(&description_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let temporary = unique_temporary(&dir, "description.json");
    std::fs::write(&temporary, serde_json::to_vec(&description).expect("serialisable"))
        .map_err(io_error(&temporary))?;
    sync(&temporary)?;
    std::fs::rename(&temporary, &description_path).map_err(io_error(&description_path))?;
    // Best effort: not every platform can open a folder to flush it, and a rename that is lost
    // leaves the previous, consistent description.
    let _ = sync(&dir);
    // The data the old description named is garbage now (best effort: a process still loading
    // it keeps its open file). Only a name this module writes is removed.
    if let Some(previous) =
        previous.filter(|p| p.file != description.file && p.file == file_name(collection, p.kind, p.seq))
    {
        let _ = std::fs::remove_file(dir.join(previous.file));
    }
    Ok(())
}

/// The data file of a collection's saved index of `kind`, and its log position, when its
/// description matches `expected` (everything but the position, token and file), its position
/// is not after `current_seq` (a file restored from a backup, say), and `token_at` its position
/// is the token it was saved with (the same history, not a restored one that reused positions).
pub(super) fn find(
    db: &Path,
    collection: i64,
    expected: &SavedIndex,
    current_seq: i64,
    token_at: impl FnOnce(i64) -> Option<i64>,
) -> Option<(PathBuf, i64)> {
    let (dir, description_path) = paths(db, collection);
    let description: SavedIndex = serde_json::from_slice(&std::fs::read(description_path).ok()?).ok()?;
    let matches = description.kind == expected.kind
        && description.gallery_id == expected.gallery_id
        && description.model == expected.model
        && description.dims == expected.dims
        && description.connectivity == expected.connectivity
        && description.seq <= current_seq
        // The name must be one this module writes: never a path elsewhere.
        && description.file == file_name(collection, description.kind, description.seq)
        && description.token.is_some()
        && description.token == token_at(description.seq);
    matches.then(|| (dir.join(&description.file), description.seq))
}
