//! The photo library on the embedded store: its transactions ([`crate::library`] is the rest).

use faceprint_types::ModelId;
use rusqlite::Connection;

use super::{SqliteGallery, schema};
use crate::Result;
use crate::library::LibraryStorage;
use crate::sql::Sql;
use crate::storage::Storage;

impl LibraryStorage for SqliteGallery {
    const META_TABLE: &'static str = "meta";

    fn read_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        work(&*self.reader() as &Connection)
    }

    /// SQLite has one writer at a time: library writes are serialised by the file itself.
    fn write_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        let out = self.commit(|tx| work(&**tx as &Connection))?;
        crate::storage::catch_up(self)?;
        Ok(out)
    }

    fn snapshot_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T> {
        // Its own connection and snapshot, as the gallery's export: searches go on meanwhile.
        let connection = schema::connect(self.path())?;
        let tx = connection.unchecked_transaction()?;
        work(&*tx as &Connection)
    }

    fn adopt_model(&self, model: &ModelId, dims: usize) -> Result<()> {
        // Read first: only the gallery's first faces pay for a write of their own.
        if self.read_model()?.is_some_and(|(current, current_dims)| current == *model && current_dims == dims) {
            return Ok(());
        }
        self.commit(|tx| super::store::adopt_model(tx, model, dims))
    }
}
