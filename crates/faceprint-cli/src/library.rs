//! `faceprint library …`: index folders of photos, group their faces into people, name them,
//! and find a person across the photos.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use faceprint::contract::{LibraryStatusOut, PersonOut, PhotoHitOut};
use faceprint::library::{GroupingOptions, Library, Page, PhotoHit, group_new_faces, index_folders, split_person};
use faceprint::{FaceEngine, FaceSelect, Gallery, SubjectKey};
use serde_json::json;

use crate::args::{LibraryCommand, PeopleCommand, SearchArgs};
use crate::gallery::Store;
use crate::progress;

const SHEET_COLUMNS: usize = 8;
const SHEET_ROWS: usize = 8;

pub fn run(store: &Store, command: LibraryCommand, quiet: bool) -> Result<ExitCode> {
    let library = store.library.as_deref().context("this gallery was opened without its photo library")?;
    match command {
        LibraryCommand::Add { engine, folders, no_grouping, json } => {
            add(&engine.engine()?, &*store.gallery, library, &folders, !no_grouping, json, quiet)
        }
        LibraryCommand::Status { json } => status(library, json),
        LibraryCommand::People { json, action: None } => people(library, json),
        LibraryCommand::People { action: Some(action), .. } => people_action(library, action),
        LibraryCommand::Search(args) => search(&*store.gallery, library, args),
        LibraryCommand::ForgetMissing { older_than, dry_run, json } => {
            forget_missing(library, older_than, dry_run, json)
        }
    }
}

fn add(
    engine: &FaceEngine,
    gallery: &dyn Gallery,
    library: &dyn Library,
    folders: &[PathBuf],
    grouping: bool,
    json: bool,
    quiet: bool,
) -> Result<ExitCode> {
    for folder in folders {
        if !folder.is_dir() {
            bail!("{} is not a folder", folder.display());
        }
    }
    // The bar is made once the walk has counted the files.
    let mut bar = None;
    let indexed = index_folders(engine, library, folders, |done, total| {
        bar.get_or_insert_with(|| progress::bar(total, quiet, "indexing")).set_position(done as u64);
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for skipped in &indexed.skipped {
        eprintln!("warning: {}: {}; nothing under it is taken for missing", skipped.path, skipped.reason);
    }
    let grouped = match grouping {
        true => Some(group_new_faces(gallery, library, &GroupingOptions::default())?),
        false => None,
    };
    if json {
        println!("{}", json!({ "indexed": indexed, "grouped": grouped }));
    } else {
        println!(
            "{} image files: {} added ({} faces, {} turned to find them), {} unchanged, {} moved or copied, \
             {} failed, {} newly missing, {} back ({:.1} s)",
            indexed.files,
            indexed.added,
            indexed.faces,
            indexed.turned,
            indexed.unchanged,
            indexed.linked,
            indexed.failed,
            indexed.missing,
            indexed.returned,
            indexed.seconds
        );
        if indexed.missing > 0 {
            println!("missing files keep their faces and people; to remove them: faceprint library forget-missing");
        }
        if let Some(g) = grouped {
            println!(
                "grouping: {} faces joined people, {} new people ({} faces), {} faces unassigned ({:.1} s)",
                g.joined, g.new_people, g.new_people_faces, g.unassigned, g.seconds
            );
        }
        if indexed.failed > 0 {
            println!("files that failed: faceprint library status");
        }
    }
    Ok(if indexed.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn status(library: &dyn Library, json: bool) -> Result<ExitCode> {
    let out = LibraryStatusOut::new(library.library_status()?, library.file_errors(Page::ALL)?);
    if json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (status, errors) = (out.status, out.errors);
    println!(
        "{} photos ({} files), {} faces, {} people ({} named), {} unassigned faces, {} files failed, \
         {} files missing",
        status.photos,
        status.files,
        status.faces,
        status.people,
        status.named_people,
        status.unassigned_faces,
        status.errors,
        status.missing_files
    );
    for error in errors {
        println!("  {}: {}", error.path, error.error);
    }
    Ok(ExitCode::SUCCESS)
}

fn person_line(person: &PersonOut) -> String {
    let face = person.representative_face.map_or("-".to_owned(), |f| f.to_string());
    format!(
        "person {:>5}  {:>5} faces  face {face}  {}",
        person.id,
        person.faces,
        person.name.as_deref().unwrap_or("(unnamed)")
    )
}

fn people(library: &dyn Library, json: bool) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for person in library.people(Page::ALL)?.into_iter().map(PersonOut::from) {
        match json {
            true => writeln!(out, "{}", serde_json::to_string(&person)?)?,
            false => writeln!(out, "{}", person_line(&person))?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn people_action(library: &dyn Library, action: PeopleCommand) -> Result<ExitCode> {
    match action {
        PeopleCommand::Name { person, name, merge_into_subject } => {
            let named = match library.name_person(person, &name, merge_into_subject) {
                Err(faceprint::GalleryError::DuplicateSubject(name)) => bail!(
                    "{name:?} is already an enrolled subject with faces of its own: give another name, or \
                     --merge-into-subject to make this person's faces its templates too"
                ),
                other => other?,
            };
            println!("{}", person_line(&named.into()))
        }
        PeopleCommand::Merge { into, from } => {
            println!("{}", person_line(&library.merge_people(into, from)?.into()))
        }
        PeopleCommand::RemoveFace { person, face } => {
            library.remove_face(person, face)?;
            println!("face {face} removed from person {person}; it will not rejoin");
        }
        PeopleCommand::Faces { person } => {
            for face in library.person_faces(person, Page::ALL)? {
                let paths = library.photos(&[face.photo])?.pop().map(|p| p.paths).unwrap_or_default();
                println!("{}", json!({ "face": face, "paths": paths }));
            }
        }
        PeopleCommand::Split { person, apply, strictness, json } => {
            let split = split_person(library, person, strictness, apply)?;
            if json {
                println!("{}", serde_json::to_string(&split)?);
            } else if split.groups.len() < 2 {
                println!("person {person}: its faces hold together; no split proposed");
            } else {
                for (i, group) in split.groups.iter().enumerate() {
                    let stays = if i == 0 { " (stays)" } else { "" };
                    println!("group {}{stays}: faces {:?}", i + 1, group);
                }
                for created in &split.created {
                    println!("{}", person_line(created));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn forget_missing(library: &dyn Library, older_than: Option<u32>, dry_run: bool, json: bool) -> Result<ExitCode> {
    let older_than_secs = older_than.map(|days| i64::from(days) * 86_400);
    let missing = library.missing_files(older_than_secs)?;
    let paths: Vec<String> = missing.iter().map(|m| m.path.clone()).collect();
    if !json {
        for file in &missing {
            println!("{} {}", if dry_run { "would forget" } else { "forgetting" }, file.path);
        }
    }
    let removed_photos = match dry_run || paths.is_empty() {
        true => 0,
        false => library.forget_files(&paths)?,
    };
    if json {
        println!("{}", json!({ "files": missing, "removed_photos": removed_photos, "dry_run": dry_run }));
    } else if dry_run {
        println!("{} missing files; nothing removed (dry run)", missing.len());
    } else {
        println!("{} missing files forgotten, {removed_photos} photos removed with their faces", missing.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn search(gallery: &dyn Gallery, library: &dyn Library, args: SearchArgs) -> Result<ExitCode> {
    let engine = args.engine.engine()?;
    let model = engine.model_id().clone();
    let queries: Vec<Vec<f32>> = match (&args.photo, &args.subject) {
        (Some(photo), _) => {
            let faces = engine.faces_in_file(photo, FaceSelect::Largest, true)?;
            vec![faces.embedding(0).with_context(|| format!("probe {}", photo.display()))?.vector.clone()]
        }
        (None, Some(subject)) => faceprint::library::subject_probes(gallery, &SubjectKey::parse(subject))?,
        (None, None) => bail!("give --photo or --subject"),
    };
    // Matches need the model's verification threshold (the engine's --threshold).
    let hits = faceprint::library::search_photos(gallery, library, &model, &queries, engine.threshold(), args.limit)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for hit in &hits {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&PhotoHitOut::from(hit.clone()))?)?;
        } else {
            let path = hit.photo.paths.first().map_or("?", String::as_str);
            writeln!(out, "{:.3}  {path}  face {}", hit.similarity, hit.face_id)?;
        }
    }
    out.flush()?;
    if let Some(sheet) = &args.contact_sheet {
        write_sheet(&engine, &hits, sheet)?;
    }
    Ok(if hits.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Pixels of a thumbnail's side on the contact sheet.
const SHEET_TILE: u32 = 160;

/// The photos found as one image, best first; a photo that cannot be read now is left out.
/// Each photo is decoded, brought down to its thumbnail and dropped before the next is read, so
/// the sheet of 64 large photos holds one photo's pixels at a time.
fn write_sheet(engine: &FaceEngine, hits: &[PhotoHit], path: &std::path::Path) -> Result<()> {
    let shown: Vec<(&PhotoHit, faceprint::imaging::RgbImage, Option<faceprint::BBox>)> = hits
        .iter()
        .take(SHEET_COLUMNS * SHEET_ROWS)
        .filter_map(|hit| {
            let image = faceprint::library::indexed_image(engine, &hit.photo).ok()?;
            let (thumb, face) = faceprint::draw::thumbnail(&image, Some(hit.bbox), SHEET_TILE);
            Some((hit, thumb, face))
        })
        .collect();
    let tiles: Vec<Vec<faceprint::draw::Tile<'_>>> = shown
        .chunks(SHEET_COLUMNS)
        .map(|row| {
            row.iter()
                .map(|(hit, image, face)| faceprint::draw::Tile {
                    image,
                    face: *face,
                    caption: format!("{:.2} {}", hit.similarity, file_name(&hit.photo.paths)),
                })
                .collect()
        })
        .collect();
    faceprint::draw::contact_sheet(&tiles, SHEET_COLUMNS, SHEET_TILE)
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}

fn file_name(paths: &[String]) -> String {
    paths
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}
