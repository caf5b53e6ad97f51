//! A photo library out of and into a gallery file: photos with their files and faces, people
//! with their names, faces and bars, failed files. Faces are named by their photo and key, so
//! people come back attached to the same faces in another file.

use rusqlite::{OptionalExtension, Transaction, params};

use super::library::{
    FACE_COLUMNS, add_photo_in, default_subject, face_from_row, finish_face, new_person, sync_templates, upsert_file,
};
use crate::library::{
    FaceRef, FileRecord, FileStamp, LibraryRecord, NewLibraryFace, NewPhoto, PersonRecord, PhotoRecord,
};
use crate::{FaceId, GalleryError, NewFace, Result};

fn file_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        path: row.get(0)?,
        stamp: FileStamp { size: row.get::<_, i64>(1)? as u64, modified_ns: row.get(2)? },
        missing_since: row.get(3)?,
        error: row.get(4)?,
    })
}

/// Every photo, then every person, then every failed file, from the snapshot `tx` reads.
pub(super) fn export(tx: &Transaction<'_>, visit: &mut dyn FnMut(LibraryRecord) -> Result<()>) -> Result<()> {
    let mut files = tx.prepare(
        "SELECT path, size, modified_ns, missing_since, error FROM library_files WHERE photo_id = ?1 ORDER BY path",
    )?;
    let mut faces = tx.prepare(&format!(
        "SELECT {FACE_COLUMNS}, f.model, (SELECT png FROM face_crops c WHERE c.face_id = f.id) \
         FROM library_faces lf JOIN faces f ON f.id = lf.face_id WHERE lf.photo_id = ?1 ORDER BY lf.face_id"
    ))?;
    let mut photos = tx.prepare("SELECT id, sha256, width, height, rotation FROM library_photos ORDER BY id")?;
    let mut rows = photos.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let files = files.query_map([id], file_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stored = Vec::new();
        let mut face_rows = faces.query([id])?;
        while let Some(face_row) = face_rows.next()? {
            let face = finish_face(face_from_row(face_row)?)?;
            stored.push(NewLibraryFace {
                face: NewFace {
                    model: faceprint_types::ModelId(face_row.get(11)?),
                    embedding: face.embedding,
                    detection_score: face.detection_score,
                    bbox: face.bbox,
                    image_sha256: String::new(),
                    crop_png: face_row.get(12)?,
                },
                landmarks: face.landmarks,
                quality: face.quality,
            });
        }
        visit(LibraryRecord::Photo(PhotoRecord {
            sha256: row.get(1)?,
            width: row.get(2)?,
            height: row.get(3)?,
            rotation: row.get(4)?,
            files,
            faces: stored,
        }))?;
    }
    drop(rows);

    let face_ref =
        |row: &rusqlite::Row<'_>| -> rusqlite::Result<FaceRef> { Ok(FaceRef { photo: row.get(0)?, key: row.get(1)? }) };
    let mut person_faces = tx.prepare(
        "SELECT p.sha256, f.image_sha256 FROM library_faces lf JOIN faces f ON f.id = lf.face_id \
         JOIN library_photos p ON p.id = lf.photo_id WHERE lf.person_id = ?1 ORDER BY lf.face_id",
    )?;
    let mut bars = tx.prepare(
        "SELECT p.sha256, f.image_sha256, b.split FROM library_barred b JOIN library_faces lf ON lf.face_id = b.face_id \
         JOIN faces f ON f.id = b.face_id JOIN library_photos p ON p.id = lf.photo_id WHERE b.person_id = ?1 \
         ORDER BY b.face_id",
    )?;
    let mut people = tx.prepare(
        "SELECT lp.id, lp.name, s.name FROM library_people lp LEFT JOIN subjects s ON s.id = lp.subject_id ORDER BY lp.id",
    )?;
    let mut rows = people.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let faces = person_faces.query_map([id], face_ref)?.collect::<rusqlite::Result<Vec<_>>>()?;
        let barred = bars.query_map([id], |r| Ok((face_ref(r)?, r.get(2)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
        visit(LibraryRecord::Person(PersonRecord { name: row.get(1)?, subject: row.get(2)?, faces, barred }))?;
    }
    drop(rows);

    let mut failed = tx.prepare(
        "SELECT path, size, modified_ns, missing_since, error FROM library_files WHERE error IS NOT NULL ORDER BY path",
    )?;
    let failed = failed.query_map([], file_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    for file in failed {
        visit(LibraryRecord::FailedFile(file))?;
    }
    Ok(())
}

/// Adds one record of an export (see [`crate::library::Library::import_library`]).
pub(super) fn import(tx: &Transaction<'_>, record: LibraryRecord) -> Result<bool> {
    match record {
        LibraryRecord::Photo(photo) => import_photo(tx, photo),
        LibraryRecord::Person(person) => import_person(tx, person),
        LibraryRecord::FailedFile(file) => {
            let error = file.error.as_deref().unwrap_or("failed");
            let known: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM library_files WHERE path = ?1)")?
                .query_row([&file.path], |r| r.get(0))?;
            if !known {
                upsert_file(tx, &file.path, file.stamp, None, Some(error))?;
            }
            Ok(!known)
        }
    }
}

fn import_photo(tx: &Transaction<'_>, photo: PhotoRecord) -> Result<bool> {
    let Some(first) = photo.files.first() else {
        return Err(GalleryError::Invalid(format!("photo {} has no file", photo.sha256)));
    };
    let new: bool = tx
        .prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM library_photos WHERE sha256 = ?1)")?
        .query_row([photo.sha256.to_ascii_lowercase()], |r| r.get(0))?;
    let id = add_photo_in(
        tx,
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
        upsert_file(tx, &file.path, file.stamp, Some(id), None)?;
        tx.prepare_cached("UPDATE library_files SET missing_since = ?2 WHERE path = ?1")?
            .execute(params![file.path, file.missing_since])?;
    }
    Ok(new)
}

/// The library face an exported reference names.
fn face_of(tx: &Transaction<'_>, face: &FaceRef) -> Result<FaceId> {
    tx.prepare_cached(
        "SELECT f.id FROM library_photos p JOIN faces f ON f.subject_id = p.subject_id \
         WHERE p.sha256 = ?1 AND f.image_sha256 = ?2",
    )?
    .query_row([face.photo.to_ascii_lowercase(), face.key.to_ascii_lowercase()], |r| r.get(0))
    .optional()?
    .ok_or_else(|| GalleryError::Invalid(format!("no face {} in photo {}", face.key, face.photo)))
}

fn import_person(tx: &Transaction<'_>, person: PersonRecord) -> Result<bool> {
    let faces = person.faces.iter().map(|face| face_of(tx, face)).collect::<Result<Vec<_>>>()?;
    let mut owned = tx.prepare_cached("SELECT person_id IS NOT NULL FROM library_faces WHERE face_id = ?1")?;
    for &face in &faces {
        if owned.query_row([face], |r| r.get::<_, bool>(0))? {
            return Ok(false); // imported before
        }
    }
    if let Some(name) = &person.name {
        let taken: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM library_people WHERE name = ?1)")?
            .query_row([name], |r| r.get(0))?;
        if taken {
            return Ok(false);
        }
    }
    let id = new_person(tx)?;
    for &face in &faces {
        tx.prepare_cached("UPDATE library_faces SET person_id = ?2 WHERE face_id = ?1")?.execute(params![face, id])?;
    }
    for (face, split) in &person.barred {
        tx.prepare_cached("INSERT OR IGNORE INTO library_barred (face_id, person_id, split) VALUES (?1, ?2, ?3)")?
            .execute(params![face_of(tx, face)?, id, split])?;
    }
    if let Some(name) = &person.name {
        // The export's own subject: the person stood for it there, so it does here.
        let (subject_id, _) = default_subject(tx, person.subject.as_deref().unwrap_or(name))?;
        tx.execute(
            "UPDATE library_people SET name = ?2, subject_id = ?3 WHERE id = ?1",
            params![id, name, subject_id],
        )?;
        sync_templates(tx, id)?;
    }
    Ok(true)
}
