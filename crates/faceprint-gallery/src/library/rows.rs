//! The library's SQL over one transaction: reading its rows, files and orphaned photos, people
//! and bars, the gallery faces a photo or a named person's templates are, all in statements both
//! stores run ([`crate::sql`]).

use faceprint_types::{BBox, ModelId};
use sha2::Digest;

use super::store::LibraryStorage;
use super::{
    FileStamp, LIBRARY_COLLECTION, LibraryFace, NewPhoto, Page, Person, PersonId, PhotoId, TEMPLATES_PER_PERSON,
};
use crate::checks::now;
use crate::sql::{Row, Sql, params};
use crate::{DEFAULT_COLLECTION, FaceId, GalleryError, NewFace, Result, SubjectId};

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

pub(super) fn query_faces(sql: &dyn Sql, filter: &str, params: &[crate::sql::Value]) -> Result<Vec<LibraryFace>> {
    let statement = format!("SELECT {FACE_COLUMNS} FROM library_faces lf JOIN faces f ON f.id = lf.face_id {filter}");
    sql.query(&statement, params)?.iter().map(face_from_row).collect()
}

pub(super) const PERSON_COLUMNS: &str = "p.id, p.name, p.subject_id, \
    (SELECT count(*) FROM library_faces lf WHERE lf.person_id = p.id), \
    (SELECT lf.face_id FROM library_faces lf WHERE lf.person_id = p.id ORDER BY lf.quality DESC, lf.face_id LIMIT 1)";

pub(super) fn person_from_row(row: &Row) -> Result<Person> {
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
pub(super) fn face_key(photo_sha256: &str, index: usize) -> String {
    sha2::Sha256::digest(format!("{photo_sha256}#{index}")).iter().map(|b| format!("{b:02x}")).collect()
}

/// A page's LIMIT and OFFSET (no limit: the largest number both stores take).
pub(super) fn page_params(page: Page) -> (i64, i64) {
    (i64::try_from(page.limit).unwrap_or(i64::MAX), i64::try_from(page.offset).unwrap_or(i64::MAX))
}

pub(super) fn collection_id(sql: &dyn Sql, name: &str) -> Result<i64> {
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

pub(super) fn exists(sql: &dyn Sql, query: &str, params: &[crate::sql::Value]) -> Result<bool> {
    sql.query_one(&format!("SELECT EXISTS ({query})"), params)?.bool(0)
}

/// Whether a face is barred from a person, or its photo already has another face in that person.
pub(super) fn check_can_join(sql: &dyn Sql, face: FaceId, person: PersonId) -> Result<()> {
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
pub(super) fn take_face(
    sql: &dyn Sql,
    face: FaceId,
    from: PersonId,
    to: Option<PersonId>,
    split: Option<i64>,
) -> Result<()> {
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
pub(super) fn move_templates(sql: &dyn Sql, person: PersonId, subject: SubjectId) -> Result<()> {
    sql.execute(
        "UPDATE faces SET subject_id = $2 WHERE id IN \
         (SELECT template_face_id FROM library_faces WHERE person_id = $1)",
        params![person, subject],
    )?;
    Ok(())
}

/// The person a library face belongs to (`None`: unassigned).
pub(super) fn owner_of(sql: &dyn Sql, face: FaceId) -> Result<Option<PersonId>> {
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
pub(super) fn insert_subject(sql: &dyn Sql, collection: i64, name: &str) -> Result<SubjectId> {
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
pub(super) fn check_model<S: LibraryStorage>(sql: &dyn Sql, model: &ModelId, dims: usize) -> Result<()> {
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
        let added = crate::sql::gallery::insert_face(sql, subject_id, template)?;
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
        let added = crate::sql::gallery::insert_face(sql, subject_id, stored)?;
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
