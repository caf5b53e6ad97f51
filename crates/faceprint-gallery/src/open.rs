//! One function that opens a gallery of either kind from where it lives: a `postgres://` URL
//! or a file path.

use std::path::Path;
use std::sync::Arc;

use crate::library::Library;
use crate::{Gallery, IndexKind, KeyStore, Result, SqliteGallery};

/// A gallery and the API keys stored with it, whichever backend holds them.
#[derive(Debug, Clone)]
pub struct OpenGallery {
    pub gallery: Arc<dyn Gallery>,
    pub keys: Arc<dyn KeyStore>,
    /// The photo library kept with it (every backend has one; `Option` for callers that open a
    /// gallery without).
    pub library: Option<Arc<dyn Library>>,
    /// Where it lives, for messages: the path, or the URL without its password.
    pub location: String,
}

/// How the opened gallery searches (both backends keep the same in-memory indexes).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    pub index: IndexKind,
    /// Faces the compressed index re-ranks exactly per query.
    pub rerank: Option<usize>,
    /// HNSW search width (efSearch).
    pub ef_search: Option<usize>,
    /// A database server's deadline per call (PostgreSQL; default 10 s).
    pub timeout: Option<std::time::Duration>,
}

/// Opens `location`: a PostgreSQL database when it is a `postgres://` or `postgresql://` URL
/// (with the `postgres` feature), otherwise an SQLite file (created if missing).
pub fn open_gallery(location: &str, options: &OpenOptions) -> Result<OpenGallery> {
    #[cfg(feature = "postgres")]
    if crate::is_postgres_url(location) {
        let mut builder = crate::PgGallery::builder().index(options.index);
        if let Some(timeout) = options.timeout {
            builder = builder.timeout(timeout);
        }
        let gallery = builder.open(location)?;
        if let Some(expansion) = options.ef_search {
            gallery.set_expansion_search(expansion);
        }
        if let Some(rerank) = options.rerank {
            gallery.set_rerank(rerank);
        }
        let location = gallery.location().to_owned();
        let gallery = Arc::new(gallery);
        return Ok(OpenGallery { gallery: gallery.clone(), keys: gallery.clone(), library: Some(gallery), location });
    }
    if let Some(scheme) =
        url_scheme(location).filter(|s| !matches!(s.to_ascii_lowercase().as_str(), "postgres" | "postgresql"))
    {
        // Never opened as a file path, and never echoed whole: the URL may hold a password.
        return Err(crate::GalleryError::Invalid(format!(
            "unknown gallery URL scheme `{scheme}://`: give a file path, or a postgres:// (postgresql://) URL"
        )));
    }
    #[cfg(not(feature = "postgres"))]
    if url_scheme(location).is_some() {
        return Err(crate::GalleryError::Invalid(
            "this build has no PostgreSQL support (the faceprint-gallery `postgres` feature)".into(),
        ));
    }
    let gallery = SqliteGallery::builder().index(options.index).open(Path::new(location))?;
    if let Some(expansion) = options.ef_search {
        gallery.set_expansion_search(expansion);
    }
    if let Some(rerank) = options.rerank {
        gallery.set_rerank(rerank);
    }
    let gallery = Arc::new(gallery);
    Ok(OpenGallery {
        gallery: gallery.clone(),
        keys: gallery.clone(),
        library: Some(gallery),
        location: location.to_owned(),
    })
}

/// The scheme of a location written as a URL (`scheme://…`, the scheme made of letters, digits,
/// `+`, `-` and `.`, starting with a letter); `None` for a file path.
pub(crate) fn url_scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `Postgres://ada:secret@host/db` was opened as an SQLite path, and the error
    /// printed the password.
    #[test]
    fn a_url_of_another_scheme_is_refused_without_its_password() {
        let error = open_gallery("Postgress://ada:secret@localhost/db", &OpenOptions::default()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("unknown gallery URL scheme"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!(!Path::new("Postgress:").exists(), "a folder was made for the URL");
    }

    #[test]
    fn schemes_are_case_insensitive() {
        assert!(crate::is_postgres_url("Postgres://ada:secret@localhost/db"));
        assert!(crate::is_postgres_url("POSTGRESQL://localhost/db"));
        assert!(!crate::is_postgres_url("/tmp/postgres://x"));
        assert_eq!(url_scheme("/var/lib/g.db"), None);
        assert_eq!(url_scheme("sqlite://g.db"), Some("sqlite"));
    }
}
