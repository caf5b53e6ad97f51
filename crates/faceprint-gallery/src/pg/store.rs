//! [`Gallery`] for [`PgGallery`]: the SQL of each operation.

use std::collections::HashMap;

use faceprint_types::{BBox, ModelId};
use pgvector::Vector;
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, Row, Transaction};

use super::PgGallery;
use super::connect::classify;
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
fn subject_from_row(row: &Row, at: usize) -> Subject {
    Subject {
        id: row.get(at),
        name: row.get(at + 1),
        metadata: row.get(at + 2),
        created_at: row.get(at + 3),
        faces: row.get::<_, i64>(at + 4) as usize,
    }
}

/// Reads [`FACE_COLUMNS`] starting at column `at`.
fn face_from_row(row: &Row, at: usize) -> FaceRecord {
    let embedding: Vector = row.get(at + 3);
    FaceRecord {
        id: row.get(at),
        subject_id: row.get(at + 1),
        model: ModelId(row.get(at + 2)),
        embedding: embedding.to_vec(),
        detection_score: row.get(at + 4),
        bbox: BBox::new(row.get(at + 5), row.get(at + 6), row.get(at + 7), row.get(at + 8)),
        image_sha256: row.get(at + 9),
        enrolled_at: row.get(at + 10),
        has_crop: row.get(at + 11),
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

pub(super) async fn collection_id(client: &impl GenericClient, location: &str, name: &str) -> Result<i64> {
    client
        .query_opt("SELECT id FROM collections WHERE name = $1", &[&name])
        .await
        .map_err(|e| classify(location, &e))?
        .map(|row| row.get(0))
        .ok_or_else(|| GalleryError::UnknownCollection(name.to_owned()))
}

async fn subject(client: &impl GenericClient, location: &str, collection: i64, key: &SubjectKey) -> Result<Subject> {
    let found = match key {
        SubjectKey::Id(id) => {
            client
                .query_opt(
                    &format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 AND s.id = $2"),
                    &[&collection, id],
                )
                .await
        }
        SubjectKey::Name(name) => {
            client
                .query_opt(
                    &format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 AND s.name = $2"),
                    &[&collection, name],
                )
                .await
        }
    };
    let row = found.map_err(|e| classify(location, &e))?;
    row.map(|row| subject_from_row(&row, 0)).ok_or_else(|| GalleryError::UnknownSubject(key.to_string()))
}

async fn read_model(client: &impl GenericClient, location: &str) -> Result<Option<(ModelId, usize)>> {
    let row = client
        .query_one(
            "SELECT (SELECT value FROM faceprint_meta WHERE key = 'model'), \
                    (SELECT value FROM faceprint_meta WHERE key = 'dims')",
            &[],
        )
        .await
        .map_err(|e| classify(location, &e))?;
    Ok(match (row.get::<_, Option<String>>(0), row.get::<_, Option<String>>(1)) {
        (Some(model), Some(dims)) => dims.parse().ok().map(|dims| (ModelId(model), dims)),
        _ => None,
    })
}

/// Whether `model` is the gallery's model: `Ok(false)` when it has none yet, or another one but
/// no faces (then [`PgGallery::adopt_model`] makes it so), a mismatch error when faces of
/// another model are stored.
async fn check_model(client: &impl GenericClient, location: &str, model: &ModelId, dims: usize) -> Result<bool> {
    let db = |e: tokio_postgres::Error| classify(location, &e);
    match read_model(client, location).await? {
        Some((current, current_dims)) if current == *model && current_dims == dims => Ok(true),
        Some((current, current_dims)) => {
            let any: bool = client.query_one("SELECT EXISTS (SELECT 1 FROM faces)", &[]).await.map_err(db)?.get(0);
            match any {
                false => Ok(false),
                true if current != *model => {
                    Err(GalleryError::ModelMismatch { gallery: current.0, given: model.0.clone() })
                }
                true => Err(GalleryError::DimensionMismatch { gallery: current_dims, given: dims }),
            }
        }
        None => Ok(false),
    }
}

async fn set_model(tx: &Transaction<'_>, location: &str, model: &ModelId, dims: usize) -> Result<()> {
    let db = |e: tokio_postgres::Error| classify(location, &e);
    tx.execute(
        "INSERT INTO faceprint_meta (key, value) VALUES ('model', $1), ('dims', $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&model.0, &dims.to_string()],
    )
    .await
    .map_err(db)?;
    // `dims` is a number we made: safe to write into the statement.
    tx.batch_execute(&format!("ALTER TABLE faces ALTER COLUMN embedding TYPE vector({dims})")).await.map_err(db)
}

const INSERT_FACE: &str = "INSERT INTO faces (subject_id, model, embedding, detection_score, bbox_x1, bbox_y1, \
                           bbox_x2, bbox_y2, image_sha256, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                           ON CONFLICT (subject_id, image_sha256) DO NOTHING RETURNING id";

/// What a transaction of adds looks up once rather than per face: the subjects it names, and
/// the model already checked.
#[derive(Debug, Default)]
struct AddCache {
    subjects: HashMap<SubjectKey, SubjectId>,
    model: Option<(ModelId, usize)>,
}

async fn add_face_in(
    tx: &deadpool_postgres::Transaction<'_>,
    location: &str,
    collection: i64,
    key: &SubjectKey,
    face: NewFace,
    cache: &mut AddCache,
) -> Result<AddedFace> {
    let db = |e: tokio_postgres::Error| classify(location, &e);
    check_face(&face)?;
    let subject_id = match cache.subjects.get(key) {
        Some(id) => *id,
        None => {
            let id = subject(&**tx, location, collection, key).await?.id;
            cache.subjects.insert(key.clone(), id);
            id
        }
    };
    let wanted = (face.model.clone(), face.embedding.len());
    if cache.model.as_ref() != Some(&wanted) {
        if !check_model(&**tx, location, &face.model, face.embedding.len()).await? {
            return Err(GalleryError::Invalid("the gallery's model changed during this write; try again".into()));
        }
        cache.model = Some(wanted);
    }
    let sha = face.image_sha256.to_ascii_lowercase();
    let b = face.bbox;
    // ON CONFLICT: another server adding the same image to this subject at the same moment
    // makes this a duplicate, not a failure.
    let insert = tx.prepare_cached(INSERT_FACE).await.map_err(db)?;
    let embedding = Vector::from(face.embedding);
    let inserted = tx
        .query_opt(
            &insert,
            &[&subject_id, &face.model.0, &embedding, &face.detection_score, &b.x1, &b.y1, &b.x2, &b.y2, &sha, &now()],
        )
        .await
        .map_err(db)?;
    let Some(row) = inserted else {
        let existing = tx
            .query_one("SELECT id FROM faces WHERE subject_id = $1 AND image_sha256 = $2", &[&subject_id, &sha])
            .await
            .map_err(db)?;
        return Ok(AddedFace { face_id: existing.get(0), subject_id, duplicate: true });
    };
    let face_id: FaceId = row.get(0);
    if let Some(png) = face.crop_png {
        let insert = tx.prepare_cached("INSERT INTO face_crops (face_id, png) VALUES ($1, $2)").await.map_err(db)?;
        tx.execute(&insert, &[&face_id, &png]).await.map_err(db)?;
    }
    Ok(AddedFace { face_id, subject_id, duplicate: false })
}

impl PgGallery {
    /// Makes `model` the gallery's model when it has none, or another one but no faces: in a
    /// transaction of its own that locks the faces table first, because changing the column's
    /// size (`ALTER TABLE`) inside a write, after reading the table, could deadlock with another
    /// server's write doing the same.
    fn adopt_model(&self, model: &ModelId, dims: usize) -> Result<()> {
        if self.read_state().model.as_ref().is_some_and(|(m, d)| m == model && *d == dims) {
            return Ok(());
        }
        let location = self.location.as_str();
        let db = |e: tokio_postgres::Error| classify(location, &e);
        self.block(async {
            let mut client = self.client().await?;
            if check_model(&**client, location, model, dims).await? {
                return Ok(());
            }
            let tx = client.transaction().await.map_err(db)?;
            tx.batch_execute("LOCK TABLE faces IN ACCESS EXCLUSIVE MODE").await.map_err(db)?;
            if !check_model(&*tx, location, model, dims).await? {
                set_model(&tx, location, model, dims).await?;
            }
            tx.commit().await.map_err(db)
        })
    }

    /// The `k` faces of `collection` nearest to `query`, asked of the database itself with
    /// pgvector (`ORDER BY embedding <#> $1`, the negative inner product, which for unit vectors
    /// orders as cosine similarity): the path for users who query in SQL, shown here as a
    /// working example. It scans every face unless the table has a pgvector index (README).
    /// Returns face ids, their subjects and similarities, best first.
    pub fn search_sql(&self, collection: &str, query: &[f32], k: usize) -> Result<Vec<Candidate>> {
        let k = k.min(i64::MAX as usize) as i64;
        let query = Vector::from(query.to_vec());
        self.read(async |client| {
            let rows = client
                .query(
                    "SELECT f.id, s.id, s.name, -(f.embedding <#> $1) FROM faces f \
                     JOIN subjects s ON s.id = f.subject_id JOIN collections c ON c.id = s.collection_id \
                     WHERE c.name = $2 ORDER BY f.embedding <#> $1 LIMIT $3",
                    &[&query, &collection, &k],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows
                .iter()
                .map(|r| Candidate {
                    face_id: r.get(0),
                    subject_id: r.get(1),
                    subject: r.get(2),
                    similarity: r.get::<_, f64>(3) as f32,
                })
                .collect())
        })
    }

    /// Runs `work` in one transaction, commits it (the answer is only given once the database
    /// has it), then shows the change to this process's indexes.
    fn write<T>(&self, work: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T>) -> Result<T> {
        let location = self.location.as_str();
        let db = |e: tokio_postgres::Error| classify(location, &e);
        let out = self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let out = work(&tx).await?;
            tx.execute("SELECT faceprint_prune_changes($1)", &[&self.settings.change_log_keep]).await.map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(out)
        })?;
        // The write is durable: if the database vanished just now, the indexes catch up at the
        // next search (the listener counts the write's notification, or is disconnected and
        // every search asks), and the caller still learns that its write is done.
        let _ = self.catch_up();
        Ok(out)
    }

    /// Runs `work` with a pooled connection under the call deadline.
    pub(super) fn read<T>(&self, work: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T>) -> Result<T> {
        self.block(async {
            let client = self.client().await?;
            work(&client).await
        })
    }
}

impl Gallery for PgGallery {
    fn model(&self) -> Result<Option<(ModelId, usize)>> {
        self.read(async |client| read_model(client, &self.location).await)
    }

    fn stats(&self) -> Result<GalleryStats> {
        let (collections, subjects, faces) = self.read(async |client| {
            let row = client
                .query_one(
                    "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM subjects), \
                     (SELECT count(*) FROM faces)",
                    &[],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)))
        })?;
        let model = self.model()?;
        Ok(GalleryStats {
            collections: collections as usize,
            subjects: subjects as usize,
            faces: faces as usize,
            dims: model.as_ref().map(|m| m.1),
            model: model.map(|m| m.0),
        })
    }

    fn collections(&self) -> Result<Vec<String>> {
        self.read(async |client| {
            let rows = client
                .query("SELECT name FROM collections ORDER BY id", &[])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn create_collection(&self, name: &str) -> Result<()> {
        check_name("collection", name)?;
        self.write(async |tx| {
            match tx.execute("INSERT INTO collections (name, created_at) VALUES ($1, $2)", &[&name, &now()]).await {
                Err(e) if is_unique_violation(&e) => Err(GalleryError::DuplicateCollection(name.to_owned())),
                Err(e) => Err(classify(&self.location, &e)),
                Ok(_) => Ok(()),
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
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let insert = tx
                .prepare(
                    "INSERT INTO subjects (collection_id, name, metadata, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id",
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            let created_at = now();
            let mut created = Vec::with_capacity(subjects.len());
            for (name, metadata) in subjects {
                match tx.query_one(&insert, &[&collection, &name, &metadata, &created_at]).await {
                    Err(e) if is_unique_violation(&e) => return Err(GalleryError::DuplicateSubject(name)),
                    Err(e) => return Err(classify(&self.location, &e)),
                    Ok(row) => created.push(Subject { id: row.get(0), name, metadata, faces: 0, created_at }),
                }
            }
            Ok(created)
        })
    }

    fn subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject> {
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            subject(client, &self.location, collection, key).await
        })
    }

    fn subjects(&self, collection: &str) -> Result<Vec<Subject>> {
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            let rows = client
                .query(
                    &format!("SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 ORDER BY s.name"),
                    &[&collection],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| subject_from_row(r, 0)).collect())
        })
    }

    fn subjects_page(&self, collection: &str, after: Option<SubjectId>, limit: usize) -> Result<Vec<Subject>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {SUBJECT_COLUMNS} FROM subjects s WHERE s.collection_id = $1 AND s.id > $2 \
                         ORDER BY s.id LIMIT $3"
                    ),
                    &[&collection, &after.unwrap_or(0), &limit],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| subject_from_row(r, 0)).collect())
        })
    }

    fn rename_subject(&self, collection: &str, key: &SubjectKey, new_name: &str) -> Result<Subject> {
        check_name("subject", new_name)?;
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let id = subject(&**tx, &self.location, collection, key).await?.id;
            match tx.execute("UPDATE subjects SET name = $1 WHERE id = $2", &[&new_name, &id]).await {
                Err(e) if is_unique_violation(&e) => Err(GalleryError::DuplicateSubject(new_name.to_owned())),
                Err(e) => Err(classify(&self.location, &e)),
                Ok(_) => subject(&**tx, &self.location, collection, &SubjectKey::Id(id)).await,
            }
        })
    }

    fn set_metadata(&self, collection: &str, key: &SubjectKey, metadata: serde_json::Value) -> Result<Subject> {
        check_metadata(&metadata)?;
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let id = subject(&**tx, &self.location, collection, key).await?.id;
            tx.execute("UPDATE subjects SET metadata = $1 WHERE id = $2", &[&metadata, &id])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            subject(&**tx, &self.location, collection, &SubjectKey::Id(id)).await
        })
    }

    fn merge_subjects(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject> {
        self.write(async |tx| {
            let db = |e: tokio_postgres::Error| classify(&self.location, &e);
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let from = subject(&**tx, &self.location, collection, from).await?.id;
            let into = subject(&**tx, &self.location, collection, into).await?.id;
            if from == into {
                return Err(GalleryError::Invalid("cannot merge a subject into itself".into()));
            }
            tx.execute(
                "DELETE FROM faces WHERE subject_id = $1 AND image_sha256 IN \
                 (SELECT image_sha256 FROM faces WHERE subject_id = $2)",
                &[&from, &into],
            )
            .await
            .map_err(db)?;
            tx.execute("UPDATE faces SET subject_id = $1 WHERE subject_id = $2", &[&into, &from]).await.map_err(db)?;
            tx.execute("DELETE FROM subjects WHERE id = $1", &[&from]).await.map_err(db)?;
            subject(&**tx, &self.location, collection, &SubjectKey::Id(into)).await
        })
    }

    fn delete_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize> {
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let found = subject(&**tx, &self.location, collection, key).await?;
            tx.execute("DELETE FROM subjects WHERE id = $1", &[&found.id])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(found.faces)
        })
    }

    fn add_face(&self, collection: &str, subject: &SubjectKey, face: NewFace) -> Result<AddedFace> {
        check_face(&face)?;
        self.adopt_model(&face.model, face.embedding.len())?;
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            add_face_in(tx, &self.location, collection, subject, face, &mut AddCache::default()).await
        })
    }

    fn add_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>> {
        for (_, face) in &faces {
            check_face(face)?;
        }
        if let Some((_, first)) = faces.first() {
            self.adopt_model(&first.model, first.embedding.len())?;
        }
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let mut added = Vec::with_capacity(faces.len());
            let mut cache = AddCache::default();
            for (key, face) in faces {
                added.push(add_face_in(tx, &self.location, collection, &key, face, &mut cache).await?);
            }
            Ok(added)
        })
    }

    fn faces(&self, collection: &str, key: &SubjectKey) -> Result<Vec<FaceRecord>> {
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            let subject = subject(client, &self.location, collection, key).await?;
            let rows = client
                .query(
                    &format!("SELECT {FACE_COLUMNS} FROM faces f WHERE f.subject_id = $1 ORDER BY f.id"),
                    &[&subject.id],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| face_from_row(r, 0)).collect())
        })
    }

    fn delete_face(&self, collection: &str, face: FaceId) -> Result<()> {
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let deleted = tx
                .execute(
                    "DELETE FROM faces WHERE id = $1 AND subject_id IN (SELECT id FROM subjects WHERE collection_id = $2)",
                    &[&face, &collection],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            if deleted == 0 {
                return Err(GalleryError::UnknownFace(face));
            }
            Ok(())
        })
    }

    fn collection_faces(&self, collection: &str) -> Result<usize> {
        let id = match self.read(async |client| collection_id(client, &self.location, collection).await) {
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
        let collection = self.read(async |client| collection_id(client, &self.location, collection).await)?;
        self.sync()?;
        let has_faces = self.read_state().check_queries(model, queries.iter().map(Vec::len))?;
        if queries.is_empty() || !has_faces || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let best = self.read_state().nearest_subjects(collection, queries, k)?;
        // Names in one round trip; a subject deleted by another server meanwhile is skipped.
        let ids: Vec<SubjectId> = best.iter().flatten().map(|(subject, _)| *subject).collect();
        let names: std::collections::HashMap<SubjectId, String> = self.read(async |client| {
            let rows = client
                .query("SELECT id, name FROM subjects WHERE id = ANY($1)", &[&ids])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
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
        let found = self.subject(collection, key)?;
        self.sync()?;
        if !self.read_state().check_queries(model, [query.len()])? {
            return Ok((found, None));
        }
        let faces = self.faces(collection, &SubjectKey::Id(found.id))?;
        let best = best_template(&found, &faces, query);
        Ok((found, best))
    }

    fn for_each_face(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()> {
        // Pages by face id, all read in one repeatable-read transaction on one connection, so
        // that a long walk holds no more than a page in memory and sees one consistent gallery:
        // a face deleted meanwhile is still exported, not half of its subject (each page once
        // read a snapshot of its own).
        const PAGE: i64 = 1000;
        let client = self.block(self.client())?;
        let db = |e: tokio_postgres::Error| classify(&self.location, &e);
        let mut walk = || -> Result<()> {
            self.block(async {
                client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db)
            })?;
            let mut after: FaceId = 0;
            loop {
                let page = self.block(async {
                    client
                        .query(
                            &format!(
                                "SELECT c.name, {SUBJECT_COLUMNS}, {FACE_COLUMNS}, \
                                 (SELECT png FROM face_crops p WHERE p.face_id = f.id) \
                                 FROM faces f JOIN subjects s ON s.id = f.subject_id \
                                 JOIN collections c ON c.id = s.collection_id WHERE f.id > $1 ORDER BY f.id LIMIT $2"
                            ),
                            &[&after, &PAGE],
                        )
                        .await
                        .map_err(db)
                })?;
                let Some(last) = page.last() else { break };
                after = last.get(6);
                for row in &page {
                    let subject = subject_from_row(row, 1);
                    let face = face_from_row(row, 6);
                    visit(FullFace { collection: row.get(0), subject, face, crop_png: row.get(18) })?;
                }
            }
            self.block(async { client.batch_execute("COMMIT").await.map_err(db) })
        };
        match walk() {
            Ok(()) => Ok(()),
            Err(e) => {
                // The connection may be inside the transaction still: closed, never pooled.
                drop(deadpool_postgres::Object::take(client));
                Err(e)
            }
        }
    }

    fn replace_model(&self, model: &ModelId, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()> {
        let dims = embeddings.first().map_or(0, |e| e.1.len());
        if embeddings.iter().any(|(_, v)| v.len() != dims || v.iter().any(|x| !x.is_finite())) {
            return Err(GalleryError::Invalid("re-embedding vectors differ in size or are not finite".into()));
        }
        self.write(async |tx| {
            let db = |e: tokio_postgres::Error| classify(&self.location, &e);
            // First, so that no lock on the table is taken before the exclusive one (see
            // `adopt_model`).
            tx.batch_execute("LOCK TABLE faces IN ACCESS EXCLUSIVE MODE").await.map_err(db)?;
            let faces: i64 = tx.query_one("SELECT count(*) FROM faces", &[]).await.map_err(db)?.get(0);
            if embeddings.len() as i64 != faces {
                return Err(GalleryError::Invalid(format!(
                    "re-embedding covers {} of the gallery's {faces} faces; all must be given",
                    embeddings.len()
                )));
            }
            // The column loses its size while vectors of both models are in it.
            tx.batch_execute("ALTER TABLE faces ALTER COLUMN embedding TYPE vector").await.map_err(db)?;
            let update = tx.prepare("UPDATE faces SET model = $1, embedding = $2 WHERE id = $3").await.map_err(db)?;
            let mut updated = 0;
            for (id, vector) in embeddings {
                updated += tx.execute(&update, &[&model.0, &Vector::from(vector), &id]).await.map_err(db)?;
            }
            if updated as i64 != faces {
                return Err(GalleryError::Invalid(format!(
                    "re-embedding covers {updated} of the gallery's {faces} faces; all must be given"
                )));
            }
            if faces > 0 {
                set_model(tx, &self.location, model, dims).await?;
            }
            Ok(())
        })
    }

    fn ready(&self) -> Result<()> {
        self.read(async |client| {
            client.query_one("SELECT 1", &[]).await.map_err(|e| classify(&self.location, &e))?;
            Ok(())
        })
    }

    fn check_integrity(&self) -> Result<()> {
        // The database checks its own pages; what is ours to check is that the faces agree with
        // the gallery's model.
        let Some((model, dims)) = self.model()? else { return Ok(()) };
        let odd: i64 = self.read(async |client| {
            let row = client
                .query_one(
                    "SELECT count(*) FROM faces WHERE model <> $1 OR vector_dims(embedding) <> $2",
                    &[&model.0, &(dims as i32)],
                )
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(row.get(0))
        })?;
        if odd > 0 {
            return Err(GalleryError::Corrupt {
                path: self.location.clone().into(),
                reason: format!("{odd} faces are not embeddings of the gallery's model {model} ({dims}-d)"),
            });
        }
        Ok(())
    }
}
