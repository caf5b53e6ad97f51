//! The conformance suite of the photo library, run unchanged on every store: what it refuses
//! (bars, two faces of one photo in a person, merging named people), what naming enrolls, what
//! forgetting a file removes, how a library moves between stores, and two writers on one store.

use faceprint_types::{BBox, ModelId};

use crate::library::{FileStamp, LIBRARY_COLLECTION, Library, NewLibraryFace, NewPhoto, Page};
use crate::{DEFAULT_COLLECTION, Gallery, GalleryError, NewFace, SubjectKey};

/// A store with a library: what the checks take.
pub trait LibraryStore: Gallery + Library {}
impl<T: Gallery + Library> LibraryStore for T {}

const DIMS: usize = 8;

pub fn unit(axis: usize, wobble: f32) -> Vec<f32> {
    let mut v = [0.0; DIMS];
    v[axis] = 1.0;
    v[(axis + 1) % DIMS] = wobble;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

pub fn face(vector: Vec<f32>, quality: f32) -> NewLibraryFace {
    NewLibraryFace {
        face: NewFace {
            model: ModelId("test".into()),
            embedding: vector,
            detection_score: 0.9,
            bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
            image_sha256: String::new(),
            crop_png: Some(vec![1, 2, 3]),
        },
        landmarks: [1.0; 10],
        quality,
    }
}

pub fn photo(path: &str, content: &str, faces: Vec<NewLibraryFace>) -> NewPhoto {
    use std::fmt::Write;
    let sha256 = content.bytes().cycle().take(32).fold(String::new(), |mut s, b| {
        write!(s, "{b:02x}").unwrap();
        s
    });
    NewPhoto {
        path: path.into(),
        stamp: FileStamp { size: 1, modified_ns: 2 },
        sha256,
        width: 100,
        height: 100,
        rotation: 0,
        faces,
    }
}

/// People kept apart as told, named people enrolled, forgotten files taking their faces.
pub fn keeps_people_apart_as_told_and_enrolls_named_people(store: &dyn LibraryStore) {
    // Photo 1: two faces (persons A and B); photos 2 and 3: A; photo 4: B.
    let p1 = store.add_photo(photo("/p/1.jpg", "one", vec![face(unit(0, 0.0), 0.9), face(unit(4, 0.0), 0.8)])).unwrap();
    let p2 = store.add_photo(photo("/p/2.jpg", "two", vec![face(unit(0, 0.1), 0.7)])).unwrap();
    store.add_photo(photo("/p/3.jpg", "three", vec![face(unit(0, 0.2), 0.6)])).unwrap();
    store.add_photo(photo("/p/4.jpg", "four", vec![face(unit(4, 0.1), 0.5)])).unwrap();
    // The same content at another path is the same photo.
    assert_eq!(store.add_photo(photo("/p/copy.jpg", "two", vec![])).unwrap(), p2);
    let status = store.library_status().unwrap();
    assert_eq!((status.photos, status.files, status.faces, status.unassigned_faces), (4, 5, 5, 5));
    assert_eq!(store.photo_by_sha256(&photo("", "one", vec![]).sha256).unwrap(), Some(p1));
    // Library faces are searchable gallery faces, one subject per photo.
    let best = store.search(LIBRARY_COLLECTION, &ModelId("test".into()), &unit(4, 0.0), 1).unwrap();
    assert_eq!(store.library_face(best[0].face_id).unwrap().photo, p1);

    let faces = store.library_faces().unwrap();
    let ids: Vec<i64> = faces.iter().map(|f| f.face_id).collect();
    let (a1, b1, a2, a3, b4) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let people = store.apply_grouping(&[], &[vec![a1, a2, a3], vec![b1, b4]]).unwrap();
    let (a, b) = (people[0], people[1]);
    assert_eq!(store.person(a).unwrap().faces, 3);
    assert_eq!(store.person(a).unwrap().representative_face, Some(a1), "the best-quality face");
    assert!(matches!(store.apply_grouping(&[(a1, b)], &[]), Err(GalleryError::Invalid(_))), "already placed");
    assert!(matches!(store.merge_people(a, b), Err(GalleryError::Invalid(_))), "A and B share photo 1");
    assert!(matches!(store.person(999), Err(GalleryError::UnknownPerson(999))));

    // Naming enrolls the person as a gallery subject with its faces as templates.
    store.name_person(a, "Ada", false).unwrap();
    let subject = store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Ada")).unwrap();
    assert_eq!(subject.faces, 3);
    let found = store.search(DEFAULT_COLLECTION, &ModelId("test".into()), &unit(0, 0.05), 1).unwrap();
    assert_eq!(found[0].subject, "Ada");
    assert!(matches!(store.name_person(b, "Ada", false), Err(GalleryError::Invalid(_))), "one name, one person");

    // A removed face leaves the subject's templates and can never rejoin.
    store.remove_face(a, a3).unwrap();
    assert_eq!(store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Ada")).unwrap().faces, 2);
    assert_eq!(store.barred().unwrap(), vec![(a3, a)]);
    assert!(matches!(store.apply_grouping(&[(a3, a)], &[]), Err(GalleryError::Invalid(_))));

    // A split moves faces to a new person, in one transaction, and keeps them from rejoining
    // the old one by grouping; merging the part back undoes it.
    let split = store.split_person(a, &[vec![a2]]).unwrap().remove(0);
    assert_eq!((store.person(a).unwrap().faces, split.faces), (1, 1));
    assert!(store.barred().unwrap().contains(&(a2, a)));
    assert!(matches!(store.split_person(a, &[vec![a1]]), Err(GalleryError::Invalid(_))), "a split leaves some");
    assert_eq!(store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Ada")).unwrap().faces, 1);
    assert_eq!(store.merge_people(a, split.id).unwrap().faces, 2, "merging a split's part back undoes it");
    assert!(!store.barred().unwrap().contains(&(a2, a)));
    assert_eq!(store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Ada")).unwrap().faces, 2);
    let split = store.split_person(a, &[vec![a2]]).unwrap().remove(0);

    // Merging an unnamed person into a named one moves the faces and their templates.
    let c = store.apply_grouping(&[], &[vec![a3]]).unwrap()[0];
    let merged = store.merge_people(a, c);
    assert!(matches!(merged, Err(GalleryError::Invalid(_))), "a3 was removed from A: it cannot come back");
    let merged = store.merge_people(split.id, c).unwrap();
    assert_eq!(merged.faces, 2);

    // A file that is gone takes its photo's faces (and their templates) with it.
    assert_eq!(store.forget_files(&["/p/1.jpg".into()]).unwrap(), 1);
    let status = store.library_status().unwrap();
    assert_eq!((status.photos, status.faces), (3, 3));
    assert_eq!(store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Ada")).unwrap().faces, 0);
    assert_eq!(store.forget_files(&["/p/2.jpg".into()]).unwrap(), 0, "photo 2 is still at /p/copy.jpg");

    // A file whose content changed shows only its new photo: the old one, shown by no other
    // file, goes with its faces.
    assert_eq!(store.library_status().unwrap().photos, 3);
    store.add_photo(photo("/p/4.jpg", "four, edited", vec![face(unit(5, 0.0), 0.9)])).unwrap();
    let status = store.library_status().unwrap();
    assert_eq!((status.photos, status.faces, status.files), (3, 3, 3));
    assert!(store.photo_by_sha256(&photo("", "four", vec![]).sha256).unwrap().is_none());

    store.record_file_error("/p/bad.jpg", FileStamp { size: 3, modified_ns: 4 }, "corrupt").unwrap();
    assert_eq!(store.file_errors(Page::ALL).unwrap()[0].error, "corrupt");
    assert_eq!(store.known_file("/p/bad.jpg").unwrap().unwrap().photo, None);
    store.check_integrity().unwrap();
}

/// Regression: naming a library person after someone enrolled silently added the person's faces
/// to that subject's templates.
pub fn naming_after_an_enrolled_subject_needs_an_explicit_choice(store: &dyn LibraryStore) {
    let model = ModelId("test".into());
    let enrolled = NewFace { image_sha256: "e".repeat(64), ..face(unit(2, 0.0), 0.9).face };
    store.create_subject(DEFAULT_COLLECTION, "Grace", serde_json::json!({})).unwrap();
    store.add_faces(DEFAULT_COLLECTION, vec![(SubjectKey::from("Grace"), enrolled)]).unwrap();
    store.add_photo(photo("/p/1.jpg", "one", vec![face(unit(0, 0.0), 0.9)])).unwrap();
    store.add_photo(photo("/p/2.jpg", "two", vec![face(unit(0, 0.1), 0.9)])).unwrap();
    let faces: Vec<_> = store.unassigned_faces().unwrap().iter().map(|f| f.face_id).collect();
    let person = store.apply_grouping(&[], &[faces]).unwrap()[0];
    let refused = store.name_person(person, "Grace", false);
    assert!(matches!(refused, Err(GalleryError::DuplicateSubject(_))), "{refused:?}");
    assert_eq!(store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Grace")).unwrap().faces, 1, "untouched");
    assert_eq!(store.person(person).unwrap().name, None);
    store.name_person(person, "Grace", true).unwrap();
    assert_eq!(store.subject(DEFAULT_COLLECTION, &SubjectKey::from("Grace")).unwrap().faces, 3, "joined on request");
    // A person's own subject is its own: renaming to it again needs no flag.
    store.name_person(person, "Grace", false).unwrap();
    let found = store.search(DEFAULT_COLLECTION, &model, &unit(2, 0.0), 1).unwrap();
    assert_eq!(found[0].subject, "Grace");
}

/// Missing files are marked and keep their photos, faces and people; found again they are
/// whole; only `forget_files` removes them.
pub fn missing_files_keep_their_faces_until_forgotten(store: &dyn LibraryStore) {
    store.add_photo(photo("/p/1.jpg", "one", vec![face(unit(0, 0.0), 0.9)])).unwrap();
    store.add_photo(photo("/p/2.jpg", "two", vec![face(unit(0, 0.1), 0.9)])).unwrap();
    let faces: Vec<_> = store.unassigned_faces().unwrap().iter().map(|f| f.face_id).collect();
    let person = store.apply_grouping(&[], &[faces]).unwrap()[0];
    store.name_person(person, "Ada", false).unwrap();
    let gone = vec!["/p/1.jpg".to_owned(), "/p/2.jpg".to_owned()];
    assert_eq!(store.mark_missing(&gone).unwrap(), 2);
    assert_eq!(store.mark_missing(&gone).unwrap(), 0, "marked once, its first date kept");
    let status = store.library_status().unwrap();
    assert_eq!((status.photos, status.faces, status.missing_files, status.files), (2, 2, 2, 0));
    assert_eq!(store.person(person).unwrap().faces, 2);
    assert_eq!(store.missing_files(None).unwrap().len(), 2);
    assert_eq!(store.missing_files(Some(3600)).unwrap().len(), 0, "not yet an hour");
    assert_eq!(store.mark_found(&gone[..1]).unwrap(), 1);
    assert_eq!(store.library_status().unwrap().missing_files, 1);
    let missing: Vec<String> = store.missing_files(None).unwrap().into_iter().map(|m| m.path).collect();
    assert_eq!(store.forget_files(&missing).unwrap(), 1);
    assert_eq!(store.person(person).unwrap().faces, 1);
}

/// A library exported as records and imported into another store works there: same photos,
/// files, people, names, bars; a second import adds nothing.
pub fn a_library_moves_to_another_store_whole(from: &dyn LibraryStore, to: &dyn LibraryStore) {
    from.add_photo(photo("/p/1.jpg", "one", vec![face(unit(0, 0.0), 0.9), face(unit(4, 0.0), 0.8)])).unwrap();
    from.add_photo(photo("/p/2.jpg", "two", vec![face(unit(0, 0.1), 0.7)])).unwrap();
    from.add_photo(photo("/p/3.jpg", "three", vec![face(unit(0, 0.2), 0.6)])).unwrap();
    from.link_file("/p/copy.jpg", FileStamp { size: 1, modified_ns: 2 }, 2).unwrap();
    from.mark_missing(&["/p/3.jpg".to_owned()]).unwrap();
    from.record_file_error("/p/bad.jpg", FileStamp { size: 3, modified_ns: 4 }, "corrupt").unwrap();
    let faces = from.library_faces().unwrap();
    let (a1, b1, a2, a3) = (faces[0].face_id, faces[1].face_id, faces[2].face_id, faces[3].face_id);
    let people = from.apply_grouping(&[], &[vec![a1, a2, a3], vec![b1]]).unwrap();
    from.name_person(people[0], "Ada", false).unwrap();
    from.remove_face(people[0], a3).unwrap();
    let mut records = Vec::new();
    from.export_library(&mut |record| {
        records.push(record);
        Ok(())
    })
    .unwrap();

    let added: usize = records.iter().map(|r| usize::from(to.import_library(r.clone()).unwrap())).sum();
    assert_eq!(added, 3 + 2 + 1, "three photos, two people, one failed file");
    assert_eq!(from.library_status().unwrap(), to.library_status().unwrap());
    let names = |store: &dyn LibraryStore| -> Vec<(Option<String>, usize)> {
        store.people(Page::ALL).unwrap().into_iter().map(|p| (p.name, p.faces)).collect()
    };
    assert_eq!(names(from), names(to));
    assert_eq!(to.barred().unwrap().len(), 1, "the removed face stays removed");
    assert_eq!(to.subject(DEFAULT_COLLECTION, &SubjectKey::from("Ada")).unwrap().faces, 2);
    assert_eq!(
        to.known_file("/p/copy.jpg").unwrap().unwrap().photo,
        to.photo_by_sha256(&photo("", "two", vec![]).sha256).unwrap()
    );
    assert_eq!(to.missing_files(None).unwrap().len(), 1);
    // The imported library takes new photos as the old one did.
    to.add_photo(photo("/p/4.jpg", "four", vec![face(unit(4, 0.1), 0.5)])).unwrap();
    let again: usize = records.into_iter().map(|r| usize::from(to.import_library(r).unwrap())).sum();
    assert_eq!(again, 0, "imported twice, added once");
    to.check_integrity().unwrap();
}

/// Two indexing runs on one store at once (two processes, two servers): each photo and each
/// file is stored once, and what one handle wrote the other reads.
pub fn two_writers_store_each_photo_once(first: &dyn LibraryStore, second: &dyn LibraryStore) {
    let photos: Vec<NewPhoto> = (0..12)
        .map(|i| photo(&format!("/p/{i}.jpg"), &format!("content {i}"), vec![face(unit(i % DIMS, 0.1), 0.9)]))
        .collect();
    std::thread::scope(|scope| {
        for store in [first, second] {
            let photos = photos.clone();
            scope.spawn(move || {
                for photo in photos {
                    if store.known_file(&photo.path).unwrap().is_some_and(|known| known.stamp == photo.stamp) {
                        continue;
                    }
                    match store.photo_by_sha256(&photo.sha256).unwrap() {
                        Some(id) => store.link_file(&photo.path, photo.stamp, id).unwrap(),
                        None => drop(store.add_photo(photo).unwrap()),
                    }
                }
            });
        }
    });
    for store in [first, second] {
        let status = store.library_status().unwrap();
        assert_eq!((status.photos, status.files, status.faces), (12, 12, 12), "{status:?}");
        // The search index follows the log (within milliseconds in PostgreSQL, by NOTIFY).
        super::eventually("every library face indexed", || store.collection_faces(LIBRARY_COLLECTION).unwrap() == 12);
    }
    let faces: Vec<_> = first.unassigned_faces().unwrap().iter().map(|f| f.face_id).collect();
    let person = first.apply_grouping(&[], &[faces[..2].to_vec()]).unwrap()[0];
    first.name_person(person, "Ada", false).unwrap();
    assert_eq!(second.person(person).unwrap().name.as_deref(), Some("Ada"));
    super::eventually("the named person identified", || {
        let found = second.search(DEFAULT_COLLECTION, &ModelId("test".into()), &unit(0, 0.1), 1).unwrap();
        found.first().is_some_and(|c| c.subject == "Ada")
    });
}

/// Instantiates every library check as a `#[test]`. `$make` returns `(first, second, guard)`:
/// two handles on one fresh store, as `Box<dyn LibraryStore>`.
#[macro_export]
macro_rules! library_conformance_tests {
    ($make:expr) => {
        $crate::library_conformance_tests!(@one $make;
            keeps_people_apart_as_told_and_enrolls_named_people
            naming_after_an_enrolled_subject_needs_an_explicit_choice
            missing_files_keep_their_faces_until_forgotten);
        #[test]
        fn a_library_moves_to_another_store_whole() {
            let (from, _, _from_guard) = ($make)();
            let (to, _, _to_guard) = ($make)();
            $crate::testing::library::a_library_moves_to_another_store_whole(&*from, &*to);
        }
        #[test]
        fn two_writers_store_each_photo_once() {
            let (first, second, _guard) = ($make)();
            $crate::testing::library::two_writers_store_each_photo_once(&*first, &*second);
        }
    };
    (@one $make:expr; $($check:ident)*) => {
        $(
            #[test]
            fn $check() {
                let (store, _, _guard) = ($make)();
                $crate::testing::library::$check(&*store);
            }
        )*
    };
}
