//! `faceprint bench library`: indexing a folder into a photo library against embedding the same
//! photos, side by side in one run, rounds alternating (the machine's noise hits both alike).

use std::time::Instant;

use anyhow::{Result, bail};
use faceprint::library::{GroupingOptions, group_new_faces, image_files, index_folders};
use faceprint::{FaceSelect, SqliteGallery};
use serde_json::json;

use crate::args::EngineArgs;
use crate::args::LibraryBenchArgs;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run(engine_args: &EngineArgs, args: &LibraryBenchArgs) -> Result<std::process::ExitCode> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let engine = engine_args.engine()?;
    let files = image_files(std::slice::from_ref(&args.root))?;
    if files.is_empty() {
        bail!("no image files under {}", args.root.display());
    }
    let (mut embed, mut index, mut group) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        let started = Instant::now();
        let outcomes = engine.process_files(&files, FaceSelect::All, true);
        embed.push(started.elapsed().as_secs_f64());
        drop(outcomes);

        let scratch = tempfile::tempdir()?;
        let library = SqliteGallery::open(scratch.path().join("library.db"))?;
        let started = Instant::now();
        index_folders(&engine, &library, std::slice::from_ref(&args.root), |_, _| {})?;
        index.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        group_new_faces(&library, &library, &GroupingOptions::default())?;
        group.push(started.elapsed().as_secs_f64());
    }
    let (embed, index, group) = (median(embed), median(index), median(group));
    let photos = files.len() as f64;
    if args.json {
        println!(
            "{}",
            json!({
                "photos": files.len(), "rounds": args.rounds,
                "embed_seconds": embed, "library_add_seconds": index, "grouping_seconds": group,
                "embed_photos_per_second": photos / embed, "library_photos_per_second": photos / index,
                "library_over_embed": index / embed,
            })
        );
    } else {
        println!("{} photos, median of {} rounds", files.len(), args.rounds);
        println!("  embed (every face):       {embed:7.2} s  {:6.1} photos/s", photos / embed);
        println!("  library add (indexing):   {index:7.2} s  {:6.1} photos/s", photos / index);
        println!("  grouping the new faces:   {group:7.2} s");
        println!("  library add / embed:      {:.3}", index / embed);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
