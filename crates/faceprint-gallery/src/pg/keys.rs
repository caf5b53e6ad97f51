//! API keys in the database, as in the embedded store: only sha256 digests of the secrets.

use tokio_postgres::Row;

use super::PgGallery;
use super::connect::classify;
use crate::sqlite::keys::{PREFIX, digest, new_secret};
use crate::{ApiKey, GalleryError, KeyScope, KeyStore, Result, StoredApiKey};

const KEY_COLUMNS: &str = "id, scope, label, created_at, revoked";

fn key_from_row(row: &Row) -> ApiKey {
    ApiKey {
        id: row.get(0),
        scope: KeyScope::parse(row.get(1)).unwrap_or(KeyScope::Read),
        label: row.get(2),
        created_at: row.get(3),
        revoked: row.get(4),
    }
}

impl KeyStore for PgGallery {
    fn create_api_key(&self, scope: KeyScope, label: &str) -> Result<(ApiKey, String)> {
        let secret = new_secret(getrandom::fill)?;
        let row = self.read(async |client| {
            client
                .query_one(
                    &format!(
                        "INSERT INTO api_keys (digest, scope, label, created_at) VALUES ($1, $2, $3, $4) \
                         RETURNING {KEY_COLUMNS}"
                    ),
                    &[&digest(&secret), &scope.as_str().to_owned(), &label, &crate::checks::now()],
                )
                .await
                .map_err(|e| classify(&self.location, &e))
        })?;
        Ok((key_from_row(&row), secret))
    }

    fn api_key_scope(&self, secret: &str) -> Result<Option<KeyScope>> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        let scope: Option<String> = self.read(async |client| {
            let row = client
                .query_opt("SELECT scope FROM api_keys WHERE digest = $1 AND NOT revoked", &[&digest(secret)])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(row.map(|r| r.get(0)))
        })?;
        Ok(scope.as_deref().and_then(KeyScope::parse))
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>> {
        self.read(async |client| {
            let rows = client
                .query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"), &[])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(key_from_row).collect())
        })
    }

    fn revoke_api_key(&self, id: i64) -> Result<()> {
        let updated = self.read(async |client| {
            client
                .execute("UPDATE api_keys SET revoked = true WHERE id = $1", &[&id])
                .await
                .map_err(|e| classify(&self.location, &e))
        })?;
        match updated {
            0 => Err(GalleryError::Invalid(format!("no API key {id}"))),
            _ => Ok(()),
        }
    }

    fn stored_api_keys(&self) -> Result<Vec<StoredApiKey>> {
        self.read(async |client| {
            let rows = client
                .query(&format!("SELECT {KEY_COLUMNS}, digest FROM api_keys ORDER BY id"), &[])
                .await
                .map_err(|e| classify(&self.location, &e))?;
            Ok(rows.iter().map(|r| StoredApiKey { key: key_from_row(r), digest: r.get(5) }).collect())
        })
    }

    fn import_api_key(&self, stored: &StoredApiKey) -> Result<bool> {
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
