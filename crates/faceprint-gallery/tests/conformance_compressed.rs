//! The Gallery conformance suite on the embedded store, searching with the compressed index
//! forced on, re-ranking as few faces as a query allows (so the codes choose the shortlist
//! whenever the gallery holds more faces than the query asks for).

use faceprint_gallery::{CompressedParams, Gallery, IndexKind, SqliteGallery};

faceprint_gallery::conformance_tests!(|| {
    let dir = tempfile::tempdir().unwrap();
    let gallery = SqliteGallery::builder()
        .index(IndexKind::Compressed)
        .compressed_params(CompressedParams { rerank: 1, shortlist: 1 })
        .open(dir.path().join("g.db"))
        .unwrap();
    (Box::new(gallery) as Box<dyn Gallery>, dir)
});
