//! The in-memory side of the embedded gallery: one vector index per collection, kept current by
//! replaying the `changes` log, and HNSW graphs saved beside the file so that opening a large
//! gallery loads them instead of rebuilding.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use faceprint_types::ModelId;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::SqliteGalleryBuilder;
use super::codec;
use crate::index::{ScoredFace, VectorIndex};
use crate::{ExactIndex, FaceId, GalleryError, HnswIndex, IndexKind, Result, SubjectId};

/// Unsaved log entries after which a graph is saved again on close: replaying a few thousand
/// changes on open is instant, re-writing a 2 GiB graph after each enrolment is not.
const RESAVE_AFTER_CHANGES: i64 = 1000;

#[derive(Debug)]
pub(crate) enum AnyIndex {
    Exact(ExactIndex),
    Hnsw(HnswIndex),
}

impl AnyIndex {
    pub(crate) fn as_dyn(&self) -> &dyn VectorIndex {
        match self {
            AnyIndex::Exact(i) => i,
            AnyIndex::Hnsw(i) => i,
        }
    }
    fn as_dyn_mut(&mut self) -> &mut dyn VectorIndex {
        match self {
            AnyIndex::Exact(i) => i,
            AnyIndex::Hnsw(i) => i,
        }
    }
}

#[derive(Debug)]
struct CollectionIndex {
    index: AnyIndex,
    /// Log position the saved graph file is current to; `None` when there is no current file.
    saved_seq: Option<i64>,
}

/// Written beside a saved graph; the graph is only trusted when all of it matches.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct SavedGraph {
    gallery_id: String,
    model: ModelId,
    dims: usize,
    connectivity: usize,
    seq: i64,
    /// The graph file, named after the log position it holds, so a description can never
    /// point at a graph of another position (two processes may save at once).
    file: String,
}

#[derive(Debug)]
pub(crate) struct IndexState {
    gallery_id: String,
    pub(crate) model: Option<(ModelId, usize)>,
    pub(crate) applied_seq: i64,
    collections: HashMap<i64, CollectionIndex>,
    /// Which collection and subject each indexed face belongs to.
    pub(crate) faces: HashMap<FaceId, (i64, SubjectId)>,
    settings: SqliteGalleryBuilder,
}

pub(crate) fn read_model(connection: &Connection) -> rusqlite::Result<Option<(ModelId, usize)>> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        connection.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
    };
    Ok(match (get("model")?, get("dims")?) {
        (Some(model), Some(dims)) => dims.parse().ok().map(|dims| (ModelId(model), dims)),
        _ => None,
    })
}

pub(crate) fn max_seq(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))
}

/// The folder of saved graphs, and the description file of a collection's graph.
fn graph_paths(db: &Path, collection: i64) -> (PathBuf, PathBuf) {
    let mut dir = db.as_os_str().to_owned();
    dir.push(".index");
    let dir = PathBuf::from(dir);
    let description = dir.join(format!("collection-{collection}.json"));
    (dir, description)
}

/// A name no other process or thread is writing to at the same time.
fn unique_temporary(dir: &Path, stem: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{stem}.{}.{n}.tmp", std::process::id()))
}

impl IndexState {
    /// Reads the whole gallery from one snapshot: face → subject map, exact indexes, and HNSW
    /// graphs (loaded and caught up, or built).
    pub(crate) fn load(path: &Path, connection: &Connection, settings: &SqliteGalleryBuilder) -> Result<Self> {
        let tx = connection.unchecked_transaction()?;
        let applied_seq = max_seq(&tx)?;
        let gallery_id: String = tx.query_row("SELECT value FROM meta WHERE key = 'gallery_id'", [], |r| r.get(0))?;
        let model = read_model(&tx)?;
        let mut state = IndexState {
            gallery_id,
            model: model.clone(),
            applied_seq,
            collections: HashMap::new(),
            faces: HashMap::new(),
            settings: settings.clone(),
        };
        let Some((model, dims)) = model else { return Ok(state) };

        let mut statement = tx.prepare(
            "SELECT s.collection_id, f.id, f.subject_id FROM faces f JOIN subjects s ON s.id = f.subject_id",
        )?;
        let mut counts: HashMap<i64, usize> = HashMap::new();
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let collection: i64 = row.get(0)?;
            state.faces.insert(row.get(1)?, (collection, row.get(2)?));
            *counts.entry(collection).or_default() += 1;
        }
        drop(rows);

        for (collection, count) in counts {
            let entry = match state.kind_for(count) {
                IndexKind::Hnsw => {
                    match load_saved_graph(path, collection, &state.gallery_id, &model, dims, settings, applied_seq) {
                        Some((graph, saved_seq)) => {
                            let mut entry =
                                CollectionIndex { index: AnyIndex::Hnsw(graph), saved_seq: Some(saved_seq) };
                            catch_up(&tx, &mut entry, collection, saved_seq)?;
                            entry
                        }
                        None => {
                            let (ids, matrix) = read_vectors(&tx, collection, dims, count)?;
                            let items: Vec<(FaceId, &[f32])> =
                                ids.iter().copied().zip(matrix.chunks_exact(dims)).collect();
                            let graph = HnswIndex::build(dims, settings.hnsw, &items, settings.threads)?;
                            CollectionIndex { index: AnyIndex::Hnsw(graph), saved_seq: None }
                        }
                    }
                }
                _ => {
                    let (ids, matrix) = read_vectors(&tx, collection, dims, count)?;
                    let mut exact = ExactIndex::with_capacity(dims, count);
                    for (id, vector) in ids.iter().zip(matrix.chunks_exact(dims)) {
                        exact.insert(*id, vector)?;
                    }
                    CollectionIndex { index: AnyIndex::Exact(exact), saved_seq: None }
                }
            };
            state.collections.insert(collection, entry);
        }
        Ok(state)
    }

    fn kind_for(&self, faces: usize) -> IndexKind {
        match self.settings.index {
            IndexKind::Auto if faces >= self.settings.auto_hnsw_from => IndexKind::Hnsw,
            IndexKind::Auto => IndexKind::Exact,
            kind => kind,
        }
    }

    pub(crate) fn kind_of(&self, collection: i64) -> IndexKind {
        match self.collections.get(&collection).map(|c| &c.index) {
            Some(AnyIndex::Hnsw(_)) => IndexKind::Hnsw,
            Some(AnyIndex::Exact(_)) => IndexKind::Exact,
            None => self.kind_for(0),
        }
    }

    pub(crate) fn index(&self, collection: i64) -> Option<&dyn VectorIndex> {
        self.collections.get(&collection).map(|c| c.index.as_dyn())
    }

    /// Applies every logged change after `applied_seq`, reading each changed face's current
    /// row: the log says what changed, the tables say what it is now, so replaying a change
    /// twice is harmless.
    pub(crate) fn catch_up(&mut self, path: &Path, connection: &Connection) -> Result<()> {
        let tx = connection.unchecked_transaction()?;
        let seq = max_seq(&tx)?;
        if seq <= self.applied_seq {
            return Ok(());
        }
        if read_model(&tx)? != self.model {
            // Re-embedded with another model (by us or another process): start over.
            drop(tx);
            *self = IndexState::load(path, connection, &self.settings)?;
            return Ok(());
        }
        let changed = changed_faces(&tx, self.applied_seq)?;
        let dims = self.model.as_ref().map_or(0, |m| m.1);
        let mut lookup = tx.prepare_cached(CURRENT_FACE)?;
        for face in changed {
            let current: Option<(i64, SubjectId, Vec<u8>)> =
                lookup.query_row([face], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
            if let Some((old_collection, _)) = self.faces.get(&face).copied()
                && current.as_ref().is_none_or(|c| c.0 != old_collection)
                && let Some(entry) = self.collections.get_mut(&old_collection)
            {
                entry.index.as_dyn_mut().remove(face)?;
            }
            match current {
                Some((collection, subject, blob)) => {
                    let kind = self.kind_for(0);
                    let entry = self.collections.entry(collection).or_insert_with(|| CollectionIndex {
                        index: match kind {
                            IndexKind::Hnsw => AnyIndex::Hnsw(
                                HnswIndex::new(dims, self.settings.hnsw).expect("creating an empty HNSW index"),
                            ),
                            _ => AnyIndex::Exact(ExactIndex::new(dims)),
                        },
                        saved_seq: None,
                    });
                    entry.index.as_dyn_mut().insert(face, &codec::decode(&blob)?)?;
                    self.faces.insert(face, (collection, subject));
                }
                None => {
                    self.faces.remove(&face);
                }
            }
        }
        self.applied_seq = seq;
        Ok(())
    }

    pub(crate) fn set_expansion_search(&mut self, expansion: usize) {
        self.settings.hnsw.expansion_search = expansion;
        for entry in self.collections.values_mut() {
            if let AnyIndex::Hnsw(graph) = &mut entry.index {
                graph.set_expansion_search(expansion);
            }
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        let map = self.faces.capacity() * (std::mem::size_of::<(FaceId, (i64, SubjectId))>() + 1);
        map + self.collections.values().map(|c| c.index.as_dyn().memory_bytes()).sum::<usize>()
    }

    pub(crate) fn worth_saving(&self) -> bool {
        self.collections.values().any(|c| match (&c.index, c.saved_seq) {
            (AnyIndex::Hnsw(_), None) => true,
            (AnyIndex::Hnsw(_), Some(seq)) => self.applied_seq - seq >= RESAVE_AFTER_CHANGES,
            _ => false,
        })
    }

    /// Writes each HNSW graph that is not saved at the current log position: the graph to a
    /// file named after that position, then the description naming it, each through a
    /// temporary file and a rename. A crash leaves the old description (and its graph), or the
    /// new one; never a description of another graph.
    pub(crate) fn save(&mut self, db: &Path) -> Result<()> {
        let Some((model, dims)) = self.model.clone() else { return Ok(()) };
        for (&collection, entry) in &mut self.collections {
            let AnyIndex::Hnsw(graph) = &entry.index else { continue };
            if entry.saved_seq == Some(self.applied_seq) {
                continue;
            }
            let (dir, description_path) = graph_paths(db, collection);
            let io = |path: &Path| {
                let path = path.to_path_buf();
                move |reason| GalleryError::Io { path, reason }
            };
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let file = format!("collection-{collection}-{}.usearch", self.applied_seq);
            let graph_path = dir.join(&file);
            let temporary = unique_temporary(&dir, &file);
            graph.save(&temporary)?;
            std::fs::rename(&temporary, &graph_path).map_err(io(&graph_path))?;
            let previous: Option<SavedGraph> =
                std::fs::read(&description_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            let description = SavedGraph {
                gallery_id: self.gallery_id.clone(),
                model: model.clone(),
                dims,
                connectivity: graph.params().connectivity,
                seq: self.applied_seq,
                file,
            };
            let temporary = unique_temporary(&dir, "description.json");
            std::fs::write(&temporary, serde_json::to_vec(&description).expect("serialisable"))
                .map_err(io(&temporary))?;
            std::fs::rename(&temporary, &description_path).map_err(io(&description_path))?;
            // The graph the old description named is garbage now (best effort: a process still
            // loading it keeps its open file).
            if let Some(previous) = previous.filter(|p| p.file != description.file) {
                let _ = std::fs::remove_file(dir.join(previous.file));
            }
            entry.saved_seq = Some(self.applied_seq);
        }
        Ok(())
    }
}

const CURRENT_FACE: &str = "SELECT s.collection_id, f.subject_id, f.embedding FROM faces f \
                            JOIN subjects s ON s.id = f.subject_id WHERE f.id = ?1";

fn changed_faces(connection: &Connection, after: i64) -> Result<HashSet<FaceId>> {
    let mut statement = connection.prepare_cached("SELECT DISTINCT face_id FROM changes WHERE seq > ?1")?;
    let faces = statement.query_map([after], |r| r.get(0))?.collect::<rusqlite::Result<HashSet<FaceId>>>()?;
    Ok(faces)
}

/// Brings a graph loaded from disk from `saved_seq` to the snapshot's position.
fn catch_up(connection: &Connection, entry: &mut CollectionIndex, collection: i64, saved_seq: i64) -> Result<()> {
    let mut lookup = connection.prepare_cached(CURRENT_FACE)?;
    for face in changed_faces(connection, saved_seq)? {
        let current: Option<(i64, Vec<u8>)> = lookup.query_row([face], |r| Ok((r.get(0)?, r.get(2)?))).optional()?;
        match current {
            Some((c, blob)) if c == collection => entry.index.as_dyn_mut().insert(face, &codec::decode(&blob)?)?,
            _ => {
                entry.index.as_dyn_mut().remove(face)?;
            }
        }
    }
    Ok(())
}

/// Every face id and vector of a collection, vectors in one contiguous buffer.
fn read_vectors(
    connection: &Connection,
    collection: i64,
    dims: usize,
    count: usize,
) -> Result<(Vec<FaceId>, Vec<f32>)> {
    let mut ids = Vec::with_capacity(count);
    let mut matrix = Vec::with_capacity(count * dims);
    let mut statement = connection.prepare(
        "SELECT f.id, f.embedding FROM faces f JOIN subjects s ON s.id = f.subject_id WHERE s.collection_id = ?1",
    )?;
    let mut rows = statement.query([collection])?;
    while let Some(row) = rows.next()? {
        let blob = row.get_ref(1)?.as_blob().map_err(|e| GalleryError::Storage(e.to_string()))?;
        if blob.len() != dims * 4 {
            return Err(GalleryError::DimensionMismatch { gallery: dims, given: blob.len() / 4 });
        }
        ids.push(row.get(0)?);
        codec::decode_into(blob, &mut matrix);
    }
    Ok((ids, matrix))
}

/// The saved graph of a collection, when its description matches this gallery and model and it
/// is not from the future (a file restored from a backup, say).
fn load_saved_graph(
    db: &Path,
    collection: i64,
    gallery_id: &str,
    model: &ModelId,
    dims: usize,
    settings: &SqliteGalleryBuilder,
    current_seq: i64,
) -> Option<(HnswIndex, i64)> {
    let (dir, description_path) = graph_paths(db, collection);
    let description: SavedGraph = serde_json::from_slice(&std::fs::read(description_path).ok()?).ok()?;
    let graph_path = dir.join(&description.file);
    let matches = description.gallery_id == gallery_id
        && &description.model == model
        && description.dims == dims
        && description.connectivity == settings.hnsw.connectivity
        && description.seq <= current_seq;
    if !matches {
        return None;
    }
    let graph = HnswIndex::load(&graph_path, dims, settings.hnsw).ok()?;
    Some((graph, description.seq))
}

/// Keeps only the best-scoring face of each subject, in order, until `k` subjects are found.
pub(crate) fn best_per_subject(
    faces: &[ScoredFace],
    subject_of: impl Fn(FaceId) -> Option<SubjectId>,
    k: usize,
) -> Vec<(SubjectId, ScoredFace)> {
    let mut seen = HashSet::new();
    let mut best = Vec::with_capacity(k);
    for face in faces {
        let Some(subject) = subject_of(face.face_id) else { continue };
        if seen.insert(subject) {
            best.push((subject, *face));
            if best.len() == k {
                break;
            }
        }
    }
    best
}
