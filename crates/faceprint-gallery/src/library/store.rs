//! [`Library`] for every store, once: portable SQL over the library's tables beside the
//! gallery's, in transactions the backend opens ([`LibraryStorage`]).

use std::collections::HashSet;

use faceprint_types::{BBox, ModelId};
use sha2::Digest;

use super::{
    FileError, FileStamp, KnownFile, LIBRARY_COLLECTION, Library, LibraryFace, LibraryPhoto, LibraryRecord,
    LibraryStatus, MissingFile, NewPhoto, Page, Person, PersonId, PhotoId, TEMPLATES_PER_PERSON,
};
use crate::checks::{check_face, check_name, now};
use crate::sql::{Row, Sql, params};
use crate::storage::Storage;
use crate::{AddedFace, DEFAULT_COLLECTION, FaceId, GalleryError, NewFace, Result, SubjectId};

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

pub(super) const FACE_COLUMNS: &str = "lf.face_id, lf.photo_id, lf.person_id, lf.quality, f.detection_score, \
                            f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, lf.landmarks, f.embedding";

/// Reads [`FACE_COLUMNS`].
pub(super) fn face_from_row(row: &Row) -> Result<LibraryFace> {
    let face_id = row.i64(0)?;
    let landmarks = serde_json::from_str(&row.text(9)?)
        .map_err(|e| GalleryError::Storage(format!("face {face_id} has unreadable landmarks: {e}")))?;
    Ok(LibraryFace {
        face_id,
        photo: row.i64(1)?,
        person: row.opt_i64(2)?,
        quality: row.f32(3)?,
        detection_score: row.f32(4)?,
        bbox: BBox::new(row.f32(5)?, row.f32(6)?, row.f32(7)?, row.f32(8)?),
        landmarks,
        embedding: row.vector(10)?,
    })
}

fn query_faces(sql: &dyn Sql, filter: &str, params: &[crate::sql::Value]) -> Result<Vec<LibraryFace>> {
    let statement = format!("SELECT {FACE_COLUMNS} FROM library_faces lf JOIN faces f ON f.id = lf.face_id {filter}");
    sql.query(&statement, params)?.iter().map(face_from_row).collect()
}

const PERSON_COLUMNS: &str = "p.id, p.name, p.subject_id, \
    (SELECT count(*) FROM library_faces lf WHERE lf.person_id = p.id), \
    (SELECT lf.face_id FROM library_faces lf WHERE lf.person_id = p.id ORDER BY lf.quality DESC, lf.face_id LIMIT 1)";

fn person_from_row(row: &Row) -> Result<Person> {
    Ok(Person {
        id: row.i64(0)?,
        name: row.opt_text(1)?,
        subject_id: row.opt_i64(2)?,
        faces: row.i64(3)? as usize,
        representative_face: row.opt_i64(4)?,
    })
}

pub(super) fn person_in(sql: &dyn Sql, id: PersonId) -> Result<Person> {
    let row = sql.query_opt(&format!("SELECT {PERSON_COLUMNS} FROM library_people p WHERE p.id = $1"), params![id])?;
    person_from_row(&row.ok_or(GalleryError::UnknownPerson(id))?)
}

/// The gallery key of a photo's face: unique per face, so one photo's faces can share a subject.
fn face_key(photo_sha256: &str, index: usize) -> String {
    sha2::Sha256::digest(format!("{photo_sha256}#{index}")).iter().map(|b| format!("{b:02x}")).collect()
}

/// A page's LIMIT and OFFSET (no limit: the largest number both stores take).
fn page_params(page: Page) -> (i64, i64) {
    (i64::try_from(page.limit).unwrap_or(i64::MAX), i64::try_from(page.offset).unwrap_or(i64::MAX))
}

fn collection_id(sql: &dyn Sql, name: &str) -> Result<i64> {
    let row = sql.query_opt(crate::sql::gallery::COLLECTION_ID, params![name])?;
    row.ok_or_else(|| GalleryError::UnknownCollection(name.to_owned()))?.i64(0)
}

/// Points `path` at `photo` (or records its error). The photo the path showed before goes if no
/// other file shows it: a file whose content changed keeps only its new faces.
pub(super) fn upsert_file(
    sql: &dyn Sql,
    path: &str,
    stamp: FileStamp,
    photo: Option<PhotoId>,
    error: Option<&str>,
) -> Result<()> {
    let before = match sql.query_opt("SELECT photo_id FROM library_files WHERE path = $1", params![path])? {
        Some(row) => row.opt_i64(0)?,
        None => None,
    };
    sql.execute(
        "INSERT INTO library_files (path, photo_id, size, modified_ns, error) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (path) DO UPDATE SET photo_id = excluded.photo_id, size = excluded.size, \
         modified_ns = excluded.modified_ns, error = excluded.error, missing_since = NULL",
        params![path, photo, stamp.size as i64, stamp.modified_ns, error],
    )?;
    if let Some(before) = before.filter(|&before| Some(before) != photo) {
        remove_orphan_photos(sql, Some(before))?;
    }
    Ok(())
}

/// Removes the photos no file shows any more (only `among`, when given), with their faces, and
/// the unnamed people left without a face; returns how many photos went.
pub(super) fn remove_orphan_photos(sql: &dyn Sql, among: Option<PhotoId>) -> Result<usize> {
    let only = among.map_or(String::new(), |id| format!("p.id = {id} AND "));
    let orphans = format!(
        "SELECT id FROM library_photos p WHERE {only}NOT EXISTS \
         (SELECT 1 FROM library_files f WHERE f.photo_id = p.id)"
    );
    // Their faces' copies among named people's templates go first; then each photo's subject
    // takes its faces, and they their library rows and bars.
    sql.execute(
        &format!(
            "DELETE FROM faces WHERE id IN (SELECT template_face_id FROM library_faces WHERE photo_id IN ({orphans}))"
        ),
        &[],
    )?;
    let removed = sql.execute(
        &format!("DELETE FROM subjects WHERE id IN (SELECT subject_id FROM library_photos WHERE id IN ({orphans}))"),
        &[],
    )?;
    // Unnamed people left without a face are nobody; a named one keeps its name.
    sql.execute(
        "DELETE FROM library_people WHERE name IS NULL AND NOT EXISTS \
         (SELECT 1 FROM library_faces lf WHERE lf.person_id = library_people.id)",
        &[],
    )?;
    Ok(removed as usize)
}

fn exists(sql: &dyn Sql, query: &str, params: &[crate::sql::Value]) -> Result<bool> {
    sql.query_one(&format!("SELECT EXISTS ({query})"), params)?.bool(0)
}

/// Whether a face is barred from a person, or its photo already has another face in that person.
fn check_can_join(sql: &dyn Sql, face: FaceId, person: PersonId) -> Result<()> {
    if exists(sql, "SELECT 1 FROM library_barred WHERE face_id = $1 AND person_id = $2", params![face, person])? {
        return Err(GalleryError::Invalid(format!("face {face} was removed from person {person}: it cannot rejoin")));
    }
    let same_photo = exists(
        sql,
        "SELECT 1 FROM library_faces a JOIN library_faces b ON a.photo_id = b.photo_id \
         WHERE a.face_id = $1 AND b.person_id = $2 AND b.face_id <> $1",
        params![face, person],
    )?;
    if same_photo {
        return Err(GalleryError::Invalid(format!(
            "face {face} shares a photo with a face of person {person}: one photo shows a person once"
        )));
    }
    Ok(())
}

/// Moves a face of `from` to `to` (`None`: unassigned) and bars it from `from`: for good when
/// removed by hand (`split: None`), until the parts are merged back when made by split `split`.
fn take_face(sql: &dyn Sql, face: FaceId, from: PersonId, to: Option<PersonId>, split: Option<i64>) -> Result<()> {
    if owner_of(sql, face)? != Some(from) {
        return Err(GalleryError::Invalid(format!("face {face} is not one of person {from}'s")));
    }
    set_person(sql, face, to)?;
    // A hand-made bar wins over a split's: a face removed by hand stays removed.
    sql.execute(
        "INSERT INTO library_barred (face_id, person_id, split) VALUES ($1, $2, CAST($3 AS BIGINT)) \
         ON CONFLICT (face_id, person_id) DO UPDATE SET split = CASE \
         WHEN library_barred.split IS NULL OR excluded.split IS NULL THEN NULL ELSE excluded.split END",
        params![face, from, split],
    )?;
    Ok(())
}

/// Moves a person's template copies to the gallery subject `subject` (renamed, or merged).
fn move_templates(sql: &dyn Sql, person: PersonId, subject: SubjectId) -> Result<()> {
    sql.execute(
        "UPDATE faces SET subject_id = $2 WHERE id IN \
         (SELECT template_face_id FROM library_faces WHERE person_id = $1)",
        params![person, subject],
    )?;
    Ok(())
}

/// The person a library face belongs to (`None`: unassigned).
fn owner_of(sql: &dyn Sql, face: FaceId) -> Result<Option<PersonId>> {
    let row = sql.query_opt("SELECT person_id FROM library_faces WHERE face_id = $1", params![face])?;
    row.ok_or(GalleryError::UnknownFace(face))?.opt_i64(0)
}

pub(super) fn set_person(sql: &dyn Sql, face: FaceId, person: Option<PersonId>) -> Result<()> {
    let changed = sql.execute("UPDATE library_faces SET person_id = $2 WHERE face_id = $1", params![face, person])?;
    if changed == 0 {
        return Err(GalleryError::UnknownFace(face));
    }
    Ok(())
}

pub(super) fn new_person(sql: &dyn Sql) -> Result<PersonId> {
    sql.query_one("INSERT INTO library_people (created_at) VALUES ($1) RETURNING id", params![now()])?.i64(0)
}

/// Inserts a subject with empty metadata; returns its id.
fn insert_subject(sql: &dyn Sql, collection: i64, name: &str) -> Result<SubjectId> {
    sql.query_one(
        "INSERT INTO subjects (collection_id, name, metadata, created_at) VALUES ($1, $2, '{}', $3) RETURNING id",
        params![collection, name, now()],
    )?
    .i64(0)
}

/// The default collection's subject of `name`, made when there is none; and whether it existed.
pub(super) fn default_subject(sql: &dyn Sql, name: &str) -> Result<(SubjectId, bool)> {
    let collection = collection_id(sql, DEFAULT_COLLECTION)?;
    match sql.query_opt("SELECT id FROM subjects WHERE collection_id = $1 AND name = $2", params![collection, name])? {
        Some(row) => Ok((row.i64(0)?, true)),
        None => Ok((insert_subject(sql, collection, name)?, false)),
    }
}

/// Checks, inside a write, that the gallery's model is still `model` (adopted before it began).
fn check_model<S: LibraryStorage>(sql: &dyn Sql, model: &ModelId, dims: usize) -> Result<()> {
    let setting = |key: &str| -> Result<Option<String>> {
        match sql.query_opt(&format!("SELECT value FROM {} WHERE key = $1", S::META_TABLE), params![key])? {
            Some(row) => row.opt_text(0),
            None => Ok(None),
        }
    };
    match (setting("model")?, setting("dims")?) {
        (Some(current), Some(current_dims)) if current == model.0 && current_dims == dims.to_string() => Ok(()),
        (Some(current), _) if current != model.0 => {
            Err(GalleryError::ModelMismatch { gallery: current, given: model.0.clone() })
        }
        _ => Err(GalleryError::Invalid("the gallery's model changed during this write; try again".into())),
    }
}

/// Adds a gallery face to a subject (the model checked by the caller); an image the subject has
/// is not added twice.
fn add_face_in(sql: &dyn Sql, subject_id: SubjectId, face: NewFace) -> Result<AddedFace> {
    check_face(&face)?;
    let sha = face.image_sha256.to_ascii_lowercase();
    if let Some(row) = sql.query_opt(crate::sql::gallery::FACE_OF_IMAGE, params![subject_id, &sha])? {
        return Ok(AddedFace { face_id: row.i64(0)?, subject_id, duplicate: true });
    }
    let b = face.bbox;
    let face_id = sql
        .query_one(
            "INSERT INTO faces (subject_id, model, embedding, detection_score, bbox_x1, bbox_y1, bbox_x2, bbox_y2, \
             image_sha256, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                subject_id.into(),
                face.model.0.into(),
                crate::sql::Value::Vector(face.embedding),
                face.detection_score.into(),
                b.x1.into(),
                b.y1.into(),
                b.x2.into(),
                b.y2.into(),
                sha.into(),
                now().into(),
            ],
        )?
        .i64(0)?;
    if let Some(png) = face.crop_png {
        sql.execute(crate::sql::gallery::INSERT_CROP, params![face_id, png])?;
    }
    Ok(AddedFace { face_id, subject_id, duplicate: false })
}

/// Makes the best faces of a named person its gallery templates, and drops templates of faces
/// that left it or fell out of the best.
pub(super) fn sync_templates(sql: &dyn Sql, person: PersonId) -> Result<()> {
    let row = sql.query_one("SELECT subject_id FROM library_people WHERE id = $1", params![person])?;
    let Some(subject_id) = row.opt_i64(0)? else { return Ok(()) };
    let best = "SELECT face_id FROM library_faces WHERE person_id = $1 ORDER BY quality DESC, face_id LIMIT $2";
    // Templates of faces that left this person, or fell out of its best, go.
    sql.execute(
        &format!(
            "DELETE FROM faces WHERE subject_id = $3 AND id IN (SELECT template_face_id FROM library_faces \
             WHERE template_face_id IS NOT NULL AND (person_id IS DISTINCT FROM $1 OR face_id NOT IN ({best})))"
        ),
        params![person, TEMPLATES_PER_PERSON as i64, subject_id],
    )?;
    let wanted = sql.query(
        &format!(
            "SELECT lf.face_id, f.image_sha256, f.model, f.embedding, f.detection_score, \
             f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, (SELECT png FROM face_crops c WHERE c.face_id = f.id) \
             FROM library_faces lf JOIN faces f ON f.id = lf.face_id \
             WHERE lf.person_id = $1 AND lf.template_face_id IS NULL AND lf.face_id IN ({best})"
        ),
        params![person, TEMPLATES_PER_PERSON as i64],
    )?;
    for row in wanted {
        let template = NewFace {
            model: ModelId(row.text(2)?),
            embedding: row.vector(3)?,
            detection_score: row.f32(4)?,
            bbox: BBox::new(row.f32(5)?, row.f32(6)?, row.f32(7)?, row.f32(8)?),
            image_sha256: row.text(1)?,
            crop_png: row.opt_blob(9)?,
        };
        let added = add_face_in(sql, subject_id, template)?;
        sql.execute(
            "UPDATE library_faces SET template_face_id = $2 WHERE face_id = $1",
            params![row.i64(0)?, added.face_id],
        )?;
    }
    Ok(())
}

/// Stores a photo, its path and its faces; a photo whose content is stored only gains the path.
pub(super) fn add_photo_in<S: LibraryStorage>(sql: &dyn Sql, photo: NewPhoto) -> Result<PhotoId> {
    let sha256 = photo.sha256.to_ascii_lowercase();
    if let Some(row) = sql.query_opt("SELECT id FROM library_photos WHERE sha256 = $1", params![&sha256])? {
        let id = row.i64(0)?;
        upsert_file(sql, &photo.path, photo.stamp, Some(id), None)?;
        return Ok(id);
    }
    if let Some(first) = photo.faces.first() {
        check_model::<S>(sql, &first.face.model, first.face.embedding.len())?;
    }
    // The collection appears with the first photo: a gallery without a library has none.
    sql.execute(
        "INSERT INTO collections (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        params![LIBRARY_COLLECTION, now()],
    )?;
    let collection = collection_id(sql, LIBRARY_COLLECTION)?;
    let subject_id = insert_subject(sql, collection, &sha256)?;
    let photo_id = sql
        .query_one(
            "INSERT INTO library_photos (sha256, subject_id, width, height, rotation, added_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            params![&sha256, subject_id, photo.width, photo.height, photo.rotation, now()],
        )?
        .i64(0)?;
    for (index, face) in photo.faces.into_iter().enumerate() {
        let stored = NewFace { image_sha256: face_key(&sha256, index), ..face.face };
        let added = add_face_in(sql, subject_id, stored)?;
        let landmarks = serde_json::to_string(&face.landmarks).map_err(|e| GalleryError::Invalid(e.to_string()))?;
        sql.execute(
            "INSERT INTO library_faces (face_id, photo_id, landmarks, quality) VALUES ($1, $2, $3, $4)",
            params![added.face_id, photo_id, landmarks, face.quality as f64],
        )?;
    }
    upsert_file(sql, &photo.path, photo.stamp, Some(photo_id), None)?;
    Ok(photo_id)
}

/// The model a photo's faces are of, adopted before the write that stores them.
pub(super) fn adopt_photo_model<S: LibraryStorage>(store: &S, photo: &NewPhoto) -> Result<()> {
    match photo.faces.first() {
        Some(first) => store.adopt_model(&first.face.model, first.face.embedding.len()),
        None => Ok(()),
    }
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
