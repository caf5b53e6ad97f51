//! What only a database server brings: several galleries (servers) on one database, a restart
//! underneath, bad addresses and credentials, foreign and newer databases, and copying.

use std::time::{Duration, Instant};

use faceprint_gallery::testing::postgres::{ADMIN, PgServer};
use faceprint_gallery::testing::{face, model, vector};
use faceprint_gallery::{
    DEFAULT_COLLECTION as DEFAULT, Gallery, GalleryError, KeyScope, KeyStore, OpenOptions, PgGallery, SubjectKey,
    copy_gallery, open_gallery,
};
use serde_json::json;

fn name(text: &str) -> SubjectKey {
    SubjectKey::Name(text.into())
}

fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

#[test]
fn a_face_enrolled_through_one_server_is_found_by_another_within_a_second() {
    let url = PgServer::shared().new_database();
    let (a, b) = (PgGallery::open(&url).unwrap(), PgGallery::open(&url).unwrap());
    a.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    a.add_face(DEFAULT, &name("Ada"), face(0, 0.0, 1)).unwrap();
    // B loaded before or after; either way it answers from its own index.
    assert_eq!(b.search(DEFAULT, &model(), &vector(0, 0.0), 1).unwrap()[0].subject, "Ada");
    for round in 0..5u32 {
        let subject = format!("P{round}");
        a.create_subject(DEFAULT, &subject, json!({})).unwrap();
        a.add_face(DEFAULT, &name(&subject), face(round as usize + 1, 0.0, 100 + round)).unwrap();
        let start = Instant::now();
        loop {
            let best = b.search(DEFAULT, &model(), &vector(round as usize + 1, 0.0), 1).unwrap();
            if best.first().is_some_and(|c| c.subject == subject) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(1), "B did not see {subject} within 1 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Deletions and merges travel too.
    b.delete_subject(DEFAULT, &name("Ada")).unwrap();
    let start = Instant::now();
    while a.search(DEFAULT, &model(), &vector(0, 0.0), 1).unwrap().first().is_some_and(|c| c.subject == "Ada") {
        assert!(start.elapsed() < Duration::from_secs(1), "A still finds a deleted subject after 1 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(a.collection_faces(DEFAULT).unwrap(), 5);
}

#[test]
fn concurrent_enrolments_of_one_name_from_two_servers_make_one_subject() {
    let url = PgServer::shared().new_database();
    let (a, b) = (PgGallery::open(&url).unwrap(), PgGallery::open(&url).unwrap());
    for round in 0..20u32 {
        let subject = format!("Same {round}");
        let outcomes: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .enumerate()
                .map(|(i, gallery)| {
                    let subject = subject.clone();
                    scope.spawn(move || {
                        let made = gallery.create_subject(DEFAULT, &subject, json!({}));
                        let added = gallery.add_face(DEFAULT, &name(&subject), face(0, 0.1, round * 2 + i as u32));
                        (made.is_ok(), made.err(), added.unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let created = outcomes.iter().filter(|o| o.0).count();
        assert_eq!(created, 1, "exactly one server creates {subject}");
        assert!(outcomes.iter().all(|o| o.1.as_ref().is_none_or(|e| matches!(e, GalleryError::DuplicateSubject(_)))));
        assert_eq!(outcomes[0].2.subject_id, outcomes[1].2.subject_id, "both faces went to the one subject");
    }
    assert_eq!(a.subjects(DEFAULT).unwrap().len(), 20);
    assert!(a.subjects(DEFAULT).unwrap().iter().all(|s| s.faces == 2));
}

#[test]
fn a_database_restart_fails_calls_fast_and_loses_nothing_acknowledged() {
    let server = PgServer::start();
    let url = server.new_database();
    let gallery = PgGallery::builder().timeout(Duration::from_secs(3)).open(&url).unwrap();
    gallery.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    gallery.add_face(DEFAULT, &name("Ada"), face(0, 0.0, 1)).unwrap();
    server.stop();
    let start = Instant::now();
    let down = gallery.ready().unwrap_err();
    assert_eq!(down.code(), "gallery_unreachable", "{down}");
    assert!(start.elapsed() < Duration::from_secs(4), "readiness answered within the timeout");
    let start = Instant::now();
    assert!(gallery.add_face(DEFAULT, &name("Ada"), face(1, 0.0, 2)).is_err());
    assert!(gallery.search(DEFAULT, &model(), &vector(0, 0.0), 1).is_err());
    assert!(start.elapsed() < Duration::from_secs(8), "no call hangs past its timeout");
    server.start_again();
    let start = Instant::now();
    while gallery.ready().is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "ready again after the restart");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(gallery.faces(DEFAULT, &name("Ada")).unwrap().len(), 1, "the acknowledged face survived");
    gallery.add_face(DEFAULT, &name("Ada"), face(1, 0.0, 2)).unwrap();
    assert_eq!(gallery.search(DEFAULT, &model(), &vector(1, 0.0), 1).unwrap()[0].subject, "Ada");
    // Another server opened now sees both, and hears of new writes: the listener reconnected.
    let other = PgGallery::open(&url).unwrap();
    assert_eq!(other.collection_faces(DEFAULT).unwrap(), 2);
    gallery.create_subject(DEFAULT, "Bob", json!({})).unwrap();
    gallery.add_face(DEFAULT, &name("Bob"), face(3, 0.0, 3)).unwrap();
    let start = Instant::now();
    while other.search(DEFAULT, &model(), &vector(3, 0.0), 1).unwrap()[0].subject != "Bob" {
        assert!(start.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_addresses_credentials_and_databases_get_their_own_codes() {
    let server = PgServer::shared();
    let timeout = Duration::from_secs(2);
    // Nothing listens on a port we just closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = Instant::now();
    let unreachable = PgGallery::builder().timeout(timeout).open(&format!("postgres://x:y@127.0.0.1:{port}/db"));
    assert_eq!(unreachable.unwrap_err().code(), "gallery_unreachable");
    assert!(start.elapsed() < Duration::from_secs(4));

    let wrong = format!("postgres://{ADMIN}:not-the-password@127.0.0.1:{}/postgres", server.port);
    let refused = PgGallery::builder().timeout(timeout).open(&wrong).unwrap_err();
    assert_eq!(refused.code(), "gallery_auth_failed", "{refused}");
    assert!(!refused.to_string().contains("not-the-password"), "messages never show the password");

    // A role that owns its database but may not create extensions, where pgvector is not yet
    // installed: what a managed database looks like before the extension is enabled.
    let url = server.new_database();
    let database = database_of(&url);
    server.sql("postgres", "CREATE ROLE plain LOGIN PASSWORD 'plain'");
    server.sql("postgres", &format!("ALTER DATABASE {database} OWNER TO plain"));
    let plain = format!("postgres://plain:plain@127.0.0.1:{}/{database}", server.port);
    let missing = PgGallery::builder().timeout(timeout).open(&plain).unwrap_err();
    assert_eq!(missing.code(), "gallery_extension_missing", "{missing}");
    // Once an administrator enables it, the same role opens the gallery.
    server.sql(database, "CREATE EXTENSION vector");
    PgGallery::open(&plain).unwrap().ready().unwrap();

    let foreign = server.new_database();
    server.sql(database_of(&foreign), "CREATE TABLE invoices (id int)");
    assert_eq!(PgGallery::open(&foreign).unwrap_err().code(), "gallery_foreign");

    let newer = server.new_database();
    drop(PgGallery::open(&newer).unwrap());
    server.sql(database_of(&newer), "UPDATE faceprint_meta SET value = '99' WHERE key = 'schema_version'");
    let too_new = PgGallery::open(&newer).unwrap_err();
    assert!(matches!(too_new, GalleryError::TooNew { found: 99, .. }), "{too_new}");

    assert_eq!(PgGallery::open(&server.url("no_such_database")).unwrap_err().code(), "gallery_unreachable");
    // TLS asked for and not offered: refused, never plain text instead. (The pgserver build has
    // no TLS, so the handshake itself is not exercised here.)
    let plain_only = PgGallery::builder().timeout(timeout).open(&format!("{}?sslmode=require", server.new_database()));
    assert_eq!(plain_only.unwrap_err().code(), "gallery_unreachable");
}

#[test]
fn servers_starting_together_migrate_once() {
    let url = PgServer::shared().new_database();
    let opened: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| PgGallery::open(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(opened.iter().all(Result::is_ok), "{:?}", opened.iter().find(|o| o.is_err()));
    assert_eq!(opened[0].as_ref().unwrap().collections().unwrap(), vec![DEFAULT.to_owned()]);
}

#[test]
fn keys_made_on_one_server_work_and_are_revoked_on_every_server() {
    let url = PgServer::shared().new_database();
    let (a, b) = (PgGallery::open(&url).unwrap(), PgGallery::open(&url).unwrap());
    let (key, secret) = a.create_api_key(KeyScope::Write, "ci").unwrap();
    assert_eq!(b.api_key_scope(&secret).unwrap(), Some(KeyScope::Write));
    b.revoke_api_key(key.id).unwrap();
    assert_eq!(a.api_key_scope(&secret).unwrap(), None);
    assert!(a.revoke_api_key(9999).is_err());
    let stored = PgServer::shared().sql(database_of(&url), "SELECT string_agg(digest, ',') FROM api_keys");
    assert!(!stored.contains(&secret[3..]), "only the digest is stored");
}

#[test]
fn a_server_behind_the_cut_change_log_reloads() {
    let url = PgServer::shared().new_database();
    let writer = PgGallery::builder().change_log_keep(5).open(&url).unwrap();
    let reader = PgGallery::open(&url).unwrap();
    writer.create_subject(DEFAULT, "Ada", json!({})).unwrap();
    for image in 0..30 {
        writer.add_face(DEFAULT, &name("Ada"), face(image as usize, 0.05, image)).unwrap();
    }
    let kept: i64 = PgServer::shared().sql(database_of(&url), "SELECT count(*) FROM changes").parse().unwrap();
    assert!(kept <= 6, "the log is cut to its last entries ({kept})");
    let start = Instant::now();
    while reader.collection_faces(DEFAULT).unwrap() != 30 {
        assert!(start.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn copies_go_both_ways_are_rerunnable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::default();
    let file = dir.path().join("g.db");
    let sqlite = open_gallery(file.to_str().unwrap(), &options).unwrap();
    sqlite.gallery.create_collection("staff").unwrap();
    sqlite.gallery.create_subject(DEFAULT, "Ada", json!({"born": 1815})).unwrap();
    sqlite.gallery.create_subject("staff", "Ada", json!({})).unwrap();
    sqlite.gallery.create_subject(DEFAULT, "No faces yet", json!({})).unwrap();
    for image in 0..30 {
        let collection = if image % 3 == 0 { "staff" } else { DEFAULT };
        sqlite.gallery.add_face(collection, &name("Ada"), face(image as usize, 0.2, image)).unwrap();
    }
    let mut imported_without_crop = face(5, 0.5, 999);
    imported_without_crop.crop_png = None;
    sqlite.gallery.add_face(DEFAULT, &name("Ada"), imported_without_crop).unwrap();
    sqlite.keys.create_api_key(KeyScope::Read, "reader").unwrap();
    let (_, secret) = sqlite.keys.create_api_key(KeyScope::Write, "writer").unwrap();

    let url = PgServer::shared().new_database();
    let postgres = open_gallery(&url, &options).unwrap();
    let mut phases = Vec::new();
    let report = copy_gallery(&sqlite, &postgres, &mut |p| phases.push(p.phase)).unwrap();
    assert_eq!((report.faces, report.faces_added, report.faces_verified), (31, 31, 31));
    assert_eq!((report.subjects, report.subjects_created, report.collections), (3, 3, 2));
    assert_eq!((report.api_keys, report.api_keys_added), (2, 2));
    assert!(phases.contains(&"faces") && phases.contains(&"verify"));
    assert_eq!(postgres.keys.api_key_scope(&secret).unwrap(), Some(KeyScope::Write), "keys keep working");
    assert_eq!(postgres.gallery.subject(DEFAULT, &name("Ada")).unwrap().metadata, json!({"born": 1815}));
    let probe = vector(4, 0.2);
    let ranked = |gallery: &dyn Gallery| -> Vec<(String, f32)> {
        gallery.search(DEFAULT, &model(), &probe, 2).unwrap().into_iter().map(|c| (c.subject, c.similarity)).collect()
    };
    assert_eq!(ranked(&*postgres.gallery), ranked(&*sqlite.gallery), "the copy answers as the original");

    // Again: nothing is added twice.
    let again = copy_gallery(&sqlite, &postgres, &mut |_| {}).unwrap();
    assert_eq!((again.faces_added, again.subjects_created, again.api_keys_added, again.faces_verified), (0, 0, 0, 31));
    assert_eq!(postgres.gallery.stats().unwrap().faces, 31);

    // And back, into a new file, then Postgres to Postgres.
    let back = open_gallery(dir.path().join("back.db").to_str().unwrap(), &options).unwrap();
    assert_eq!(copy_gallery(&postgres, &back, &mut |_| {}).unwrap().faces_verified, 31);
    let other = open_gallery(&PgServer::shared().new_database(), &options).unwrap();
    assert_eq!(copy_gallery(&postgres, &other, &mut |_| {}).unwrap().faces_verified, 31);
    assert_eq!(back.gallery.faces(DEFAULT, &name("Ada")).unwrap().iter().filter(|f| !f.has_crop).count(), 1);
}

/// `gallery copy` moves the photo library too, both ways: photos, files, people, names, bars,
/// and named people's templates, which answer identification in the copy as in the original.
#[test]
fn the_photo_library_copies_both_ways() {
    use faceprint_gallery::library::Page;
    use faceprint_gallery::testing::library::{face as library_face, photo, unit};
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::default();
    let sqlite = open_gallery(dir.path().join("g.db").to_str().unwrap(), &options).unwrap();
    let library = sqlite.library.clone().unwrap();
    for (i, content) in ["one", "two", "three"].into_iter().enumerate() {
        let faces = vec![library_face(unit(0, 0.1 * i as f32), 0.9), library_face(unit(4, 0.1 * i as f32), 0.8)];
        library.add_photo(photo(&format!("/p/{i}.jpg"), content, faces)).unwrap();
    }
    library
        .record_file_error("/p/bad.jpg", faceprint_gallery::library::FileStamp { size: 1, modified_ns: 2 }, "corrupt")
        .unwrap();
    let faces = library.library_faces().unwrap();
    let ada: Vec<_> = faces.iter().step_by(2).map(|f| f.face_id).collect();
    let people = library.apply_grouping(&[], std::slice::from_ref(&ada)).unwrap();
    library.name_person(people[0], "Ada", false).unwrap();
    library.remove_face(people[0], ada[2]).unwrap();

    let postgres = open_gallery(&PgServer::shared().new_database(), &options).unwrap();
    let report = copy_gallery(&sqlite, &postgres, &mut |_| {}).unwrap();
    assert_eq!((report.library_records, report.library_records_added), (3 + 1 + 1, 5));
    assert_eq!(report.faces_verified, report.faces, "library faces and templates are checked too");
    let copied = postgres.library.clone().unwrap();
    assert_eq!(copied.library_status().unwrap(), library.library_status().unwrap());
    let people = |l: &dyn faceprint_gallery::library::Library| -> Vec<(Option<String>, usize)> {
        l.people(Page::ALL).unwrap().into_iter().map(|p| (p.name, p.faces)).collect()
    };
    assert_eq!(people(&*copied), people(&*library));
    assert_eq!(copied.barred().unwrap().len(), 1);
    let found = postgres.gallery.search(DEFAULT, &faceprint_types::ModelId("test".into()), &unit(0, 0.05), 1).unwrap();
    assert_eq!(found[0].subject, "Ada", "the named person answers identification in the copy");
    assert_eq!(copy_gallery(&sqlite, &postgres, &mut |_| {}).unwrap().library_records_added, 0, "re-runnable");

    let back = open_gallery(dir.path().join("back.db").to_str().unwrap(), &options).unwrap();
    copy_gallery(&postgres, &back, &mut |_| {}).unwrap();
    assert_eq!(back.library.clone().unwrap().library_status().unwrap(), library.library_status().unwrap());
    assert_eq!(people(&*back.library.clone().unwrap()), people(&*library));
}

/// Regression: `for_each_face` read each page of 1,000 faces in a snapshot of its own, though
/// it said one: a face deleted during an export or copy vanished from it half way (and a
/// subject could be exported without the faces it had when the walk began).
#[test]
fn a_walk_over_every_face_sees_one_snapshot_while_faces_are_deleted() {
    let url = PgServer::shared().new_database();
    let (walker, writer) = (PgGallery::open(&url).unwrap(), PgGallery::open(&url).unwrap());
    writer.create_subject(DEFAULT, "Many", json!({})).unwrap();
    let faces: Vec<_> = (0..1_500u32).map(|i| (name("Many"), face(i as usize % 8, 0.01, i))).collect();
    let added = writer.add_faces(DEFAULT, faces).unwrap();
    let last = added.iter().map(|a| a.face_id).max().unwrap();
    let mut seen = 0usize;
    walker
        .for_each_face(&mut |full| {
            if seen == 0 {
                // Past the first page, deleted by another server once the walk has begun.
                writer.delete_face(DEFAULT, last).unwrap();
            }
            seen += 1;
            assert!(full.face.id <= last);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, 1_500, "the walk saw the gallery as it was when it began");
    assert_eq!(writer.collection_faces(DEFAULT).unwrap(), 1_499);
    // The connection went back to the pool outside any transaction: writes through the walker work.
    walker.add_face(DEFAULT, &name("Many"), face(0, 0.2, 9_999)).unwrap();
}
