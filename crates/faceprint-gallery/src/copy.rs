//! `gallery copy`: everything of one gallery into another of either kind (collections,
//! subjects with metadata, faces with crops, API keys, the photo library's photos, files,
//! people, names and bars), re-runnable, then checked face by face.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::{FullFace, GalleryError, NewFace, OpenGallery, Result, SubjectKey};

/// Where a copy is: `phase` names the step (subjects, faces, verify), `done` of `total` items.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress {
    pub phase: &'static str,
    pub done: usize,
    pub total: usize,
}

/// What a copy did and what its check found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyReport {
    pub collections: usize,
    pub subjects: usize,
    pub subjects_created: usize,
    pub faces: usize,
    pub faces_added: usize,
    pub api_keys: usize,
    pub api_keys_added: usize,
    /// Records of the photo library (photos, people, failed files) read, and those added.
    pub library_records: usize,
    pub library_records_added: usize,
    /// Faces of the source found in the destination with the same checksum: equal to `faces`
    /// when the copy is whole.
    pub faces_verified: usize,
}

/// Faces written per transaction.
const BATCH: usize = 500;

/// Copies `from` into `to`. What `to` holds already is kept (same subject names are the same
/// subjects; the same image of a subject is the same face), so running it again adds only what
/// is missing. Fails when a face of `from` is not in `to` afterwards, byte for byte.
pub fn copy_gallery(
    from: &OpenGallery,
    to: &OpenGallery,
    progress: &mut dyn FnMut(CopyProgress),
) -> Result<CopyReport> {
    let (source, target) = (&*from.gallery, &*to.gallery);
    if let (Some((model, _)), Some((theirs, _))) = (source.model()?, target.model()?)
        && model != theirs
        && target.stats()?.faces > 0
    {
        return Err(GalleryError::ModelMismatch { gallery: theirs.0, given: model.0 });
    }
    let stats = source.stats()?;
    let mut report = CopyReport {
        collections: 0,
        subjects: 0,
        subjects_created: 0,
        faces: stats.faces,
        faces_added: 0,
        api_keys: 0,
        api_keys_added: 0,
        library_records: 0,
        library_records_added: 0,
        faces_verified: 0,
    };

    // The library's collection comes with the library below, which knows its photos.
    let library = from.library.as_ref().zip(to.library.as_ref());
    let collections: Vec<String> = source
        .collections()?
        .into_iter()
        .filter(|c| library.is_none() || c != crate::library::LIBRARY_COLLECTION)
        .collect();
    report.collections = collections.len();
    for (done, collection) in collections.iter().enumerate() {
        match target.create_collection(collection) {
            Ok(()) | Err(GalleryError::DuplicateCollection(_)) => {}
            Err(e) => return Err(e),
        }
        copy_subjects(source, target, collection, &mut report)?;
        progress(CopyProgress { phase: "subjects", done: done + 1, total: collections.len() });
    }

    let mut batch: Vec<(SubjectKey, NewFace)> = Vec::with_capacity(BATCH);
    let mut batch_collection = String::new();
    let mut done = 0;
    let flush = |collection: &str, batch: &mut Vec<(SubjectKey, NewFace)>, report: &mut CopyReport| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let added = target.add_faces(collection, std::mem::take(batch))?;
        report.faces_added += added.iter().filter(|a| !a.duplicate).count();
        Ok(())
    };
    source.for_each_face(&mut |full| {
        if library.is_some() && full.collection == crate::library::LIBRARY_COLLECTION {
            return Ok(());
        }
        if full.collection != batch_collection || batch.len() == BATCH {
            flush(&batch_collection, &mut batch, &mut report)?;
            batch_collection.clone_from(&full.collection);
        }
        batch.push((
            SubjectKey::Name(full.subject.name),
            NewFace {
                model: full.face.model,
                embedding: full.face.embedding,
                detection_score: full.face.detection_score,
                bbox: full.face.bbox,
                image_sha256: full.face.image_sha256,
                crop_png: full.crop_png,
            },
        ));
        done += 1;
        if done % BATCH == 0 {
            progress(CopyProgress { phase: "faces", done, total: stats.faces });
        }
        Ok(())
    })?;
    flush(&batch_collection, &mut batch, &mut report)?;
    progress(CopyProgress { phase: "faces", done, total: stats.faces });

    if let Some((source_library, target_library)) = library {
        // Photos first, then people (their faces are the photos'), then failed files; named
        // people's templates were copied with the default collection and are recognised.
        let status = source_library.library_status()?;
        let total = status.photos + status.people + status.errors;
        source_library.export_library(&mut |record| {
            report.library_records += 1;
            report.library_records_added += usize::from(target_library.import_library(record)?);
            if report.library_records.is_multiple_of(BATCH) {
                progress(CopyProgress { phase: "library", done: report.library_records, total });
            }
            Ok(())
        })?;
        progress(CopyProgress { phase: "library", done: report.library_records, total });
    }

    let keys = from.keys.stored_api_keys()?;
    report.api_keys = keys.len();
    for key in &keys {
        report.api_keys_added += to.keys.import_api_key(key)? as usize;
    }

    report.faces_verified = verify(source, target, stats.faces, &mut *progress)?;
    if report.faces_verified != report.faces {
        return Err(GalleryError::Invalid(format!(
            "the copy is incomplete: {} of the source's {} faces are in the destination with the same checksum",
            report.faces_verified, report.faces
        )));
    }
    Ok(report)
}

/// Creates the subjects of `collection` that `target` lacks, and gives those it has the
/// source's metadata.
fn copy_subjects(
    source: &dyn crate::Gallery,
    target: &dyn crate::Gallery,
    collection: &str,
    report: &mut CopyReport,
) -> Result<()> {
    let existing: HashMap<String, serde_json::Value> =
        target.subjects(collection)?.into_iter().map(|s| (s.name, s.metadata)).collect();
    let mut after = None;
    loop {
        let page = source.subjects_page(collection, after, 1000)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = Some(last.id);
        report.subjects += page.len();
        let mut missing = Vec::new();
        for subject in page {
            match existing.get(&subject.name) {
                None => missing.push((subject.name, subject.metadata)),
                Some(metadata) if *metadata != subject.metadata => {
                    target.set_metadata(collection, &SubjectKey::Name(subject.name), subject.metadata)?;
                }
                Some(_) => {}
            }
        }
        report.subjects_created += missing.len();
        if !missing.is_empty() {
            target.create_subjects(collection, missing)?;
        }
    }
}

/// A face's identity in any gallery (ids differ between galleries): collection, subject name
/// and image.
type FaceKey = (String, String, String);

/// sha256 of everything stored about a face but its ids and dates.
fn checksum(face: &FullFace) -> [u8; 32] {
    let mut hash = Sha256::new();
    for text in [&face.collection, &face.subject.name, &face.face.model.0, &face.face.image_sha256] {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    for value in face.face.embedding.iter().chain([&face.face.detection_score]) {
        hash.update(value.to_le_bytes());
    }
    let b = face.face.bbox;
    for value in [b.x1, b.y1, b.x2, b.y2] {
        hash.update(value.to_le_bytes());
    }
    match &face.crop_png {
        Some(png) => {
            hash.update([1]);
            hash.update(png);
        }
        None => hash.update([0]),
    }
    hash.finalize().into()
}

fn key_of(face: &FullFace) -> FaceKey {
    (face.collection.clone(), face.subject.name.clone(), face.face.image_sha256.clone())
}

/// How many faces of `source` are in `target` with the same checksum.
fn verify(
    source: &dyn crate::Gallery,
    target: &dyn crate::Gallery,
    total: usize,
    progress: &mut dyn FnMut(CopyProgress),
) -> Result<usize> {
    let mut theirs: HashMap<FaceKey, [u8; 32]> = HashMap::new();
    target.for_each_face(&mut |face| {
        theirs.insert(key_of(&face), checksum(&face));
        Ok(())
    })?;
    let mut matched = HashSet::new();
    let mut done = 0;
    source.for_each_face(&mut |face| {
        let key = key_of(&face);
        if theirs.get(&key) == Some(&checksum(&face)) {
            matched.insert(key);
        }
        done += 1;
        if done % BATCH == 0 {
            progress(CopyProgress { phase: "verify", done, total });
        }
        Ok(())
    })?;
    progress(CopyProgress { phase: "verify", done, total });
    Ok(matched.len())
}
