//! The Gallery conformance suite on the embedded store, searching with the HNSW graph.

use faceprint_gallery::{Gallery, IndexKind, SqliteGallery};

faceprint_gallery::conformance_tests!(|| {
    let dir = tempfile::tempdir().unwrap();
    let gallery = SqliteGallery::builder().index(IndexKind::Hnsw).open(dir.path().join("g.db")).unwrap();
    (Box::new(gallery) as Box<dyn Gallery>, dir)
});

faceprint_gallery::two_handle_conformance_tests!(|| {
    let dir = tempfile::tempdir().unwrap();
    let open = || SqliteGallery::builder().index(IndexKind::Hnsw).open(dir.path().join("g.db")).unwrap();
    let (writer, reader) = (open(), open());
    (Box::new(writer) as Box<dyn Gallery>, Box::new(reader) as Box<dyn Gallery>, dir)
});
