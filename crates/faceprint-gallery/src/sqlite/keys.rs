//! The `api_keys` rows of the embedded store ([`crate::keys`] does the rest).

use rusqlite::OptionalExtension;

use super::SqliteGallery;
use crate::keys::KeyRows;
use crate::{ApiKey, KeyScope, Result, StoredApiKey};

const KEY_COLUMNS: &str = "id, scope, label, created_at, revoked, digest";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredApiKey> {
    let scope: String = row.get(1)?;
    let key = ApiKey {
        id: row.get(0)?,
        scope: KeyScope::parse(&scope).unwrap_or(KeyScope::Read),
        label: row.get(2)?,
        created_at: row.get(3)?,
        revoked: row.get::<_, i64>(4)? != 0,
    };
    Ok(StoredApiKey { key, digest: row.get(5)? })
}

impl KeyRows for SqliteGallery {
    fn insert_key(&self, digest: &str, scope: KeyScope, label: &str) -> Result<ApiKey> {
        let mut connection = self.writer();
        let tx = connection.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (digest, scope, label, created_at) VALUES (?1, ?2, ?3, unixepoch())",
            (digest, scope.as_str(), label),
        )?;
        let id = tx.last_insert_rowid();
        let key = tx.query_row(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"), [id], key_from_row)?;
        tx.commit()?;
        Ok(key.key)
    }

    fn live_key_scope(&self, digest: &str) -> Result<Option<String>> {
        // A connection of its own: no long read makes every client's key check wait.
        let reader = self.key_reader.lock().unwrap_or_else(|e| e.into_inner());
        let scope = reader
            .prepare_cached("SELECT scope FROM api_keys WHERE digest = ?1 AND revoked = 0")?
            .query_row([digest], |r| r.get(0))
            .optional()?;
        Ok(scope)
    }

    fn key_rows(&self) -> Result<Vec<StoredApiKey>> {
        let reader = self.reader();
        let mut statement = reader.prepare(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"))?;
        let keys = statement.query_map([], key_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(keys)
    }

    fn revoke_key(&self, id: i64) -> Result<bool> {
        Ok(self.writer().execute("UPDATE api_keys SET revoked = 1 WHERE id = ?1", [id])? > 0)
    }

    fn insert_stored_key(&self, stored: &StoredApiKey) -> Result<bool> {
        let key = &stored.key;
        let added = self.writer().execute(
            "INSERT OR IGNORE INTO api_keys (digest, scope, label, created_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5)",
            (&stored.digest, key.scope.as_str(), &key.label, key.created_at, key.revoked as i64),
        )?;
        Ok(added == 1)
    }
}
