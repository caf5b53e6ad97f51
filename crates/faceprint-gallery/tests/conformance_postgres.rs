//! The Gallery conformance suite, unchanged, on PostgreSQL + pgvector: a real server started by
//! the tests, a database of its own for each check.

use faceprint_gallery::testing::postgres::PgServer;
use faceprint_gallery::{Gallery, PgGallery};

faceprint_gallery::conformance_tests!(|| {
    let gallery = PgGallery::open(&PgServer::shared().new_database()).unwrap();
    (Box::new(gallery) as Box<dyn Gallery>, ())
});

faceprint_gallery::two_handle_conformance_tests!(|| {
    let url = PgServer::shared().new_database();
    let (writer, reader) = (PgGallery::open(&url).unwrap(), PgGallery::open(&url).unwrap());
    (Box::new(writer) as Box<dyn Gallery>, Box::new(reader) as Box<dyn Gallery>, ())
});

mod library {
    use faceprint_gallery::PgGallery;
    use faceprint_gallery::testing::library::LibraryStore;
    use faceprint_gallery::testing::postgres::PgServer;

    faceprint_gallery::library_conformance_tests!(|| {
        let url = PgServer::shared().new_database();
        let open = || Box::new(PgGallery::open(&url).unwrap()) as Box<dyn LibraryStore>;
        let (first, second) = (open(), open());
        (first, second, ())
    });
}
