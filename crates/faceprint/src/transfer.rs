//! A gallery as JSON lines, crops included, so it moves between files, machines and backends,
//! and can be re-embedded after the move (`faceprint export` / `faceprint import`).
//!
//! Line 1 is a header; then one `subject` line per subject (so subjects without faces survive)
//! followed by one `face` line per face. A gallery with a photo library goes on with its
//! `photo` lines (files and faces), `person` lines (names, faces, bars) and `failed_file`
//! lines, so an imported library works: the library's own collection is carried by those, never
//! as plain subjects (a version 1 export's are skipped). The reader takes untrusted files:
//! every line is bounded ([`MAX_LINE_BYTES`]) before it is parsed, and every face is checked as
//! an enrolment would be.

use std::io::{BufRead, Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use faceprint_gallery::library::{
    FaceRef, FileRecord, FileStamp, LIBRARY_COLLECTION, Library, LibraryRecord, NewLibraryFace, PersonRecord,
    PhotoRecord,
};
use faceprint_gallery::{AddedFace, Gallery, GalleryError, NewFace, SubjectKey};
use faceprint_types::{BBox, ModelId};
use serde::{Deserialize, Serialize};

use crate::Error;

const FORMAT: &str = "faceprint-gallery-export";
/// 2: the photo library's lines.
const VERSION: u32 = 2;
/// Faces written per transaction on import: one fsync per batch instead of per face.
const IMPORT_BATCH: usize = 1000;
/// Longest line read: a face line is about 60 KB (its crop as base64 and its embedding), a
/// subject line at most its metadata's 16 KiB, a library photo's line that for each of its
/// faces (a crowded photo's 200 faces: 14 MB).
pub const MAX_LINE_BYTES: usize = 32 << 20;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExportLine {
    Header {
        format: String,
        version: u32,
    },
    Subject {
        collection: String,
        name: String,
        metadata: serde_json::Value,
    },
    Face {
        collection: String,
        subject: String,
        model: ModelId,
        embedding: Vec<f32>,
        detection_score: f32,
        bbox: BBox,
        image_sha256: String,
        enrolled_at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crop_png: Option<String>,
    },
    /// A library photo: its files and its faces, in the order they were stored.
    Photo {
        sha256: String,
        width: u32,
        height: u32,
        rotation: u16,
        files: Vec<FileLine>,
        faces: Vec<LibraryFaceLine>,
    },
    /// A library person: its name, the subject it is enrolled as, its faces and the faces kept
    /// from it (`split`: by which split, `null`: by hand).
    Person {
        name: Option<String>,
        subject: Option<String>,
        faces: Vec<FaceRefLine>,
        barred: Vec<BarLine>,
    },
    /// A library file that could not be indexed.
    #[serde(rename = "failed_file")]
    FailedFile {
        #[serde(flatten)]
        file: FileLine,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLine {
    pub path: String,
    pub size: u64,
    pub modified_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryFaceLine {
    pub model: ModelId,
    pub embedding: Vec<f32>,
    pub detection_score: f32,
    pub bbox: BBox,
    pub landmarks: [f32; 10],
    pub quality: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_png: Option<String>,
}

/// A library face by its photo's sha256 and its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceRefLine {
    pub photo: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarLine {
    pub photo: String,
    pub key: String,
    pub split: Option<i64>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub imported_faces: usize,
    pub already_present: usize,
    /// Library photos and people added (photos already stored only gain their files).
    pub library_photos: usize,
    pub library_people: usize,
    /// A version 1 export's plain lines of the library's collection, which are not imported
    /// (the library cannot be rebuilt from them).
    pub skipped_library_lines: usize,
}

/// Reads the lines of an export, header checked first.
#[derive(Debug)]
pub struct ExportReader<R> {
    input: R,
    line: usize,
    buffer: Vec<u8>,
}

fn bad(line: usize, reason: impl Into<String>) -> Error {
    Error::BadExport { line, reason: reason.into() }
}

impl<R: BufRead> ExportReader<R> {
    /// Checks the header line.
    pub fn new(input: R) -> Result<Self, Error> {
        let mut reader = ExportReader { input, line: 0, buffer: Vec::new() };
        match reader.next_raw()? {
            Some(ExportLine::Header { format, version }) if format == FORMAT && version <= VERSION => Ok(reader),
            _ => Err(bad(1, format!("not a faceprint gallery export (version {VERSION} or older)"))),
        }
    }

    /// The number of the line read last (1-based).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The next subject or face line; `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<ExportLine>, Error> {
        match self.next_raw()? {
            Some(ExportLine::Header { .. }) => Err(bad(self.line, "a second header")),
            other => Ok(other),
        }
    }

    fn next_raw(&mut self) -> Result<Option<ExportLine>, Error> {
        loop {
            self.buffer.clear();
            self.line += 1;
            let read = (&mut self.input)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| bad(self.line, e.to_string()))?;
            if read == 0 {
                return Ok(None);
            }
            if self.buffer.len() > MAX_LINE_BYTES {
                return Err(bad(self.line, format!("longer than {MAX_LINE_BYTES} bytes")));
            }
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return serde_json::from_slice(&self.buffer)
                .map(Some)
                .map_err(|e| bad(self.line, format!("not an export line: {e}")));
        }
    }
}

/// A face line as the face to add, checked as enrolment checks one.
pub fn face_of(line: usize, face: ExportLine) -> Result<(String, SubjectKey, NewFace), Error> {
    let ExportLine::Face {
        collection, subject, model, embedding, detection_score, bbox, image_sha256, crop_png, ..
    } = face
    else {
        return Err(bad(line, "not a face line"));
    };
    check_sha256(line, "image_sha256", &image_sha256)?;
    let face = checked_face(line, model, embedding, detection_score, bbox, image_sha256, crop_png)?;
    Ok((collection, SubjectKey::Name(subject), face))
}

/// A face's fields checked as an enrolment checks them, its crop decoded.
fn checked_face(
    line: usize,
    model: ModelId,
    embedding: Vec<f32>,
    detection_score: f32,
    bbox: BBox,
    image_sha256: String,
    crop_png: Option<String>,
) -> Result<NewFace, Error> {
    let crop_png = crop_png.map(|b| BASE64.decode(b)).transpose().map_err(|_| bad(line, "the crop is not base64"))?;
    let finite = embedding.iter().all(|x| x.is_finite()) && !embedding.is_empty();
    let norm = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !finite || (norm - 1.0).abs() > 1e-3 {
        return Err(bad(line, "the embedding is not a unit vector of finite numbers"));
    }
    let box_ok = [bbox.x1, bbox.y1, bbox.x2, bbox.y2].iter().all(|v| v.is_finite());
    if !box_ok || !detection_score.is_finite() {
        return Err(bad(line, "the box or detection score is not finite"));
    }
    Ok(NewFace { model, embedding, detection_score, bbox, image_sha256, crop_png })
}

fn check_sha256(line: usize, what: &str, text: &str) -> Result<(), Error> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(line, format!("{what} is not 64 hex digits")));
    }
    Ok(())
}

fn file_record(file: FileLine, error: Option<String>) -> FileRecord {
    FileRecord {
        path: file.path,
        stamp: FileStamp { size: file.size, modified_ns: file.modified_ns },
        missing_since: file.missing_since,
        error,
    }
}

fn file_line(file: FileRecord) -> FileLine {
    FileLine {
        path: file.path,
        size: file.stamp.size,
        modified_ns: file.stamp.modified_ns,
        missing_since: file.missing_since,
    }
}

/// A library line as the record to import, checked as a face line is.
pub fn library_record_of(line: usize, record: ExportLine) -> Result<LibraryRecord, Error> {
    let face_ref = |photo: String, key: String| -> Result<FaceRef, Error> {
        check_sha256(line, "a face's photo", &photo)?;
        check_sha256(line, "a face's key", &key)?;
        Ok(FaceRef { photo, key })
    };
    Ok(match record {
        ExportLine::Photo { sha256, width, height, rotation, files, faces } => {
            check_sha256(line, "sha256", &sha256)?;
            if files.is_empty() {
                return Err(bad(line, "a photo without a file"));
            }
            let faces = faces
                .into_iter()
                .map(|f| {
                    if !f.quality.is_finite() || f.landmarks.iter().any(|v| !v.is_finite()) {
                        return Err(bad(line, "a face's quality or landmarks are not finite"));
                    }
                    let face =
                        checked_face(line, f.model, f.embedding, f.detection_score, f.bbox, String::new(), f.crop_png)?;
                    Ok(NewLibraryFace { face, landmarks: f.landmarks, quality: f.quality })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let files = files.into_iter().map(|f| file_record(f, None)).collect();
            LibraryRecord::Photo(PhotoRecord { sha256, width, height, rotation, files, faces })
        }
        ExportLine::Person { name, subject, faces, barred } => LibraryRecord::Person(PersonRecord {
            name,
            subject,
            faces: faces.into_iter().map(|f| face_ref(f.photo, f.key)).collect::<Result<_, _>>()?,
            barred: barred
                .into_iter()
                .map(|b| Ok((face_ref(b.photo, b.key)?, b.split)))
                .collect::<Result<_, Error>>()?,
        }),
        ExportLine::FailedFile { file, error } => LibraryRecord::FailedFile(file_record(file, Some(error))),
        _ => return Err(bad(line, "not a library line")),
    })
}

/// A library record as its export line.
fn library_line(record: LibraryRecord) -> ExportLine {
    let face_ref = |f: FaceRef| FaceRefLine { photo: f.photo, key: f.key };
    match record {
        LibraryRecord::Photo(photo) => ExportLine::Photo {
            sha256: photo.sha256,
            width: photo.width,
            height: photo.height,
            rotation: photo.rotation,
            files: photo.files.into_iter().map(file_line).collect(),
            faces: photo
                .faces
                .into_iter()
                .map(|f| LibraryFaceLine {
                    model: f.face.model,
                    embedding: f.face.embedding,
                    detection_score: f.face.detection_score,
                    bbox: f.face.bbox,
                    landmarks: f.landmarks,
                    quality: f.quality,
                    crop_png: f.face.crop_png.map(|png| BASE64.encode(png)),
                })
                .collect(),
        },
        LibraryRecord::Person(person) => ExportLine::Person {
            name: person.name,
            subject: person.subject,
            faces: person.faces.into_iter().map(face_ref).collect(),
            barred: person.barred.into_iter().map(|(f, split)| BarLine { photo: f.photo, key: f.key, split }).collect(),
        },
        LibraryRecord::FailedFile(file) => {
            let error = file.error.clone().unwrap_or_default();
            ExportLine::FailedFile { file: file_line(file), error }
        }
    }
}

/// Writes every collection, subject and face of `gallery`, then its photo library when it has
/// one; returns the number of faces.
pub fn export(gallery: &dyn Gallery, library: Option<&dyn Library>, out: &mut dyn Write) -> Result<usize, Error> {
    // A gallery error, so it passes through the store's walks unchanged.
    let mut write = |line: &ExportLine| -> Result<(), GalleryError> {
        serde_json::to_writer(&mut *out, line).map_err(|e| GalleryError::Invalid(format!("writing: {e}")))?;
        out.write_all(b"\n").map_err(|e| GalleryError::Invalid(format!("writing: {e}")))
    };
    write(&ExportLine::Header { format: FORMAT.into(), version: VERSION })?;
    for collection in gallery.collections()? {
        if collection == LIBRARY_COLLECTION {
            continue; // carried by the library's own lines
        }
        for subject in gallery.subjects(&collection)? {
            write(&ExportLine::Subject {
                collection: collection.clone(),
                name: subject.name,
                metadata: subject.metadata,
            })?;
        }
    }
    let mut faces = 0usize;
    gallery.for_each_face(&mut |full| {
        if full.collection == LIBRARY_COLLECTION {
            return Ok(());
        }
        let line = ExportLine::Face {
            collection: full.collection,
            subject: full.subject.name,
            model: full.face.model,
            embedding: full.face.embedding,
            detection_score: full.face.detection_score,
            bbox: full.face.bbox,
            image_sha256: full.face.image_sha256,
            enrolled_at: full.face.enrolled_at,
            crop_png: full.crop_png.map(|png| BASE64.encode(png)),
        };
        faces += 1;
        write(&line)
    })?;
    if let Some(library) = library {
        library.export_library(&mut |record| write(&library_line(record)))?;
    }
    Ok(faces)
}

/// Adds every subject and face of an export to `gallery`, and its photo library to `library`;
/// faces already there are counted, not added again.
pub fn import(gallery: &dyn Gallery, library: Option<&dyn Library>, input: impl BufRead) -> Result<Imported, Error> {
    let mut reader = ExportReader::new(input)?;
    let mut counts = Imported::default();
    let (mut library_photos, mut library_people, mut skipped_library_lines) = (0, 0, 0);
    let mut batch: Vec<(String, SubjectKey, NewFace)> = Vec::new();
    let mut flush = |batch: &mut Vec<(String, SubjectKey, NewFace)>| -> Result<(), Error> {
        // One transaction per collection run of the batch.
        while let Some(collection) = batch.first().map(|b| b.0.clone()) {
            let split = batch.iter().position(|b| b.0 != collection).unwrap_or(batch.len());
            let run: Vec<(SubjectKey, NewFace)> = batch.drain(..split).map(|(_, k, f)| (k, f)).collect();
            for AddedFace { duplicate, .. } in gallery.add_faces(&collection, run)? {
                if duplicate { counts.already_present += 1 } else { counts.imported_faces += 1 }
            }
        }
        Ok(())
    };
    while let Some(line) = reader.next_line()? {
        match line {
            ExportLine::Subject { collection, .. } | ExportLine::Face { collection, .. }
                if collection == LIBRARY_COLLECTION =>
            {
                skipped_library_lines += 1;
            }
            ExportLine::Subject { collection, name, metadata } => {
                flush(&mut batch)?;
                if !gallery.collections()?.contains(&collection) {
                    gallery.create_collection(&collection)?;
                }
                match gallery.create_subject(&collection, &name, metadata) {
                    Ok(_) | Err(GalleryError::DuplicateSubject(_)) => {}
                    Err(e) => return Err(bad(reader.line(), e.to_string())),
                }
            }
            line @ (ExportLine::Photo { .. } | ExportLine::Person { .. } | ExportLine::FailedFile { .. }) => {
                flush(&mut batch)?;
                let Some(library) = library else {
                    return Err(bad(reader.line(), "a photo library's line, and this gallery keeps no photo library"));
                };
                let record = library_record_of(reader.line(), line)?;
                let kind = match &record {
                    LibraryRecord::Photo(_) => Some(true),
                    LibraryRecord::Person(_) => Some(false),
                    LibraryRecord::FailedFile(_) => None,
                };
                let added = library.import_library(record).map_err(|e| bad(reader.line(), e.to_string()))?;
                match (added, kind) {
                    (true, Some(true)) => library_photos += 1,
                    (true, Some(false)) => library_people += 1,
                    _ => {}
                }
            }
            face => {
                batch.push(face_of(reader.line(), face)?);
                if batch.len() >= IMPORT_BATCH {
                    flush(&mut batch)?;
                }
            }
        }
    }
    flush(&mut batch)?;
    Ok(Imported { library_photos, library_people, skipped_library_lines, ..counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlong_line_is_refused_before_it_is_held() {
        let mut text = b"{\"type\":\"header\",\"format\":\"faceprint-gallery-export\",\"version\":1}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        let mut reader = ExportReader::new(&text[..]).unwrap();
        let error = reader.next_line().unwrap_err();
        assert!(error.to_string().contains("longer than"), "{error}");
        assert_eq!(error.code(), "bad_export");
    }

    /// The committed fuzz input with every library line: each parses and passes the checks.
    #[test]
    fn library_lines_are_read_and_checked() {
        let text = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/import/library-v2")).unwrap();
        let mut reader = ExportReader::new(&text[..]).unwrap();
        let mut kinds = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            match library_record_of(reader.line(), line).unwrap() {
                LibraryRecord::Photo(photo) => {
                    assert_eq!((photo.files.len(), photo.faces.len()), (2, 1));
                    assert_eq!(photo.files[1].missing_since, Some(1_700_000_000));
                    kinds.push("photo");
                }
                LibraryRecord::Person(person) => {
                    assert_eq!(person.barred[0].1, Some(3));
                    kinds.push("person");
                }
                LibraryRecord::FailedFile(file) => {
                    assert_eq!(file.error.as_deref(), Some("corrupt"));
                    kinds.push("failed");
                }
            }
        }
        assert_eq!(kinds, ["photo", "person", "failed"]);
        let photo_line = String::from_utf8_lossy(&text).lines().nth(1).unwrap().to_owned();
        let mut bad: serde_json::Value = serde_json::from_str(&photo_line).unwrap();
        bad["faces"][0]["embedding"][0] = serde_json::json!(2.0);
        let bad: ExportLine = serde_json::from_value(bad).unwrap();
        assert!(library_record_of(2, bad).is_err(), "a face that is not a unit vector is refused");
    }

    #[test]
    fn a_file_without_the_header_is_not_an_export() {
        assert!(ExportReader::new(&b"{\"type\":\"subject\"}\n"[..]).is_err());
        assert!(ExportReader::new(&b""[..]).is_err());
    }
}
