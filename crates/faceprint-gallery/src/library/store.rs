//! [`Library`] for every store, once: the library's operations over the transactions a backend
//! opens ([`LibraryStorage`]), each in SQL both stores run ([`super::rows`]).

use std::collections::HashSet;

use faceprint_types::ModelId;

use super::rows::{
    PERSON_COLUMNS, add_photo_in, adopt_photo_model, check_can_join, default_subject, move_templates, new_person,
    owner_of, page_params, person_from_row, person_in, query_faces, remove_orphan_photos, set_person, sync_templates,
    take_face, upsert_file,
};
use super::{
    FileError, FileStamp, KnownFile, Library, LibraryFace, LibraryPhoto, LibraryRecord, LibraryStatus, MissingFile,
    NewPhoto, Page, Person, PersonId, PhotoId,
};
use crate::checks::{check_name, now};
use crate::sql::{Sql, params};
use crate::storage::Storage;
use crate::{FaceId, GalleryError, Result};

/// What a store gives the library: transactions on its own connections.
pub(crate) trait LibraryStorage: Storage {
    /// The table of gallery-wide settings (`model`, `dims`).
    const META_TABLE: &'static str;
    /// Runs `work` on a reading connection.
    fn read_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T>;
    /// Runs `work` in one durable write transaction, library writes one at a time across every
    /// process (two indexing runs on one store then store each file once), and shows the change
    /// to this handle's indexes.
    fn write_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T>;
    /// Runs `work` on one consistent snapshot, on a connection of its own (a long export must
    /// not hold up searches).
    fn snapshot_sql<T>(&self, work: impl FnOnce(&dyn Sql) -> Result<T>) -> Result<T>;
    /// Makes `model` the gallery's before a write adds faces of it (refused when the gallery
    /// holds faces of another).
    fn adopt_model(&self, model: &ModelId, dims: usize) -> Result<()>;
}

/// Marks files missing since `since`, or clears the mark (`None`); only files whose mark changes
/// count, and a file already marked keeps its first date.
fn set_missing<S: LibraryStorage>(store: &S, paths: &[String], since: Option<i64>) -> Result<usize> {
    store.write_sql(|sql| {
        let mut changed = 0;
        for path in paths {
            changed += sql.execute(
                "UPDATE library_files SET missing_since = CAST($2 AS BIGINT) WHERE path = $1 \
                 AND (missing_since IS NULL) = (CAST($2 AS BIGINT) IS NOT NULL)",
                params![path, since],
            )?;
        }
        Ok(changed as usize)
    })
}

impl<S: LibraryStorage> Library for S {
    fn known_file(&self, path: &str) -> Result<Option<KnownFile>> {
        self.read_sql(|sql| {
            let Some(row) = sql.query_opt(
                "SELECT size, modified_ns, photo_id, error FROM library_files WHERE path = $1",
                params![path],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(KnownFile {
                stamp: FileStamp { size: row.i64(0)? as u64, modified_ns: row.i64(1)? },
                photo: row.opt_i64(2)?,
                error: row.opt_text(3)?,
            }))
        })
    }

    fn photo_by_sha256(&self, sha256: &str) -> Result<Option<PhotoId>> {
        self.read_sql(|sql| {
            sql.query_opt("SELECT id FROM library_photos WHERE sha256 = $1", params![sha256])?
                .map(|r| r.i64(0))
                .transpose()
        })
    }

    fn link_file(&self, path: &str, stamp: FileStamp, photo: PhotoId) -> Result<()> {
        self.write_sql(|sql| upsert_file(sql, path, stamp, Some(photo), None))
    }

    fn add_photo(&self, photo: NewPhoto) -> Result<PhotoId> {
        adopt_photo_model(self, &photo)?;
        self.write_sql(|sql| add_photo_in::<S>(sql, photo))
    }

    fn record_file_error(&self, path: &str, stamp: FileStamp, error: &str) -> Result<()> {
        self.write_sql(|sql| upsert_file(sql, path, stamp, None, Some(error)))
    }

    fn file_paths(&self) -> Result<Vec<String>> {
        self.read_sql(|sql| {
            sql.query("SELECT path FROM library_files ORDER BY path", &[])?.iter().map(|r| r.text(0)).collect()
        })
    }

    fn mark_missing(&self, paths: &[String]) -> Result<usize> {
        set_missing(self, paths, Some(now()))
    }

    fn mark_found(&self, paths: &[String]) -> Result<usize> {
        set_missing(self, paths, None)
    }

    fn missing_files(&self, older_than_secs: Option<i64>) -> Result<Vec<MissingFile>> {
        let before = now() - older_than_secs.unwrap_or(0).max(0);
        self.read_sql(|sql| {
            sql.query(
                "SELECT path, photo_id, missing_since FROM library_files \
                 WHERE missing_since IS NOT NULL AND missing_since <= $1 ORDER BY missing_since, path",
                params![before],
            )?
            .iter()
            .map(|r| Ok(MissingFile { path: r.text(0)?, photo: r.opt_i64(1)?, missing_since: r.i64(2)? }))
            .collect()
        })
    }

    fn forget_files(&self, paths: &[String]) -> Result<usize> {
        self.write_sql(|sql| {
            for path in paths {
                sql.execute("DELETE FROM library_files WHERE path = $1", params![path])?;
            }
            remove_orphan_photos(sql, None)
        })
    }

    fn library_status(&self) -> Result<LibraryStatus> {
        self.read_sql(|sql| {
            let row = sql.query_one(
                "SELECT (SELECT count(*) FROM library_photos), \
                 (SELECT count(*) FROM library_files WHERE photo_id IS NOT NULL AND missing_since IS NULL), \
                 (SELECT count(*) FROM library_faces), (SELECT count(*) FROM library_people), \
                 (SELECT count(*) FROM library_people WHERE name IS NOT NULL), \
                 (SELECT count(*) FROM library_faces WHERE person_id IS NULL), \
                 (SELECT count(*) FROM library_files WHERE error IS NOT NULL), \
                 (SELECT count(*) FROM library_files WHERE missing_since IS NOT NULL)",
                &[],
            )?;
            let count = |i| row.i64(i).map(|n| n as usize);
            Ok(LibraryStatus {
                photos: count(0)?,
                files: count(1)?,
                faces: count(2)?,
                people: count(3)?,
                named_people: count(4)?,
                unassigned_faces: count(5)?,
                errors: count(6)?,
                missing_files: count(7)?,
            })
        })
    }

    fn file_errors(&self, page: Page) -> Result<Vec<FileError>> {
        let (limit, offset) = page_params(page);
        self.read_sql(|sql| {
            sql.query(
                "SELECT path, error FROM library_files WHERE error IS NOT NULL ORDER BY path LIMIT $1 OFFSET $2",
                params![limit, offset],
            )?
            .iter()
            .map(|r| Ok(FileError { path: r.text(0)?, error: r.text(1)? }))
            .collect()
        })
    }

    fn photos(&self, ids: &[PhotoId]) -> Result<Vec<LibraryPhoto>> {
        self.read_sql(|sql| {
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                let Some(row) = sql.query_opt(
                    "SELECT id, sha256, width, height, rotation FROM library_photos WHERE id = $1",
                    params![id],
                )?
                else {
                    continue;
                };
                let paths =
                    sql.query("SELECT path FROM library_files WHERE photo_id = $1 ORDER BY path", params![id])?;
                out.push(LibraryPhoto {
                    id: row.i64(0)?,
                    sha256: row.text(1)?,
                    width: row.i64(2)? as u32,
                    height: row.i64(3)? as u32,
                    rotation: row.i64(4)? as u16,
                    paths: paths.iter().map(|r| r.text(0)).collect::<Result<_>>()?,
                });
            }
            Ok(out)
        })
    }

    fn library_faces(&self) -> Result<Vec<LibraryFace>> {
        self.read_sql(|sql| query_faces(sql, "ORDER BY lf.face_id", &[]))
    }

    fn unassigned_faces(&self) -> Result<Vec<LibraryFace>> {
        self.read_sql(|sql| query_faces(sql, "WHERE lf.person_id IS NULL ORDER BY lf.face_id", &[]))
    }

    fn library_face(&self, face: FaceId) -> Result<LibraryFace> {
        self.read_sql(|sql| query_faces(sql, "WHERE lf.face_id = $1", params![face]))?
            .pop()
            .ok_or(GalleryError::UnknownFace(face))
    }

    fn face_crop(&self, face: FaceId) -> Result<Option<Vec<u8>>> {
        self.read_sql(|sql| match sql.query_opt("SELECT png FROM face_crops WHERE face_id = $1", params![face])? {
            Some(row) => row.opt_blob(0),
            None => Ok(None),
        })
    }

    fn barred(&self) -> Result<Vec<(FaceId, PersonId)>> {
        self.read_sql(|sql| {
            sql.query("SELECT face_id, person_id FROM library_barred ORDER BY face_id", &[])?
                .iter()
                .map(|r| Ok((r.i64(0)?, r.i64(1)?)))
                .collect()
        })
    }

    fn apply_grouping(&self, joins: &[(FaceId, PersonId)], new_people: &[Vec<FaceId>]) -> Result<Vec<PersonId>> {
        self.write_sql(|sql| {
            let mut touched = HashSet::new();
            let unassigned = |face: FaceId| -> Result<()> {
                match owner_of(sql, face)? {
                    Some(person) => {
                        Err(GalleryError::Invalid(format!("face {face} already belongs to person {person}")))
                    }
                    None => Ok(()),
                }
            };
            for &(face, person) in joins {
                unassigned(face)?;
                person_in(sql, person)?;
                check_can_join(sql, face, person)?;
                set_person(sql, face, Some(person))?;
                touched.insert(person);
            }
            let mut created = Vec::with_capacity(new_people.len());
            for faces in new_people {
                let person = new_person(sql)?;
                for &face in faces {
                    unassigned(face)?;
                    check_can_join(sql, face, person)?;
                    set_person(sql, face, Some(person))?;
                }
                created.push(person);
            }
            for person in touched {
                sync_templates(sql, person)?;
            }
            Ok(created)
        })
    }

    fn people(&self, page: Page) -> Result<Vec<Person>> {
        let (limit, offset) = page_params(page);
        self.read_sql(|sql| {
            sql.query(
                &format!("SELECT {PERSON_COLUMNS} FROM library_people p ORDER BY 4 DESC, p.id LIMIT $1 OFFSET $2"),
                params![limit, offset],
            )?
            .iter()
            .map(person_from_row)
            .collect()
        })
    }

    fn person(&self, id: PersonId) -> Result<Person> {
        self.read_sql(|sql| person_in(sql, id))
    }

    fn person_faces(&self, id: PersonId, page: Page) -> Result<Vec<LibraryFace>> {
        let (limit, offset) = page_params(page);
        self.read_sql(|sql| {
            person_in(sql, id)?;
            query_faces(
                sql,
                "WHERE lf.person_id = $1 ORDER BY lf.quality DESC, lf.face_id LIMIT $2 OFFSET $3",
                params![id, limit, offset],
            )
        })
    }

    fn name_person(&self, id: PersonId, name: &str, merge_into_subject: bool) -> Result<Person> {
        check_name("person", name)?;
        self.write_sql(|sql| {
            let person = person_in(sql, id)?;
            let taken = sql.query_opt("SELECT id FROM library_people WHERE name = $1", params![name])?;
            if let Some(other) = taken.map(|r| r.i64(0)).transpose()?.filter(|&other| other != id) {
                return Err(GalleryError::Invalid(format!(
                    "person {other} is already named {name:?}: merge the two instead"
                )));
            }
            let (subject_id, existed) = default_subject(sql, name)?;
            if existed && person.subject_id != Some(subject_id) && !merge_into_subject {
                // Someone enrolled under this name: the person's faces would become their
                // templates, and an impure group would weaken verification for them.
                return Err(GalleryError::DuplicateSubject(name.to_owned()));
            }
            if person.subject_id.is_some_and(|old| old != subject_id) {
                // Renamed: the templates move to the subject of the new name.
                move_templates(sql, id, subject_id)?;
            }
            sql.execute(
                "UPDATE library_people SET name = $2, subject_id = $3 WHERE id = $1",
                params![id, name, subject_id],
            )?;
            sync_templates(sql, id)?;
            person_in(sql, id)
        })
    }

    fn merge_people(&self, into: PersonId, from: PersonId) -> Result<Person> {
        self.write_sql(|sql| {
            if into == from {
                return Err(GalleryError::Invalid("cannot merge a person into itself".into()));
            }
            let (kept, gone) = (person_in(sql, into)?, person_in(sql, from)?);
            if kept.name.is_some() && gone.name.is_some() {
                return Err(GalleryError::Invalid(format!(
                    "both people are named ({:?} and {:?}): rename one first",
                    kept.name.unwrap_or_default(),
                    gone.name.unwrap_or_default()
                )));
            }
            let shared = sql.query_opt(
                "SELECT a.photo_id FROM library_faces a JOIN library_faces b ON a.photo_id = b.photo_id \
                 WHERE a.person_id = $1 AND b.person_id = $2 LIMIT 1",
                params![into, from],
            )?;
            if let Some(row) = shared {
                return Err(GalleryError::Invalid(format!(
                    "people {into} and {from} both appear in photo {}: they are two people",
                    row.i64(0)?
                )));
            }
            let barred = sql.query_opt(
                "SELECT b.face_id FROM library_barred b JOIN library_faces lf ON lf.face_id = b.face_id \
                 WHERE b.split IS NULL AND ((b.person_id = $1 AND lf.person_id = $2) \
                 OR (b.person_id = $2 AND lf.person_id = $1)) LIMIT 1",
                params![into, from],
            )?;
            if let Some(row) = barred {
                return Err(GalleryError::Invalid(format!(
                    "face {} was removed from one of these people: merging would bring it back",
                    row.i64(0)?
                )));
            }
            // Merging the parts of a split back undoes it: their faces are no longer kept apart.
            sql.execute(
                "DELETE FROM library_barred WHERE split IS NOT NULL AND ((person_id = $1 AND face_id IN \
                 (SELECT face_id FROM library_faces WHERE person_id = $2)) OR (person_id = $2 AND face_id IN \
                 (SELECT face_id FROM library_faces WHERE person_id = $1)))",
                params![into, from],
            )?;
            sql.execute("UPDATE library_faces SET person_id = $1 WHERE person_id = $2", params![into, from])?;
            // The templates follow the faces to the kept person's subject.
            let subject = kept.subject_id.or(gone.subject_id);
            sql.execute("DELETE FROM library_people WHERE id = $1", params![from])?;
            sql.execute(
                "UPDATE library_people SET name = $2, subject_id = $3 WHERE id = $1",
                params![into, kept.name.or(gone.name), subject],
            )?;
            if let Some(subject) = subject {
                move_templates(sql, into, subject)?;
            }
            sync_templates(sql, into)?;
            person_in(sql, into)
        })
    }

    fn split_person(&self, from: PersonId, groups: &[Vec<FaceId>]) -> Result<Vec<Person>> {
        self.write_sql(|sql| {
            let source = person_in(sql, from)?;
            let moved: usize = groups.iter().map(Vec::len).sum();
            if groups.iter().any(Vec::is_empty) || moved == 0 || moved >= source.faces {
                return Err(GalleryError::Invalid(format!(
                    "a split moves some of person {from}'s {} faces, not {moved}",
                    source.faces
                )));
            }
            // One number per split marks its bars, so merging its parts back can lift them.
            let split = sql.query_one("SELECT coalesce(max(split), 0) + 1 FROM library_barred", &[])?.i64(0)?;
            let mut created = Vec::with_capacity(groups.len());
            for faces in groups {
                let person = new_person(sql)?;
                for &face in faces {
                    take_face(sql, face, from, Some(person), Some(split))?;
                }
                created.push(person);
            }
            sync_templates(sql, from)?;
            created.into_iter().map(|person| person_in(sql, person)).collect()
        })
    }

    fn remove_face(&self, person: PersonId, face: FaceId) -> Result<()> {
        self.write_sql(|sql| {
            person_in(sql, person)?;
            take_face(sql, face, person, None, None)?;
            sync_templates(sql, person)
        })
    }

    fn export_library(&self, visit: &mut dyn FnMut(LibraryRecord) -> Result<()>) -> Result<()> {
        self.snapshot_sql(|sql| super::transfer::export(sql, visit))
    }

    fn import_library(&self, record: LibraryRecord) -> Result<bool> {
        if let LibraryRecord::Photo(photo) = &record
            && let Some(first) = photo.faces.first()
        {
            self.adopt_model(&first.face.model, first.face.embedding.len())?;
        }
        self.write_sql(|sql| super::transfer::import::<S>(sql, record))
    }
}
