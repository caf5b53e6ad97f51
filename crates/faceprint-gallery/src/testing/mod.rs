//! The conformance suite every [`Gallery`] backend runs unchanged.
//!
//! A backend's test file instantiates it with a constructor of fresh, empty galleries:
//!
//! ```ignore
//! faceprint_gallery::conformance_tests!(|| {
//!     let dir = tempfile::tempdir().unwrap();
//!     let gallery = SqliteGallery::open(dir.path().join("g.db")).unwrap();
//!     (Box::new(gallery) as Box<dyn Gallery>, dir)
//! });
//! ```
//!
//! Each check takes a fresh gallery; vectors are small (8-d) and deterministic.

pub mod library;
#[cfg(feature = "postgres")]
pub mod postgres;

use faceprint_types::{BBox, ModelId};
use serde_json::json;

use crate::{DEFAULT_COLLECTION as DEFAULT, Gallery, GalleryError, NewFace, SubjectKey};

pub const DIMS: usize = 8;

pub fn model() -> ModelId {
    ModelId("conformance-model".into())
}

/// A unit vector pointing mostly along axis `axis`, tilted by `tilt` towards the next axis.
pub fn vector(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = [0.0; DIMS];
    v[axis % DIMS] = 1.0;
    v[(axis + 1) % DIMS] = tilt;
    let n = (1.0 + tilt * tilt).sqrt();
    v.iter().map(|x| x / n).collect()
}

/// A face with a vector and a distinct fake image hash.
pub fn face(axis: usize, tilt: f32, image: u32) -> NewFace {
    NewFace {
        model: model(),
        embedding: vector(axis, tilt),
        detection_score: 0.9,
        bbox: BBox::new(1.0, 2.0, 30.0, 40.0),
        image_sha256: format!("{image:064x}"),
        crop_png: Some(vec![0x89, b'P', b'N', b'G', image as u8]),
    }
}

fn name(key: &str) -> SubjectKey {
    SubjectKey::Name(key.into())
}

/// The names of the top `k` subjects for a query along `axis`.
fn top(gallery: &dyn Gallery, collection: &str, axis: usize, k: usize) -> Vec<String> {
    gallery.search(collection, &model(), &vector(axis, 0.0), k).unwrap().into_iter().map(|c| c.subject).collect()
}

pub fn collections(gallery: &dyn Gallery) {
    assert_eq!(gallery.collections().unwrap(), vec![DEFAULT.to_owned()]);
    gallery.create_collection("staff").unwrap();
    assert!(matches!(gallery.create_collection("staff"), Err(GalleryError::DuplicateCollection(_))));
    assert!(matches!(gallery.create_collection(" "), Err(GalleryError::Invalid(_))));
    assert_eq!(gallery.collections().unwrap(), vec![DEFAULT.to_owned(), "staff".to_owned()]);
    assert!(matches!(gallery.subjects("nope"), Err(GalleryError::UnknownCollection(_))));
}

pub fn subjects(gallery: &dyn Gallery) {
    let ada = gallery.create_subject(DEFAULT, "Ada Lovelace", json!({"team": "engines"})).unwrap();
    assert_eq!((ada.name.as_str(), ada.faces), ("Ada Lovelace", 0));
    assert_eq!(gallery.subject(DEFAULT, &SubjectKey::Id(ada.id)).unwrap(), ada);
    assert_eq!(gallery.subject(DEFAULT, &name("Ada Lovelace")).unwrap().metadata, json!({"team": "engines"}));
    assert!(matches!(
        gallery.create_subject(DEFAULT, "Ada Lovelace", json!({})),
        Err(GalleryError::DuplicateSubject(_))
    ));
    // Names are unique within a collection only.
    gallery.create_collection("other").unwrap();
    gallery.create_subject("other", "Ada Lovelace", json!({})).unwrap();
    gallery.create_subject(DEFAULT, "Charles Babbage", json!({})).unwrap();
    let names: Vec<String> = gallery.subjects(DEFAULT).unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["Ada Lovelace", "Charles Babbage"]);

    let renamed = gallery.rename_subject(DEFAULT, &name("Ada Lovelace"), "Ada King").unwrap();
    assert_eq!((renamed.id, renamed.name.as_str()), (ada.id, "Ada King"));
    assert!(matches!(
        gallery.rename_subject(DEFAULT, &name("Ada King"), "Charles Babbage"),
        Err(GalleryError::DuplicateSubject(_))
    ));
    let updated = gallery.set_metadata(DEFAULT, &name("Ada King"), json!({"born": 1815})).unwrap();
    assert_eq!(updated.metadata, json!({"born": 1815}));
    assert!(matches!(gallery.set_metadata(DEFAULT, &name("Ada King"), json!([1])), Err(GalleryError::Invalid(_))));
    assert!(matches!(gallery.subject(DEFAULT, &name("Nobody")), Err(GalleryError::UnknownSubject(_))));
    for bad in ["", " padded ", "#12", "line\nbreak"] {
        assert!(matches!(gallery.create_subject(DEFAULT, bad, json!({})), Err(GalleryError::Invalid(_))), "{bad:?}");
    }
}

/// Metadata is bounded; long lists come in pages by id; readiness is answered.
pub fn metadata_limits_and_pages(gallery: &dyn Gallery) {
    gallery.ready().unwrap();
    let big = json!({"notes": "x".repeat(crate::MAX_METADATA_BYTES)});
    assert!(matches!(gallery.create_subject(DEFAULT, "Big", big.clone()), Err(GalleryError::Invalid(_))));
    let small = gallery.create_subject(DEFAULT, "Small", json!({})).unwrap();
    assert!(matches!(gallery.set_metadata(DEFAULT, &SubjectKey::Id(small.id), big), Err(GalleryError::Invalid(_))));
    let names: Vec<(String, serde_json::Value)> = (0..25).map(|i| (format!("person {i:02}"), json!({}))).collect();
    gallery.create_subjects(DEFAULT, names).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = gallery.subjects_page(DEFAULT, after, 10).unwrap();
        assert!(page.len() <= 10);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.into_iter().map(|s| s.id));
    }
    let mut all: Vec<_> = gallery.subjects(DEFAULT).unwrap().into_iter().map(|s| s.id).collect();
    all.sort();
    assert_eq!(seen, all, "the pages cover every subject once, in id order");
    assert!(matches!(gallery.subjects_page("nope", None, 10), Err(GalleryError::UnknownCollection(_))));
}

pub fn faces_and_duplicates(gallery: &dyn Gallery) {
    assert_eq!(gallery.model().unwrap(), None);
    let ada = gallery.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    let bob = gallery.create_subject(DEFAULT, "Bob", json!({})).unwrap();
    let first = gallery.add_face(DEFAULT, &name("Ada"), face(0, 0.1, 1)).unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.subject_id, ada.id);
    assert_eq!(gallery.model().unwrap(), Some((model(), DIMS)));
    // The same image again for the same subject is a no-op that names the existing face.
    let again = gallery.add_face(DEFAULT, &SubjectKey::Id(ada.id), face(0, 0.1, 1)).unwrap();
    assert_eq!((again.face_id, again.duplicate), (first.face_id, true));
    // The same image for another subject is a new face.
    let other = gallery.add_face(DEFAULT, &name("Bob"), face(0, 0.1, 1)).unwrap();
    assert!(!other.duplicate && other.face_id != first.face_id && other.subject_id == bob.id);

    let stored = gallery.faces(DEFAULT, &name("Ada")).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].embedding, vector(0, 0.1));
    assert_eq!(stored[0].image_sha256, format!("{:064x}", 1));
    assert!(stored[0].has_crop);
    assert_eq!(gallery.subject(DEFAULT, &name("Ada")).unwrap().faces, 1);

    assert!(matches!(
        gallery.add_face(DEFAULT, &name("Nobody"), face(1, 0.0, 2)),
        Err(GalleryError::UnknownSubject(_))
    ));
    let mut unnormalised = face(1, 0.0, 3);
    unnormalised.embedding[1] = 3.0;
    assert!(matches!(gallery.add_face(DEFAULT, &name("Ada"), unnormalised), Err(GalleryError::Invalid(_))));
    let mut bad_hash = face(1, 0.0, 4);
    bad_hash.image_sha256 = "xyz".into();
    assert!(matches!(gallery.add_face(DEFAULT, &name("Ada"), bad_hash), Err(GalleryError::Invalid(_))));
    assert_eq!(gallery.stats().unwrap().faces, 2);
    gallery.check_integrity().unwrap();
}

pub fn one_model_per_gallery(gallery: &dyn Gallery) {
    gallery.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    gallery.add_face(DEFAULT, &name("Ada"), face(0, 0.0, 1)).unwrap();
    let mut foreign = face(0, 0.0, 2);
    foreign.model = ModelId("another-model".into());
    assert!(matches!(gallery.add_face(DEFAULT, &name("Ada"), foreign), Err(GalleryError::ModelMismatch { .. })));
    let other = ModelId("another-model".into());
    assert!(matches!(gallery.search(DEFAULT, &other, &vector(0, 0.0), 1), Err(GalleryError::ModelMismatch { .. })));
    assert!(matches!(
        gallery.subject_similarity(DEFAULT, &name("Ada"), &other, &vector(0, 0.0)),
        Err(GalleryError::ModelMismatch { .. })
    ));
    assert!(matches!(gallery.search(DEFAULT, &model(), &[1.0, 0.0], 1), Err(GalleryError::DimensionMismatch { .. })));
    assert_eq!(gallery.faces(DEFAULT, &name("Ada")).unwrap().len(), 1, "a refused face changes nothing");
}

pub fn search_ranks_subjects_by_best_template(gallery: &dyn Gallery) {
    assert!(gallery.search(DEFAULT, &model(), &vector(0, 0.0), 3).unwrap().is_empty(), "empty gallery");
    for (subject, axis) in [("A", 0), ("B", 1), ("C", 2), ("D", 3)] {
        gallery.create_subject(DEFAULT, subject, json!({})).unwrap();
        gallery.add_face(DEFAULT, &name(subject), face(axis, 0.0, axis as u32 * 10)).unwrap();
    }
    // A has many templates near axis 0; they must not crowd other subjects out of the top k.
    for i in 1..40 {
        gallery.add_face(DEFAULT, &name("A"), face(0, 0.01 * i as f32, 1000 + i)).unwrap();
    }
    // B's second template is the closest face to an axis-0 query after A's.
    gallery.add_face(DEFAULT, &name("B"), face(0, 1.5, 2000)).unwrap();
    let candidates = gallery.search(DEFAULT, &model(), &vector(0, 0.0), 3).unwrap();
    let names: Vec<&str> = candidates.iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(names[..2], ["A", "B"]);
    assert_eq!(candidates.len(), 3);
    assert!((candidates[0].similarity - 1.0).abs() < 1e-4, "A's best template is the query itself");
    let expected_b = 1.0 / (1.0f32 + 1.5 * 1.5).sqrt();
    assert!((candidates[1].similarity - expected_b).abs() < 1e-4, "B scores with its best template");
    assert!(candidates.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    assert_eq!(top(gallery, DEFAULT, 3, 10).len(), 4, "k larger than the gallery gives every subject");
    assert!(gallery.search(DEFAULT, &model(), &vector(0, 0.0), 0).unwrap().is_empty());

    // Collections do not see each other.
    gallery.create_collection("other").unwrap();
    assert!(top(gallery, "other", 0, 5).is_empty());
    gallery.create_subject("other", "Z", json!({})).unwrap();
    gallery.add_face("other", &name("Z"), face(0, 0.0, 9999)).unwrap();
    assert_eq!(top(gallery, "other", 0, 5), vec!["Z"]);
    assert!(!top(gallery, DEFAULT, 0, 10).contains(&"Z".to_owned()));

    let queries: Vec<Vec<f32>> = (0..6).map(|a| vector(a, 0.3)).collect();
    let batch = gallery.search_batch(DEFAULT, &model(), &queries, 2).unwrap();
    for (query, answer) in queries.iter().zip(batch) {
        assert_eq!(answer, gallery.search(DEFAULT, &model(), query, 2).unwrap());
    }
}

pub fn writes_are_seen_by_the_next_search(gallery: &dyn Gallery) {
    for (subject, axis) in [("A", 0), ("B", 1), ("C", 2)] {
        gallery.create_subject(DEFAULT, subject, json!({})).unwrap();
        gallery.add_face(DEFAULT, &name(subject), face(axis, 0.0, axis as u32)).unwrap();
    }
    assert_eq!(top(gallery, DEFAULT, 0, 1), vec!["A"]);
    assert_eq!(gallery.collection_faces(DEFAULT).unwrap(), 3);
    assert_eq!(gallery.collection_faces("no such collection").unwrap(), 0);
    let a_face = gallery.faces(DEFAULT, &name("A")).unwrap()[0].id;
    gallery.delete_face(DEFAULT, a_face).unwrap();
    assert_ne!(top(gallery, DEFAULT, 0, 1), vec!["A"]);
    assert_eq!(gallery.collection_faces(DEFAULT).unwrap(), 2, "the size identification thresholds for");
    assert!(matches!(gallery.delete_face(DEFAULT, a_face), Err(GalleryError::UnknownFace(_))));
    // A face id from another collection is unknown here.
    gallery.create_collection("other").unwrap();
    assert!(matches!(
        gallery.delete_face("other", gallery.faces(DEFAULT, &name("B")).unwrap()[0].id),
        Err(GalleryError::UnknownFace(_))
    ));

    gallery.add_face(DEFAULT, &name("A"), face(0, 0.0, 77)).unwrap();
    assert_eq!(top(gallery, DEFAULT, 0, 1), vec!["A"]);
    assert_eq!(gallery.delete_subject(DEFAULT, &name("A")).unwrap(), 1);
    assert!(!top(gallery, DEFAULT, 0, 5).contains(&"A".to_owned()));
    assert!(matches!(gallery.subject(DEFAULT, &name("A")), Err(GalleryError::UnknownSubject(_))));

    // Merging moves faces (once per image) and removes the source subject.
    gallery.add_face(DEFAULT, &name("C"), face(1, 0.0, 1)).unwrap(); // B's image, now also C's
    let merged = gallery.merge_subjects(DEFAULT, &name("C"), &name("B")).unwrap();
    assert_eq!((merged.name.as_str(), merged.faces), ("B", 2));
    assert_eq!(top(gallery, DEFAULT, 2, 5), vec!["B"]);
    assert!(matches!(gallery.merge_subjects(DEFAULT, &name("B"), &name("B")), Err(GalleryError::Invalid(_))));
    gallery.check_integrity().unwrap();
}

pub fn verification_uses_the_best_template(gallery: &dyn Gallery) {
    gallery.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    let (_, none) = gallery.subject_similarity(DEFAULT, &name("Ada"), &model(), &vector(0, 0.0)).unwrap();
    assert!(none.is_none(), "a subject without faces has no score");
    gallery.add_face(DEFAULT, &name("Ada"), face(0, 2.0, 1)).unwrap();
    let best = gallery.add_face(DEFAULT, &name("Ada"), face(0, 0.2, 2)).unwrap();
    let (subject, score) = gallery.subject_similarity(DEFAULT, &name("Ada"), &model(), &vector(0, 0.0)).unwrap();
    let score = score.unwrap();
    assert_eq!((subject.name.as_str(), score.face_id), ("Ada", best.face_id));
    assert!((score.similarity - 1.0 / (1.0f32 + 0.04).sqrt()).abs() < 1e-5);
    assert!(matches!(
        gallery.subject_similarity(DEFAULT, &name("Nobody"), &model(), &vector(0, 0.0)),
        Err(GalleryError::UnknownSubject(_))
    ));
}

pub fn bulk_adds_are_all_or_nothing(gallery: &dyn Gallery) {
    let made = gallery.create_subjects(DEFAULT, vec![("X".into(), json!({})), ("Y".into(), json!({"n": 2}))]).unwrap();
    assert_eq!(made.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["X", "Y"]);
    assert_eq!(gallery.subject(DEFAULT, &name("Y")).unwrap(), made[1]);
    let clash = gallery.create_subjects(DEFAULT, vec![("Z".into(), json!({})), ("X".into(), json!({}))]);
    assert!(matches!(clash, Err(GalleryError::DuplicateSubject(_))));
    assert!(matches!(gallery.subject(DEFAULT, &name("Z")), Err(GalleryError::UnknownSubject(_))), "all or nothing");
    gallery.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    let added =
        gallery.add_faces(DEFAULT, vec![(name("Ada"), face(0, 0.0, 1)), (name("Ada"), face(1, 0.0, 2))]).unwrap();
    assert_eq!(added.len(), 2);
    let refused = gallery.add_faces(DEFAULT, vec![(name("Ada"), face(2, 0.0, 3)), (name("Nobody"), face(3, 0.0, 4))]);
    assert!(matches!(refused, Err(GalleryError::UnknownSubject(_))));
    assert_eq!(gallery.stats().unwrap().faces, 2, "the failed batch added nothing");
    assert_eq!(top(gallery, DEFAULT, 2, 1), vec!["Ada"]);
    let best = gallery.search(DEFAULT, &model(), &vector(2, 0.0), 1).unwrap();
    assert!(best[0].similarity < 0.5, "the refused face is not searchable");
}

pub fn reembedding_moves_the_whole_gallery(gallery: &dyn Gallery) {
    for (subject, axis) in [("A", 0), ("B", 1)] {
        gallery.create_subject(DEFAULT, subject, json!({})).unwrap();
        gallery.add_face(DEFAULT, &name(subject), face(axis, 0.0, axis as u32)).unwrap();
    }
    let mut seen = Vec::new();
    gallery
        .for_each_face(&mut |full| {
            assert!(full.crop_png.is_some());
            seen.push((full.face.id, full.subject.name.clone(), full.collection.clone()));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 2);
    let new_model = ModelId("new-model".into());
    // Incomplete re-embedding is refused and changes nothing.
    assert!(gallery.replace_model(&new_model, vec![(seen[0].0, vec![1.0, 0.0, 0.0])]).is_err());
    assert_eq!(gallery.model().unwrap(), Some((model(), DIMS)));
    // The new model has other dimensions, and swaps the subjects' directions.
    let swapped = |id| if id == seen[0].0 { vec![0.0, 1.0, 0.0] } else { vec![1.0, 0.0, 0.0] };
    gallery.replace_model(&new_model, seen.iter().map(|s| (s.0, swapped(s.0))).collect()).unwrap();
    assert_eq!(gallery.model().unwrap(), Some((new_model.clone(), 3)));
    assert!(matches!(gallery.search(DEFAULT, &model(), &vector(0, 0.0), 1), Err(GalleryError::ModelMismatch { .. })));
    let best = gallery.search(DEFAULT, &new_model, &[1.0, 0.0, 0.0], 1).unwrap();
    assert_eq!(best[0].subject, "B");
}

pub fn concurrent_searches_during_writes(gallery: &dyn Gallery) {
    gallery.create_subject(DEFAULT, "seed", json!({})).unwrap();
    gallery.add_face(DEFAULT, &name("seed"), face(7, 0.0, 1)).unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..40u32 {
                let subject = format!("s{i}");
                gallery.create_subject(DEFAULT, &subject, json!({})).unwrap();
                gallery.add_face(DEFAULT, &name(&subject), face(i as usize % DIMS, 0.5, 100 + i)).unwrap();
            }
        });
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..200 {
                    let found = gallery.search(DEFAULT, &model(), &vector(7, 0.0), 1).unwrap();
                    assert_eq!(found.len(), 1);
                }
            });
        }
        writer.join().unwrap();
    });
    assert_eq!(gallery.stats().unwrap().faces, 41);
    assert_eq!(top(gallery, DEFAULT, 0, 100).len(), 41);
}

/// Holds `check` within a few seconds: what another handle wrote reaches this handle's indexes
/// at once in SQLite (every search reads the log's head) and within milliseconds in PostgreSQL
/// (a follower hears of a commit by NOTIFY). Verification reads the store itself and needs no
/// wait, nor do reads of rows.
pub(crate) fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "not seen through the other handle: {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Two handles on one store (two processes, or two servers on one database): `writer` opened
/// the store while it was empty, and so did `reader`, which has searched it already. Whatever
/// `writer` does, `reader` answers from the store, not from what it last saw.
pub fn a_handle_opened_while_empty_verifies_what_another_enrolled(writer: &dyn Gallery, reader: &dyn Gallery) {
    assert!(top(reader, DEFAULT, 0, 5).is_empty());
    assert_eq!(reader.collection_faces(DEFAULT).unwrap(), 0);
    writer.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    writer.add_face(DEFAULT, &name("Ada"), face(0, 0.0, 1)).unwrap();
    // At once, on every store: a verification is answered from the store's own rows.
    let (subject, best) = reader.subject_similarity(DEFAULT, &name("Ada"), &model(), &vector(0, 0.0)).unwrap();
    assert_eq!(subject.faces, 1);
    let best = best.expect("the other handle's template is found, not 'no template'");
    assert!(best.similarity > 0.99, "{best:?}");
    eventually("the enrolled face", || reader.collection_faces(DEFAULT).unwrap() == 1);
    eventually("Ada found", || top(reader, DEFAULT, 0, 5) == ["Ada"]);
}

pub fn every_write_through_one_handle_is_read_through_the_other(writer: &dyn Gallery, reader: &dyn Gallery) {
    writer.create_collection("staff").unwrap();
    assert_eq!(reader.collections().unwrap(), vec![DEFAULT.to_owned(), "staff".to_owned()]);
    for (i, who) in ["A", "B", "C"].into_iter().enumerate() {
        writer.create_subject("staff", who, json!({"n": i})).unwrap();
        writer.add_face("staff", &name(who), face(i, 0.0, i as u32)).unwrap();
    }
    eventually("B found", || top(reader, "staff", 1, 1) == ["B"]);
    assert_eq!(reader.subject("staff", &name("C")).unwrap().metadata, json!({"n": 2}));
    assert_eq!(reader.faces("staff", &name("A")).unwrap().len(), 1);

    writer.rename_subject("staff", &name("B"), "Bea").unwrap();
    eventually("the new name", || top(reader, "staff", 1, 1) == ["Bea"]);
    let extra = writer.add_face("staff", &name("Bea"), face(3, 0.0, 9)).unwrap();
    eventually("an added face", || top(reader, "staff", 3, 1) == ["Bea"]);
    writer.delete_face("staff", extra.face_id).unwrap();
    eventually("a deleted face gone", || {
        let found = reader.search("staff", &model(), &vector(3, 0.0), 5).unwrap();
        found.iter().all(|c| c.face_id != extra.face_id && c.similarity < 0.5)
    });

    writer.merge_subjects("staff", &name("C"), &name("A")).unwrap();
    eventually("C's face now answers as A", || top(reader, "staff", 2, 1) == ["A"]);
    writer.delete_subject("staff", &name("A")).unwrap();
    assert!(matches!(reader.subject("staff", &name("A")), Err(GalleryError::UnknownSubject(_))));
    eventually("a deleted subject gone", || top(reader, "staff", 0, 5) == ["Bea"]);
    eventually("its faces gone", || reader.collection_faces("staff").unwrap() == 1);
    let (_, best) = reader.subject_similarity("staff", &name("Bea"), &model(), &vector(1, 0.0)).unwrap();
    assert!(best.unwrap().similarity > 0.99);
}

pub fn reembedding_through_one_handle_moves_the_other(writer: &dyn Gallery, reader: &dyn Gallery) {
    for (i, who) in ["A", "B"].into_iter().enumerate() {
        writer.create_subject(DEFAULT, who, json!({})).unwrap();
        writer.add_face(DEFAULT, &name(who), face(i, 0.0, i as u32)).unwrap();
    }
    eventually("A found", || top(reader, DEFAULT, 0, 1) == ["A"]);
    let ids: Vec<_> = ["A", "B"].iter().map(|who| writer.faces(DEFAULT, &name(who)).unwrap()[0].id).collect();
    let new_model = ModelId("conformance-model-2".into());
    // The new model swaps the two subjects' directions.
    writer.replace_model(&new_model, vec![(ids[0], vec![0.0, 1.0, 0.0]), (ids[1], vec![1.0, 0.0, 0.0])]).unwrap();
    assert_eq!(reader.model().unwrap(), Some((new_model.clone(), 3)));
    let verified = reader.subject_similarity(DEFAULT, &name("A"), &model(), &vector(0, 0.0));
    assert!(matches!(verified, Err(GalleryError::ModelMismatch { .. })), "at once: {verified:?}");
    eventually("the old model refused", || {
        matches!(reader.search(DEFAULT, &model(), &vector(0, 0.0), 1), Err(GalleryError::ModelMismatch { .. }))
    });
    eventually("the new model's answer", || {
        reader.search(DEFAULT, &new_model, &[1.0, 0.0, 0.0], 1).unwrap()[0].subject == "B"
    });
}

/// Instantiates every two-handle check as a `#[test]`. `$make` returns `(writer, reader, guard)`:
/// two handles opened on one fresh, empty store.
#[macro_export]
macro_rules! two_handle_conformance_tests {
    ($make:expr) => {
        $crate::two_handle_conformance_tests!(@tests $make;
            a_handle_opened_while_empty_verifies_what_another_enrolled
            every_write_through_one_handle_is_read_through_the_other
            reembedding_through_one_handle_moves_the_other);
    };
    (@tests $make:expr; $($check:ident)*) => {
        $(
            #[test]
            fn $check() {
                let (writer, reader, _guard) = ($make)();
                $crate::testing::$check(&*writer, &*reader);
            }
        )*
    };
}

/// Instantiates every conformance check as a `#[test]`. `$make` is a closure returning
/// `(Box<dyn Gallery>, guard)`, the guard kept alive for the test (a temporary directory, a
/// database schema).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@tests $make;
            collections subjects metadata_limits_and_pages faces_and_duplicates one_model_per_gallery
            search_ranks_subjects_by_best_template writes_are_seen_by_the_next_search
            verification_uses_the_best_template bulk_adds_are_all_or_nothing
            reembedding_moves_the_whole_gallery concurrent_searches_during_writes);
    };
    (@tests $make:expr; $($check:ident)*) => {
        $(
            #[test]
            fn $check() {
                let (gallery, _guard) = ($make)();
                $crate::testing::$check(&*gallery);
            }
        )*
    };
}
