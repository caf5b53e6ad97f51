//! A PostgreSQL database as a gallery: recognising it, checking pgvector, and bringing its schema
//! up to date under an advisory lock (several servers may start at once).

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::connect::classify;
use crate::{GalleryError, Result};

/// Advisory lock keys ("FPGL" and a purpose), so that faceprint's locks are told from others.
pub(crate) const MIGRATION_LOCK: i64 = 0x4650_474C_0001;
/// Taken by every write of the photo library: one library writer at a time, as in SQLite.
pub(crate) const LIBRARY_LOCK: i64 = 0x4650_474C_0003;
/// Taken by every write of the change log (in the trigger of migration 1, as a number).
#[cfg(test)]
const LOG_LOCK: i64 = 0x4650_474C_0002;

/// Schema migrations, in order; `faceprint_meta.schema_version` counts those applied. Never edit
/// one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: collections → subjects → faces (embedding as pgvector), crops apart, API keys, and the
    // change log servers follow. The log is written by triggers so that no write path can forget
    // it, each insert taking the log's lock: log positions are then handed out in commit order,
    // and a follower that has read up to N can never later see a commit below N.
    r#"
    CREATE TABLE faceprint_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE collections (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE subjects (
        id BIGSERIAL PRIMARY KEY,
        collection_id BIGINT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        metadata JSONB NOT NULL DEFAULT '{}',
        created_at BIGINT NOT NULL,
        UNIQUE (collection_id, name)
    );
    CREATE TABLE faces (
        id BIGSERIAL PRIMARY KEY,
        subject_id BIGINT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        embedding vector NOT NULL,
        detection_score REAL NOT NULL,
        bbox_x1 REAL NOT NULL, bbox_y1 REAL NOT NULL, bbox_x2 REAL NOT NULL, bbox_y2 REAL NOT NULL,
        image_sha256 TEXT NOT NULL,
        enrolled_at BIGINT NOT NULL,
        UNIQUE (subject_id, image_sha256)
    );
    CREATE TABLE face_crops (
        face_id BIGINT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        png BYTEA NOT NULL
    );
    CREATE TABLE api_keys (
        id BIGSERIAL PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        label TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT false
    );
    CREATE TABLE changes (seq BIGSERIAL PRIMARY KEY, face_id BIGINT NOT NULL);
    CREATE FUNCTION faceprint_log_face() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- In the body, not in the trigger's column list: a column named there could not change
        -- its type (the vector's size) when the gallery is re-embedded.
        -- Vectors of two sizes cannot be compared (a re-embedding changes the size): nested.
        IF TG_OP = 'UPDATE' AND NEW.subject_id = OLD.subject_id
            AND vector_dims(NEW.embedding) = vector_dims(OLD.embedding) THEN
            IF NEW.embedding = OLD.embedding THEN
                RETURN NULL;
            END IF;
        END IF;
        PERFORM pg_advisory_xact_lock(77310607491074);
        INSERT INTO changes (face_id) VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
        RETURN NULL;
    END $$;
    CREATE TRIGGER faces_changed AFTER INSERT OR DELETE OR UPDATE ON faces
        FOR EACH ROW EXECUTE FUNCTION faceprint_log_face();
    -- Delivered at commit, once per transaction however many faces it wrote.
    CREATE FUNCTION faceprint_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('faceprint_changes', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER changes_notify AFTER INSERT ON changes FOR EACH STATEMENT EXECUTE FUNCTION faceprint_notify();
    -- Keeps the log to its last `keep` entries, recording how far it was cut: a server that had
    -- not read that far reloads instead of missing changes.
    CREATE FUNCTION faceprint_prune_changes(keep BIGINT) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        cut BIGINT := (SELECT COALESCE(max(seq), 0) FROM changes) - keep;
    BEGIN
        IF cut > COALESCE((SELECT value::bigint FROM faceprint_meta WHERE key = 'changes_pruned_through'), 0) THEN
            DELETE FROM changes WHERE seq <= cut;
            INSERT INTO faceprint_meta (key, value) VALUES ('changes_pruned_through', cut::text)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value;
        END IF;
    END $$;
    INSERT INTO collections (name, created_at) VALUES ('default', extract(epoch FROM now())::bigint);
    INSERT INTO faceprint_meta (key, value) VALUES ('gallery_id', md5(random()::text || clock_timestamp()::text));
    "#,
    // 2: keys gain the `library` and `admin` scopes.
    r#"
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check;
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope_check
        CHECK (scope IN ('read', 'write', 'library', 'admin'));
    "#,
    // 3: the photo library, as in the embedded store (its migrations 3 and 4). A photo's faces
    // are gallery faces (collection 'library', made with the first photo, one subject per
    // photo); these tables add its files, the faces' landmarks and quality, people and bars.
    r#"
    CREATE TABLE library_photos (
        id BIGSERIAL PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        subject_id BIGINT NOT NULL UNIQUE REFERENCES subjects(id) ON DELETE CASCADE,
        width BIGINT NOT NULL,
        height BIGINT NOT NULL,
        rotation BIGINT NOT NULL DEFAULT 0,
        added_at BIGINT NOT NULL
    );
    CREATE TABLE library_files (
        path TEXT PRIMARY KEY,
        photo_id BIGINT REFERENCES library_photos(id) ON DELETE CASCADE,
        size BIGINT NOT NULL,
        modified_ns BIGINT NOT NULL,
        error TEXT,
        missing_since BIGINT,
        CHECK ((photo_id IS NULL) <> (error IS NULL))
    );
    CREATE INDEX library_files_photo ON library_files(photo_id);
    CREATE TABLE library_people (
        id BIGSERIAL PRIMARY KEY,
        name TEXT UNIQUE,
        subject_id BIGINT REFERENCES subjects(id) ON DELETE SET NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE library_faces (
        face_id BIGINT PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        photo_id BIGINT NOT NULL REFERENCES library_photos(id) ON DELETE CASCADE,
        landmarks TEXT NOT NULL,
        quality DOUBLE PRECISION NOT NULL,
        person_id BIGINT REFERENCES library_people(id) ON DELETE SET NULL,
        template_face_id BIGINT REFERENCES faces(id) ON DELETE SET NULL
    );
    CREATE INDEX library_faces_photo ON library_faces(photo_id);
    CREATE INDEX library_faces_person ON library_faces(person_id);
    -- Deleting a face looks up the library rows that point at it as a template.
    CREATE INDEX library_faces_template ON library_faces(template_face_id);
    CREATE TABLE library_barred (
        face_id BIGINT NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id BIGINT NOT NULL REFERENCES library_people(id) ON DELETE CASCADE,
        split BIGINT,
        PRIMARY KEY (face_id, person_id)
    );
    CREATE INDEX library_barred_person ON library_barred(person_id);
    "#,
];

/// The newest schema this build knows.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn foreign(location: &str, reason: impl Into<String>) -> GalleryError {
    GalleryError::Foreign { path: location.into(), reason: reason.into() }
}

/// Makes sure pgvector is there (creating it if this role may), checks that the database is
/// ours or empty, and migrates it to [`SCHEMA_VERSION`].
pub(crate) async fn prepare(location: &str, client: &mut Client) -> Result<()> {
    let db = |e: tokio_postgres::Error| classify(location, &e);
    ensure_vector(location, client).await?;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
    let version = schema_version(location, &tx).await?;
    if version > SCHEMA_VERSION {
        return Err(GalleryError::TooNew { path: location.into(), found: version, known: SCHEMA_VERSION });
    }
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(migration).await.map_err(db)?;
        tx.execute(
            "INSERT INTO faceprint_meta (key, value) VALUES ('schema_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&(number as i64 + 1).to_string()],
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

/// The schema version of a faceprint database, 0 for an empty one; an error for anything else.
async fn schema_version(location: &str, tx: &tokio_postgres::Transaction<'_>) -> Result<i64> {
    let db = |e: tokio_postgres::Error| classify(location, &e);
    let ours: bool = tx.query_one("SELECT to_regclass('faceprint_meta') IS NOT NULL", &[]).await.map_err(db)?.get(0);
    if !ours {
        let tables: i64 = tx
            .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = ANY (current_schemas(false))", &[])
            .await
            .map_err(db)?
            .get(0);
        if tables > 0 {
            return Err(foreign(location, format!("its schema holds {tables} tables and no faceprint_meta")));
        }
        return Ok(0);
    }
    let row = tx
        .query_opt("SELECT value FROM faceprint_meta WHERE key = 'schema_version'", &[])
        .await
        .map_err(db)?
        .ok_or_else(|| foreign(location, "faceprint_meta has no schema_version"))?;
    let text: String = row.get(0);
    text.parse().map_err(|_| foreign(location, format!("schema_version {text:?} is not a number")))
}

/// pgvector must be installed in the database; it is created when missing and this role may.
async fn ensure_vector(location: &str, client: &Client) -> Result<()> {
    let db = |e: tokio_postgres::Error| classify(location, &e);
    let installed =
        client.query_opt("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[]).await.map_err(db)?;
    if installed.is_some() {
        return Ok(());
    }
    // Another server may be creating it at the same moment: serialise on the migration lock.
    let created = async {
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let out = client.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").await;
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
        out
    };
    match created.await {
        Ok(()) => Ok(()),
        Err(e) => {
            let missing = [SqlState::UNDEFINED_FILE, SqlState::FEATURE_NOT_SUPPORTED, SqlState::INSUFFICIENT_PRIVILEGE];
            match e.code() {
                Some(code) if missing.contains(code) => Err(GalleryError::ExtensionMissing {
                    location: location.into(),
                    extension: "vector (pgvector)".into(),
                    reason: e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_owned()),
                }),
                _ => Err(db(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_trigger_takes_the_log_lock() {
        assert!(super::MIGRATIONS[0].contains(&format!("pg_advisory_xact_lock({})", super::LOG_LOCK)));
    }
}
