//! The one gallery core: [`Gallery`] written once, above a narrow [`Storage`] layer that each
//! backend implements (its rows and its change log).
//!
//! What lives here and nowhere else: the write checks (names, metadata, embeddings), keeping the
//! in-memory indexes current with the log ([`catch_up`]), search, 1:1 similarity, and the
//! collection sizes open-set identification reads. A backend only says how to read and write
//! rows and how to read its log, so the two stores cannot drift apart in what they answer.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

use faceprint_types::ModelId;

use crate::checks::{best_template, check_face, check_metadata, check_name};
use crate::follow::{IndexSettings, IndexState, Update};
use crate::{
    AddedFace, Candidate, FaceId, FaceRecord, FullFace, Gallery, GalleryError, GalleryStats, IndexKind, NewFace,
    Result, Subject, SubjectId, SubjectKey,
};

/// Which subjects of a collection to list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SubjectList {
    /// Every subject, by name.
    All,
    /// At most `limit` subjects with ids after `after`, by id.
    Page { after: SubjectId, limit: i64 },
}

/// A change to one subject's own row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SubjectChange<'a> {
    Rename(&'a str),
    Metadata(&'a serde_json::Value),
}

/// The rows and the change log of one backend. Inputs arrive checked: a backend stores, it does
/// not judge. Every write is one durable transaction that logs the faces it touched.
pub(crate) trait Storage: Send + Sync + std::fmt::Debug {
    /// The in-memory indexes this handle keeps.
    fn index_state(&self) -> &RwLock<IndexState>;
    /// Whether the log may have moved on since this handle last caught up (a cheap question:
    /// SQLite reads the log's head, PostgreSQL asks its LISTEN connection). `mark` is handed back
    /// to [`Storage::caught_up`] once the indexes are current.
    fn may_have_changed(&self, applied_seq: i64) -> Result<Option<u64>>;
    fn caught_up(&self, _mark: u64) {}
    /// What the log says since position `from`, read from one snapshot.
    fn changes_since(&self, from: i64, model: Option<&(ModelId, usize)>) -> Result<Update>;
    /// Every collection's index from one snapshot.
    fn load(&self, settings: &IndexSettings) -> Result<IndexState>;

    fn read_model(&self) -> Result<Option<(ModelId, usize)>>;
    /// Collections, subjects and faces stored.
    fn counts(&self) -> Result<(usize, usize, usize)>;
    fn collection_names(&self) -> Result<Vec<String>>;
    fn collection_id(&self, name: &str) -> Result<i64>;
    fn read_subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject>;
    fn read_subjects(&self, collection: &str, list: SubjectList) -> Result<Vec<Subject>>;
    fn read_faces(&self, collection: &str, key: &SubjectKey) -> Result<Vec<FaceRecord>>;
    /// The names of those of `ids` that still exist.
    fn subject_names(&self, ids: &[SubjectId]) -> Result<HashMap<SubjectId, String>>;
    fn visit_faces(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()>;
    fn ping(&self) -> Result<()>;
    fn check_storage(&self) -> Result<()>;

    fn insert_collection(&self, name: &str) -> Result<()>;
    fn insert_subjects(&self, collection: &str, subjects: Vec<(String, serde_json::Value)>) -> Result<Vec<Subject>>;
    fn update_subject(&self, collection: &str, key: &SubjectKey, change: SubjectChange<'_>) -> Result<Subject>;
    fn move_faces_and_delete(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject>;
    fn remove_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize>;
    /// Adds faces in one transaction, adopting their model when the gallery has none (or none
    /// with faces) and refusing another one.
    fn insert_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>>;
    fn remove_face(&self, collection: &str, face: FaceId) -> Result<()>;
    /// Replaces every face's embedding (all must be given) and the gallery's model.
    fn replace_embeddings(&self, model: &ModelId, dims: usize, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()>;
}

fn read_state<S: Storage>(store: &S) -> RwLockReadGuard<'_, IndexState> {
    store.index_state().read().unwrap_or_else(|e| e.into_inner())
}

/// Brings the indexes up to the log when it may have moved on.
pub(crate) fn sync<S: Storage>(store: &S) -> Result<()> {
    let applied = read_state(store).applied_seq;
    if let Some(mark) = store.may_have_changed(applied)? {
        catch_up(store)?;
        store.caught_up(mark);
    }
    Ok(())
}

/// Applies the change log to the indexes now. When another thread moved the indexes on while
/// this one read the log, it reads again from there: marking the indexes current without it
/// could skip a change. The log is read without holding the indexes' lock, so searches go on.
pub(crate) fn catch_up<S: Storage>(store: &S) -> Result<()> {
    loop {
        let (applied, model, settings) = {
            let state = read_state(store);
            (state.applied_seq, state.model.clone(), state.settings.clone())
        };
        let update = store.changes_since(applied, model.as_ref())?;
        let mut state = store.index_state().write().unwrap_or_else(|e| e.into_inner());
        return match update {
            Update::Current => Ok(()),
            Update::Reload => {
                drop(state);
                let fresh = store.load(&settings)?;
                let mut state = store.index_state().write().unwrap_or_else(|e| e.into_inner());
                if fresh.applied_seq >= state.applied_seq {
                    *state = fresh;
                }
                Ok(())
            }
            Update::Changes { from, seq, changed } if state.applied_seq == from => state.apply_changes(seq, changed),
            Update::Changes { .. } => continue,
        };
    }
}

/// After a durable write: shows it to this handle's indexes. The write is done whatever happens
/// here; should the store vanish just now, the next search catches up instead.
fn after_write<S: Storage, T>(store: &S, out: Result<T>) -> Result<T> {
    if out.is_ok() {
        let _ = catch_up(store);
    }
    out
}

/// Which index answers searches in `collection` now.
pub(crate) fn index_kind<S: Storage>(store: &S, collection: &str) -> Result<IndexKind> {
    let id = store.collection_id(collection)?;
    sync(store)?;
    Ok(read_state(store).kind_of(id))
}

pub(crate) fn index_memory_bytes<S: Storage>(store: &S) -> usize {
    read_state(store).memory_bytes()
}

pub(crate) fn set_expansion_search<S: Storage>(store: &S, expansion: usize) {
    store.index_state().write().unwrap_or_else(|e| e.into_inner()).set_expansion_search(expansion);
}

pub(crate) fn set_rerank<S: Storage>(store: &S, rerank: usize) {
    store.index_state().write().unwrap_or_else(|e| e.into_inner()).set_rerank(rerank);
}

impl<S: Storage> Gallery for S {
    fn model(&self) -> Result<Option<(ModelId, usize)>> {
        self.read_model()
    }

    fn stats(&self) -> Result<GalleryStats> {
        let (collections, subjects, faces) = self.counts()?;
        let model = self.read_model()?;
        Ok(GalleryStats { collections, subjects, faces, dims: model.as_ref().map(|m| m.1), model: model.map(|m| m.0) })
    }

    fn collections(&self) -> Result<Vec<String>> {
        self.collection_names()
    }

    fn create_collection(&self, name: &str) -> Result<()> {
        check_name("collection", name)?;
        after_write(self, self.insert_collection(name))
    }

    fn create_subject(&self, collection: &str, name: &str, metadata: serde_json::Value) -> Result<Subject> {
        Ok(self.create_subjects(collection, vec![(name.to_owned(), metadata)])?.remove(0))
    }

    fn create_subjects(&self, collection: &str, subjects: Vec<(String, serde_json::Value)>) -> Result<Vec<Subject>> {
        for (name, metadata) in &subjects {
            check_name("subject", name)?;
            check_metadata(metadata)?;
        }
        after_write(self, self.insert_subjects(collection, subjects))
    }

    fn subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject> {
        self.read_subject(collection, key)
    }

    fn subjects(&self, collection: &str) -> Result<Vec<Subject>> {
        self.read_subjects(collection, SubjectList::All)
    }

    fn subjects_page(&self, collection: &str, after: Option<SubjectId>, limit: usize) -> Result<Vec<Subject>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read_subjects(collection, SubjectList::Page { after: after.unwrap_or(0), limit })
    }

    fn rename_subject(&self, collection: &str, key: &SubjectKey, new_name: &str) -> Result<Subject> {
        check_name("subject", new_name)?;
        after_write(self, self.update_subject(collection, key, SubjectChange::Rename(new_name)))
    }

    fn set_metadata(&self, collection: &str, key: &SubjectKey, metadata: serde_json::Value) -> Result<Subject> {
        check_metadata(&metadata)?;
        after_write(self, self.update_subject(collection, key, SubjectChange::Metadata(&metadata)))
    }

    fn merge_subjects(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject> {
        after_write(self, self.move_faces_and_delete(collection, from, into))
    }

    fn delete_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize> {
        after_write(self, self.remove_subject(collection, key))
    }

    fn add_face(&self, collection: &str, subject: &SubjectKey, face: NewFace) -> Result<AddedFace> {
        Ok(self.add_faces(collection, vec![(subject.clone(), face)])?.remove(0))
    }

    fn add_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>> {
        for (_, face) in &faces {
            check_face(face)?;
        }
        if let Some(((_, first), rest)) = faces.split_first()
            && let Some((_, odd)) = rest.iter().find(|(_, f)| f.model != first.model)
        {
            return Err(GalleryError::ModelMismatch { gallery: first.model.0.clone(), given: odd.model.0.clone() });
        }
        after_write(self, self.insert_faces(collection, faces))
    }

    fn faces(&self, collection: &str, subject: &SubjectKey) -> Result<Vec<FaceRecord>> {
        self.read_faces(collection, subject)
    }

    fn delete_face(&self, collection: &str, face: FaceId) -> Result<()> {
        after_write(self, self.remove_face(collection, face))
    }

    fn collection_faces(&self, collection: &str) -> Result<usize> {
        let id = match self.collection_id(collection) {
            Ok(id) => id,
            Err(GalleryError::UnknownCollection(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        sync(self)?;
        Ok(read_state(self).index(id).map_or(0, |index| index.len()))
    }

    fn search(&self, collection: &str, model: &ModelId, query: &[f32], k: usize) -> Result<Vec<Candidate>> {
        Ok(self.search_batch(collection, model, &[query.to_vec()], k)?.pop().unwrap_or_default())
    }

    fn search_batch(
        &self,
        collection: &str,
        model: &ModelId,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<Candidate>>> {
        let collection = self.collection_id(collection)?;
        sync(self)?;
        // Every query's model and size are checked; `false` means the gallery is still empty.
        let has_faces = read_state(self).check_queries(model, queries.iter().map(Vec::len))?;
        if queries.is_empty() || !has_faces || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let best = read_state(self).nearest_subjects(collection, queries, k)?;
        // A subject deleted by another process after the index was read is skipped.
        let ids: Vec<SubjectId> = best.iter().flatten().map(|(subject, _)| *subject).collect();
        let names = self.subject_names(&ids)?;
        Ok(best
            .into_iter()
            .map(|faces| {
                faces
                    .into_iter()
                    .filter_map(|(subject_id, face)| {
                        names.get(&subject_id).map(|name| Candidate {
                            subject_id,
                            subject: name.clone(),
                            similarity: face.similarity,
                            face_id: face.face_id,
                        })
                    })
                    .collect()
            })
            .collect())
    }

    fn subject_similarity(
        &self,
        collection: &str,
        key: &SubjectKey,
        model: &ModelId,
        query: &[f32],
    ) -> Result<(Subject, Option<Candidate>)> {
        let found = self.read_subject(collection, key)?;
        // From the store's own rows, the model included, not from this handle's indexes: a
        // verification is as current as the store, whichever process enrolled the subject (a
        // handle whose indexes last looked while the gallery was empty once answered "no
        // template" for a subject another process had enrolled).
        let Some((current, dims)) = self.read_model()? else { return Ok((found, None)) };
        if current != *model {
            return Err(GalleryError::ModelMismatch { gallery: current.0, given: model.0.clone() });
        }
        if query.len() != dims {
            return Err(GalleryError::DimensionMismatch { gallery: dims, given: query.len() });
        }
        let faces = self.read_faces(collection, &SubjectKey::Id(found.id))?;
        let best = best_template(&found, &faces, query);
        Ok((found, best))
    }

    fn for_each_face(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()> {
        self.visit_faces(visit)
    }

    fn replace_model(&self, model: &ModelId, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()> {
        let dims = embeddings.first().map_or(0, |e| e.1.len());
        if embeddings.iter().any(|(_, v)| v.len() != dims || v.iter().any(|x| !x.is_finite())) {
            return Err(GalleryError::Invalid("re-embedding vectors differ in size or are not finite".into()));
        }
        after_write(self, self.replace_embeddings(model, dims, embeddings))
    }

    fn ready(&self) -> Result<()> {
        self.ping()
    }

    fn check_integrity(&self) -> Result<()> {
        self.check_storage()
    }
}
