//! [`Library`] for [`SqliteGallery`]: the photo library's tables beside the gallery's.

use std::collections::HashSet;

use faceprint_types::BBox;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::Digest;

use super::store::{add_face_in, collection_id, subject};
use super::{SqliteGallery, codec};
use crate::checks::{check_name, now};
use crate::library::{
    FileError, FileStamp, KnownFile, LIBRARY_COLLECTION, Library, LibraryFace, LibraryPhoto, LibraryRecord,
    LibraryStatus, MissingFile, NewPhoto, Page, Person, PersonId, PhotoId, TEMPLATES_PER_PERSON,
};
use crate::{DEFAULT_COLLECTION, FaceId, GalleryError, NewFace, Result, SubjectKey};

pub(super) const FACE_COLUMNS: &str = "lf.face_id, lf.photo_id, lf.person_id, lf.quality, f.detection_score, \
                            f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, lf.landmarks, f.embedding";

pub(super) fn face_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(LibraryFace, Vec<u8>, String)> {
    let face = LibraryFace {
        face_id: row.get(0)?,
        photo: row.get(1)?,
        person: row.get(2)?,
        quality: row.get::<_, f64>(3)? as f32,
        detection_score: row.get::<_, f64>(4)? as f32,
        bbox: BBox::new(
            row.get::<_, f64>(5)? as f32,
            row.get::<_, f64>(6)? as f32,
            row.get::<_, f64>(7)? as f32,
            row.get::<_, f64>(8)? as f32,
        ),
        landmarks: [0.0; 10],
        embedding: Vec::new(),
    };
    Ok((face, row.get(10)?, row.get(9)?))
}

pub(super) fn finish_face((mut face, blob, landmarks): (LibraryFace, Vec<u8>, String)) -> Result<LibraryFace> {
    face.embedding = codec::decode(&blob)?;
    face.landmarks = serde_json::from_str(&landmarks)
        .map_err(|e| GalleryError::Storage(format!("face {} has unreadable landmarks: {e}", face.face_id)))?;
    Ok(face)
}

fn query_faces(connection: &Connection, filter: &str, param: impl rusqlite::Params) -> Result<Vec<LibraryFace>> {
    let sql = format!("SELECT {FACE_COLUMNS} FROM library_faces lf JOIN faces f ON f.id = lf.face_id {filter}");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(param, face_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(finish_face).collect()
}

const PERSON_COLUMNS: &str = "p.id, p.name, p.subject_id, \
    (SELECT count(*) FROM library_faces lf WHERE lf.person_id = p.id), \
    (SELECT lf.face_id FROM library_faces lf WHERE lf.person_id = p.id ORDER BY lf.quality DESC, lf.face_id LIMIT 1)";

fn person_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Person> {
    Ok(Person {
        id: row.get(0)?,
        name: row.get(1)?,
        subject_id: row.get(2)?,
        faces: row.get::<_, i64>(3)? as usize,
        representative_face: row.get(4)?,
    })
}

fn person_in(connection: &Connection, id: PersonId) -> Result<Person> {
    connection
        .prepare_cached(&format!("SELECT {PERSON_COLUMNS} FROM library_people p WHERE p.id = ?1"))?
        .query_row([id], person_from_row)
        .optional()?
        .ok_or(GalleryError::UnknownPerson(id))
}

/// The gallery key of a photo's face: unique per face, so one photo's faces can share a subject.
fn face_key(photo_sha256: &str, index: usize) -> String {
    sha2::Sha256::digest(format!("{photo_sha256}#{index}")).iter().map(|b| format!("{b:02x}")).collect()
}

fn stamp_params(stamp: FileStamp) -> (i64, i64) {
    (stamp.size as i64, stamp.modified_ns)
}

/// Points `path` at `photo` (or records its error). The photo the path showed before goes if no
/// other file shows it: a file whose content changed keeps only its new faces.
pub(super) fn upsert_file(
    tx: &Transaction<'_>,
    path: &str,
    stamp: FileStamp,
    photo: Option<PhotoId>,
    error: Option<&str>,
) -> Result<()> {
    let before: Option<PhotoId> = tx
        .prepare_cached("SELECT photo_id FROM library_files WHERE path = ?1")?
        .query_row([path], |r| r.get(0))
        .optional()?
        .flatten();
    let (size, modified) = stamp_params(stamp);
    tx.prepare_cached(
        "INSERT INTO library_files (path, photo_id, size, modified_ns, error) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (path) DO UPDATE SET photo_id = ?2, size = ?3, modified_ns = ?4, error = ?5, \
         missing_since = NULL",
    )?
    .execute(params![path, photo, size, modified, error])?;
    if let Some(before) = before.filter(|&before| Some(before) != photo) {
        remove_orphan_photos(tx, Some(before))?;
    }
    Ok(())
}

/// Removes the photos no file shows any more (only `among`, when given), with their faces, and
/// the unnamed people left without a face; returns how many photos went.
fn remove_orphan_photos(tx: &Transaction<'_>, among: Option<PhotoId>) -> Result<usize> {
    let only = among.map_or(String::new(), |id| format!("p.id = {id} AND "));
    let orphans = format!(
        "SELECT id FROM library_photos p WHERE {only}NOT EXISTS \
         (SELECT 1 FROM library_files f WHERE f.photo_id = p.id)"
    );
    // Their faces' copies among named people's templates go first; then each photo's subject
    // takes its faces, and they their library rows and bars.
    tx.execute(
        &format!(
            "DELETE FROM faces WHERE id IN (SELECT template_face_id FROM library_faces WHERE photo_id IN ({orphans}))"
        ),
        [],
    )?;
    let removed = tx.execute(
        &format!("DELETE FROM subjects WHERE id IN (SELECT subject_id FROM library_photos WHERE id IN ({orphans}))"),
        [],
    )?;
    // Unnamed people left without a face are nobody; a named one keeps its name.
    tx.execute(
        "DELETE FROM library_people WHERE name IS NULL AND NOT EXISTS \
         (SELECT 1 FROM library_faces lf WHERE lf.person_id = library_people.id)",
        [],
    )?;
    Ok(removed)
}

/// Whether a face is barred from a person, or its photo already has another face in that person.
fn check_can_join(tx: &Transaction<'_>, face: FaceId, person: PersonId) -> Result<()> {
    let barred: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM library_barred WHERE face_id = ?1 AND person_id = ?2)")?
        .query_row(params![face, person], |r| r.get(0))?;
    if barred {
        return Err(GalleryError::Invalid(format!("face {face} was removed from person {person}: it cannot rejoin")));
    }
    let same_photo: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM library_faces a JOIN library_faces b ON a.photo_id = b.photo_id \
             WHERE a.face_id = ?1 AND b.person_id = ?2 AND b.face_id <> ?1)",
        )?
        .query_row(params![face, person], |r| r.get(0))?;
    if same_photo {
        return Err(GalleryError::Invalid(format!(
            "face {face} shares a photo with a face of person {person}: one photo shows a person once"
        )));
    }
    Ok(())
}

/// Moves a face of `from` to `to` (`None`: unassigned) and bars it from `from`: for good when
/// removed by hand (`split: None`), until the parts are merged back when made by split `split`.
fn take_face(
    tx: &Transaction<'_>,
    face: FaceId,
    from: PersonId,
    to: Option<PersonId>,
    split: Option<i64>,
) -> Result<()> {
    if owner_of(tx, face)? != Some(from) {
        return Err(GalleryError::Invalid(format!("face {face} is not one of person {from}'s")));
    }
    set_person(tx, face, to)?;
    // A hand-made bar wins over a split's: a face removed by hand stays removed.
    tx.prepare_cached(
        "INSERT INTO library_barred (face_id, person_id, split) VALUES (?1, ?2, ?3) \
         ON CONFLICT (face_id, person_id) DO UPDATE SET split = CASE WHEN split IS NULL OR ?3 IS NULL \
         THEN NULL ELSE ?3 END",
    )?
    .execute(params![face, from, split])?;
    Ok(())
}

/// Moves a person's template copies to the gallery subject `subject` (renamed, or merged).
fn move_templates(tx: &Transaction<'_>, person: PersonId, subject: i64) -> Result<()> {
    tx.execute(
        "UPDATE faces SET subject_id = ?2 WHERE id IN \
         (SELECT template_face_id FROM library_faces WHERE person_id = ?1)",
        params![person, subject],
    )?;
    Ok(())
}

/// The person a library face belongs to (`None`: unassigned).
fn owner_of(tx: &Transaction<'_>, face: FaceId) -> Result<Option<PersonId>> {
    tx.prepare_cached("SELECT person_id FROM library_faces WHERE face_id = ?1")?
        .query_row([face], |r| r.get(0))
        .optional()?
        .ok_or(GalleryError::UnknownFace(face))
}

fn set_person(tx: &Transaction<'_>, face: FaceId, person: Option<PersonId>) -> Result<()> {
    let changed = tx
        .prepare_cached("UPDATE library_faces SET person_id = ?2 WHERE face_id = ?1")?
        .execute(params![face, person])?;
    if changed == 0 {
        return Err(GalleryError::UnknownFace(face));
    }
    Ok(())
}

pub(super) fn new_person(tx: &Transaction<'_>) -> Result<PersonId> {
    tx.prepare_cached("INSERT INTO library_people (created_at) VALUES (?1)")?.execute([now()])?;
    Ok(tx.last_insert_rowid())
}

/// The default collection's subject of `name`, made when there is none; and whether it existed.
pub(super) fn default_subject(tx: &Transaction<'_>, name: &str) -> Result<(i64, bool)> {
    let collection = collection_id(tx, DEFAULT_COLLECTION)?;
    match subject(tx, collection, &SubjectKey::Name(name.to_owned())) {
        Ok(found) => Ok((found.id, true)),
        Err(GalleryError::UnknownSubject(_)) => {
            tx.execute(
                "INSERT INTO subjects (collection_id, name, metadata, created_at) VALUES (?1, ?2, '{}', ?3)",
                params![collection, name, now()],
            )?;
            Ok((tx.last_insert_rowid(), false))
        }
        Err(e) => Err(e),
    }
}

/// Makes the best faces of a named person its gallery templates, and drops templates of faces
/// that left it or fell out of the best.
pub(super) fn sync_templates(tx: &Transaction<'_>, person: PersonId) -> Result<()> {
    let subject_id: Option<i64> =
        tx.query_row("SELECT subject_id FROM library_people WHERE id = ?1", [person], |r| r.get(0))?;
    let Some(subject_id) = subject_id else { return Ok(()) };
    // Templates of faces that left this person, or fell out of its best, go.
    tx.execute(
        "DELETE FROM faces WHERE subject_id = ?3 AND id IN (SELECT template_face_id FROM library_faces \
         WHERE template_face_id IS NOT NULL AND (person_id IS NOT ?1 OR face_id NOT IN \
         (SELECT face_id FROM library_faces WHERE person_id = ?1 ORDER BY quality DESC, face_id LIMIT ?2)))",
        params![person, TEMPLATES_PER_PERSON as i64, subject_id],
    )?;
    let wanted: Vec<(FaceId, String)> = tx
        .prepare_cached(
            "SELECT lf.face_id, f.image_sha256 FROM library_faces lf JOIN faces f ON f.id = lf.face_id \
             WHERE lf.person_id = ?1 AND lf.template_face_id IS NULL \
             AND lf.face_id IN (SELECT face_id FROM library_faces WHERE person_id = ?1 \
                                ORDER BY quality DESC, face_id LIMIT ?2)",
        )?
        .query_map(params![person, TEMPLATES_PER_PERSON as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let collection = collection_id(tx, DEFAULT_COLLECTION)?;
    for (face_id, key) in wanted {
        let (model, blob, score, x1, y1, x2, y2): (String, Vec<u8>, f64, f64, f64, f64, f64) = tx.query_row(
            "SELECT model, embedding, detection_score, bbox_x1, bbox_y1, bbox_x2, bbox_y2 FROM faces WHERE id = ?1",
            [face_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )?;
        let crop_png: Option<Vec<u8>> =
            tx.query_row("SELECT png FROM face_crops WHERE face_id = ?1", [face_id], |r| r.get(0)).optional()?;
        let template = NewFace {
            model: faceprint_types::ModelId(model),
            embedding: codec::decode(&blob)?,
            detection_score: score as f32,
            bbox: BBox::new(x1 as f32, y1 as f32, x2 as f32, y2 as f32),
            image_sha256: key,
            crop_png,
        };
        let added = add_face_in(tx, collection, &SubjectKey::Id(subject_id), template)?;
        tx.execute(
            "UPDATE library_faces SET template_face_id = ?2 WHERE face_id = ?1",
            params![face_id, added.face_id],
        )?;
    }
    Ok(())
}

/// SQLite's LIMIT and OFFSET for a page (`-1`: no limit).
fn page_params(page: Page) -> (i64, i64) {
    (i64::try_from(page.limit).unwrap_or(-1), i64::try_from(page.offset).unwrap_or(i64::MAX))
}

/// Stores a photo, its path and its faces; a photo whose content is stored only gains the path.
pub(super) fn add_photo_in(tx: &Transaction<'_>, photo: NewPhoto) -> Result<PhotoId> {
    let sha256 = photo.sha256.to_ascii_lowercase();
    let existing: Option<PhotoId> =
        tx.query_row("SELECT id FROM library_photos WHERE sha256 = ?1", [&sha256], |r| r.get(0)).optional()?;
    if let Some(id) = existing {
        upsert_file(tx, &photo.path, photo.stamp, Some(id), None)?;
        return Ok(id);
    }
    // The collection appears with the first photo: a gallery without a library has none.
    tx.execute(
        "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?1, ?2)",
        params![LIBRARY_COLLECTION, now()],
    )?;
    let collection = collection_id(tx, LIBRARY_COLLECTION)?;
    tx.execute(
        "INSERT INTO subjects (collection_id, name, metadata, created_at) VALUES (?1, ?2, '{}', ?3)",
        params![collection, sha256, now()],
    )?;
    let subject_id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO library_photos (sha256, subject_id, width, height, rotation, added_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![sha256, subject_id, photo.width, photo.height, photo.rotation, now()],
    )?;
    let photo_id = tx.last_insert_rowid();
    for (index, face) in photo.faces.into_iter().enumerate() {
        let stored = NewFace { image_sha256: face_key(&sha256, index), ..face.face };
        let added = add_face_in(tx, collection, &SubjectKey::Id(subject_id), stored)?;
        let landmarks = serde_json::to_string(&face.landmarks).map_err(|e| GalleryError::Invalid(e.to_string()))?;
        tx.prepare_cached("INSERT INTO library_faces (face_id, photo_id, landmarks, quality) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![added.face_id, photo_id, landmarks, face.quality as f64])?;
    }
    upsert_file(tx, &photo.path, photo.stamp, Some(photo_id), None)?;
    Ok(photo_id)
}

impl SqliteGallery {
    /// Marks files missing since `since`, or clears the mark (`None`); only files whose mark
    /// changes count, and a file already marked keeps its first date.
    fn set_missing(&self, paths: &[String], since: Option<i64>) -> Result<usize> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(
                "UPDATE library_files SET missing_since = ?2 WHERE path = ?1 AND (missing_since IS NULL) = (?2 IS NOT NULL)",
            )?;
            let mut changed = 0;
            for path in paths {
                changed += statement.execute(params![path, since])?;
            }
            Ok(changed)
        })
    }

    fn read_library<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        work(&self.reader())
    }
}

impl Library for SqliteGallery {
    fn known_file(&self, path: &str) -> Result<Option<KnownFile>> {
        self.read_library(|c| {
            Ok(c.prepare_cached("SELECT size, modified_ns, photo_id, error FROM library_files WHERE path = ?1")?
                .query_row([path], |r| {
                    Ok(KnownFile {
                        stamp: FileStamp { size: r.get::<_, i64>(0)? as u64, modified_ns: r.get(1)? },
                        photo: r.get(2)?,
                        error: r.get(3)?,
                    })
                })
                .optional()?)
        })
    }

    fn photo_by_sha256(&self, sha256: &str) -> Result<Option<PhotoId>> {
        self.read_library(|c| {
            Ok(c.prepare_cached("SELECT id FROM library_photos WHERE sha256 = ?1")?
                .query_row([sha256], |r| r.get(0))
                .optional()?)
        })
    }

    fn link_file(&self, path: &str, stamp: FileStamp, photo: PhotoId) -> Result<()> {
        self.write(|tx| upsert_file(tx, path, stamp, Some(photo), None))
    }

    fn add_photo(&self, photo: NewPhoto) -> Result<PhotoId> {
        self.write(|tx| add_photo_in(tx, photo))
    }

    fn record_file_error(&self, path: &str, stamp: FileStamp, error: &str) -> Result<()> {
        self.write(|tx| upsert_file(tx, path, stamp, None, Some(error)))
    }

    fn file_paths(&self) -> Result<Vec<String>> {
        self.read_library(|c| {
            let mut statement = c.prepare("SELECT path FROM library_files ORDER BY path")?;
            let paths = statement.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(paths)
        })
    }

    fn mark_missing(&self, paths: &[String]) -> Result<usize> {
        self.set_missing(paths, Some(now()))
    }

    fn mark_found(&self, paths: &[String]) -> Result<usize> {
        self.set_missing(paths, None)
    }

    fn missing_files(&self, older_than_secs: Option<i64>) -> Result<Vec<MissingFile>> {
        let before = now() - older_than_secs.unwrap_or(0).max(0);
        self.read_library(|c| {
            let mut statement = c.prepare_cached(
                "SELECT path, photo_id, missing_since FROM library_files \
                 WHERE missing_since IS NOT NULL AND missing_since <= ?1 ORDER BY missing_since, path",
            )?;
            let missing = statement
                .query_map([before], |r| {
                    Ok(MissingFile { path: r.get(0)?, photo: r.get(1)?, missing_since: r.get(2)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(missing)
        })
    }

    fn forget_files(&self, paths: &[String]) -> Result<usize> {
        self.write(|tx| {
            for path in paths {
                tx.prepare_cached("DELETE FROM library_files WHERE path = ?1")?.execute([path])?;
            }
            remove_orphan_photos(tx, None)
        })
    }

    fn library_status(&self) -> Result<LibraryStatus> {
        self.read_library(|c| {
            let count = |sql: &str| -> Result<usize> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as usize) };
            Ok(LibraryStatus {
                photos: count("SELECT count(*) FROM library_photos")?,
                files: count(
                    "SELECT count(*) FROM library_files WHERE photo_id IS NOT NULL AND missing_since IS NULL",
                )?,
                faces: count("SELECT count(*) FROM library_faces")?,
                people: count("SELECT count(*) FROM library_people")?,
                named_people: count("SELECT count(*) FROM library_people WHERE name IS NOT NULL")?,
                unassigned_faces: count("SELECT count(*) FROM library_faces WHERE person_id IS NULL")?,
                errors: count("SELECT count(*) FROM library_files WHERE error IS NOT NULL")?,
                missing_files: count("SELECT count(*) FROM library_files WHERE missing_since IS NOT NULL")?,
            })
        })
    }

    fn file_errors(&self, page: Page) -> Result<Vec<FileError>> {
        self.read_library(|c| {
            let mut statement = c.prepare_cached(
                "SELECT path, error FROM library_files WHERE error IS NOT NULL ORDER BY path LIMIT ?1 OFFSET ?2",
            )?;
            let (limit, offset) = page_params(page);
            let errors = statement
                .query_map([limit, offset], |r| Ok(FileError { path: r.get(0)?, error: r.get(1)? }))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(errors)
        })
    }

    fn photos(&self, ids: &[PhotoId]) -> Result<Vec<LibraryPhoto>> {
        self.read_library(|c| {
            let mut photo =
                c.prepare_cached("SELECT id, sha256, width, height, rotation FROM library_photos WHERE id = ?1")?;
            let mut paths = c.prepare_cached("SELECT path FROM library_files WHERE photo_id = ?1 ORDER BY path")?;
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                let Some(mut found) = photo
                    .query_row([id], |r| {
                        Ok(LibraryPhoto {
                            id: r.get(0)?,
                            sha256: r.get(1)?,
                            width: r.get(2)?,
                            height: r.get(3)?,
                            rotation: r.get(4)?,
                            paths: Vec::new(),
                        })
                    })
                    .optional()?
                else {
                    continue;
                };
                found.paths = paths.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                out.push(found);
            }
            Ok(out)
        })
    }

    fn library_faces(&self) -> Result<Vec<LibraryFace>> {
        self.read_library(|c| query_faces(c, "ORDER BY lf.face_id", []))
    }

    fn unassigned_faces(&self) -> Result<Vec<LibraryFace>> {
        self.read_library(|c| query_faces(c, "WHERE lf.person_id IS NULL ORDER BY lf.face_id", []))
    }

    fn library_face(&self, face: FaceId) -> Result<LibraryFace> {
        self.read_library(|c| query_faces(c, "WHERE lf.face_id = ?1", [face]))?
            .pop()
            .ok_or(GalleryError::UnknownFace(face))
    }

    fn face_crop(&self, face: FaceId) -> Result<Option<Vec<u8>>> {
        self.read_library(|c| {
            Ok(c.prepare_cached("SELECT png FROM face_crops WHERE face_id = ?1")?
                .query_row([face], |r| r.get(0))
                .optional()?)
        })
    }

    fn barred(&self) -> Result<Vec<(FaceId, PersonId)>> {
        self.read_library(|c| {
            let mut statement = c.prepare("SELECT face_id, person_id FROM library_barred ORDER BY face_id")?;
            let pairs = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(pairs)
        })
    }

    fn apply_grouping(&self, joins: &[(FaceId, PersonId)], new_people: &[Vec<FaceId>]) -> Result<Vec<PersonId>> {
        self.write(|tx| {
            let mut touched = HashSet::new();
            let unassigned = |face: FaceId| -> Result<()> {
                match owner_of(tx, face)? {
                    Some(person) => {
                        Err(GalleryError::Invalid(format!("face {face} already belongs to person {person}")))
                    }
                    None => Ok(()),
                }
            };
            for &(face, person) in joins {
                unassigned(face)?;
                person_in(tx, person)?;
                check_can_join(tx, face, person)?;
                set_person(tx, face, Some(person))?;
                touched.insert(person);
            }
            let mut created = Vec::with_capacity(new_people.len());
            for faces in new_people {
                let person = new_person(tx)?;
                for &face in faces {
                    unassigned(face)?;
                    check_can_join(tx, face, person)?;
                    set_person(tx, face, Some(person))?;
                }
                created.push(person);
            }
            for person in touched {
                sync_templates(tx, person)?;
            }
            Ok(created)
        })
    }

    fn people(&self, page: Page) -> Result<Vec<Person>> {
        self.read_library(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {PERSON_COLUMNS} FROM library_people p ORDER BY 4 DESC, p.id LIMIT ?1 OFFSET ?2"
            ))?;
            let (limit, offset) = page_params(page);
            let people = statement.query_map([limit, offset], person_from_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(people)
        })
    }

    fn person(&self, id: PersonId) -> Result<Person> {
        self.read_library(|c| person_in(c, id))
    }

    fn person_faces(&self, id: PersonId, page: Page) -> Result<Vec<LibraryFace>> {
        self.read_library(|c| {
            person_in(c, id)?;
            let (limit, offset) = page_params(page);
            query_faces(
                c,
                "WHERE lf.person_id = ?1 ORDER BY lf.quality DESC, lf.face_id LIMIT ?2 OFFSET ?3",
                [id, limit, offset],
            )
        })
    }

    fn name_person(&self, id: PersonId, name: &str, merge_into_subject: bool) -> Result<Person> {
        check_name("person", name)?;
        self.write(|tx| {
            let person = person_in(tx, id)?;
            let taken: Option<PersonId> =
                tx.query_row("SELECT id FROM library_people WHERE name = ?1", [name], |r| r.get(0)).optional()?;
            if let Some(other) = taken.filter(|&other| other != id) {
                return Err(GalleryError::Invalid(format!(
                    "person {other} is already named {name:?}: merge the two instead"
                )));
            }
            let (subject_id, existed) = default_subject(tx, name)?;
            if existed && person.subject_id != Some(subject_id) && !merge_into_subject {
                // Someone enrolled under this name: the person's faces would become their
                // templates, and an impure group would weaken verification for them.
                return Err(GalleryError::DuplicateSubject(name.to_owned()));
            }
            if person.subject_id.is_some_and(|old| old != subject_id) {
                // Renamed: the templates move to the subject of the new name.
                move_templates(tx, id, subject_id)?;
            }
            tx.execute(
                "UPDATE library_people SET name = ?2, subject_id = ?3 WHERE id = ?1",
                params![id, name, subject_id],
            )?;
            sync_templates(tx, id)?;
            person_in(tx, id)
        })
    }

    fn merge_people(&self, into: PersonId, from: PersonId) -> Result<Person> {
        self.write(|tx| {
            if into == from {
                return Err(GalleryError::Invalid("cannot merge a person into itself".into()));
            }
            let (kept, gone) = (person_in(tx, into)?, person_in(tx, from)?);
            if kept.name.is_some() && gone.name.is_some() {
                return Err(GalleryError::Invalid(format!(
                    "both people are named ({:?} and {:?}): rename one first",
                    kept.name.unwrap_or_default(),
                    gone.name.unwrap_or_default()
                )));
            }
            let shared: Option<PhotoId> = tx
                .query_row(
                    "SELECT a.photo_id FROM library_faces a JOIN library_faces b ON a.photo_id = b.photo_id \
                     WHERE a.person_id = ?1 AND b.person_id = ?2 LIMIT 1",
                    params![into, from],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(photo) = shared {
                return Err(GalleryError::Invalid(format!(
                    "people {into} and {from} both appear in photo {photo}: they are two people"
                )));
            }
            let barred: Option<FaceId> = tx
                .query_row(
                    "SELECT b.face_id FROM library_barred b JOIN library_faces lf ON lf.face_id = b.face_id \
                     WHERE b.split IS NULL AND ((b.person_id = ?1 AND lf.person_id = ?2) \
                     OR (b.person_id = ?2 AND lf.person_id = ?1)) LIMIT 1",
                    params![into, from],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(face) = barred {
                return Err(GalleryError::Invalid(format!(
                    "face {face} was removed from one of these people: merging would bring it back"
                )));
            }
            // Merging the parts of a split back undoes it: their faces are no longer kept apart.
            tx.execute(
                "DELETE FROM library_barred WHERE split IS NOT NULL AND ((person_id = ?1 AND face_id IN \
                 (SELECT face_id FROM library_faces WHERE person_id = ?2)) OR (person_id = ?2 AND face_id IN \
                 (SELECT face_id FROM library_faces WHERE person_id = ?1)))",
                params![into, from],
            )?;
            tx.execute("UPDATE library_faces SET person_id = ?1 WHERE person_id = ?2", params![into, from])?;
            // The templates follow the faces to the kept person's subject.
            let subject = kept.subject_id.or(gone.subject_id);
            tx.execute("DELETE FROM library_people WHERE id = ?1", [from])?;
            tx.execute(
                "UPDATE library_people SET name = ?2, subject_id = ?3 WHERE id = ?1",
                params![into, kept.name.or(gone.name), subject],
            )?;
            if let Some(subject) = subject {
                move_templates(tx, into, subject)?;
            }
            sync_templates(tx, into)?;
            person_in(tx, into)
        })
    }

    fn split_person(&self, from: PersonId, groups: &[Vec<FaceId>]) -> Result<Vec<Person>> {
        self.write(|tx| {
            let source = person_in(tx, from)?;
            let moved: usize = groups.iter().map(Vec::len).sum();
            if groups.iter().any(Vec::is_empty) || moved == 0 || moved >= source.faces {
                return Err(GalleryError::Invalid(format!(
                    "a split moves some of person {from}'s {} faces, not {moved}",
                    source.faces
                )));
            }
            // One number per split marks its bars, so merging its parts back can lift them.
            let split: i64 =
                tx.query_row("SELECT coalesce(max(split), 0) + 1 FROM library_barred", [], |r| r.get(0))?;
            let mut created = Vec::with_capacity(groups.len());
            for faces in groups {
                let person = new_person(tx)?;
                for &face in faces {
                    take_face(tx, face, from, Some(person), Some(split))?;
                }
                created.push(person);
            }
            sync_templates(tx, from)?;
            created.into_iter().map(|person| person_in(tx, person)).collect()
        })
    }

    fn export_library(&self, visit: &mut dyn FnMut(LibraryRecord) -> Result<()>) -> Result<()> {
        // Its own connection and snapshot, as the gallery's export: searches go on meanwhile.
        let connection = super::schema::connect(self.path())?;
        let tx = connection.unchecked_transaction()?;
        super::library_transfer::export(&tx, visit)
    }

    fn import_library(&self, record: LibraryRecord) -> Result<bool> {
        self.write(|tx| super::library_transfer::import(tx, record))
    }

    fn remove_face(&self, person: PersonId, face: FaceId) -> Result<()> {
        self.write(|tx| {
            person_in(tx, person)?;
            take_face(tx, face, person, None, None)?;
            sync_templates(tx, person)
        })
    }
}
