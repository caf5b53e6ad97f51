//! The photo library in the database: its transactions ([`crate::library`] is the rest).

use faceprint_types::ModelId;

use super::PgGallery;
use super::connect::classify;
use super::schema::LIBRARY_LOCK;
use super::sql::PgSql;
use crate::Result;
use crate::library::LibraryStorage;
use crate::sql::{Sql, params};

impl PgGallery {
    /// Runs `work` inside `begin` … `COMMIT` on one pooled connection. A failed transaction is
    /// rolled back; a connection that cannot say so is closed, never pooled again mid-transaction.
    fn in_transaction<T>(&self, begin: &str, work: impl FnOnce(&PgSql<'_>) -> Result<T>) -> Result<T> {
        let client = self.block(self.client())?;
        let batch = |statement: &str| {
            self.block(async { client.batch_execute(statement).await.map_err(|e| classify(&self.location, &e)) })
        };
        batch(begin)?;
        let out = work(&PgSql { gallery: self, client: &client }).and_then(|out| batch("COMMIT").map(|()| out));
        if out.is_err() && batch("ROLLBACK").is_err() {
            drop(deadpool_postgres::Object::take(client));
        }
        out
    }
}

impl LibraryStorage for PgGallery {
    const META_TABLE: &'static str = "faceprint_meta";

    fn read_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        let client = self.block(self.client())?;
        work(&PgSql { gallery: self, client: &client })
    }

    /// Library writes take one advisory lock, so that two servers or indexing runs on one
    /// database write one at a time, as SQLite's single writer does: the second to store a photo
    /// finds the first's and only links its file.
    fn write_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        let out = self.in_transaction("BEGIN", |sql| {
            sql.execute("SELECT pg_advisory_xact_lock($1)", params![LIBRARY_LOCK])?;
            let out = work(sql)?;
            sql.execute("SELECT faceprint_prune_changes($1)", params![self.settings.change_log_keep])?;
            Ok(out)
        })?;
        // Durable now: should the database vanish this instant, the next search catches up.
        let _ = crate::storage::catch_up(self);
        Ok(out)
    }

    fn snapshot_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        self.in_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", |sql| work(sql))
    }

    fn adopt_model(&self, model: &ModelId, dims: usize) -> Result<()> {
        self.adopt_model_first(model, dims)
    }
}
