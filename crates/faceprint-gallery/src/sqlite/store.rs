//! The embedded store's [`Storage`]: the SQL of each operation, on one SQLite file. What the
//! gallery does with it (checks, indexes, search) is [`crate::storage`]'s.

use std::collections::HashMap;
use std::sync::RwLock;

use faceprint_types::{BBox, ModelId};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params};

use super::follow::{changes_since, max_seq, pruned_through, read_model};
use super::{SqliteGallery, schema};
use crate::checks::now;
use crate::follow::{IndexSettings, IndexState, Update};
use crate::sql::gallery as sql;
use crate::storage::{Storage, SubjectChange, SubjectList};
use crate::{AddedFace, FaceId, FaceRecord, FullFace, GalleryError, NewFace, Result, Subject, SubjectId, SubjectKey};

/// Reads [`sql::SUBJECT_COLUMNS`] starting at column `at`.
fn subject_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Subject> {
    let metadata: String = row.get(at + 2)?;
    Ok(Subject {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        created_at: row.get(at + 3)?,
        faces: row.get::<_, i64>(at + 4)? as usize,
    })
}

/// Reads [`sql::FACE_COLUMNS`] starting at column `at`.
fn face_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(FaceRecord, Vec<u8>)> {
    let blob: Vec<u8> = row.get(at + 3)?;
    let record = FaceRecord {
        id: row.get(at)?,
        subject_id: row.get(at + 1)?,
        model: ModelId(row.get(at + 2)?),
        embedding: Vec::new(),
        detection_score: row.get::<_, f64>(at + 4)? as f32,
        bbox: BBox::new(
            row.get::<_, f64>(at + 5)? as f32,
            row.get::<_, f64>(at + 6)? as f32,
            row.get::<_, f64>(at + 7)? as f32,
            row.get::<_, f64>(at + 8)? as f32,
        ),
        image_sha256: row.get(at + 9)?,
        enrolled_at: row.get(at + 10)?,
        has_crop: row.get(at + 11)?,
    };
    Ok((record, blob))
}

fn with_embedding((mut record, blob): (FaceRecord, Vec<u8>)) -> Result<FaceRecord> {
    record.embedding = crate::sql::decode_vector(&blob)?;
    Ok(record)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn collection_id(connection: &Connection, name: &str) -> Result<i64> {
    connection
        .prepare_cached(sql::COLLECTION_ID)?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| GalleryError::UnknownCollection(name.to_owned()))
}

fn subject(connection: &Connection, collection: i64, key: &SubjectKey) -> Result<Subject> {
    let found = match key {
        SubjectKey::Id(id) => connection
            .prepare_cached(&sql::subject_by_id())?
            .query_row(params![collection, id], |r| subject_from_row(r, 0)),
        SubjectKey::Name(name) => connection
            .prepare_cached(&sql::subject_by_name())?
            .query_row(params![collection, name], |r| subject_from_row(r, 0)),
    };
    found.optional()?.ok_or_else(|| GalleryError::UnknownSubject(key.to_string()))
}

/// Makes `model` the gallery's model if it has none (or no faces), else checks it is the same.
pub(super) fn adopt_model(tx: &Transaction<'_>, model: &ModelId, dims: usize) -> Result<()> {
    match read_model(tx)? {
        Some((current, current_dims)) if current == *model && current_dims == dims => Ok(()),
        Some((current, current_dims)) => {
            let faces: i64 = tx.query_row("SELECT count(*) FROM faces", [], |r| r.get(0))?;
            if faces > 0 {
                return Err(if current != *model {
                    GalleryError::ModelMismatch { gallery: current.0, given: model.0.clone() }
                } else {
                    GalleryError::DimensionMismatch { gallery: current_dims, given: dims }
                });
            }
            set_model(tx, model, dims)
        }
        None => set_model(tx, model, dims),
    }
}

fn set_model(tx: &Transaction<'_>, model: &ModelId, dims: usize) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?1), ('dims', ?2)",
        params![model.0, dims.to_string()],
    )?;
    Ok(())
}

fn add_face_in(tx: &Transaction<'_>, collection: i64, key: &SubjectKey, face: NewFace) -> Result<AddedFace> {
    let subject_id = subject(tx, collection, key)?.id;
    adopt_model(tx, &face.model, face.embedding.len())?;
    crate::sql::gallery::insert_face(&**tx as &Connection, subject_id, face)
}

impl SqliteGallery {
    /// Runs `work` in one write transaction (taken at once, so concurrent writers queue instead
    /// of failing) and commits it durably; the caller then shows the change to the indexes.
    pub(super) fn commit<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut connection = self.writer();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| schema::classify(&self.path, e))?;
        let out = work(&tx)?;
        prune_changes(&tx, self.settings.change_log_keep)?;
        tx.commit().map_err(|e| schema::classify(&self.path, e))?;
        Ok(out)
    }
}

impl Storage for SqliteGallery {
    fn index_state(&self) -> &RwLock<IndexState> {
        &self.state
    }

    fn may_have_changed(&self, applied_seq: i64) -> Result<Option<u64>> {
        Ok((max_seq(&self.reader())? > applied_seq).then_some(0))
    }

    fn changes_since(&self, from: i64, model: Option<&(ModelId, usize)>) -> Result<Update> {
        changes_since(&self.reader(), from, model)
    }

    fn load(&self, settings: &IndexSettings) -> Result<IndexState> {
        IndexState::load(&self.path, &self.reader(), settings)
    }

    fn read_model(&self) -> Result<Option<(ModelId, usize)>> {
        Ok(read_model(&self.reader())?)
    }

    fn counts(&self) -> Result<(usize, usize, usize)> {
        let (c, s, f): (i64, i64, i64) =
            self.reader().query_row(sql::COUNTS, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok((c as usize, s as usize, f as usize))
    }

    fn collection_names(&self) -> Result<Vec<String>> {
        let reader = self.reader();
        let mut statement = reader.prepare_cached(sql::COLLECTION_NAMES)?;
        let names = statement.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    fn collection_id(&self, name: &str) -> Result<i64> {
        collection_id(&self.reader(), name)
    }

    fn read_subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject> {
        let reader = self.reader();
        subject(&reader, collection_id(&reader, collection)?, key)
    }

    fn read_subjects(&self, collection: &str, list: SubjectList) -> Result<Vec<Subject>> {
        let reader = self.reader();
        let collection = collection_id(&reader, collection)?;
        let subjects = match list {
            SubjectList::All => reader
                .prepare_cached(&sql::subjects_by_name())?
                .query_map([collection], |r| subject_from_row(r, 0))?
                .collect::<rusqlite::Result<_>>()?,
            SubjectList::Page { after, limit } => reader
                .prepare_cached(&sql::subjects_page())?
                .query_map(params![collection, after, limit], |r| subject_from_row(r, 0))?
                .collect::<rusqlite::Result<_>>()?,
        };
        Ok(subjects)
    }

    fn read_faces(&self, collection: &str, key: &SubjectKey) -> Result<Vec<FaceRecord>> {
        let reader = self.reader();
        let subject = subject(&reader, collection_id(&reader, collection)?, key)?;
        let mut statement = reader.prepare_cached(&sql::faces_of_subject())?;
        let rows = statement.query_map([subject.id], |r| face_from_row(r, 0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_embedding).collect()
    }

    fn subject_names(&self, ids: &[SubjectId]) -> Result<HashMap<SubjectId, String>> {
        let reader = self.reader();
        let mut names = reader.prepare_cached("SELECT name FROM subjects WHERE id = ?1")?;
        let mut found = HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(name) = names.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                found.insert(id, name);
            }
        }
        Ok(found)
    }

    fn visit_faces(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()> {
        // Its own connection and snapshot: a long walk (re-embedding runs models per face) must
        // not hold up searches.
        let connection = schema::connect(&self.path)?;
        let tx = connection.unchecked_transaction()?;
        let mut statement = tx.prepare(&sql::every_face_after())?;
        let mut rows = statement.query(params![0, i64::MAX])?;
        while let Some(row) = rows.next()? {
            let subject = subject_from_row(row, 1)?;
            let face = with_embedding(face_from_row(row, 6)?)?;
            visit(FullFace { collection: row.get(0)?, subject, face, crop_png: row.get(18)? })?;
        }
        Ok(())
    }

    fn ping(&self) -> Result<()> {
        self.reader().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn check_storage(&self) -> Result<()> {
        let reader = self.reader();
        let verdict: String = reader
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| schema::classify(&self.path, e))?;
        if verdict != "ok" {
            return Err(GalleryError::Corrupt { path: self.path.clone(), reason: verdict });
        }
        let orphans: i64 = reader.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if orphans > 0 {
            return Err(GalleryError::Corrupt {
                path: self.path.clone(),
                reason: format!("{orphans} rows point at rows that do not exist"),
            });
        }
        Ok(())
    }

    fn insert_collection(&self, name: &str) -> Result<()> {
        self.commit(|tx| match tx.execute(sql::INSERT_COLLECTION, params![name, now()]) {
            Err(e) if is_unique_violation(&e) => Err(GalleryError::DuplicateCollection(name.to_owned())),
            other => other.map(drop).map_err(Into::into),
        })
    }

    fn insert_subjects(&self, collection: &str, subjects: Vec<(String, serde_json::Value)>) -> Result<Vec<Subject>> {
        self.commit(|tx| {
            let collection = collection_id(tx, collection)?;
            let mut insert = tx.prepare_cached(sql::INSERT_SUBJECT)?;
            let mut created = Vec::with_capacity(subjects.len());
            let created_at = now();
            for (name, metadata) in subjects {
                let inserted = insert.query_row(params![collection, name, metadata.to_string(), created_at], |r| {
                    r.get::<_, SubjectId>(0)
                });
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(GalleryError::DuplicateSubject(name)),
                    Err(e) => return Err(e.into()),
                    Ok(id) => created.push(Subject { id, name, metadata, faces: 0, created_at }),
                }
            }
            Ok(created)
        })
    }

    fn update_subject(&self, collection: &str, key: &SubjectKey, change: SubjectChange<'_>) -> Result<Subject> {
        self.commit(|tx| {
            let collection = collection_id(tx, collection)?;
            let id = subject(tx, collection, key)?.id;
            let updated = match change {
                SubjectChange::Rename(name) => tx.execute(sql::RENAME_SUBJECT, params![name, id]),
                SubjectChange::Metadata(metadata) => tx.execute(sql::SET_METADATA, params![metadata.to_string(), id]),
            };
            match (updated, change) {
                (Err(e), SubjectChange::Rename(name)) if is_unique_violation(&e) => {
                    Err(GalleryError::DuplicateSubject(name.to_owned()))
                }
                (Err(e), _) => Err(e.into()),
                (Ok(_), _) => subject(tx, collection, &SubjectKey::Id(id)),
            }
        })
    }

    fn move_faces_and_delete(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject> {
        self.commit(|tx| {
            let collection = collection_id(tx, collection)?;
            let from = subject(tx, collection, from)?.id;
            let into = subject(tx, collection, into)?.id;
            if from == into {
                return Err(GalleryError::Invalid("cannot merge a subject into itself".into()));
            }
            tx.execute(sql::MERGE_DROP_SHARED, params![from, into])?;
            tx.execute(sql::MERGE_MOVE, params![into, from])?;
            tx.execute(sql::DELETE_SUBJECT, [from])?;
            subject(tx, collection, &SubjectKey::Id(into))
        })
    }

    fn remove_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize> {
        self.commit(|tx| {
            let collection = collection_id(tx, collection)?;
            let found = subject(tx, collection, key)?;
            tx.execute(sql::DELETE_SUBJECT, [found.id])?;
            Ok(found.faces)
        })
    }

    fn insert_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>> {
        self.commit(|tx| {
            let collection = collection_id(tx, collection)?;
            faces.into_iter().map(|(key, face)| add_face_in(tx, collection, &key, face)).collect()
        })
    }

    fn remove_face(&self, collection: &str, face: FaceId) -> Result<()> {
        self.commit(|tx| {
            let collection = collection_id(tx, collection)?;
            if tx.execute(sql::DELETE_FACE, params![face, collection])? == 0 {
                return Err(GalleryError::UnknownFace(face));
            }
            Ok(())
        })
    }

    fn replace_embeddings(&self, model: &ModelId, dims: usize, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()> {
        self.commit(|tx| {
            let faces: i64 = tx.query_row("SELECT count(*) FROM faces", [], |r| r.get(0))?;
            let mut update = tx.prepare_cached(sql::UPDATE_EMBEDDING)?;
            let mut updated = 0;
            for (id, vector) in &embeddings {
                updated += update.execute(params![model.0, crate::sql::encode_vector(vector), id])?;
            }
            if updated as i64 != faces || embeddings.len() != updated {
                return Err(GalleryError::Invalid(format!(
                    "re-embedding covers {updated} of the gallery's {faces} faces; all must be given"
                )));
            }
            if faces > 0 {
                set_model(tx, model, dims)?;
            }
            Ok(())
        })
    }
}

/// Keeps the change log to its last `keep` entries, recording how far it was cut: a follower
/// (another process) that had not read that far reloads its indexes instead of missing changes.
fn prune_changes(tx: &Transaction<'_>, keep: i64) -> Result<()> {
    let cut = max_seq(tx)? - keep;
    if cut <= pruned_through(tx)? {
        return Ok(());
    }
    tx.execute("DELETE FROM changes WHERE seq <= ?1", [cut])?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('changes_pruned_through', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [cut.to_string()],
    )?;
    Ok(())
}
