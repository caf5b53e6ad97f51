//! The embedded gallery's side of [`crate::follow`]: loading the indexes from the file and
//! replaying its `changes` log. HNSW graphs and compressed codes are saved beside the file
//! ([`super::saved`]) so that opening a large gallery loads them instead of recomputing.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use faceprint_types::ModelId;
use rusqlite::{Connection, OptionalExtension};

use super::saved::{self, SavedIndex};
use crate::follow::{AnyIndex, CollectionIndex, CurrentFace, IndexSettings, IndexState, Update};
use crate::{CompressedIndex, FaceId, GalleryError, HnswIndex, IndexKind, Result, SavedCodes, SubjectId};

/// Unsaved log entries after which a graph is saved again on close: replaying a few thousand
/// changes on open is instant, re-writing a 2 GiB graph after each enrolment is not.
const RESAVE_AFTER_CHANGES: i64 = 1000;

pub(crate) fn read_model(connection: &Connection) -> rusqlite::Result<Option<(ModelId, usize)>> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        connection.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
    };
    Ok(match (get("model")?, get("dims")?) {
        (Some(model), Some(dims)) => dims.parse().ok().map(|dims| (ModelId(model), dims)),
        _ => None,
    })
}

/// The random token of the change-log entry at `seq` (`None`: no such entry, or one logged
/// before tokens existed).
pub(crate) fn token_at(connection: &Connection, seq: i64) -> Option<i64> {
    connection.query_row("SELECT token FROM changes WHERE seq = ?1", [seq], |r| r.get(0)).optional().ok().flatten()
}

pub(crate) fn max_seq(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))
}

/// The log position up to which the change log was cut (0: never).
pub(crate) fn pruned_through(connection: &Connection) -> rusqlite::Result<i64> {
    let value: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'changes_pruned_through'", [], |r| r.get(0))
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

impl IndexState {
    /// Reads the whole gallery from one snapshot: face → subject map, exact indexes, and HNSW
    /// graphs (loaded and caught up, or built).
    pub(crate) fn load(path: &Path, connection: &Connection, settings: &IndexSettings) -> Result<Self> {
        let tx = connection.unchecked_transaction()?;
        let applied_seq = max_seq(&tx)?;
        let pruned = pruned_through(&tx)?;
        let gallery_id: String = tx.query_row("SELECT value FROM meta WHERE key = 'gallery_id'", [], |r| r.get(0))?;
        let model = read_model(&tx)?;
        let mut state = IndexState::new(gallery_id, model.clone(), applied_seq, settings.clone());
        let Some((_, dims)) = model else { return Ok(state) };

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
            let kind = state.kind_for(count);
            // A file older than the log's cut cannot be caught up: rebuilt instead.
            let found = saved::find(path, collection, &state.description(kind), applied_seq, |seq| token_at(&tx, seq))
                .filter(|(_, saved_seq)| *saved_seq >= pruned);
            let entry = match (kind, found) {
                (IndexKind::Hnsw, Some((file, saved_seq))) => match HnswIndex::load(&file, dims, settings.hnsw) {
                    Ok(graph) => {
                        let mut entry = CollectionIndex { index: AnyIndex::Hnsw(graph), saved_seq: Some(saved_seq) };
                        catch_up(&tx, &mut entry, collection, saved_seq)?;
                        entry
                    }
                    Err(_) => state.build_collection(&tx, kind, collection, count, None)?,
                },
                (IndexKind::Compressed, Some((file, saved_seq))) => {
                    let saved = std::fs::read(&file).ok().and_then(|bytes| SavedCodes::parse(&bytes, dims));
                    match saved {
                        Some(codes) => {
                            let changed = changed_faces(&tx, saved_seq)?;
                            let mut entry =
                                state.build_collection(&tx, kind, collection, count, Some((&codes, &changed)))?;
                            entry.saved_seq = Some(saved_seq);
                            entry
                        }
                        None => state.build_collection(&tx, kind, collection, count, None)?,
                    }
                }
                _ => state.build_collection(&tx, kind, collection, count, None)?,
            };
            state.collections.insert(collection, entry);
        }
        Ok(state)
    }

    /// What a saved index of `kind` for `collection` must say to be used.
    fn description(&self, kind: IndexKind) -> SavedIndex {
        let (model, dims) = self.model.clone().unwrap_or((ModelId(String::new()), 0));
        SavedIndex {
            kind,
            gallery_id: self.gallery_id.clone(),
            model,
            dims,
            connectivity: if kind == IndexKind::Hnsw { self.settings.hnsw.connectivity } else { 0 },
            seq: self.applied_seq,
            token: None,
            file: String::new(),
        }
    }

    /// Builds a collection's index from its vectors in the snapshot (with saved codes, for the
    /// compressed index, and the faces changed since they were saved).
    fn build_collection(
        &self,
        connection: &Connection,
        kind: IndexKind,
        collection: i64,
        count: usize,
        saved: Option<(&SavedCodes, &HashSet<FaceId>)>,
    ) -> Result<CollectionIndex> {
        let dims = self.model.as_ref().map_or(0, |m| m.1);
        let (ids, matrix) = read_vectors(connection, collection, dims, count)?;
        let items: Vec<(FaceId, &[f32])> = ids.iter().copied().zip(matrix.chunks_exact(dims)).collect();
        let settings = &self.settings;
        let index = match (kind, saved) {
            (IndexKind::Compressed, Some((codes, changed))) => AnyIndex::Compressed(CompressedIndex::build_from_saved(
                dims,
                settings.compressed,
                &items,
                settings.threads,
                codes,
                changed,
            )?),
            _ => AnyIndex::build(kind, dims, &items, settings)?,
        };
        Ok(CollectionIndex { index, saved_seq: None })
    }

    pub(crate) fn worth_saving(&self) -> bool {
        self.collections.values().any(|c| match (&c.index, c.saved_seq) {
            (AnyIndex::Exact(_), _) => false,
            (_, None) => true,
            (_, Some(seq)) => self.applied_seq - seq >= RESAVE_AFTER_CHANGES,
        })
    }

    /// Saves each HNSW graph and compressed index that is not saved at the current log
    /// position ([`saved::save`]).
    pub(crate) fn save(&mut self, db: &Path, connection: &Connection) -> Result<()> {
        if self.model.is_none() {
            return Ok(());
        }
        let seq = self.applied_seq;
        let token = token_at(connection, seq);
        let collections: Vec<i64> = self.collections.keys().copied().collect();
        for collection in collections {
            let kind = self.kind_of(collection);
            let description = SavedIndex { token, ..self.description(kind) };
            let entry = self.collections.get_mut(&collection).expect("listed above");
            if kind == IndexKind::Exact || entry.saved_seq == Some(seq) {
                continue;
            }
            saved::save(db, collection, description, |file| match &entry.index {
                AnyIndex::Hnsw(graph) => graph.save(file),
                AnyIndex::Compressed(index) => {
                    let mut out = std::io::BufWriter::new(std::fs::File::create(file).map_err(saved::io_error(file))?);
                    index
                        .write_codes(&mut out)
                        .and_then(|()| std::io::Write::flush(&mut out))
                        .map_err(saved::io_error(file))
                }
                AnyIndex::Exact(_) => Ok(()),
            })?;
            entry.saved_seq = Some(seq);
        }
        Ok(())
    }
}

/// What the log says since `from`, from one snapshot of the file.
pub(crate) fn changes_since(connection: &Connection, from: i64, model: Option<&(ModelId, usize)>) -> Result<Update> {
    let tx = connection.unchecked_transaction()?;
    let seq = max_seq(&tx)?;
    if seq <= from {
        return Ok(Update::Current);
    }
    if read_model(&tx)?.as_ref() != model || pruned_through(&tx)? > from {
        // Re-embedded with another model (by us or another process), or the changes since we
        // last looked were cut from the log: start over.
        return Ok(Update::Reload);
    }
    let mut lookup = tx.prepare_cached(CURRENT_FACE)?;
    let mut changed: Vec<(FaceId, CurrentFace)> = Vec::new();
    for face in changed_faces(&tx, from)? {
        let current: Option<(i64, SubjectId, Vec<u8>)> =
            lookup.query_row([face], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
        let current = match current {
            Some((collection, subject, blob)) => Some((collection, subject, crate::sql::decode_vector(&blob)?)),
            None => None,
        };
        changed.push((face, current));
    }
    Ok(Update::Changes { from, seq, changed })
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
            Some((c, blob)) if c == collection => {
                entry.index.as_dyn_mut().insert(face, &crate::sql::decode_vector(&blob)?)?
            }
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
        crate::sql::decode_vector_into(blob, &mut matrix);
    }
    Ok((ids, matrix))
}
