//! The database's [`Storage`]: the SQL of each operation in PostgreSQL. What the gallery does
//! with it (checks, indexes, search) is [`crate::storage`]'s.

use std::collections::HashMap;

use faceprint_types::{BBox, ModelId};
use pgvector::Vector;
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, Row, Transaction};

use std::sync::RwLock;
use std::sync::atomic::Ordering;

use super::connect::classify;
use super::{PgGallery, follow};
use crate::checks::now;
use crate::follow::{IndexSettings, IndexState, Update};
use crate::sql::gallery as sql;
use crate::storage::{Storage, SubjectChange, SubjectList};
use crate::{
    AddedFace, Candidate, FaceId, FaceRecord, FullFace, GalleryError, NewFace, Result, Subject, SubjectId, SubjectKey,
};

/// Reads [`sql::SUBJECT_COLUMNS`] starting at column `at`.
fn subject_from_row(row: &Row, at: usize) -> Subject {
    Subject {
        id: row.get(at),
        name: row.get(at + 1),
        metadata: row.get(at + 2),
        created_at: row.get(at + 3),
        faces: row.get::<_, i64>(at + 4) as usize,
    }
}

/// Reads [`sql::FACE_COLUMNS`] starting at column `at`.
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
        .query_opt(sql::COLLECTION_ID, &[&name])
        .await
        .map_err(|e| classify(location, &e))?
        .map(|row| row.get(0))
        .ok_or_else(|| GalleryError::UnknownCollection(name.to_owned()))
}

async fn subject(client: &impl GenericClient, location: &str, collection: i64, key: &SubjectKey) -> Result<Subject> {
    let found = match key {
        SubjectKey::Id(id) => client.query_opt(&sql::subject_by_id(), &[&collection, id]).await,
        SubjectKey::Name(name) => client.query_opt(&sql::subject_by_name(), &[&collection, name]).await,
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
    let insert = tx.prepare_cached(sql::INSERT_FACE).await.map_err(db)?;
    let embedding = Vector::from(face.embedding);
    let inserted = tx
        .query_opt(
            &insert,
            &[&subject_id, &face.model.0, &embedding, &face.detection_score, &b.x1, &b.y1, &b.x2, &b.y2, &sha, &now()],
        )
        .await
        .map_err(db)?;
    let Some(row) = inserted else {
        let existing = tx.query_one(sql::FACE_OF_IMAGE, &[&subject_id, &sha]).await.map_err(db)?;
        return Ok(AddedFace { face_id: existing.get(0), subject_id, duplicate: true });
    };
    let face_id: FaceId = row.get(0);
    if let Some(png) = face.crop_png {
        let insert = tx.prepare_cached(sql::INSERT_CROP).await.map_err(db)?;
        tx.execute(&insert, &[&face_id, &png]).await.map_err(db)?;
    }
    Ok(AddedFace { face_id, subject_id, duplicate: false })
}

impl PgGallery {
    /// Makes `model` the gallery's model when it has none, or another one but no faces: in a
    /// transaction of its own that locks the faces table first, because changing the column's
    /// size (`ALTER TABLE`) inside a write, after reading the table, could deadlock with another
    /// server's write doing the same.
    pub(super) fn adopt_model_first(&self, model: &ModelId, dims: usize) -> Result<()> {
        if self
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .model
            .as_ref()
            .is_some_and(|(m, d)| m == model && *d == dims)
        {
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

    /// Runs `work` in one transaction and commits it: the answer is only given once the database
    /// has it. [`crate::storage`] then shows the change to this process's indexes.
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

impl Storage for PgGallery {
    fn index_state(&self) -> &RwLock<IndexState> {
        &self.state
    }

    /// Only when the listener heard of changes since the last time, or is not connected (then
    /// nothing would be heard: every search asks).
    fn may_have_changed(&self, _applied_seq: i64) -> Result<Option<u64>> {
        let generation = self.listener.generation.load(Ordering::Acquire);
        let heard_nothing = self.listener.connected.load(Ordering::Acquire)
            && generation == self.synced_generation.load(Ordering::Acquire);
        Ok((!heard_nothing).then_some(generation))
    }

    fn caught_up(&self, generation: u64) {
        self.synced_generation.store(generation, Ordering::Release);
    }

    fn changes_since(&self, from: i64, model: Option<&(ModelId, usize)>) -> Result<Update> {
        self.block(follow::changes_since(self, from, model))
    }

    fn load(&self, settings: &IndexSettings) -> Result<IndexState> {
        self.block_loading(follow::load(self, settings))
    }

    fn read_model(&self) -> Result<Option<(ModelId, usize)>> {
        self.read(async |client| read_model(client, &self.location).await)
    }

    fn counts(&self) -> Result<(usize, usize, usize)> {
        self.read(async |client| {
            let row = client.query_one(sql::COUNTS, &[]).await.map_err(|e| classify(&self.location, &e))?;
            let count = |i| row.get::<_, i64>(i) as usize;
            Ok((count(0), count(1), count(2)))
        })
    }

    fn collection_names(&self) -> Result<Vec<String>> {
        self.read(async |client| {
            let rows = client.query(sql::COLLECTION_NAMES, &[]).await.map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn collection_id(&self, name: &str) -> Result<i64> {
        self.read(async |client| collection_id(client, &self.location, name).await)
    }

    fn read_subject(&self, collection: &str, key: &SubjectKey) -> Result<Subject> {
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            subject(client, &self.location, collection, key).await
        })
    }

    fn read_subjects(&self, collection: &str, list: SubjectList) -> Result<Vec<Subject>> {
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            let rows = match list {
                SubjectList::All => client.query(&sql::subjects_by_name(), &[&collection]).await,
                SubjectList::Page { after, limit } => {
                    client.query(&sql::subjects_page(), &[&collection, &after, &limit]).await
                }
            };
            Ok(rows.map_err(|e| classify(&self.location, &e))?.iter().map(|r| subject_from_row(r, 0)).collect())
        })
    }

    fn read_faces(&self, collection: &str, key: &SubjectKey) -> Result<Vec<FaceRecord>> {
        self.read(async |client| {
            let collection = collection_id(client, &self.location, collection).await?;
            let subject = subject(client, &self.location, collection, key).await?;
            let rows = client
                .query(&sql::faces_of_subject(), &[&subject.id])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| face_from_row(r, 0)).collect())
        })
    }

    fn subject_names(&self, ids: &[SubjectId]) -> Result<HashMap<SubjectId, String>> {
        // One round trip for every name.
        self.read(async |client| {
            let rows = client
                .query("SELECT id, name FROM subjects WHERE id = ANY($1)", &[&ids])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn visit_faces(&self, visit: &mut dyn FnMut(FullFace) -> Result<()>) -> Result<()> {
        // Pages by face id, all read in one repeatable-read transaction on one connection, so
        // that a long walk holds no more than a page in memory and sees one consistent gallery:
        // a face deleted meanwhile is still exported, not half of its subject (each page once
        // read a snapshot of its own).
        const PAGE: i64 = 1000;
        let client = self.block(self.client())?;
        let db = |e: tokio_postgres::Error| classify(&self.location, &e);
        let statement = sql::every_face_after();
        let mut walk = || -> Result<()> {
            self.block(async {
                client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db)
            })?;
            let mut after: FaceId = 0;
            loop {
                let page = self.block(async { client.query(&statement, &[&after, &PAGE]).await.map_err(db) })?;
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

    fn ping(&self) -> Result<()> {
        self.read(async |client| {
            client.query_one("SELECT 1", &[]).await.map_err(|e| classify(&self.location, &e))?;
            Ok(())
        })
    }

    fn check_storage(&self) -> Result<()> {
        // The database checks its own pages; what is ours to check is that the faces agree with
        // the gallery's model.
        let Some((model, dims)) = self.read_model()? else { return Ok(()) };
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

    fn insert_collection(&self, name: &str) -> Result<()> {
        self.write(async |tx| match tx.execute(sql::INSERT_COLLECTION, &[&name, &now()]).await {
            Err(e) if is_unique_violation(&e) => Err(GalleryError::DuplicateCollection(name.to_owned())),
            Err(e) => Err(classify(&self.location, &e)),
            Ok(_) => Ok(()),
        })
    }

    fn insert_subjects(&self, collection: &str, subjects: Vec<(String, serde_json::Value)>) -> Result<Vec<Subject>> {
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let insert = tx.prepare(sql::INSERT_SUBJECT).await.map_err(|e| classify(&self.location, &e))?;
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

    fn update_subject(&self, collection: &str, key: &SubjectKey, change: SubjectChange<'_>) -> Result<Subject> {
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let id = subject(&**tx, &self.location, collection, key).await?.id;
            let updated = match change {
                SubjectChange::Rename(name) => tx.execute(sql::RENAME_SUBJECT, &[&name, &id]).await,
                SubjectChange::Metadata(metadata) => tx.execute(sql::SET_METADATA, &[metadata, &id]).await,
            };
            match (updated, change) {
                (Err(e), SubjectChange::Rename(name)) if is_unique_violation(&e) => {
                    Err(GalleryError::DuplicateSubject(name.to_owned()))
                }
                (Err(e), _) => Err(classify(&self.location, &e)),
                (Ok(_), _) => subject(&**tx, &self.location, collection, &SubjectKey::Id(id)).await,
            }
        })
    }

    fn move_faces_and_delete(&self, collection: &str, from: &SubjectKey, into: &SubjectKey) -> Result<Subject> {
        self.write(async |tx| {
            let db = |e: tokio_postgres::Error| classify(&self.location, &e);
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let from = subject(&**tx, &self.location, collection, from).await?.id;
            let into = subject(&**tx, &self.location, collection, into).await?.id;
            if from == into {
                return Err(GalleryError::Invalid("cannot merge a subject into itself".into()));
            }
            tx.execute(sql::MERGE_DROP_SHARED, &[&from, &into]).await.map_err(db)?;
            tx.execute(sql::MERGE_MOVE, &[&into, &from]).await.map_err(db)?;
            tx.execute(sql::DELETE_SUBJECT, &[&from]).await.map_err(db)?;
            subject(&**tx, &self.location, collection, &SubjectKey::Id(into)).await
        })
    }

    fn remove_subject(&self, collection: &str, key: &SubjectKey) -> Result<usize> {
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let found = subject(&**tx, &self.location, collection, key).await?;
            tx.execute(sql::DELETE_SUBJECT, &[&found.id]).await.map_err(|e| classify(&self.location, &e))?;
            Ok(found.faces)
        })
    }

    fn insert_faces(&self, collection: &str, faces: Vec<(SubjectKey, NewFace)>) -> Result<Vec<AddedFace>> {
        if let Some((_, first)) = faces.first() {
            self.adopt_model_first(&first.model, first.embedding.len())?;
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

    fn remove_face(&self, collection: &str, face: FaceId) -> Result<()> {
        self.write(async |tx| {
            let collection = collection_id(&**tx, &self.location, collection).await?;
            let deleted =
                tx.execute(sql::DELETE_FACE, &[&face, &collection]).await.map_err(|e| classify(&self.location, &e))?;
            if deleted == 0 {
                return Err(GalleryError::UnknownFace(face));
            }
            Ok(())
        })
    }

    fn replace_embeddings(&self, model: &ModelId, dims: usize, embeddings: Vec<(FaceId, Vec<f32>)>) -> Result<()> {
        self.write(async |tx| {
            let db = |e: tokio_postgres::Error| classify(&self.location, &e);
            // First, so that no lock on the table is taken before the exclusive one (see
            // `adopt_model_first`).
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
            let update = tx.prepare(sql::UPDATE_EMBEDDING).await.map_err(db)?;
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
}
