//! Indexing folders of photos into a [`Library`]: every image file, once per content.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use faceprint_gallery::NewFace;
use faceprint_gallery::library::{FileStamp, Library, NewLibraryFace, NewPhoto};
use serde::Serialize;

use crate::files::sha256_hex;
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
    /// Files indexed before that were not found under the folders this time: marked missing,
    /// their photos, faces and people kept (`forget-missing` removes them).
    pub missing: usize,
    /// Files marked missing before that were found again where they were.
    pub returned: usize,
    /// Folders that were empty or could not be read: nothing under them is marked missing.
    pub skipped: Vec<SkippedFolder>,
    pub seconds: f64,
}

/// A folder whose files were not looked for: what it was, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFolder {
    pub path: String,
    pub reason: String,
}

/// What a walk of the folders found.
#[derive(Debug, Default)]
struct Walk {
    files: Vec<PathBuf>,
    /// Roots that hold no image (an unmounted drive's empty mount point, say) and folders that
    /// could not be read: the library's files under them are not taken for missing.
    skipped: Vec<(PathBuf, String)>,
}

/// Every file under `roots` (recursively, symbolic links not followed) whose extension names an
/// image format the decoder reads, sorted so runs visit files in the same order.
pub fn image_files(roots: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    Ok(walk(roots).files)
}

/// Walks the roots; a folder that cannot be read is noted and skipped, not fatal.
fn walk(roots: &[PathBuf]) -> Walk {
    let mut found = Walk::default();
    for root in roots {
        let before = found.files.len();
        for entry in walkdir::WalkDir::new(root) {
            match entry {
                Ok(entry) if entry.file_type().is_file() && is_image_name(entry.path()) => {
                    found.files.push(entry.into_path())
                }
                Ok(_) => {}
                Err(e) => {
                    let path = e.path().unwrap_or(root).to_path_buf();
                    found.skipped.push((path, format!("could not be read: {e}")));
                }
            }
        }
        if found.files.len() == before && !found.skipped.iter().any(|(path, _)| path == root) {
            found.skipped.push((root.clone(), "holds no image (not mounted?)".into()));
        }
    }
    found.files.sort();
    found.files.dedup();
    found
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
    let walked = walk(roots);
    let files = &walked.files;
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
    mark_missing(library, roots, &walked, &mut report)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Marks missing the files the library holds under `roots` that the walk did not find
/// (deleted, moved away, renamed, or on a drive that is not mounted), and clears the mark of
/// those found again. Nothing is forgotten: a missing file keeps its photo, faces, person and
/// name until `forget-missing`, and comes back attached when it reappears. Files under a root
/// that held nothing, or a folder that could not be read, are not even marked.
fn mark_missing(
    library: &dyn Library,
    roots: &[PathBuf],
    walked: &Walk,
    report: &mut IndexReport,
) -> Result<(), Error> {
    let folder_prefix = |path: &Path| {
        let key = path_key(path);
        if key.ends_with(std::path::MAIN_SEPARATOR) { key } else { format!("{key}{}", std::path::MAIN_SEPARATOR) }
    };
    let found: HashSet<String> = walked.files.iter().map(|p| path_key(p)).collect();
    let skipped: Vec<String> = walked.skipped.iter().map(|(path, _)| folder_prefix(path)).collect();
    report.skipped = walked
        .skipped
        .iter()
        .map(|(path, reason)| SkippedFolder { path: path_key(path), reason: reason.clone() })
        .collect();
    let prefixes: Vec<String> = roots.iter().filter(|root| root.is_dir()).map(|root| folder_prefix(root)).collect();
    let marked: HashSet<String> = library.missing_files(None)?.into_iter().map(|m| m.path).collect();
    let (mut missing, mut returned) = (Vec::new(), Vec::new());
    for path in library.file_paths()? {
        match (found.contains(&path), marked.contains(&path)) {
            (true, true) => returned.push(path),
            (false, false)
                if prefixes.iter().any(|p| path.starts_with(p)) && !skipped.iter().any(|s| path.starts_with(s)) =>
            {
                missing.push(path)
            }
            _ => {}
        }
    }
    // Each is one transaction (an fsync): none when there is nothing to write.
    if !missing.is_empty() {
        report.missing = library.mark_missing(&missing)?;
    }
    if !returned.is_empty() {
        report.returned = library.mark_found(&returned)?;
    }
    Ok(())
}

/// The key a file is stored under: its absolute path, so runs from other directories agree.
fn path_key(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().into_owned()
}

/// Reads a file under the size limit, with its stamp; or the stamp (if any) and why it failed.
/// The file is opened without following a symbolic link and must be a regular file; its stamp
/// comes from the open file and at most the limit is read, so a path swapped after the walk
/// for a link to a private file, a device (`/dev/zero`) or a growing file reads nothing more.
fn read_file(path: &Path, max_bytes: u64) -> Result<(FileStamp, Vec<u8>), (FileStamp, Error)> {
    let read_error = |reason| Error::Read { path: path.to_path_buf(), reason };
    let unknown = FileStamp { size: 0, modified_ns: 0 };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| (unknown, read_error(e)))?;
    let metadata = file.metadata().map_err(|e| (unknown, read_error(e)))?;
    let stamp = stamp_of(&metadata);
    if !metadata.is_file() {
        return Err((stamp, read_error(std::io::Error::other("not a regular file"))));
    }
    let bytes = crate::files::read_open_limited(file, path, max_bytes).map_err(|e| (stamp, e))?;
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

#[cfg(all(test, unix))]
mod tests {
    use super::read_file;

    /// Regression: indexing read a file after the walk, following symbolic links, with no
    /// bound: a path swapped after the walk for a link to a private file or `/dev/zero` was
    /// read (the walk itself never follows links; the read after it did).
    #[test]
    fn a_path_swapped_for_a_link_a_device_or_a_pipe_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private.jpg");
        std::fs::write(&private, b"secret bytes").unwrap();
        let (read, _) = read_file(&private, 1 << 20).unwrap();
        assert_eq!(read.size, 12);
        for (name, target) in [("link.jpg", private.as_path()), ("zero.jpg", std::path::Path::new("/dev/zero"))] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(target, &link).unwrap();
            let Err((_, error)) = read_file(&link, 1 << 20) else { panic!("{name} was read through its link") };
            assert_eq!(error.code(), "read_failed", "{name}: {error}");
        }
        let fifo = dir.path().join("pipe.jpg");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let Err((_, error)) = read_file(&fifo, 1 << 20) else { panic!("a pipe was read") };
        assert!(error.to_string().contains("not a regular file"), "{error}");
        let big = dir.path().join("big.jpg");
        std::fs::write(&big, vec![0u8; 2000]).unwrap();
        let Err((_, error)) = read_file(&big, 1000) else { panic!("read past the limit") };
        assert_eq!(error.code(), "input_too_large", "{error}");
    }
}
