//! Indexing folders of photos into a [`Library`]: every image file, once per content.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use faceprint_gallery::NewFace;
use faceprint_gallery::library::{FileStamp, Library, NewLibraryFace, NewPhoto};
use serde::Serialize;

use crate::engine::sha256_hex;
use crate::gallery::encode_png;
use crate::{Error, FaceEngine, ImageFaces};

/// Files read and hashed before a batch goes through the pipeline: enough to keep every worker
/// busy, few enough that their bytes stay a small, bounded amount of memory.
const FILES_PER_BATCH: usize = 64;

/// What one indexing run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexReport {
    /// Image files found under the folders.
    pub files: usize,
    /// Photos read, found faces in (or none), and stored.
    pub added: usize,
    /// Files whose size and modification time had not changed since they were indexed.
    pub unchanged: usize,
    /// Files whose content was already stored under another path (moved, renamed, copied).
    pub linked: usize,
    /// Files that could not be indexed (listed by `Library::file_errors`).
    pub failed: usize,
    /// Faces found in the added photos.
    pub faces: usize,
    /// Added photos whose faces were found only after turning them.
    pub turned: usize,
    /// Files indexed before that are no longer under the folders.
    pub gone: usize,
    /// Photos removed because none of their files is left.
    pub removed_photos: usize,
    pub seconds: f64,
}

/// Every file under `roots` (recursively, symbolic links not followed) whose extension names an
/// image format the decoder reads, sorted so runs visit files in the same order.
pub fn image_files(roots: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for root in roots {
        for entry in walkdir::WalkDir::new(root) {
            let entry = entry.map_err(|e| Error::Read {
                path: e.path().unwrap_or(root).to_path_buf(),
                reason: e.into_io_error().unwrap_or_else(|| std::io::Error::other("file system loop")),
            })?;
            if entry.file_type().is_file() && is_image_name(entry.path()) {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn is_image_name(path: &Path) -> bool {
    image::ImageFormat::from_path(path).is_ok_and(|format| format.reading_enabled())
}

fn stamp_of(metadata: &std::fs::Metadata) -> FileStamp {
    let modified_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
    FileStamp { size: metadata.len(), modified_ns }
}

/// A file to run through the pipeline: where it is, what it looked like, its content hash.
struct Pending {
    key: String,
    stamp: FileStamp,
    sha256: String,
}

/// Indexes every image under `roots` into `library`: files already indexed and unchanged are
/// skipped, files whose content is stored under another path only gain the path, the rest go
/// through the engine on every worker and are stored one photo per transaction, so a killed run
/// keeps what it did. A file that fails is recorded with its error and does not stop the run.
/// `progress` is called with (files done, files found) as files finish.
pub fn index_folders(
    engine: &FaceEngine,
    library: &dyn Library,
    roots: &[PathBuf],
    mut progress: impl FnMut(usize, usize),
) -> Result<IndexReport, Error> {
    let started = Instant::now();
    let files = image_files(roots)?;
    let mut report = IndexReport { files: files.len(), ..IndexReport::default() };
    let max_bytes = engine.decode_limits().max_bytes;
    let mut done = 0;
    for batch in files.chunks(FILES_PER_BATCH) {
        let mut inputs = Vec::new();
        let mut pending = Vec::new();
        // Copies of one content within the batch wait for the first to be stored.
        let mut copies: Vec<(String, FileStamp, String)> = Vec::new();
        let mut in_batch = HashSet::new();
        for path in batch {
            let key = path_key(path);
            let (stamp, bytes) = match read_file(path, max_bytes) {
                Ok(read) => read,
                Err((stamp, error)) => {
                    library.record_file_error(&key, stamp, &error.to_string())?;
                    report.failed += 1;
                    done += 1;
                    continue;
                }
            };
            if library.known_file(&key)?.is_some_and(|known| known.stamp == stamp) {
                report.unchanged += 1;
                done += 1;
                continue;
            }
            let sha256 = sha256_hex(&bytes);
            if let Some(photo) = library.photo_by_sha256(&sha256)? {
                library.link_file(&key, stamp, photo)?;
                report.linked += 1;
                done += 1;
                continue;
            }
            if !in_batch.insert(sha256.clone()) {
                copies.push((key, stamp, sha256));
                continue;
            }
            inputs.push((path.clone(), Some(bytes)));
            pending.push(Pending { key, stamp, sha256 });
        }
        progress(done, files.len());
        let mut failure = None;
        engine.process_inputs_for_library(inputs, |outcome| {
            if failure.is_some() {
                return;
            }
            let file = &pending[outcome.index];
            let stored = match outcome.result {
                Ok(image) => {
                    report.faces += image.faces.len();
                    report.turned += usize::from(image.rotation != 0 && !image.faces.is_empty());
                    report.added += 1;
                    new_photo(file, image).and_then(|photo| library.add_photo(photo).map(drop).map_err(Error::from))
                }
                Err(error) => {
                    report.failed += 1;
                    library.record_file_error(&file.key, file.stamp, &error.to_string()).map_err(Error::from)
                }
            };
            if let Err(error) = stored {
                failure = Some(error);
            }
            done += 1;
            progress(done, files.len());
        });
        if let Some(error) = failure {
            return Err(error);
        }
        for (key, stamp, sha256) in copies {
            match library.photo_by_sha256(&sha256)? {
                Some(photo) => {
                    library.link_file(&key, stamp, photo)?;
                    report.linked += 1;
                }
                None => report.failed += 1, // its first copy failed, and was recorded
            }
            done += 1;
        }
        progress(done, files.len());
    }
    forget_gone(library, roots, &files, &mut report)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Forgets the files the library holds under `roots` that the walk did not find (deleted,
/// moved away, renamed). Only under roots that exist: an unmounted drive forgets nothing.
fn forget_gone(
    library: &dyn Library,
    roots: &[PathBuf],
    found: &[PathBuf],
    report: &mut IndexReport,
) -> Result<(), Error> {
    let found: HashSet<String> = found.iter().map(|p| path_key(p)).collect();
    let prefixes: Vec<String> = roots
        .iter()
        .filter(|root| root.is_dir())
        .map(|root| {
            let key = path_key(root);
            if key.ends_with(std::path::MAIN_SEPARATOR) { key } else { format!("{key}{}", std::path::MAIN_SEPARATOR) }
        })
        .collect();
    let gone: Vec<String> = library
        .file_paths()?
        .into_iter()
        .filter(|path| prefixes.iter().any(|prefix| path.starts_with(prefix)) && !found.contains(path))
        .collect();
    if !gone.is_empty() {
        report.gone = gone.len();
        report.removed_photos = library.forget_files(&gone)?;
    }
    Ok(())
}

/// The key a file is stored under: its absolute path, so runs from other directories agree.
fn path_key(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().into_owned()
}

/// Reads a file under the size limit, with its stamp; or the stamp (if any) and why it failed.
fn read_file(path: &Path, max_bytes: u64) -> Result<(FileStamp, Vec<u8>), (FileStamp, Error)> {
    let read_error = |reason| Error::Read { path: path.to_path_buf(), reason };
    let unknown = FileStamp { size: 0, modified_ns: 0 };
    let metadata = std::fs::metadata(path).map_err(|e| (unknown, read_error(e)))?;
    let stamp = stamp_of(&metadata);
    if metadata.len() > max_bytes {
        let error = faceprint_vision::DecodeError::TooManyBytes { size: metadata.len(), limit: max_bytes };
        return Err((stamp, error.into()));
    }
    let bytes = std::fs::read(path).map_err(|e| (stamp, read_error(e)))?;
    Ok((stamp, bytes))
}

fn new_photo(file: &Pending, image: ImageFaces) -> Result<NewPhoto, Error> {
    let mut faces = Vec::with_capacity(image.faces.len());
    for face in image.faces {
        let (Some(embedding), Some(crop)) = (face.embedding, face.aligned) else {
            return Err(Error::Config("the library pipeline returned a face without its embedding or crop".into()));
        };
        let quality = face.analysis.map_or(0.0, |a| a.quality.score);
        let mut landmarks = [0.0; 10];
        for (i, point) in face.detection.landmarks.iter().enumerate() {
            landmarks[2 * i] = point[0];
            landmarks[2 * i + 1] = point[1];
        }
        faces.push(NewLibraryFace {
            face: NewFace {
                model: embedding.model,
                embedding: embedding.vector,
                detection_score: face.detection.score,
                bbox: face.detection.bbox,
                image_sha256: file.sha256.clone(),
                crop_png: Some(encode_png(&crop)?),
            },
            landmarks,
            quality,
        });
    }
    Ok(NewPhoto {
        path: file.key.clone(),
        stamp: file.stamp,
        sha256: file.sha256.clone(),
        width: image.width,
        height: image.height,
        rotation: image.rotation,
        faces,
    })
}
