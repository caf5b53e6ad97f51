//! A photo library out of and into a store: photos with their files and faces, people with
//! their names, faces and bars, failed files. Faces are named by their photo and key, so people
//! come back attached to the same faces in another store.

use faceprint_types::ModelId;

use super::rows::{
    FACE_COLUMNS, add_photo_in, default_subject, face_from_row, new_person, set_person, sync_templates, upsert_file,
};
use super::store::LibraryStorage;
use super::{FaceRef, FileRecord, FileStamp, LibraryRecord, NewLibraryFace, NewPhoto, PersonRecord, PhotoRecord};
use crate::sql::{Row, Sql, params};
use crate::{FaceId, GalleryError, NewFace, Result};

const FILE_COLUMNS: &str = "path, size, modified_ns, missing_since, error";

fn file_from_row(row: &Row) -> Result<FileRecord> {
    Ok(FileRecord {
        path: row.text(0)?,
        stamp: FileStamp { size: row.i64(1)? as u64, modified_ns: row.i64(2)? },
        missing_since: row.opt_i64(3)?,
        error: row.opt_text(4)?,
    })
}

fn face_ref(row: &Row) -> Result<FaceRef> {
    Ok(FaceRef { photo: row.text(0)?, key: row.text(1)? })
}

/// Every photo, then every person, then every failed file, from the snapshot `sql` reads.
pub(super) fn export(sql: &dyn Sql, visit: &mut dyn FnMut(LibraryRecord) -> Result<()>) -> Result<()> {
    // Photo by photo: a large library is never in memory at once.
    let photos = sql.query("SELECT id, sha256, width, height, rotation FROM library_photos ORDER BY id", &[])?;
    for row in photos {
        let id = row.i64(0)?;
        let files = sql
            .query(&format!("SELECT {FILE_COLUMNS} FROM library_files WHERE photo_id = $1 ORDER BY path"), params![id])?
            .iter()
            .map(file_from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut stored = Vec::new();
        let faces = sql.query(
            &format!(
                "SELECT {FACE_COLUMNS}, f.model, (SELECT png FROM face_crops c WHERE c.face_id = f.id) \
                 FROM library_faces lf JOIN faces f ON f.id = lf.face_id WHERE lf.photo_id = $1 ORDER BY lf.face_id"
            ),
            params![id],
        )?;
        for face_row in faces {
            let face = face_from_row(&face_row)?;
            stored.push(NewLibraryFace {
                face: NewFace {
                    model: ModelId(face_row.text(11)?),
                    embedding: face.embedding,
                    detection_score: face.detection_score,
                    bbox: face.bbox,
                    image_sha256: String::new(),
                    crop_png: face_row.opt_blob(12)?,
                },
                landmarks: face.landmarks,
                quality: face.quality,
            });
        }
        visit(LibraryRecord::Photo(PhotoRecord {
            sha256: row.text(1)?,
            width: row.i64(2)? as u32,
            height: row.i64(3)? as u32,
            rotation: row.i64(4)? as u16,
            files,
            faces: stored,
        }))?;
    }

    let people = sql.query(
        "SELECT lp.id, lp.name, s.name FROM library_people lp LEFT JOIN subjects s ON s.id = lp.subject_id \
         ORDER BY lp.id",
        &[],
    )?;
    for row in people {
        let id = row.i64(0)?;
        let faces = sql
            .query(
                "SELECT p.sha256, f.image_sha256 FROM library_faces lf JOIN faces f ON f.id = lf.face_id \
                 JOIN library_photos p ON p.id = lf.photo_id WHERE lf.person_id = $1 ORDER BY lf.face_id",
                params![id],
            )?
            .iter()
            .map(face_ref)
            .collect::<Result<Vec<_>>>()?;
        let barred = sql
            .query(
                "SELECT p.sha256, f.image_sha256, b.split FROM library_barred b \
                 JOIN library_faces lf ON lf.face_id = b.face_id JOIN faces f ON f.id = b.face_id \
                 JOIN library_photos p ON p.id = lf.photo_id WHERE b.person_id = $1 ORDER BY b.face_id",
                params![id],
            )?
            .iter()
            .map(|r| Ok((face_ref(r)?, r.opt_i64(2)?)))
            .collect::<Result<Vec<_>>>()?;
        visit(LibraryRecord::Person(PersonRecord {
            name: row.opt_text(1)?,
            subject: row.opt_text(2)?,
            faces,
            barred,
        }))?;
    }

    let failed =
        sql.query(&format!("SELECT {FILE_COLUMNS} FROM library_files WHERE error IS NOT NULL ORDER BY path"), &[])?;
    for row in failed {
        visit(LibraryRecord::FailedFile(file_from_row(&row)?))?;
    }
    Ok(())
}

/// Adds one record of an export (see [`super::Library::import_library`]).
pub(super) fn import<S: LibraryStorage>(sql: &dyn Sql, record: LibraryRecord) -> Result<bool> {
    match record {
        LibraryRecord::Photo(photo) => import_photo::<S>(sql, photo),
        LibraryRecord::Person(person) => import_person(sql, person),
        LibraryRecord::FailedFile(file) => {
            let error = file.error.as_deref().unwrap_or("failed");
            let known = sql.query_opt("SELECT 1 FROM library_files WHERE path = $1", params![&file.path])?.is_some();
            if !known {
                upsert_file(sql, &file.path, file.stamp, None, Some(error))?;
            }
            Ok(!known)
        }
    }
}

fn import_photo<S: LibraryStorage>(sql: &dyn Sql, photo: PhotoRecord) -> Result<bool> {
    let Some(first) = photo.files.first() else {
        return Err(GalleryError::Invalid(format!("photo {} has no file", photo.sha256)));
    };
    let sha256 = photo.sha256.to_ascii_lowercase();
    let new = sql.query_opt("SELECT 1 FROM library_photos WHERE sha256 = $1", params![&sha256])?.is_none();
    let id = add_photo_in::<S>(
        sql,
        NewPhoto {
            path: first.path.clone(),
            stamp: first.stamp,
            sha256: photo.sha256,
            width: photo.width,
            height: photo.height,
            rotation: photo.rotation,
            faces: photo.faces,
        },
    )?;
    for file in &photo.files {
        upsert_file(sql, &file.path, file.stamp, Some(id), None)?;
        sql.execute(
            "UPDATE library_files SET missing_since = CAST($2 AS BIGINT) WHERE path = $1",
            params![&file.path, file.missing_since],
        )?;
    }
    Ok(new)
}

/// The library face an exported reference names.
fn face_of(sql: &dyn Sql, face: &FaceRef) -> Result<FaceId> {
    let row = sql.query_opt(
        "SELECT f.id FROM library_photos p JOIN faces f ON f.subject_id = p.subject_id \
         WHERE p.sha256 = $1 AND f.image_sha256 = $2",
        params![face.photo.to_ascii_lowercase(), face.key.to_ascii_lowercase()],
    )?;
    row.ok_or_else(|| GalleryError::Invalid(format!("no face {} in photo {}", face.key, face.photo)))?.i64(0)
}

fn import_person(sql: &dyn Sql, person: PersonRecord) -> Result<bool> {
    let faces = person.faces.iter().map(|face| face_of(sql, face)).collect::<Result<Vec<_>>>()?;
    for &face in &faces {
        let owned = sql.query_one("SELECT person_id FROM library_faces WHERE face_id = $1", params![face])?;
        if owned.opt_i64(0)?.is_some() {
            return Ok(false); // imported before
        }
    }
    if let Some(name) = &person.name
        && sql.query_opt("SELECT 1 FROM library_people WHERE name = $1", params![name])?.is_some()
    {
        return Ok(false);
    }
    let id = new_person(sql)?;
    for &face in &faces {
        set_person(sql, face, Some(id))?;
    }
    for (face, split) in &person.barred {
        sql.execute(
            "INSERT INTO library_barred (face_id, person_id, split) VALUES ($1, $2, CAST($3 AS BIGINT)) \
             ON CONFLICT (face_id, person_id) DO NOTHING",
            params![face_of(sql, face)?, id, *split],
        )?;
    }
    if let Some(name) = &person.name {
        // The export's own subject: the person stood for it there, so it does here.
        let (subject_id, _) = default_subject(sql, person.subject.as_deref().unwrap_or(name))?;
        sql.execute(
            "UPDATE library_people SET name = $2, subject_id = $3 WHERE id = $1",
            params![id, name, subject_id],
        )?;
        sync_templates(sql, id)?;
    }
    Ok(true)
}
