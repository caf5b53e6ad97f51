//! API keys for the HTTP server, kept in the gallery file they open. Only a sha256 digest of
//! each secret is stored: the secret is 256 random bits, so a fast hash is enough (no password
//! stretching needed) and a stolen gallery file gives no usable key.

use rusqlite::OptionalExtension;
use serde::Serialize;
use sha2::Digest;

use super::SqliteGallery;
use crate::{GalleryError, Result};

/// What a key may do. `Write` includes `Read`; `Library` (the private photo library: its
/// people, crops, photo paths and searches) includes `Read` but not `Write`; `Admin` includes
/// everything. A `read` or `write` key never reveals where a person appears in the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Read,
    Write,
    Library,
    Admin,
}

impl KeyScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Write => "write",
            KeyScope::Library => "library",
            KeyScope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<KeyScope> {
        match text {
            "read" => Some(KeyScope::Read),
            "write" => Some(KeyScope::Write),
            "library" => Some(KeyScope::Library),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }

    /// Whether a key of this scope may do what `needed` allows.
    pub fn allows(&self, needed: KeyScope) -> bool {
        matches!(
            (self, needed),
            (KeyScope::Admin, _)
                | (_, KeyScope::Read)
                | (KeyScope::Write, KeyScope::Write)
                | (KeyScope::Library, KeyScope::Library)
        )
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub scope: KeyScope,
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    pub revoked: bool,
}

/// A stored key with the digest of its secret: what copying keys to another gallery moves (the
/// secret itself is nowhere to be copied from).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub digest: String,
}

/// Secrets look like `fp_` and 64 hex digits, so they are recognisable in logs and configs.
pub(crate) const PREFIX: &str = "fp_";

pub(crate) fn digest(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let scope: String = row.get(1)?;
    Ok(ApiKey {
        id: row.get(0)?,
        scope: KeyScope::parse(&scope).unwrap_or(KeyScope::Read),
        label: row.get(2)?,
        created_at: row.get(3)?,
        revoked: row.get::<_, i64>(4)? != 0,
    })
}

/// Where API keys live: the server checks them, `faceprint keys` manages them. Every gallery
/// backend that serves HTTP implements it.
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Creates a key and returns it with its secret, which is shown this once and never stored.
    fn create_api_key(&self, scope: KeyScope, label: &str) -> Result<(ApiKey, String)>;
    /// The scope of a live key with this secret; `None` for an unknown or revoked one.
    fn api_key_scope(&self, secret: &str) -> Result<Option<KeyScope>>;
    /// Every key, revoked ones included, oldest first.
    fn api_keys(&self) -> Result<Vec<ApiKey>>;
    /// Revokes key `id`; its secret stops working at once, in every process.
    fn revoke_api_key(&self, id: i64) -> Result<()>;
    /// Every key with its digest, oldest first (`gallery copy`).
    fn stored_api_keys(&self) -> Result<Vec<StoredApiKey>>;
    /// Adds a key copied from another gallery, keeping its scope, label, date and revocation;
    /// `false` when a key with that digest is already here (it is then left as it is).
    fn import_api_key(&self, key: &StoredApiKey) -> Result<bool>;
}

/// A new secret: `fp_` and 256 bits from `random` in hex. The operating system's generator in
/// use, and an error (no key) when it fails, rather than a weaker fallback.
pub fn new_secret(random: impl FnOnce(&mut [u8]) -> std::result::Result<(), getrandom::Error>) -> Result<String> {
    let mut bytes = [0u8; 32];
    random(&mut bytes).map_err(|e| GalleryError::Storage(format!("no secure random source for an API key: {e}")))?;
    Ok(format!("{PREFIX}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

impl KeyStore for SqliteGallery {
    fn create_api_key(&self, scope: KeyScope, label: &str) -> Result<(ApiKey, String)> {
        let secret = new_secret(getrandom::fill)?;
        let mut connection = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = connection.transaction()?;
        tx.execute(
            "INSERT INTO api_keys (digest, scope, label, created_at) VALUES (?1, ?2, ?3, unixepoch())",
            (digest(&secret), scope.as_str(), label),
        )?;
        let id = tx.last_insert_rowid();
        let key = tx.query_row(
            "SELECT id, scope, label, created_at, revoked FROM api_keys WHERE id = ?1",
            [id],
            key_from_row,
        )?;
        tx.commit()?;
        Ok((key, secret))
    }

    fn api_key_scope(&self, secret: &str) -> Result<Option<KeyScope>> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        let reader = self.key_reader.lock().unwrap_or_else(|e| e.into_inner());
        let scope: Option<String> = reader
            .prepare_cached("SELECT scope FROM api_keys WHERE digest = ?1 AND revoked = 0")?
            .query_row([digest(secret)], |r| r.get(0))
            .optional()?;
        Ok(scope.as_deref().and_then(KeyScope::parse))
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut statement = reader.prepare("SELECT id, scope, label, created_at, revoked FROM api_keys ORDER BY id")?;
        let keys = statement.query_map([], key_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(keys)
    }

    fn revoke_api_key(&self, id: i64) -> Result<()> {
        let connection = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        match connection.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?1", [id])? {
            0 => Err(GalleryError::Invalid(format!("no API key {id}"))),
            _ => Ok(()),
        }
    }

    fn stored_api_keys(&self) -> Result<Vec<StoredApiKey>> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut statement =
            reader.prepare("SELECT id, scope, label, created_at, revoked, digest FROM api_keys ORDER BY id")?;
        let keys = statement
            .query_map([], |row| Ok(StoredApiKey { key: key_from_row(row)?, digest: row.get(5)? }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(keys)
    }

    fn import_api_key(&self, stored: &StoredApiKey) -> Result<bool> {
        let connection = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let key = &stored.key;
        let added = connection.execute(
            "INSERT OR IGNORE INTO api_keys (digest, scope, label, created_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5)",
            (&stored.digest, key.scope.as_str(), &key.label, key.created_at, key.revoked as i64),
        )?;
        Ok(added == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_works_until_revoked_and_only_its_digest_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let gallery = SqliteGallery::open(&path).unwrap();
        let (key, secret) = gallery.create_api_key(KeyScope::Write, "ci").unwrap();
        assert!(secret.starts_with("fp_") && secret.len() == 67);
        assert_eq!(gallery.api_key_scope(&secret).unwrap(), Some(KeyScope::Write));
        assert_eq!(gallery.api_key_scope("fp_0000").unwrap(), None);
        assert_eq!(gallery.api_key_scope("").unwrap(), None);
        let (_, other) = gallery.create_api_key(KeyScope::Read, "").unwrap();
        assert_ne!(other, secret);
        assert_eq!(gallery.api_key_scope(&other).unwrap(), Some(KeyScope::Read));
        // Another instance (another process) sees the key and its revocation.
        let second = SqliteGallery::open(&path).unwrap();
        assert_eq!(second.api_key_scope(&secret).unwrap(), Some(KeyScope::Write));
        gallery.revoke_api_key(key.id).unwrap();
        assert_eq!(second.api_key_scope(&secret).unwrap(), None);
        assert!(gallery.revoke_api_key(999).is_err());
        for file in [path.clone(), dir.path().join("g.db-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(!String::from_utf8_lossy(&bytes).contains(&secret[3..]), "the secret itself is never written");
        }
        assert_eq!(gallery.api_keys().unwrap().len(), 2);
        assert!(KeyScope::Write.allows(KeyScope::Read) && !KeyScope::Read.allows(KeyScope::Write));
    }

    #[test]
    fn no_key_is_made_when_the_random_source_fails() {
        let failed = new_secret(|_| Err(getrandom::Error::UNSUPPORTED)).unwrap_err();
        assert!(failed.to_string().contains("no secure random source"), "{failed}");
        let secret = new_secret(|bytes| {
            bytes.fill(0xab);
            Ok(())
        })
        .unwrap();
        assert_eq!(secret, format!("fp_{}", "ab".repeat(32)));
    }
}
