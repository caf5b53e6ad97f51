//! A gallery as JSON lines, crops included, so it moves between files, machines and backends,
//! and can be re-embedded after the move (`faceprint export` / `faceprint import`).
//!
//! Line 1 is a header; then one `subject` line per subject (so subjects without faces survive)
//! followed by one `face` line per face. The reader takes untrusted files: every line is bounded
//! ([`MAX_LINE_BYTES`]) before it is parsed, and every face is checked as an enrolment would be.

use std::io::{BufRead, Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use faceprint_gallery::{AddedFace, Gallery, GalleryError, NewFace, SubjectKey};
use faceprint_types::{BBox, ModelId};
use serde::{Deserialize, Serialize};

use crate::Error;

const FORMAT: &str = "faceprint-gallery-export";
const VERSION: u32 = 1;
/// Faces written per transaction on import: one fsync per batch instead of per face.
const IMPORT_BATCH: usize = 1000;
/// Longest line read: a face line is about 60 KB (its crop as base64 and its embedding), a
/// subject line at most its metadata's 16 KiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

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
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub imported_faces: usize,
    pub already_present: usize,
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
    if image_sha256.len() != 64 || !image_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(line, "image_sha256 is not 64 hex digits"));
    }
    let face = NewFace { model, embedding, detection_score, bbox, image_sha256, crop_png };
    Ok((collection, SubjectKey::Name(subject), face))
}

/// Writes every collection, subject and face of `gallery`; returns the number of faces.
pub fn export(gallery: &dyn Gallery, out: &mut dyn Write) -> Result<usize, Error> {
    let mut write = |line: &ExportLine| -> Result<(), Error> {
        serde_json::to_writer(&mut *out, line).map_err(|e| GalleryError::Invalid(format!("writing: {e}")))?;
        out.write_all(b"\n").map_err(|e| GalleryError::Invalid(format!("writing: {e}")))?;
        Ok(())
    };
    write(&ExportLine::Header { format: FORMAT.into(), version: VERSION })?;
    for collection in gallery.collections()? {
        for subject in gallery.subjects(&collection)? {
            write(&ExportLine::Subject {
                collection: collection.clone(),
                name: subject.name,
                metadata: subject.metadata,
            })?;
        }
    }
    let mut faces = 0usize;
    let mut failure = None;
    gallery
        .for_each_face(&mut |full| {
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
            write(&line).map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                GalleryError::Invalid(message)
            })
        })
        .map_err(|e| failure.take().unwrap_or_else(|| e.into()))?;
    Ok(faces)
}

/// Adds every subject and face of an export to `gallery`; faces already there are counted,
/// not added again.
pub fn import(gallery: &dyn Gallery, input: impl BufRead) -> Result<Imported, Error> {
    let mut reader = ExportReader::new(input)?;
    let mut counts = Imported::default();
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
            face => {
                batch.push(face_of(reader.line(), face)?);
                if batch.len() >= IMPORT_BATCH {
                    flush(&mut batch)?;
                }
            }
        }
    }
    flush(&mut batch)?;
    Ok(counts)
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

    #[test]
    fn a_file_without_the_header_is_not_an_export() {
        assert!(ExportReader::new(&b"{\"type\":\"subject\"}\n"[..]).is_err());
        assert!(ExportReader::new(&b""[..]).is_err());
    }
}
