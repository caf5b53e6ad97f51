//! Opening a gallery file: recognising it, and bringing its schema up to date.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::{GalleryError, Result};

/// `PRAGMA application_id` of a faceprint gallery ("FPGL"): tells our file from other SQLite files.
const APPLICATION_ID: i64 = 0x4650_474C;

/// Schema migrations, in order; `PRAGMA user_version` counts those applied. Never edit one that
/// has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: collections → subjects → faces, crops apart (they are large and only read to re-embed),
    // and a change log the vector index follows.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE subjects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        UNIQUE (collection_id, name)
    ) STRICT;
    -- AUTOINCREMENT: a face id is never reused, so an index entry can never name another face.
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        embedding BLOB NOT NULL,
        detection_score REAL NOT NULL,
        bbox_x1 REAL NOT NULL, bbox_y1 REAL NOT NULL, bbox_x2 REAL NOT NULL, bbox_y2 REAL NOT NULL,
        image_sha256 TEXT NOT NULL,
        enrolled_at INTEGER NOT NULL,
        UNIQUE (subject_id, image_sha256)
    ) STRICT;
    CREATE TABLE face_crops (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        png BLOB NOT NULL
    ) STRICT;
    -- Every insert, delete, move or re-embedding of a face appends its id here (triggers, so no
    -- write path can forget). An index that has applied the log up to seq N is current to N.
    CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, face_id INTEGER NOT NULL) STRICT;
    CREATE TRIGGER faces_inserted AFTER INSERT ON faces BEGIN INSERT INTO changes (face_id) VALUES (new.id); END;
    CREATE TRIGGER faces_deleted AFTER DELETE ON faces BEGIN INSERT INTO changes (face_id) VALUES (old.id); END;
    CREATE TRIGGER faces_updated AFTER UPDATE OF subject_id, embedding ON faces
        BEGIN INSERT INTO changes (face_id) VALUES (new.id); END;
    INSERT INTO collections (name, created_at) VALUES ('default', unixepoch());
    INSERT INTO meta (key, value) VALUES ('gallery_id', lower(hex(randomblob(16))));
    "#,
    // 2: API keys for the HTTP server, stored as sha256 digests of the secret.
    r#"
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        label TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    "#,
    // 3: the photo library. A photo's faces are gallery faces (collection 'library', made with
    // the first photo, one subject per photo); these tables add its files, the faces' landmarks
    // and quality, people and bars. Deleting a gallery face or subject takes its library rows.
    r#"
    CREATE TABLE library_photos (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sha256 TEXT NOT NULL UNIQUE,
        subject_id INTEGER NOT NULL UNIQUE REFERENCES subjects(id) ON DELETE CASCADE,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        rotation INTEGER NOT NULL DEFAULT 0,
        added_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE library_files (
        path TEXT PRIMARY KEY,
        photo_id INTEGER REFERENCES library_photos(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        modified_ns INTEGER NOT NULL,
        error TEXT,
        CHECK ((photo_id IS NULL) <> (error IS NULL))
    ) STRICT;
    CREATE INDEX library_files_photo ON library_files(photo_id);
    CREATE TABLE library_people (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT UNIQUE,
        subject_id INTEGER REFERENCES subjects(id) ON DELETE SET NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE library_faces (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        photo_id INTEGER NOT NULL REFERENCES library_photos(id) ON DELETE CASCADE,
        landmarks TEXT NOT NULL,
        quality REAL NOT NULL,
        person_id INTEGER REFERENCES library_people(id) ON DELETE SET NULL,
        -- The copy of this face among its named person's gallery templates.
        template_face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL
    ) STRICT;
    CREATE INDEX library_faces_photo ON library_faces(photo_id);
    CREATE INDEX library_faces_person ON library_faces(person_id);
    CREATE TABLE library_barred (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES library_people(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    ) STRICT;
    "#,
    // 4: trust, round two. Keys gain the `library` and `admin` scopes (SQLite cannot widen a
    // CHECK in place, so the table is copied); a missing file is marked, not forgotten; bars
    // made by a split are told apart (merging the parts back undoes it); every change-log entry
    // carries a random token, so a saved index names the exact entry it was saved at and a
    // gallery restored from a backup, whose log reuses the numbers, is never taken for it.
    r#"
    CREATE TABLE api_keys_v4 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        digest TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'library', 'admin')),
        label TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO api_keys_v4 SELECT id, digest, scope, label, created_at, revoked FROM api_keys;
    DROP TABLE api_keys;
    ALTER TABLE api_keys_v4 RENAME TO api_keys;
    ALTER TABLE library_files ADD COLUMN missing_since INTEGER;
    ALTER TABLE library_barred ADD COLUMN split INTEGER;
    ALTER TABLE changes ADD COLUMN token INTEGER;
    UPDATE changes SET token = random();
    DROP TRIGGER faces_inserted;
    DROP TRIGGER faces_deleted;
    DROP TRIGGER faces_updated;
    CREATE TRIGGER faces_inserted AFTER INSERT ON faces
        BEGIN INSERT INTO changes (face_id, token) VALUES (new.id, random()); END;
    CREATE TRIGGER faces_deleted AFTER DELETE ON faces
        BEGIN INSERT INTO changes (face_id, token) VALUES (old.id, random()); END;
    CREATE TRIGGER faces_updated AFTER UPDATE OF subject_id, embedding ON faces
        BEGIN INSERT INTO changes (face_id, token) VALUES (new.id, random()); END;
    "#,
];

/// The newest schema this build knows.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn foreign(path: &Path, reason: impl Into<String>) -> GalleryError {
    GalleryError::Foreign { path: path.to_path_buf(), reason: reason.into() }
}

/// Maps SQLite's "this is not a database" and "damaged" errors to ours; others stay storage errors.
pub(crate) fn classify(path: &Path, error: rusqlite::Error) -> GalleryError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => foreign(path, "not an SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => {
            GalleryError::Corrupt { path: path.to_path_buf(), reason: error.to_string() }
        }
        _ => GalleryError::Storage(error.to_string()),
    }
}

/// Opens one connection with the settings every connection needs.
///
/// `synchronous = FULL`: in WAL mode every commit is fsynced before it returns, so an
/// acknowledged enrolment survives a power cut, not only a killed process (NORMAL would only
/// promise the latter). It costs one fsync per commit; bulk paths batch their writes.
pub(crate) fn connect(path: &Path) -> Result<Connection> {
    create_private(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
    connection.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| classify(path, e))?;
    connection
        .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864;")
        .map_err(|e| classify(path, e))?;
    Ok(connection)
}

/// Creates a new gallery file readable by its owner alone: it holds face crops and faceprints.
/// SQLite gives the write-ahead log and shared-memory files the database file's mode, so they
/// are private too. An existing file keeps the mode its owner gave it.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A parent that does not exist, and the like: SQLite's own open says it better.
        Err(_) => Ok(()),
    }
}

/// Checks that `path` is ours (or empty) and migrates it to [`SCHEMA_VERSION`].
pub(crate) fn prepare(path: &Path, connection: &mut Connection) -> Result<()> {
    let read = |connection: &Connection| -> rusqlite::Result<(i64, i64, i64)> {
        let application_id = connection.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let objects = connection.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        Ok((application_id, version, objects))
    };
    let (application_id, version, objects) = read(connection).map_err(|e| classify(path, e))?;
    check_ours(path, application_id, version, objects)?;
    // WAL: readers never block the writer nor each other, across threads and processes.
    let mode: String =
        connection.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| classify(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(GalleryError::Storage(format!("could not switch {} to WAL (journal mode {mode})", path.display())));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Another process may be migrating at the same moment: take the write lock, then look again.
    let tx = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| classify(path, e))?;
    let (application_id, version, objects) = read(&tx).map_err(|e| classify(path, e))?;
    check_ours(path, application_id, version, objects)?;
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration).map_err(|e| classify(path, e))?;
        tx.pragma_update(None, "user_version", number as i64 + 1).map_err(|e| classify(path, e))?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(|e| classify(path, e))?;
    tx.commit().map_err(|e| classify(path, e))
}

fn check_ours(path: &Path, application_id: i64, version: i64, objects: i64) -> Result<()> {
    if application_id == 0 && objects == 0 {
        return Ok(()); // a new, empty file
    }
    if application_id != APPLICATION_ID {
        return Err(foreign(path, "an SQLite database of another application"));
    }
    if version > SCHEMA_VERSION {
        return Err(GalleryError::TooNew { path: path.to_path_buf(), found: version, known: SCHEMA_VERSION });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A version 3 gallery (the last release) migrates to 4 with its keys, change log and
    /// library intact: keys keep their ids and scopes and take the new ones, every logged
    /// change gets a token, and later changes are logged with one.
    #[test]
    fn a_version_3_gallery_migrates_with_its_keys_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        {
            let connection = super::connect(&path).unwrap();
            for migration in &super::MIGRATIONS[..3] {
                connection.execute_batch(migration).unwrap();
            }
            connection
                .execute_batch(
                    "PRAGMA user_version = 3; PRAGMA application_id = 1179666252;
                     INSERT INTO api_keys (digest, scope, label, created_at) VALUES ('d1', 'read', 'r', 1), ('d2', 'write', 'w', 2);
                     INSERT INTO subjects (collection_id, name, created_at) VALUES (1, 'Ada', 1);
                     INSERT INTO faces (subject_id, model, embedding, detection_score, bbox_x1, bbox_y1, bbox_x2, bbox_y2,
                         image_sha256, enrolled_at) VALUES (1, 'm', x'00', 0.9, 0, 0, 1, 1, 'aa', 1);",
                )
                .unwrap();
        }
        let mut connection = super::connect(&path).unwrap();
        super::prepare(&path, &mut connection).unwrap();
        let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, super::SCHEMA_VERSION);
        let keys: Vec<(i64, String)> = connection
            .prepare("SELECT id, scope FROM api_keys ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(keys, [(1, "read".to_owned()), (2, "write".to_owned())]);
        connection.execute("INSERT INTO api_keys (digest, scope, created_at) VALUES ('d3', 'library', 3)", []).unwrap();
        let id: i64 = connection.query_row("SELECT id FROM api_keys WHERE digest = 'd3'", [], |r| r.get(0)).unwrap();
        assert_eq!(id, 3, "ids go on from the old table's");
        assert!(
            connection
                .execute("INSERT INTO api_keys (digest, scope, created_at) VALUES ('d4', 'root', 4)", [])
                .is_err()
        );
        connection.execute("DELETE FROM faces", []).unwrap();
        let untokened: i64 =
            connection.query_row("SELECT count(*) FROM changes WHERE token IS NULL", [], |r| r.get(0)).unwrap();
        let logged: i64 = connection.query_row("SELECT count(*) FROM changes", [], |r| r.get(0)).unwrap();
        assert_eq!((logged, untokened), (2, 0));
    }

    /// Regression: gallery files and their WAL were created 0644, readable by every local user,
    /// though they hold face crops and faceprints.
    #[cfg(unix)]
    #[test]
    fn new_gallery_files_and_their_log_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut connection = super::connect(&path).unwrap();
        super::prepare(&path, &mut connection).unwrap();
        connection.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')", []).unwrap();
        for name in ["g.db", "g.db-wal", "g.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} is {mode:o}");
        }
    }

    #[test]
    fn connections_bound_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let connection = super::connect(&dir.path().join("g.db")).unwrap();
        let limit: i64 = connection.query_row("PRAGMA journal_size_limit", [], |r| r.get(0)).unwrap();
        assert_eq!(limit, 64 << 20, "the WAL file is truncated to 64 MiB after a checkpoint");
    }
}
