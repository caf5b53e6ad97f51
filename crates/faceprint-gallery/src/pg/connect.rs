//! From a `postgres://` URL to connections: the password from the URL, `PGPASSWORD` or the
//! pgpass file (as libpq finds it), TLS when the URL asks for it, and database errors sorted
//! into the gallery's codes.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;

use crate::GalleryError;

/// Whether `location` names a PostgreSQL gallery rather than a file.
pub fn is_postgres_url(location: &str) -> bool {
    // A URL's scheme is case-insensitive (RFC 3986 §3.1): `Postgres://` is one too.
    matches!(crate::open::url_scheme(location), Some(scheme) if scheme.eq_ignore_ascii_case("postgres")
        || scheme.eq_ignore_ascii_case("postgresql"))
}

/// A parsed URL: what to connect to, and how to name it in messages (never with the password).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) location: String,
}

impl Target {
    pub(crate) fn parse(url: &str, timeout: Duration) -> crate::Result<Target> {
        let invalid = |reason: String| GalleryError::Invalid(format!("gallery URL: {reason}"));
        if !is_postgres_url(url) {
            return Err(invalid("it must start with postgres:// or postgresql://".into()));
        }
        // The client's parser knows only the lower-case schemes.
        let (scheme, rest) = url.split_once("://").expect("a URL, checked above");
        let url = format!("{}://{rest}", scheme.to_ascii_lowercase());
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| invalid(e.to_string()))?;
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".into());
            config.user(user);
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_dbname().is_none() {
            let user = config.get_user().unwrap_or_default().to_owned();
            config.dbname(user);
        }
        let location = location(&config);
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            } else if let Some(password) = pgpass_password(&config) {
                config.password(password);
            }
        }
        if config.get_ssl_mode() != SslMode::Require {
            // The connector can do TLS: without this, the default `prefer` would try it.
            config.ssl_mode(SslMode::Disable);
        }
        config.connect_timeout(timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("faceprint");
        Ok(Target { config, location })
    }

    /// TLS is used when the URL says `sslmode=require`; the server's certificate is then checked
    /// against the web's root authorities and, when `PGSSLROOTCERT` names a PEM file, its own.
    pub(crate) fn wants_tls(&self) -> bool {
        self.config.get_ssl_mode() == SslMode::Require
    }
}

/// The TLS connector: used only when the URL asks for TLS ([`Target::wants_tls`]). The server's
/// certificate must chain to a public root authority or to `root` (else `PGSSLROOTCERT`).
pub(crate) fn tls(target: &Target, root: Option<&Path>) -> crate::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let file = root.map(Path::to_path_buf).or_else(|| std::env::var_os("PGSSLROOTCERT").map(PathBuf::from));
    if let Some(file) = file.filter(|_| target.wants_tls()) {
        let bad = |e: String| GalleryError::Invalid(format!("TLS root certificate {}: {e}", file.display()));
        for cert in CertificateDer::pem_file_iter(&file).map_err(|e| bad(e.to_string()))? {
            roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
        }
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| GalleryError::Storage(format!("TLS set-up: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `postgres://user@host:port/db`: the target without its password.
fn location(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}

/// The password of the first matching line of the pgpass file (`PGPASSFILE`, else
/// `~/.pgpass`): `host:port:database:user:password`, `*` matching anything, `\` escaping.
fn pgpass_password(config: &tokio_postgres::Config) -> Option<String> {
    let file =
        std::env::var_os("PGPASSFILE").map(PathBuf::from).or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let wanted = [host.as_str(), port.as_str(), config.get_dbname()?, config.get_user()?];
    pgpass_lookup(&text, wanted)
}

fn pgpass_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut fields = Vec::with_capacity(5);
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => field.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        if fields.len() == 5 && fields[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w) {
            return Some(fields.remove(4));
        }
    }
    None
}

/// Sorts a database error into the gallery's codes: credentials refused, server unreachable
/// (down, restarting, or gone mid-query), or a plain storage failure.
pub(crate) fn classify(location: &str, error: &tokio_postgres::Error) -> GalleryError {
    let reason = match error.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => error.to_string(),
    };
    let code = error.code();
    if code == Some(&SqlState::INVALID_PASSWORD)
        || code == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
        || reason.contains("password missing")
    {
        return GalleryError::AuthFailed { location: location.into(), reason };
    }
    let unavailable = [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::INVALID_CATALOG_NAME,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
    ];
    // tokio-postgres does not expose its error kinds: the socket-level ones are told by text.
    let text = error.to_string();
    let socket = ["error connecting", "error communicating", "connection closed", "timeout", "error performing TLS"]
        .iter()
        .any(|start| text.starts_with(start));
    if error.is_closed() || socket || code.is_some_and(|c| unavailable.contains(c)) {
        return GalleryError::Unreachable { location: location.into(), reason };
    }
    GalleryError::Storage(format!("{location}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:faces:ada:nope\n*:5432:fa\\:ces:ada:s3cr\\:et\n*:*:*:*:fallback\n";
        assert_eq!(pgpass_lookup(text, ["db", "5432", "fa:ces", "ada"]).as_deref(), Some("s3cr:et"));
        assert_eq!(pgpass_lookup(text, ["db", "5433", "faces", "bob"]).as_deref(), Some("fallback"));
        assert_eq!(pgpass_lookup("h:1:d:u\n", ["h", "1", "d", "u"]), None, "a line without a password");
    }

    #[test]
    fn urls_are_parsed_and_named_without_their_password() {
        let target = Target::parse("postgres://ada:hunter2@db.internal:6543/faces", Duration::from_secs(5)).unwrap();
        assert_eq!(target.location, "postgres://ada@db.internal:6543/faces");
        assert_eq!(target.config.get_password(), Some(&b"hunter2"[..]));
        assert!(!target.wants_tls());
        let tls = Target::parse("postgresql://ada@db/faces?sslmode=require", Duration::from_secs(5)).unwrap();
        assert!(tls.wants_tls());
        assert!(matches!(Target::parse("g.db", Duration::from_secs(1)), Err(GalleryError::Invalid(_))));
        assert!(matches!(
            Target::parse("postgres://db/faces?sslmode=sometimes", Duration::from_secs(1)),
            Err(GalleryError::Invalid(_))
        ));
    }
}
