//! [`Gallery`] for [`SqliteGallery`]: the SQL of each operation.

use faceprint_types::{BBox, ModelId};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params};

use super::follow::{max_seq, pruned_through, read_model};
use super::{SqliteGallery, codec, schema};
use crate::checks::{best_template, check_face, check_metadata, check_name, now};
use crate::{
    AddedFace, Candidate, FaceId, FaceRecord, FullFace, Gallery, GalleryError, GalleryStats, NewFace, Result, Subject,
    SubjectId, SubjectKey,
};

const SUBJECT_COLUMNS: &str = "s.id, s.name, s.metadata, s.created_at, \
                               (SELECT count(*) FROM faces f WHERE f.subject_id = s.id)";

const FACE_COLUMNS: &str = "f.id, f.subject_id, f.model, f.embedding, f.detection_score, \
                            f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, f.image_sha256, f.enrolled_at, \
                            EXISTS (SELECT 1 FROM face_crops c WHERE c.face_id = f.id)";

/// Reads [`SUBJECT_COLUMNS`] starting at column `at`.
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

/// Reads [`FACE_COLUMNS`] starting at column `at`.
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
    record.embedding = codec::decode(&blob)?;
    Ok(record)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

pub(super) fn collection_id(connection: &Connection, name: &str) -> Result<i64> {
    connection
        .prepare_cached("SELECT id FROM collections WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| GalleryError::UnknownCollection(name.to_owned()))
}

pub(super) fn subject(connection: &Connection, collection: i64, key: &SubjectKey) -> Result<Subject> {
    let found = match key {
        SubjectKey::Id(id) => connection
            .prepare_cached(&format!(
                "SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = ?1 AND s.id = ?2"
            ))?
            .query_row(params![collection, id], |r| subject_from_row(r, 0)),
        SubjectKey::Name(name) => connection
            .prepare_cached(&format!(
                "SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = ?1 AND s.name = ?2"
            ))?
            .query_row(params![collection, name], |r| subject_from_row(r, 0)),
    };
    found.optional()?.ok_or_else(|| GalleryError::UnknownSubject(key.to_string()))
}

/// Makes `model` the gallery's model if it has none (or no faces), else checks it is the same.
fn adopt_model(tx: &Transaction<'_>, model: &ModelId, dims: usize) -> Result<()> {
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

pub(super) fn add_face_in(tx: &Transaction<'_>, collection: i64, key: &SubjectKey, face: NewFace) -> Result<AddedFace> {
    check_face(&face)?;
    let subject_id = subject(tx, collection, key)?.id;
    adopt_model(tx, &face.model, face.embedding.len())?;
    let sha = face.image_sha256.to_ascii_lowercase();
    let existing: Option<FaceId> = tx
        .prepare_cached("SELECT id FROM faces WHERE subject_id = ?1 AND image_sha256 = ?2")?
        .query_row(params![subject_id, sha], |r| r.get(0))
        .optional()?;
    if let Some(face_id) = existing {
        return Ok(AddedFace { face_id, subject_id, duplicate: true });
    }
    let b = face.bbox;
    tx.prepare_cached(
        "INSERT INTO faces (subject_id, model, embedding, detection_score, bbox_x1, bbox_y1, bbox_x2, bbox_y2, \
         image_sha256, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        subject_id,
        face.model.0,
        codec::encode(&face.embedding),
        face.detection_score as f64,
        b.x1 as f64,
        b.y1 as f64,
        b.x2 as f64,
        b.y2 as f64,
        sha,
        now()
    ])?;
    let face_id = tx.last_insert_rowid();
    if let Some(png) = face.crop_png {
        tx.prepare_cached("INSERT INTO face_crops (face_id, png) VALUES (?1, ?2)")?.execute(params![face_id, png])?;
    }
    Ok(AddedFace { face_id, subject_id, duplicate: false })
}

impl SqliteGallery {
    pub(super) fn collection_id(&self, connection: &Connection, name: &str) -> Result<i64> {
        collection_id(connection, name)
    }

    /// Brings the in-memory indexes up to the store's change log. Lock order everywhere: the
    /// index state first, then a connection.
    pub(super) fn sync(&self) -> Result<()> {
        let seq = max_seq(&self.reader())?;
        if seq <= self.read_state().applied_seq {
            return Ok(());
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.catch_up(&self.path, &self.reader())
    }

    /// Runs `work` in one write transaction (taken at once, so concurrent writers queue instead
    /// of failing), commits durably, then shows the change to this process's indexes.
    pub(super) fn write<T>(&self, work: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut connection = self.writer();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| schema::classify(&self.path, e))?;
        let out = work(&tx)?;
        prune_changes(&tx, self.settings.change_log_keep)?;
        tx.commit().map_err(|e| schema::classify(&self.path, e))?;
        drop(connection);
        self.sync()?;
        Ok(out)
    }

    fn name_candidates(&self, best: Vec<(SubjectId, crate::ScoredFace)>) -> Result<Vec<Candidate>> {
        let reader = self.reader();
        let mut names = reader.prepare_cached("SELECT name FROM subjects WHERE id = ?1")?;
        best.into_iter()
            .filter_map(|(subject_id, face)| {
                // A subject deleted by another process after the index was read is skipped.
                match names.query_row([subject_id], |r| r.get::<_, String>(0)).optional() {
                    Ok(Some(subject)) => {
                        Some(Ok(Candidate { subject_id, subject, similarity: face.similarity, face_id: face.face_id }))
                    }
                    Ok(None) => None,
                    Err(e) => Some(Err(e.into())),
                }
            })
            .collect()
    }
}

impl Gallery for SqliteGallery {
    fn model(&self) -> Result<Option<(ModelId, usize)>> {
        Ok(read_model(&self.reader())?)
    }

    fn stats(&self) -> Result<GalleryStats> {
        let reader = self.reader();
        let count = |sql: &str| -> Result<usize> { Ok(reader.query_row(sql, [], |r| r.get::<_, i64>(0))? as usize) };
        let model = read_model(&reader)?;
        Ok(GalleryStats {
            collections: count("SELECT count(*) FROM collections")?,
            subjects: count("SELECT count(*) FROM subjects")?,
            faces: count("SELECT count(*) FROM faces")?,
            dims: model.as_ref().map(|m| m.1),
            model: model.map(|m| m.0),
        })
    }

    fn collections(&self) -> Result<Vec<String>> {
        let reader = self.reader();
        let mut statement = reader.prepare("SELECT name FROM collections ORDER BY id")?;
        let names = statement.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    fn create_collection(&self, name: &str) -> Result<()> {
        check_name("collection", name)?;
        self.write(|tx| {
            match tx.execute("INSERT INTO collections (name, created_at) VALUES (?1, ?2)", params![name, now()]) {
                Err(e) if is_unique_violation(&e) => Err(GalleryError::DuplicateCollection(name.to_owned())),
                other => other.map(drop).map_err(Into::into),
            }
        })
    }

    fn create_subject(&self, collection: &str, name: &str, metadata: serde_json::Value) -> Result<Subject> {
        Ok(self.create_subjects(collection, vec![(name.to_owned(), metadata)])?.remove(0))
    }

    fn create_subjects(&self, collection: &str, subjects: Vec<(String, serde_json::Value)>) -> Result<Vec<Subject>> {
        for (name, metadata) in &subjects {
            check_name("subject", name)?;
            check_metadata(metadata)?;
        }
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO subjects (collection_id, name, metadata, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut created = Vec::with_capacity(subjects.len());
            let created_at = now();
            for (name, metadata) in subjects {
                match insert.execute(params![collection, name, metadata.to_string(), created_at]) {
                    Err(e) if is_unique_violation(&e) => return Err(GalleryError::DuplicateSubject(name)),
                    Err(e) => return Err(e.into()),
                    Ok(_) => created.push(Subject { id: tx.last_insert_rowid(), name, metadata, faces: 0, created_at }),
                }
            }
            Ok(created)
        })
    }

    fn subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject> {
        let reader = self.reader();
        subject(&reader, collection_id(&reader, collection)?, key)
    }

    fn subjects(&self, collection: &str) -> Result<Vec<Subject>> {
        let reader = self.reader();
        let collection = collection_id(&reader, collection)?;
        let mut statement = reader
            .prepare(&format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = ?1 ORDER BY s.name"))?;
        let subjects =
            statement.query_map([collection], |r| subject_from_row(r, 0))?.collect::<rusqlite::Result<_>>()?;
        Ok(subjects)
    }

    fn subjects_page(&self, collection: &str, after: Option<SubjectId>, limit: usize) -> Result<Vec<Subject>> {
        let reader = self.reader();
        let collection = collection_id(&reader, collection)?;
        let mut statement = reader.prepare_cached(&format!(
            "SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = ?1 AND s.id > ?2 ORDER BY s.id LIMIT ?3"
        ))?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let subjects = statement
            .query_map(params![collection, after.unwrap_or(0), limit], |r| subject_from_row(r, 0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(subjects)
    }

    fn ready(&self) -> Result<()> {
        self.reader().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn rename_subject(&self, collection: &str, key: &SubjectKey, new_name: &str) -> Result<Subject> {
        check_name("subject", new_name)?;
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            let id = subject(tx, collection, key)?.id;
            match tx.execute("UPDATE subjects SET name = ?1 WHERE id = ?2", params![new_name, id]) {
                Err(e) if is_unique_violation(&e) => Err(GalleryError::DuplicateSubject(new_name.to_owned())),
                Err(e) => Err(e.into()),
                Ok(_) => subject(tx, collection, &SubjectKey::Id(id)),
            }
        })
    }

    fn set_metadata(&self, collection: &str, key: &SubjectKey, metadata: serde_json::Value) -> Result<Subject> {
        check_metadata(&metadata)?;
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            let id = subject(tx, collection, key)?.id;
            tx.execute("UPDATE subjects SET metadata = ?1 WHERE id = ?2", params![metadata.to_string(), id])?;
            subject(tx, collection, &SubjectKey::Id(id))
        })
    }

    fn merge_subjects(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject> {
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            let from = subject(tx, collection, from)?.id;
            let into = subject(tx, collection, into)?.id;
            if from == into {
                return Err(GalleryError::Invalid("cannot merge a subject into itself".into()));
            }
            tx.execute(
                "DELETE FROM faces WHERE subject_id = ?1 AND image_sha256 IN \
                 (SELECT image_sha256 FROM faces WHERE subject_id = ?2)",
                params![from, into],
            )?;
            tx.execute("UPDATE faces SET subject_id = ?1 WHERE subject_id = ?2", params![into, from])?;
            tx.execute("DELETE FROM subjects WHERE id = ?1", [from])?;
            subject(tx, collection, &SubjectKey::Id(into))
        })
    }

    fn delete_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize> {
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            let found = subject(tx, collection, key)?;
            tx.execute("DELETE FROM subjects WHERE id = ?1", [found.id])?;
            Ok(found.faces)
        })
    }

    fn add_face(&self, collection: &str, subject: &SubjectKey, face: NewFace) -> Result<AddedFace> {
        self.write(|tx| add_face_in(tx, collection_id(tx, collection)?, subject, face))
    }

    fn add_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>> {
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            faces.into_iter().map(|(key, face)| add_face_in(tx, collection, &key, face)).collect()
        })
    }

    fn faces(&self, collection: &str, key: &SubjectKey) -> Result<Vec<FaceRecord>> {
        let reader = self.reader();
        let subject = subject(&reader, collection_id(&reader, collection)?, key)?;
        let mut statement =
            reader.prepare(&format!("SELECT {FACE_COLUMNS} FROM faces f WHERE f.subject_id = ?1 ORDER BY f.id"))?;
        let rows = statement.query_map([subject.id], |r| face_from_row(r, 0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_embedding).collect()
    }

    fn delete_face(&self, collection: &str, face: FaceId) -> Result<()> {
        self.write(|tx| {
            let collection = collection_id(tx, collection)?;
            let deleted = tx.execute(
                "DELETE FROM faces WHERE id = ?1 AND subject_id IN (SELECT id FROM subjects WHERE collection_id = ?2)",
                params![face, collection],
            )?;
            if deleted == 0 {
                return Err(GalleryError::UnknownFace(face));
            }
            Ok(())
        })
    }

    fn collection_faces(&self, collection: &str) -> Result<usize> {
        let id = match self.collection_id(&self.reader(), collection) {
            Ok(id) => id,
            Err(GalleryError::UnknownCollection(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        self.sync()?;
        Ok(self.read_state().index(id).map_or(0, |index| index.len()))
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
        let collection = collection_id(&self.reader(), collection)?;
        self.sync()?;
        // Every query's model and size are checked; `false` means the gallery is still empty.
        let has_faces = self.read_state().check_queries(model, queries.iter().map(Vec::len))?;
        if queries.is_empty() || !has_faces || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let best = self.read_state().nearest_subjects(collection, queries, k)?;
        best.into_iter().map(|b| self.name_candidates(b)).collect()
    }

    fn subject_similarity(
        &self,
        collection: &str,
        key: &SubjectKey,
        model: &ModelId,
        query: &[f32],
    ) -> Result<(Subject, Option<Candidate>)> {
        let found = self.subject(collection, key)?;
        // The model is known from the index state: bring it up to the log first, or a process
        // whose index last looked while the gallery was empty answers "no template" for a
        // subject another process has since enrolled.
        self.sync()?;
        if !self.read_state().check_queries(model, [query.len()])? {
            return Ok((found, None));
        }
        let faces = self.faces(collection, &SubjectKey::Id(found.id))?;
        let best = best_template(&found, &faces, query);
        Ok((found, best))
    }

    fn for_each_face(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()> {
        // Its own connection and snapshot: a long walk (re-embedding runs models per face) must
        // not hold up searches.
        let connection = schema::connect(&self.path)?;
        let tx = connection.unchecked_transaction()?;
        let mut statement = tx.prepare(&format!(
            "SELECT c.name, {SUBJECT_COLUMNS}, {FACE_COLUMNS}, (SELECT png FROM face_crops p WHERE p.face_id = f.id) \
             FROM faces f JOIN subjects s ON s.id = f.subject_id JOIN collections c ON c.id = s.collection_id \
             ORDER BY c.id, s.id, f.id"
        ))?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let subject = subject_from_row(row, 1)?;
            let face = with_embedding(face_from_row(row, 6)?)?;
            visit(FullFace { collection: row.get(0)?, subject, face, crop_png: row.get(18)? })?;
        }
        Ok(())
    }

    fn replace_model(&self, model: &ModelId, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()> {
        let dims = embeddings.first().map_or(0, |e| e.1.len());
        if embeddings.iter().any(|(_, v)| v.len() != dims || v.iter().any(|x| !x.is_finite())) {
            return Err(GalleryError::Invalid("re-embedding vectors differ in size or are not finite".into()));
        }
        self.write(|tx| {
            let faces: i64 = tx.query_row("SELECT count(*) FROM faces", [], |r| r.get(0))?;
            let mut update = tx.prepare_cached("UPDATE faces SET model = ?1, embedding = ?2 WHERE id = ?3")?;
            let mut updated = 0;
            for (id, vector) in &embeddings {
                updated += update.execute(params![model.0, codec::encode(vector), id])?;
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

    fn check_integrity(&self) -> Result<()> {
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
