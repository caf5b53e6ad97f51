//! Photos in, faces out: `detect`, `embed`, `analyze`, `compare`, `demo`, and the records and
//! pictures they write.

mod analysis;
pub(crate) mod output;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use faceprint::{FaceEngine, FaceSelect, ModelPack};

use crate::args::{EngineArgs, PhotoArgs};
use crate::progress;
use output::{CompareRecord, image_record};

/// Reads "-" from standard input (bounded), leaves files to the workers.
pub(crate) fn inputs(files: Vec<PathBuf>, max_bytes: u64) -> Result<Vec<(PathBuf, Option<Vec<u8>>)>> {
    let mut stdin_used = false;
    files
        .into_iter()
        .map(|path| {
            if path.as_os_str() != "-" {
                return Ok((path, None));
            }
            if std::mem::replace(&mut stdin_used, true) {
                bail!("\"-\" (standard input) may be given only once");
            }
            let mut bytes = Vec::new();
            std::io::stdin().take(max_bytes + 1).read_to_end(&mut bytes).context("reading standard input")?;
            Ok((path, Some(bytes)))
        })
        .collect()
}

/// How far `detect`, `embed` and `analyze` take each face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    Detect,
    Embed,
    Analyse,
}

pub(crate) fn detect_or_embed(args: &EngineArgs, photos: PhotoArgs, work: Work, quiet: bool) -> Result<ExitCode> {
    let PhotoArgs { files, json, draw, select } = photos;
    let select = FaceSelect::from(select);
    let engine = args.engine()?;
    let inputs = inputs(files, engine.decode_limits().max_bytes)?;
    let several = inputs.len() > 1;
    if let (Some(dir), true) = (&draw, several) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Standard input can be read only once: keep its bytes for drawing.
    let stdin_bytes = draw.as_ref().and_then(|_| inputs.iter().find_map(|(_, bytes)| bytes.clone()));
    let label = match work {
        Work::Detect => "detecting",
        Work::Embed => "embedding",
        Work::Analyse => "analysing",
    };
    let bar = progress::bar(inputs.len(), quiet, label);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut write_error = None;
    let on_result = |outcome: faceprint::FileOutcome| {
        bar.inc(1);
        if outcome.result.is_err() {
            failed += 1;
        }
        if let (Some(target), Ok(faces)) = (&draw, &outcome.result)
            && let Err(e) = draw_to(&engine, &outcome.path, stdin_bytes.as_deref(), faces, target, several)
        {
            bar.suspend(|| eprintln!("faceprint: could not draw {}: {e:#}", outcome.path.display()));
        }
        let written = match (json, work) {
            (true, _) => {
                let record = image_record(&outcome.path, &outcome.result, work == Work::Embed);
                serde_json::to_writer(&mut out, &record).map_err(std::io::Error::other).and_then(|_| writeln!(out))
            }
            (false, Work::Analyse) => crate::faces::analysis::write_human(&mut out, &outcome.path, &outcome.result),
            (false, _) => write_human(&mut out, &outcome.path, &outcome.result),
        };
        if let Err(e) = written.and_then(|_| out.flush()) {
            write_error.get_or_insert(e);
        }
    };
    match work {
        Work::Analyse => engine.process_inputs_analysed(inputs, select, on_result),
        _ => engine.process_inputs(inputs, select, work == Work::Embed, on_result),
    }
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e).context("writing output");
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn write_human(
    out: &mut impl Write,
    path: &Path,
    result: &Result<faceprint::ImageFaces, faceprint::Error>,
) -> std::io::Result<()> {
    match result {
        Ok(image) => {
            writeln!(out, "{}: {}x{}, {} face(s)", path.display(), image.width, image.height, image.faces.len())?;
            for (i, face) in image.faces.iter().enumerate() {
                let b = face.detection.bbox;
                write!(
                    out,
                    "  #{i} box [{:.0}, {:.0}, {:.0}, {:.0}] score {:.3}",
                    b.x1, b.y1, b.x2, b.y2, face.detection.score
                )?;
                if let Some(e) = &face.embedding {
                    write!(out, " embedding {}-d norm {:.2}", e.dims(), e.raw_norm)?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
        Err(e) => writeln!(out, "{}: error [{}]: {e}", path.display(), e.code()),
    }
}

/// Draws onto the decoded image and writes it to `target` (a file, or with several inputs a
/// directory receiving `<stem>.faces.png`). `stdin` holds the bytes of "-".
fn draw_to(
    engine: &FaceEngine,
    source: &Path,
    stdin: Option<&[u8]>,
    faces: &faceprint::ImageFaces,
    target: &Path,
    into_dir: bool,
) -> Result<()> {
    let bytes = match stdin {
        Some(bytes) if source.as_os_str() == "-" => bytes.to_vec(),
        _ => std::fs::read(source).with_context(|| format!("reading {}", source.display()))?,
    };
    let mut image = engine.decode(&bytes)?;
    let detections: Vec<_> = faces.faces.iter().map(|f| f.detection.clone()).collect();
    faceprint::draw::draw_faces(&mut image, &detections);
    crate::faces::analysis::draw_analysis(&mut image, faces);
    let path = if into_dir {
        let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
        target.join(format!("{stem}.faces.png"))
    } else {
        target.to_path_buf()
    };
    image.save(&path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub(crate) fn compare(args: &EngineArgs, a: &Path, b: &Path, select: FaceSelect, json: bool) -> Result<ExitCode> {
    let engine = args.engine()?;
    let inputs = inputs(vec![a.to_path_buf(), b.to_path_buf()], engine.decode_limits().max_bytes)?;
    let mut results = Vec::new();
    engine.process_inputs(inputs, select, true, |o| results.push(o));
    let mut embeddings = Vec::new();
    for outcome in results {
        let faces = match outcome.result {
            // A read error names the file already.
            Err(error @ faceprint::Error::Read { .. }) => return Err(error.into()),
            result => result.with_context(|| format!("{}", outcome.path.display()))?,
        };
        let embedding = faces.embedding(0).with_context(|| format!("{}", outcome.path.display()))?.clone();
        embeddings.push(embedding);
    }
    let verdict = engine.compare(&embeddings[0], &embeddings[1])?;
    if json {
        let record = CompareRecord::from(verdict);
        println!("{}", serde_json::to_string(&record)?);
    } else {
        let answer = if verdict.same { "same person" } else { "different people" };
        println!("similarity {:.4} (threshold {:.2}): {answer}", verdict.similarity, verdict.threshold);
    }
    Ok(if verdict.same { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub(crate) fn demo(args: &EngineArgs, out: &Path) -> Result<ExitCode> {
    let engine = args.engine()?;
    let pack = ModelPack::default_pack();
    let players = pack.path_of("players.jpg");
    let faces = engine.faces_in_file(&players, FaceSelect::All, true)?;
    println!("{}: {}x{}, {} faces found", players.display(), faces.width, faces.height, faces.faces.len());
    let mut image = engine.decode(&std::fs::read(&players)?)?;
    let detections: Vec<_> = faces.faces.iter().map(|f| f.detection.clone()).collect();
    faceprint::draw::draw_faces(&mut image, &detections);
    image.save(out).with_context(|| format!("writing {}", out.display()))?;
    println!("boxes and landmarks drawn to {}", out.display());
    // Who in the team photo is the man in the portrait? (Both photos ship with the pack.)
    let portrait = engine.faces_in_file(&pack.path_of("yaoming.jpg"), FaceSelect::Largest, true)?;
    let probe = portrait.embedding(0)?;
    let mut ranked: Vec<(f32, &faceprint::Face)> = faces
        .faces
        .iter()
        .filter_map(|f| Some((engine.compare(probe, f.embedding.as_ref()?).ok()?.similarity, f)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("yaoming.jpg against the {} faces of the team photo (threshold {:.2}):", ranked.len(), engine.threshold());
    for (similarity, face) in ranked.iter().take(3) {
        let b = face.detection.bbox;
        let verdict = if *similarity >= engine.threshold() { "same person" } else { "someone else" };
        println!(
            "  face at [{:.0}, {:.0}, {:.0}, {:.0}]  similarity {similarity:.3}  {verdict}",
            b.x1, b.y1, b.x2, b.y2
        );
    }
    Ok(ExitCode::SUCCESS)
}
