//! `export` and `import`: a gallery as JSON lines, crops included, so a gallery moves between
//! files, machines and backends, and can be re-embedded after the move.
//!
//! Line 1 is a header; then one `subject` line per subject (so subjects without faces survive)
//! followed by one `face` line per face.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use faceprint::{BBox, Gallery, ModelId, NewFace, SqliteGallery, SubjectKey};
use serde::{Deserialize, Serialize};

const FORMAT: &str = "faceprint-gallery-export";
const VERSION: u32 = 1;
/// Faces written per transaction on import: one fsync per batch instead of per face.
const IMPORT_BATCH: usize = 1000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
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

pub fn export(gallery: &SqliteGallery, out: &Path) -> Result<ExitCode> {
    // Written beside the target and renamed, so a failed export never leaves half a file.
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temporary =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut writer = BufWriter::new(temporary.as_file());
    let mut write = |line: &Line| -> Result<()> {
        serde_json::to_writer(&mut writer, line)?;
        writer.write_all(b"\n")?;
        Ok(())
    };
    write(&Line::Header { format: FORMAT.into(), version: VERSION })?;
    for collection in gallery.collections()? {
        for subject in gallery.subjects(&collection)? {
            write(&Line::Subject { collection: collection.clone(), name: subject.name, metadata: subject.metadata })?;
        }
    }
    let mut faces = 0usize;
    let mut failure = None;
    gallery
        .for_each_face(&mut |full| {
            let line = Line::Face {
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
                faceprint::GalleryError::Invalid(message)
            })
        })
        .map_err(|e| failure.take().unwrap_or_else(|| e.into()))?;
    writer.flush()?;
    drop(writer);
    temporary.as_file().sync_all()?;
    temporary.persist(out).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", serde_json::json!({"exported_faces": faces, "to": out.display().to_string()}));
    Ok(ExitCode::SUCCESS)
}

pub fn import(gallery: &SqliteGallery, input: &Path) -> Result<ExitCode> {
    let file = std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut lines = std::io::BufReader::new(file).lines().enumerate();
    let header = match lines.next() {
        Some((_, line)) => serde_json::from_str::<Line>(&line?).ok(),
        None => None,
    };
    match header {
        Some(Line::Header { format, version }) if format == FORMAT && version <= VERSION => {}
        _ => bail!("{} is not a faceprint gallery export (version {VERSION} or older)", input.display()),
    }
    let (mut added, mut duplicates) = (0usize, 0usize);
    let mut batch: Vec<(String, SubjectKey, NewFace)> = Vec::new();
    let mut flush = |batch: &mut Vec<(String, SubjectKey, NewFace)>| -> Result<()> {
        // One transaction per collection run of the batch.
        while let Some(collection) = batch.first().map(|b| b.0.clone()) {
            let split = batch.iter().position(|b| b.0 != collection).unwrap_or(batch.len());
            let run: Vec<(SubjectKey, NewFace)> = batch.drain(..split).map(|(_, k, f)| (k, f)).collect();
            for result in gallery.add_faces(&collection, run)? {
                if result.duplicate { duplicates += 1 } else { added += 1 }
            }
        }
        Ok(())
    };
    for (number, line) in lines {
        let line = line.with_context(|| format!("reading {}", input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not an export line", input.display(), number + 1))?;
        match parsed {
            Line::Header { .. } => bail!("{} line {}: a second header", input.display(), number + 1),
            Line::Subject { collection, name, metadata } => {
                flush(&mut batch)?;
                if !gallery.collections()?.contains(&collection) {
                    gallery.create_collection(&collection)?;
                }
                match gallery.create_subject(&collection, &name, metadata) {
                    Ok(_) | Err(faceprint::GalleryError::DuplicateSubject(_)) => {}
                    Err(e) => return Err(e).with_context(|| format!("line {}", number + 1)),
                }
            }
            Line::Face {
                collection, subject, model, embedding, detection_score, bbox, image_sha256, crop_png, ..
            } => {
                let crop_png = crop_png
                    .map(|b| BASE64.decode(b))
                    .transpose()
                    .with_context(|| format!("{} line {}: crop is not base64", input.display(), number + 1))?;
                let face = NewFace { model, embedding, detection_score, bbox, image_sha256, crop_png };
                batch.push((collection, SubjectKey::Name(subject), face));
                if batch.len() >= IMPORT_BATCH {
                    flush(&mut batch)?;
                }
            }
        }
    }
    flush(&mut batch)?;
    println!("{}", serde_json::json!({"imported_faces": added, "already_present": duplicates}));
    Ok(ExitCode::SUCCESS)
}
