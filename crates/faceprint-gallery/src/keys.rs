//! API keys for the HTTP server, kept in the gallery they open. Only a sha256 digest of each
//! secret is stored: the secret is 256 random bits, so a fast hash is enough (no password
//! stretching needed) and a stolen gallery gives no usable key.
//!
//! Everything but the rows is written here once: each backend implements [`KeyRows`] (insert,
//! look up by digest, list, revoke) and gets [`KeyStore`] from it.

use serde::Serialize;
use sha2::Digest;

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
const PREFIX: &str = "fp_";

fn digest(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
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
pub(crate) fn new_secret(
    random: impl FnOnce(&mut [u8]) -> std::result::Result<(), getrandom::Error>,
) -> Result<String> {
    let mut bytes = [0u8; 32];
    random(&mut bytes).map_err(|e| GalleryError::Storage(format!("no secure random source for an API key: {e}")))?;
    Ok(format!("{PREFIX}{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// The rows of the `api_keys` table: what a backend writes for [`KeyStore`]. Digests only.
pub(crate) trait KeyRows {
    /// Inserts a live key with this digest; returns it as stored.
    fn insert_key(&self, digest: &str, scope: KeyScope, label: &str) -> Result<ApiKey>;
    /// The scope column of the live key with this digest.
    fn live_key_scope(&self, digest: &str) -> Result<Option<String>>;
    fn key_rows(&self) -> Result<Vec<StoredApiKey>>;
    /// Marks key `id` revoked; `false` when there is no such key.
    fn revoke_key(&self, id: i64) -> Result<bool>;
    /// Inserts a copied key unless its digest is there; whether it was inserted.
    fn insert_stored_key(&self, key: &StoredApiKey) -> Result<bool>;
}

impl<T: KeyRows + Send + Sync + std::fmt::Debug> KeyStore for T {
    fn create_api_key(&self, scope: KeyScope, label: &str) -> Result<(ApiKey, String)> {
        let secret = new_secret(getrandom::fill)?;
        Ok((self.insert_key(&digest(&secret), scope, label)?, secret))
    }

    fn api_key_scope(&self, secret: &str) -> Result<Option<KeyScope>> {
        if !secret.starts_with(PREFIX) {
            return Ok(None);
        }
        Ok(self.live_key_scope(&digest(secret))?.as_deref().and_then(KeyScope::parse))
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.key_rows()?.into_iter().map(|stored| stored.key).collect())
    }

    fn revoke_api_key(&self, id: i64) -> Result<()> {
        match self.revoke_key(id)? {
            false => Err(GalleryError::Invalid(format!("no API key {id}"))),
            true => Ok(()),
        }
    }

    fn stored_api_keys(&self) -> Result<Vec<StoredApiKey>> {
        self.key_rows()
    }

    fn import_api_key(&self, key: &StoredApiKey) -> Result<bool> {
        self.insert_stored_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteGallery;

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
