//! The photo library's conformance suite on the embedded store: two handles on one file.

use faceprint_gallery::SqliteGallery;
use faceprint_gallery::testing::library::LibraryStore;

faceprint_gallery::library_conformance_tests!(|| {
    let dir = tempfile::tempdir().unwrap();
    let open = || Box::new(SqliteGallery::open(dir.path().join("lib.db")).unwrap()) as Box<dyn LibraryStore>;
    let (first, second) = (open(), open());
    (first, second, dir)
});
