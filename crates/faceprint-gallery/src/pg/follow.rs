//! Following the database: loading every collection's vectors from one snapshot, reading the
//! change log since a position, and a LISTEN connection that says when there is something to
//! read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use faceprint_types::ModelId;
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::{AsyncMessage, IsolationLevel, Transaction};

use super::PgGallery;
use super::connect::{Target, classify};
use crate::follow::{IndexSettings, IndexState, Update};
use crate::{FaceId, GalleryError, Result};

/// What the LISTEN connection has heard: `generation` moves on every notification and every
/// (re)connection (notifications may have been missed while it was down).
#[derive(Debug, Default)]
pub(crate) struct Listener {
    pub(crate) generation: AtomicU64,
    pub(crate) connected: AtomicBool,
}

/// Keeps one connection listening on `faceprint_changes` until `stop`, reconnecting after a
/// failure (a database restart) within a second.
pub(crate) async fn listen(
    target: Target,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    listener: Arc<Listener>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Acquire) {
        if let Ok((client, mut connection)) = target.config.connect(tls.clone()).await {
            let messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            pin_mut!(messages);
            // The connection only makes progress while its messages are polled: LISTEN is sent
            // while they are.
            let subscribe = client.batch_execute("LISTEN faceprint_changes");
            pin_mut!(subscribe);
            let subscribed = loop {
                tokio::select! {
                    done = &mut subscribe => break done.is_ok(),
                    message = messages.next() => if !matches!(message, Some(Ok(_))) { break false },
                }
            };
            if subscribed {
                listener.connected.store(true, Ordering::Release);
                listener.generation.fetch_add(1, Ordering::AcqRel);
                while let Some(Ok(message)) = messages.next().await {
                    if let AsyncMessage::Notification(_) = message {
                        listener.generation.fetch_add(1, Ordering::AcqRel);
                    }
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                }
            }
            listener.connected.store(false, Ordering::Release);
            listener.generation.fetch_add(1, Ordering::AcqRel);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn snapshot<'a>(client: &'a mut tokio_postgres::Client, location: &str) -> Result<Transaction<'a>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| classify(location, &e))
}

async fn position(tx: &Transaction<'_>, location: &str) -> Result<(i64, i64, Option<(ModelId, usize)>)> {
    let row = tx
        .query_one(
            "SELECT (SELECT COALESCE(max(seq), 0) FROM changes), \
                    (SELECT value FROM faceprint_meta WHERE key = 'changes_pruned_through'), \
                    (SELECT value FROM faceprint_meta WHERE key = 'model'), \
                    (SELECT value FROM faceprint_meta WHERE key = 'dims')",
            &[],
        )
        .await
        .map_err(|e| classify(location, &e))?;
    let pruned = row.get::<_, Option<String>>(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    let model = match (row.get::<_, Option<String>>(2), row.get::<_, Option<String>>(3)) {
        (Some(model), Some(dims)) => dims.parse().ok().map(|dims| (ModelId(model), dims)),
        _ => None,
    };
    Ok((row.get(0), pruned, model))
}

/// Every face of every collection from one snapshot, indexed.
pub(crate) async fn load(gallery: &PgGallery, settings: &IndexSettings) -> Result<IndexState> {
    let location = gallery.location.as_str();
    let db = |e: tokio_postgres::Error| classify(location, &e);
    let mut client = gallery.client().await?;
    let tx = snapshot(&mut client, location).await?;
    let (seq, _, model) = position(&tx, location).await?;
    let gallery_id: String =
        tx.query_one("SELECT value FROM faceprint_meta WHERE key = 'gallery_id'", &[]).await.map_err(db)?.get(0);
    let mut state = IndexState::new(gallery_id, model, seq, settings.clone());
    let dims = state.dims();
    if dims == 0 {
        return Ok(state);
    }
    let rows = tx
        .query_raw(
            "SELECT s.collection_id, f.id, f.subject_id, f.embedding FROM faces f \
             JOIN subjects s ON s.id = f.subject_id ORDER BY s.collection_id",
            std::iter::empty::<i64>(),
        )
        .await
        .map_err(db)?;
    pin_mut!(rows);
    let mut collections: HashMap<i64, (Vec<FaceId>, Vec<f32>)> = HashMap::new();
    while let Some(row) = rows.next().await {
        let row = row.map_err(db)?;
        let collection: i64 = row.get(0);
        let face: FaceId = row.get(1);
        let vector: pgvector::Vector = row.try_get(3).map_err(db)?;
        let vector = vector.as_slice();
        if vector.len() != dims {
            return Err(GalleryError::DimensionMismatch { gallery: dims, given: vector.len() });
        }
        let (ids, matrix) = collections.entry(collection).or_default();
        ids.push(face);
        matrix.extend_from_slice(vector);
        state.faces.insert(face, (collection, row.get(2)));
    }
    for (collection, (ids, matrix)) in collections {
        state.add_collection(collection, &ids, &matrix)?;
    }
    Ok(state)
}

pub(crate) async fn changes_since(gallery: &PgGallery, from: i64, model: Option<&(ModelId, usize)>) -> Result<Update> {
    let location = gallery.location.as_str();
    let db = |e: tokio_postgres::Error| classify(location, &e);
    let mut client = gallery.client().await?;
    let tx = snapshot(&mut client, location).await?;
    let (seq, pruned, current_model) = position(&tx, location).await?;
    if seq <= from {
        return Ok(Update::Current);
    }
    if pruned > from || current_model.as_ref() != model {
        return Ok(Update::Reload);
    }
    let rows = tx
        .query(
            "WITH changed AS (SELECT DISTINCT face_id FROM changes WHERE seq > $1 AND seq <= $2) \
             SELECT c.face_id, s.collection_id, f.subject_id, f.embedding FROM changed c \
             LEFT JOIN faces f ON f.id = c.face_id LEFT JOIN subjects s ON s.id = f.subject_id",
            &[&from, &seq],
        )
        .await
        .map_err(db)?;
    let mut changed = Vec::with_capacity(rows.len());
    for row in rows {
        let current = match row.get::<_, Option<i64>>(1) {
            Some(collection) => {
                let vector: pgvector::Vector = row.try_get(3).map_err(db)?;
                Some((collection, row.get(2), vector.to_vec()))
            }
            None => None,
        };
        changed.push((row.get(0), current));
    }
    Ok(Update::Changes { from, seq, changed })
}
