//! The Gallery conformance suite, unchanged, on PostgreSQL + pgvector: a real server started by
//! the tests, a database of its own for each check.

use faceprint_gallery::testing::postgres::PgServer;
use faceprint_gallery::{Gallery, PgGallery};

faceprint_gallery::conformance_tests!(|| {
    let gallery = PgGallery::open(&PgServer::shared().new_database()).unwrap();
    (Box::new(gallery) as Box<dyn Gallery>, ())
});
