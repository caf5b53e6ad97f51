//! The gallery commands: enroll, identify, verify, subjects, faces, collections, export, import,
//! reembed.

pub(crate) mod transfer;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use faceprint::contract::{ErrorOut, FaceRecordOut, SubjectDetailOut, SubjectOut};
use faceprint::{EnrolPolicy, FaceEngine, FaceSelect, Gallery, KeyStore, SubjectKey};
use serde_json::json;

use crate::args::{CollectionsCommand, FacesCommand, GalleryArgs, SubjectsCommand};
use crate::faces::output::{EnrolOutcome, EnrolRecord, identify_human, identify_record, verify_record};
use crate::progress;

/// `--gallery`, else `FACEPRINT_GALLERY`, else gallery.db in the user's data directory.
pub fn gallery_path(args: &GalleryArgs) -> Result<PathBuf> {
    if let Some(path) = &args.gallery {
        return Ok(path.clone());
    }
    let dir =
        dirs::data_dir().context("no --gallery given and no user data directory to put one in")?.join("faceprint");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.join("gallery.db"))
}

/// The gallery a command works on and the key store beside it, behind the backend-independent
/// traits: where another backend plugs in.
#[derive(Debug, Clone)]
pub struct Store {
    pub gallery: Arc<dyn Gallery>,
    pub keys: Arc<dyn KeyStore>,
    pub library: Option<Arc<dyn faceprint::library::Library>>,
}

pub fn open_store(args: &GalleryArgs) -> Result<Store> {
    let location = gallery_path(args)?;
    let opened = open_location(&location, args)?;
    Ok(Store { gallery: opened.gallery, keys: opened.keys, library: opened.library })
}

/// Opens a gallery file or `postgres://` URL with the search settings of `args`.
pub fn open_location(location: &Path, args: &GalleryArgs) -> Result<faceprint::OpenGallery> {
    let text = location.to_str().with_context(|| format!("gallery location {} is not UTF-8", location.display()))?;
    let timeout = std::time::Duration::try_from_secs_f64(args.db_timeout).context("--db-timeout")?;
    let options = faceprint::OpenOptions {
        index: args.index.into(),
        rerank: args.rerank,
        ef_search: args.ef_search,
        timeout: Some(timeout),
    };
    let shown = if faceprint::is_postgres_url(text) { "the PostgreSQL gallery".to_owned() } else { text.to_owned() };
    faceprint::open_gallery(text, &options).with_context(|| format!("opening gallery {shown}"))
}

/// Prints one JSON line and flushes it: for enrolment, printing is the acknowledgement, so it
/// happens only after the write is durable, and reaches the reader at once.
fn emit(out: &mut impl Write, value: &serde_json::Value) -> Result<()> {
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

/// One line of a bulk list: who, and which photo.
struct ListEntry {
    line: usize,
    subject: String,
    path: PathBuf,
}

/// A list line that could not be read: its number and why.
type BadLine = (usize, String);

/// Reads "subject<TAB>path" lines; blank lines and lines starting with '#' are skipped. Bad
/// lines are returned and reported, not fatal.
fn read_list(list: &Path) -> Result<(Vec<ListEntry>, Vec<BadLine>)> {
    let file = std::fs::File::open(list).with_context(|| format!("opening {}", list.display()))?;
    let base = list.parent().unwrap_or(Path::new("."));
    let (mut entries, mut bad) = (Vec::new(), Vec::new());
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_number = i + 1;
        let line = line.with_context(|| format!("reading {}", list.display()))?;
        let trimmed = line.trim_end_matches('\r');
        if trimmed.trim().is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.split_once('\t') {
            Some((subject, path)) if !subject.trim().is_empty() && !path.trim().is_empty() => entries.push(ListEntry {
                line: line_number,
                subject: subject.trim().to_owned(),
                path: base.join(path.trim()),
            }),
            _ => bad.push((line_number, "expected \"subject<TAB>image path\"".to_owned())),
        }
    }
    Ok((entries, bad))
}

#[allow(clippy::too_many_arguments)]
pub fn enroll(
    engine: &FaceEngine,
    gallery: &dyn Gallery,
    collection: &str,
    subject: Option<String>,
    list: Option<PathBuf>,
    files: Vec<PathBuf>,
    policy: EnrolPolicy,
    quiet: bool,
) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut refused = 0usize;
    let entries = match (subject, list) {
        (Some(subject), None) => {
            if files.is_empty() {
                bail!("no photos given to enrol");
            }
            files.into_iter().map(|path| ListEntry { line: 0, subject: subject.clone(), path }).collect()
        }
        (None, Some(list)) => {
            let (entries, bad) = read_list(&list)?;
            for (line, reason) in bad {
                refused += 1;
                emit(&mut out, &json!({"line": line, "error": ErrorOut::new("bad_list_line", reason)}))?;
            }
            entries
        }
        _ => bail!("give --subject with photos, or --list"),
    };
    let inputs =
        crate::faces::inputs(entries.iter().map(|e| e.path.clone()).collect(), engine.decode_limits().max_bytes)?;
    let bar = progress::bar(inputs.len(), quiet, "enrolling");
    let mut fatal = None;
    engine.process_inputs_for_enrolment(inputs, policy.select, |outcome| {
        bar.inc(1);
        if fatal.is_some() {
            return;
        }
        let entry = &entries[outcome.index];
        let result = outcome.result.and_then(|faces| {
            engine.enrol_faces(gallery, collection, &SubjectKey::Name(entry.subject.clone()), faces, &policy)
        });
        match result {
            // The store itself failing (disk full, corrupt file) stops the run.
            Err(faceprint::Error::Gallery(e)) if !is_per_entry(&e) => {
                fatal = Some(e);
                return;
            }
            Err(_) => refused += 1,
            Ok(_) => {}
        }
        let record = EnrolRecord {
            path: entry.path.display().to_string(),
            subject: entry.subject.clone(),
            line: (entry.line > 0).then_some(entry.line),
            outcome: EnrolOutcome::new(&result),
        };
        let record = serde_json::to_value(&record).expect("serialisable");
        if let Err(e) = emit(&mut out, &record) {
            fatal = Some(faceprint::GalleryError::Invalid(format!("writing output: {e}")));
        }
    });
    bar.finish_and_clear();
    if let Some(e) = fatal {
        return Err(e).context("enrolment stopped");
    }
    Ok(if refused > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Gallery errors that concern one entry (a bad name, another model) rather than the store.
fn is_per_entry(error: &faceprint::GalleryError) -> bool {
    use faceprint::GalleryError as E;
    matches!(
        error,
        E::Invalid(_)
            | E::UnknownSubject(_)
            | E::DuplicateSubject(_)
            | E::ModelMismatch { .. }
            | E::DimensionMismatch { .. }
    )
}

pub fn identify(
    engine: &FaceEngine,
    gallery: &dyn Gallery,
    collection: &str,
    files: Vec<PathBuf>,
    json: bool,
    top_k: usize,
    quiet: bool,
) -> Result<ExitCode> {
    let inputs = crate::faces::inputs(files, engine.decode_limits().max_bytes)?;
    let bar = progress::bar(inputs.len(), quiet, "identifying");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0;
    let mut write_error = None;
    engine.process_inputs_analysed(inputs, FaceSelect::All, |outcome| {
        bar.inc(1);
        let identified = outcome.result.and_then(|faces| engine.identify_faces(gallery, collection, &faces, top_k));
        if identified.is_err() {
            failed += 1;
        }
        let record = identify_record(&outcome.path, &identified);
        let written = if json {
            writeln!(out, "{}", serde_json::to_string(&record).expect("serialisable"))
        } else {
            write!(out, "{}", identify_human(&record))
        };
        if let Err(e) = written {
            write_error.get_or_insert(e);
        }
    });
    bar.finish_and_clear();
    out.flush()?;
    if let Some(e) = write_error {
        return Err(e).context("writing output");
    }
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn verify(
    engine: &FaceEngine,
    gallery: &dyn Gallery,
    collection: &str,
    subject: &str,
    probe: &Path,
    select: FaceSelect,
    json: bool,
) -> Result<ExitCode> {
    let key = SubjectKey::parse(subject);
    // Unknown subject: say so before running any model.
    gallery.subject(collection, &key)?;
    let inputs = crate::faces::inputs(vec![probe.to_path_buf()], engine.decode_limits().max_bytes)?;
    let mut result = None;
    engine.process_inputs_analysed(inputs, select, |o| result = Some(o.result));
    let faces = result.expect("one input gives one outcome").with_context(|| probe.display().to_string())?;
    let verdict = engine.verify_against(gallery, collection, &key, &faces)?;
    let same = verdict.same;
    if json {
        println!("{}", serde_json::to_string(&verify_record(probe, verdict))?);
    } else {
        let answer = if verdict.same { "same person" } else { "different person" };
        match verdict.similarity {
            Some(s) => {
                println!("{}: similarity {s:.4} (threshold {:.2}): {answer}", verdict.subject.name, verdict.threshold);
                if let Some(q) = verdict.quality {
                    println!("  probe quality {:.2}", q.score);
                }
            }
            None => println!("{} has no enrolled faces: {answer}", verdict.subject.name),
        }
    }
    Ok(if same { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn metadata_arg(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).with_context(|| format!("metadata {text:?} is not JSON"))
}

pub fn subjects(gallery: &dyn Gallery, collection: &str, action: SubjectsCommand) -> Result<ExitCode> {
    match action {
        SubjectsCommand::List { json } => {
            for subject in gallery.subjects(collection)? {
                if json {
                    println!("{}", serde_json::to_string(&SubjectOut::from(subject))?);
                } else {
                    println!("#{}\t{}\t{} faces", subject.id, subject.name, subject.faces);
                }
            }
        }
        SubjectsCommand::Show { subject, json } => {
            let key = SubjectKey::parse(&subject);
            let subject = gallery.subject(collection, &key)?.into();
            let face_records = gallery.faces(collection, &key)?.into_iter().map(FaceRecordOut::from).collect();
            let record = SubjectDetailOut { subject, face_records };
            if json {
                println!("{}", serde_json::to_string(&record)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&record)?);
            }
        }
        SubjectsCommand::Create { name, metadata } => {
            let subject = gallery.create_subject(collection, &name, metadata_arg(&metadata)?)?;
            println!("{}", serde_json::to_string(&subject)?);
        }
        SubjectsCommand::Rename { subject, new_name } => {
            let subject = gallery.rename_subject(collection, &SubjectKey::parse(&subject), &new_name)?;
            println!("{}", serde_json::to_string(&subject)?);
        }
        SubjectsCommand::SetMetadata { subject, metadata } => {
            let subject = gallery.set_metadata(collection, &SubjectKey::parse(&subject), metadata_arg(&metadata)?)?;
            println!("{}", serde_json::to_string(&subject)?);
        }
        SubjectsCommand::Merge { from, into } => {
            let subject = gallery.merge_subjects(collection, &SubjectKey::parse(&from), &SubjectKey::parse(&into))?;
            println!("{}", serde_json::to_string(&subject)?);
        }
        SubjectsCommand::Delete { subject } => {
            let faces = gallery.delete_subject(collection, &SubjectKey::parse(&subject))?;
            println!("{}", json!({"deleted": subject, "faces": faces}));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn faces(gallery: &dyn Gallery, collection: &str, action: FacesCommand) -> Result<ExitCode> {
    match action {
        FacesCommand::Delete { id } => {
            gallery.delete_face(collection, id)?;
            println!("{}", json!({"deleted_face": id}));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `gallery copy FROM TO`: a bar per phase on stderr, the counts on stdout.
pub fn copy(from: &Path, to: &Path, args: &GalleryArgs, json: bool) -> Result<ExitCode> {
    let source = open_location(from, args)?;
    let target = open_location(to, args)?;
    let mut bar: Option<(&'static str, indicatif::ProgressBar)> = None;
    let report = faceprint::copy_gallery(&source, &target, &mut |at| {
        if bar.as_ref().is_none_or(|(phase, _)| *phase != at.phase) {
            if let Some((_, done)) = bar.take() {
                done.finish();
            }
            bar = Some((at.phase, progress::bar(at.total, false, at.phase)));
        }
        if let Some((_, bar)) = &bar {
            bar.set_position(at.done as u64);
        }
    });
    if let Some((_, done)) = bar.take() {
        done.finish();
    }
    let report = report.with_context(|| format!("copying {} into {}", source.location, target.location))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "copied {} into {}: {} faces ({} new), {} subjects ({} new), {} collections, {} API keys ({} new), \
             {} photo-library records ({} new); {} of {} faces verified by checksum",
            source.location,
            target.location,
            report.faces,
            report.faces_added,
            report.subjects,
            report.subjects_created,
            report.collections,
            report.api_keys,
            report.api_keys_added,
            report.library_records,
            report.library_records_added,
            report.faces_verified,
            report.faces
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn collections(gallery: &dyn Gallery, action: CollectionsCommand) -> Result<ExitCode> {
    match action {
        CollectionsCommand::List => gallery.collections()?.iter().for_each(|c| println!("{c}")),
        CollectionsCommand::Create { name } => gallery.create_collection(&name)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reembed(engine: &FaceEngine, gallery: &dyn Gallery, quiet: bool) -> Result<ExitCode> {
    let before = gallery.model()?;
    let total = gallery.stats()?.faces;
    let bar = progress::bar(total, quiet, "re-embedding");
    let moved = engine.reembed(gallery, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let from = before.map(|m| m.0.to_string());
    println!("{}", json!({"faces": moved, "from_model": from, "to_model": engine.model_id()}));
    Ok(ExitCode::SUCCESS)
}
