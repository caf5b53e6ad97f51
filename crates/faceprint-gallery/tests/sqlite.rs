//! What only the embedded store has: a file that outlives the process, other processes and
//! instances writing to it, saved HNSW graphs and compressed codes, and files that are not (or no
//! longer) galleries.

use faceprint_gallery::testing::{face, model, vector};
use faceprint_gallery::{DEFAULT_COLLECTION as DEFAULT, Gallery, GalleryError, IndexKind, SqliteGallery, SubjectKey};
use serde_json::json;

fn name(n: &str) -> SubjectKey {
    SubjectKey::Name(n.into())
}

fn top1(gallery: &SqliteGallery, axis: usize) -> Option<String> {
    gallery.search(DEFAULT, &model(), &vector(axis, 0.0), 1).unwrap().pop().map(|c| c.subject)
}

#[test]
fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    {
        let gallery = SqliteGallery::open(&path).unwrap();
        gallery.create_subject(DEFAULT, "Ada", json!({"k": 1})).unwrap();
        gallery.add_face(DEFAULT, &name("Ada"), face(3, 0.0, 1)).unwrap();
    }
    let gallery = SqliteGallery::open(&path).unwrap();
    assert_eq!(top1(&gallery, 3).as_deref(), Some("Ada"));
    assert_eq!(gallery.subject(DEFAULT, &name("Ada")).unwrap().metadata, json!({"k": 1}));
    gallery.check_integrity().unwrap();
}

#[test]
fn another_instance_sees_writes_at_its_next_search() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    for kind in [IndexKind::Exact, IndexKind::Compressed, IndexKind::Hnsw] {
        let _ = std::fs::remove_file(&path);
        let writer = SqliteGallery::builder().index(kind).open(&path).unwrap();
        let reader = SqliteGallery::builder().index(kind).open(&path).unwrap();
        assert_eq!(top1(&reader, 0), None);
        writer.create_subject(DEFAULT, "Ada", json!({})).unwrap();
        writer.add_face(DEFAULT, &name("Ada"), face(0, 0.0, 1)).unwrap();
        assert_eq!(top1(&reader, 0).as_deref(), Some("Ada"), "{kind:?}");
        writer.rename_subject(DEFAULT, &name("Ada"), "Ada King").unwrap();
        assert_eq!(top1(&reader, 0).as_deref(), Some("Ada King"), "{kind:?}");
        writer.delete_subject(DEFAULT, &name("Ada King")).unwrap();
        assert_eq!(top1(&reader, 0), None, "{kind:?}");
    }
}

#[test]
fn a_saved_graph_is_loaded_and_caught_up_with_later_writes() {
    saved_index_is_loaded_and_caught_up(IndexKind::Hnsw, "usearch");
}

#[test]
fn saved_compressed_codes_are_loaded_and_caught_up_with_later_writes() {
    saved_index_is_loaded_and_caught_up(IndexKind::Compressed, "codes");
}

fn saved_index_is_loaded_and_caught_up(kind: IndexKind, extension: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let hnsw = || SqliteGallery::builder().index(kind).open(&path).unwrap();
    {
        let gallery = hnsw();
        for axis in 0..4 {
            let subject = format!("s{axis}");
            gallery.create_subject(DEFAULT, &subject, json!({})).unwrap();
            gallery.add_face(DEFAULT, &name(&subject), face(axis, 0.0, axis as u32)).unwrap();
        }
        gallery.save_index().unwrap();
    }
    let saved = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut graphs: Vec<_> = std::fs::read_dir(dir.join("g.db.index"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        graphs.sort();
        graphs
    };
    let graphs = saved(dir.path());
    assert_eq!(graphs.len(), 1, "the graph is saved beside the gallery: {graphs:?}");
    let graph = graphs[0].clone();
    // Changes the saved graph has not seen, written by an instance that does not save.
    {
        let exact = SqliteGallery::builder().index(IndexKind::Exact).open(&path).unwrap();
        exact.delete_subject(DEFAULT, &name("s1")).unwrap();
        exact.create_subject(DEFAULT, "new", json!({})).unwrap();
        exact.add_face(DEFAULT, &name("new"), face(5, 0.0, 50)).unwrap();
    }
    let gallery = hnsw();
    assert_ne!(top1(&gallery, 1).as_deref(), Some("s1"));
    assert_eq!(top1(&gallery, 5).as_deref(), Some("new"));
    assert_eq!(top1(&gallery, 2).as_deref(), Some("s2"));

    // A damaged graph file is not trusted: the graph is rebuilt from the store.
    drop(gallery);
    std::fs::write(&graph, b"garbage").unwrap();
    let gallery = hnsw();
    assert_eq!(top1(&gallery, 5).as_deref(), Some("new"));
    assert_eq!(gallery.index_kind(DEFAULT).unwrap(), kind);
    // The rebuilt graph is saved under its own log position and the damaged one is removed.
    gallery.create_subject(DEFAULT, "later", json!({})).unwrap();
    gallery.add_face(DEFAULT, &name("later"), face(6, 0.0, 60)).unwrap();
    gallery.save_index().unwrap();
    let graphs = saved(dir.path());
    assert_eq!(graphs.len(), 1, "{graphs:?}");
    assert_ne!(graphs[0], graph);
    drop(gallery);
    assert_eq!(top1(&hnsw(), 6).as_deref(), Some("later"));

    // A description naming a file outside its folder is not followed.
    let description = dir.path().join("g.db.index/collection-1.json");
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&description).unwrap()).unwrap();
    let outside = dir.path().join("outside.bin");
    std::fs::copy(&graphs[0], &outside).unwrap();
    value["file"] = json!("../outside.bin");
    std::fs::write(&description, serde_json::to_vec(&value).unwrap()).unwrap();
    let gallery = hnsw();
    assert_eq!(top1(&gallery, 6).as_deref(), Some("later"), "rebuilt from the store");
    drop(gallery);
    assert!(outside.exists(), "a file outside the index folder is never removed");
}

#[test]
fn files_that_are_not_galleries_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello, this is not a database at all, just some text").unwrap();
    let error = SqliteGallery::open(&text).unwrap_err();
    assert!(matches!(error, GalleryError::Foreign { .. }), "{error}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "hello, this is not a database at all, just some text");

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE invoices (id INTEGER)").unwrap();
    let error = SqliteGallery::open(&other).unwrap_err();
    assert!(matches!(error, GalleryError::Foreign { .. }), "{error}");
    assert_eq!(error.code(), "gallery_foreign");
}

#[test]
fn a_gallery_from_a_newer_faceprint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    drop(SqliteGallery::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    assert!(matches!(SqliteGallery::open(&path), Err(GalleryError::TooNew { found: 99, .. })));
}

#[test]
fn a_damaged_gallery_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    {
        let gallery = SqliteGallery::open(&path).unwrap();
        gallery.create_subject(DEFAULT, "Ada", json!({})).unwrap();
        for i in 0..200 {
            gallery.add_face(DEFAULT, &name("Ada"), face(i % 8, 0.01 * i as f32, i as u32)).unwrap();
        }
    }
    // Overwrite the middle of the file (past the header) with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    let end = (middle + 4096).min(bytes.len());
    bytes[middle..end].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    let outcome = SqliteGallery::open(&path).and_then(|g| g.check_integrity());
    let error = outcome.unwrap_err();
    assert!(matches!(error, GalleryError::Corrupt { .. } | GalleryError::Storage(_)), "{error}");

    // A truncated header is not a gallery.
    std::fs::write(&path, &bytes[..50]).unwrap();
    assert!(SqliteGallery::open(&path).is_err());
}

#[test]
fn auto_picks_the_index_by_collection_size_on_open_and_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let auto = || SqliteGallery::builder().auto_compressed_from(3).open(&path).unwrap();
    let gallery = auto();
    for axis in 0..2 {
        let subject = format!("s{axis}");
        gallery.create_subject(DEFAULT, &subject, json!({})).unwrap();
        gallery.add_face(DEFAULT, &name(&subject), face(axis, 0.0, axis as u32)).unwrap();
    }
    assert_eq!(gallery.index_kind(DEFAULT).unwrap(), IndexKind::Exact, "small");
    gallery.create_subject(DEFAULT, "s2", json!({})).unwrap();
    gallery.add_face(DEFAULT, &name("s2"), face(2, 0.0, 2)).unwrap();
    assert_eq!(gallery.index_kind(DEFAULT).unwrap(), IndexKind::Compressed, "grown past the crossover");
    assert_eq!(top1(&gallery, 2).as_deref(), Some("s2"));
    drop(gallery);
    let gallery = auto();
    assert_eq!(gallery.index_kind(DEFAULT).unwrap(), IndexKind::Compressed, "large when opened");
    assert_eq!(top1(&gallery, 2).as_deref(), Some("s2"));
    let exact = SqliteGallery::builder().index(IndexKind::Exact).auto_compressed_from(3).open(&path).unwrap();
    assert_eq!(exact.index_kind(DEFAULT).unwrap(), IndexKind::Exact, "a chosen kind is kept");
}

#[test]
fn the_change_log_is_cut_and_a_follower_behind_the_cut_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let writer = SqliteGallery::builder().change_log_keep(10).open(&path).unwrap();
    let follower = SqliteGallery::builder().change_log_keep(10).open(&path).unwrap();
    writer.create_subject(DEFAULT, "first", json!({})).unwrap();
    writer.add_face(DEFAULT, &name("first"), face(0, 0.0, 0)).unwrap();
    assert_eq!(top1(&follower, 0).as_deref(), Some("first"));
    // 40 more faces while the follower does not look: their log entries are cut down to 10.
    for i in 1..=40 {
        writer.create_subject(DEFAULT, &format!("s{i}"), json!({})).unwrap();
        writer.add_face(DEFAULT, &name(&format!("s{i}")), face(i, 0.0, i as u32)).unwrap();
    }
    writer.delete_subject(DEFAULT, &name("first")).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    let logged: i64 = db.query_row("SELECT count(*) FROM changes", [], |r| r.get(0)).unwrap();
    assert!(logged <= 10, "{logged} entries kept");
    // The follower missed entries that are gone: it reloads instead of serving a stale index.
    let found = follower.search(DEFAULT, &model(), &vector(0, 0.0), 100).unwrap();
    let mut names: Vec<String> = found.into_iter().map(|c| c.subject).collect();
    names.sort();
    let mut expected: Vec<String> = (1..=40).map(|i| format!("s{i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// Regression: restore an older gallery file but keep its index folder, and the log reuses the
/// positions the saved index was made at; once it caught up, the stale graph was trusted and a
/// search named the wrong subject with a high score.
#[test]
fn a_gallery_restored_from_a_backup_rebuilds_its_stale_saved_index() {
    for kind in [IndexKind::Hnsw, IndexKind::Compressed] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let open = |kind| SqliteGallery::builder().index(kind).open(&path).unwrap();
        let enrol = |gallery: &SqliteGallery, subject: &str, axis: usize| {
            gallery.create_subject(DEFAULT, subject, json!({})).unwrap();
            gallery.add_face(DEFAULT, &name(subject), face(axis, 0.0, axis as u32)).unwrap();
        };
        {
            let gallery = open(kind);
            enrol(&gallery, "s0", 0);
            enrol(&gallery, "s1", 1);
        }
        let backup = dir.path().join("backup.db");
        std::fs::copy(&path, &backup).unwrap();
        {
            let gallery = open(kind);
            enrol(&gallery, "s2", 2);
            enrol(&gallery, "s3", 3);
            gallery.save_index().unwrap();
        }
        // The backup comes back; the index folder stays.
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.path().join(format!("g.db{suffix}")));
        }
        std::fs::copy(&backup, &path).unwrap();
        {
            // As many changes as the saved index had seen, so the log reaches its position.
            let gallery = open(IndexKind::Exact);
            enrol(&gallery, "x2", 6);
            enrol(&gallery, "x3", 7);
        }
        let gallery = open(kind);
        let found = gallery.search(DEFAULT, &model(), &vector(2, 0.0), 1).unwrap();
        assert!(
            found.first().is_none_or(|c| c.similarity < 0.5),
            "{kind:?}: a face of the restored history matched a vector it never held: {found:?}"
        );
        assert_eq!(top1(&gallery, 6).as_deref(), Some("x2"), "{kind:?}");
        assert_eq!(top1(&gallery, 7).as_deref(), Some("x3"), "{kind:?}");
        assert_eq!(gallery.index_kind(DEFAULT).unwrap(), kind);
    }
}

/// Regression: verification checked the model against this process's index state without
/// bringing it up to the log first, so a server opened on an empty gallery answered "no
/// template" (not the same person) for a subject another process had enrolled since.
#[test]
fn verification_sees_a_subject_another_instance_enrolled_after_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let server = SqliteGallery::open(&path).unwrap();
    let other = SqliteGallery::open(&path).unwrap();
    other.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    other.add_face(DEFAULT, &name("Ada"), face(2, 0.0, 1)).unwrap();
    let (subject, best) = server.subject_similarity(DEFAULT, &name("Ada"), &model(), &vector(2, 0.0)).unwrap();
    assert_eq!(subject.name, "Ada");
    let best = best.expect("the template another instance enrolled is found");
    assert!(best.similarity > 0.99, "{best:?}");
}
