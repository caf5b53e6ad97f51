//! The `api_keys` rows in the database ([`crate::keys`] does the rest).

use tokio_postgres::Row;

use super::PgGallery;
use super::connect::classify;
use crate::keys::KeyRows;
use crate::{ApiKey, KeyScope, Result, StoredApiKey};

const KEY_COLUMNS: &str = "id, scope, label, created_at, revoked, digest";

fn key_from_row(row: &Row) -> StoredApiKey {
    let key = ApiKey {
        id: row.get(0),
        scope: KeyScope::parse(row.get(1)).unwrap_or(KeyScope::Read),
        label: row.get(2),
        created_at: row.get(3),
        revoked: row.get(4),
    };
    StoredApiKey { key, digest: row.get(5) }
}

impl KeyRows for PgGallery {
    fn insert_key(&self, digest: &str, scope: KeyScope, label: &str) -> Result<ApiKey> {
        let row = self.read(async |client| {
            client
                .query_one(
                    &format!(
                        "INSERT INTO api_keys (digest, scope, label, created_at) VALUES ($1, $2, $3, $4) \
                         RETURNING {KEY_COLUMNS}"
                    ),
                    &[&digest, &scope.as_str().to_owned(), &label, &crate::checks::now()],
                )
                .await
                .map_err(|e| classify(&self.location, &e))
        })?;
        Ok(key_from_row(&row).key)
    }

    fn live_key_scope(&self, digest: &str) -> Result<Option<String>> {
        self.read(async |client| {
            let row = client
                .query_opt("SELECT scope FROM api_keys WHERE digest = $1 AND NOT revoked", &[&digest])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn key_rows(&self) -> Result<Vec<StoredApiKey>> {
        self.read(async |client| {
            let rows = client
                .query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"), &[])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(key_from_row).collect())
        })
    }

    fn revoke_key(&self, id: i64) -> Result<bool> {
        let updated = self.read(async |client| {
            client
                .execute("UPDATE api_keys SET revoked = true WHERE id = $1", &[&id])
                .await
                .map_err(|e| classify(&self.location, &e))
        })?;
        Ok(updated > 0)
    }

    fn insert_stored_key(&self, stored: &StoredApiKey) -> Result<bool> {
        let key = &stored.key;
        let added = self.read(async |client| {
            client
                .execute(
                    "INSERT INTO api_keys (digest, scope, label, created_at, revoked) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (digest) DO NOTHING",
                    &[&stored.digest, &key.scope.as_str().to_owned(), &key.label, &key.created_at, &key.revoked],
                )
                .await
                .map_err(|e| classify(&self.location, &e))
        })?;
        Ok(added == 1)
    }
}
