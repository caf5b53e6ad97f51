//! `faceprint bench stores`: the embedded SQLite gallery and a PostgreSQL + pgvector gallery
//! side by side in one run, on the same real-like synthetic faceprints (as `bench search` draws
//! them): bulk and single enrolment, opening (loading every vector into the in-memory index),
//! identification through the index, and pgvector's own SQL search.

use std::time::Instant;

use anyhow::{Result, bail};
use faceprint::{DEFAULT_COLLECTION, Gallery, NewFace, PgGallery, SubjectKey};
use serde_json::{Value, json};

use crate::args::EngineArgs;
use crate::args::StoresBenchArgs;
use crate::bench::measure::percentile_ms;
use crate::bench::search::{draw, fit_real_faces, probes};

/// Faces per transaction in the bulk fill.
const BATCH: usize = 1000;
/// Faces enrolled one call (one transaction) each, after the bulk fill.
const SINGLES: usize = 500;

fn model() -> faceprint::ModelId {
    faceprint::ModelId("bench-synthetic".into())
}

fn new_face(base: &[f32], dims: usize, i: usize) -> NewFace {
    NewFace {
        model: model(),
        embedding: base[i * dims..(i + 1) * dims].to_vec(),
        detection_score: 0.9,
        bbox: faceprint::BBox::new(0.0, 0.0, 100.0, 100.0),
        image_sha256: format!("{i:064x}"),
        crop_png: None,
    }
}

/// Bulk fill (subjects and faces, `BATCH` per transaction), then `SINGLES` faces one call each.
fn fill(gallery: &dyn Gallery, base: &[f32], dims: usize, label: &str) -> Result<Value> {
    let n = base.len() / dims - SINGLES;
    let started = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let names = (start..end).map(|i| (format!("person-{i}"), json!({}))).collect();
        let subjects = gallery.create_subjects(DEFAULT_COLLECTION, names)?;
        let faces =
            subjects.iter().zip(start..end).map(|(s, i)| (SubjectKey::Id(s.id), new_face(base, dims, i))).collect();
        gallery.add_faces(DEFAULT_COLLECTION, faces)?;
        if start % (BATCH * 50) == 0 {
            eprintln!("  {label}: stored {end}/{n}");
        }
    }
    let bulk_s = started.elapsed().as_secs_f64();
    let mut singles = Vec::with_capacity(SINGLES);
    for i in n..n + SINGLES {
        let subject = gallery.create_subject(DEFAULT_COLLECTION, &format!("person-{i}"), json!({}))?;
        let started = Instant::now();
        gallery.add_face(DEFAULT_COLLECTION, &SubjectKey::Id(subject.id), new_face(base, dims, i))?;
        singles.push(started.elapsed());
    }
    Ok(json!({
        "bulk_faces_per_s": n as f64 / bulk_s, "bulk_s": bulk_s,
        "single_enrol_p50_ms": percentile_ms(&mut singles, 50.0), "single_enrol_p99_ms": percentile_ms(&mut singles, 99.0),
    }))
}

/// Identification through the gallery (index, face → subject, names): p50 and p99 in ms, and
/// the top-1 face of each probe.
fn identify(gallery: &dyn Gallery, queries: &[Vec<f32>]) -> Result<(Value, Vec<i64>)> {
    let mut times = Vec::with_capacity(queries.len());
    let mut top = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let found = gallery.search(DEFAULT_COLLECTION, &model(), query, 5)?;
        times.push(started.elapsed());
        top.push(found.first().map_or(0, |c| c.face_id));
    }
    let report =
        json!({"identify_p50_ms": percentile_ms(&mut times, 50.0), "identify_p99_ms": percentile_ms(&mut times, 99.0)});
    Ok((report, top))
}

/// How long a face enrolled through one instance takes to be found by another (another server
/// process in production): enrol through `writer`, search through `reader` until it answers.
fn propagation(writer: &dyn Gallery, reader: &dyn Gallery, queries: &[Vec<f32>]) -> Result<Value> {
    let mut times = Vec::new();
    for (round, query) in queries.iter().take(50).enumerate() {
        let subject = writer.create_subject(DEFAULT_COLLECTION, &format!("propagation-{round}"), json!({}))?;
        let face = NewFace {
            embedding: query.clone(),
            image_sha256: format!("{:064x}", u64::MAX - round as u64),
            ..new_face(query, query.len(), 0)
        };
        let added = writer.add_face(DEFAULT_COLLECTION, &SubjectKey::Id(subject.id), face)?;
        let started = Instant::now();
        loop {
            let found = reader.search(DEFAULT_COLLECTION, &model(), query, 1)?;
            if found.first().is_some_and(|c| c.face_id == added.face_id) {
                break;
            }
            if started.elapsed().as_secs() > 10 {
                bail!("another instance did not see face {} within 10 s", added.face_id);
            }
        }
        times.push(started.elapsed());
    }
    Ok(
        json!({"p50_ms": percentile_ms(&mut times, 50.0), "max_ms": times.iter().max().map_or(0.0, |t| t.as_secs_f64() * 1e3)}),
    )
}

pub fn run(engine_args: &EngineArgs, args: &StoresBenchArgs) -> Result<std::process::ExitCode> {
    if args.n <= SINGLES || args.queries == 0 {
        bail!("--n must be over {SINGLES} and --queries at least 1");
    }
    let temporary = tempfile::tempdir()?;
    let dir = args.work_dir.clone().unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let (fit, _, _) = fit_real_faces(&args.synthetic.testdata, engine_args, &dir)?;
    let dims = fit.mean.len();
    eprintln!("== drawing {} vectors and {} probes", args.n, args.queries);
    let base = draw(&fit, true, args.n, args.synthetic.seed);
    let (queries, _) = probes(&fit, true, &base, dims, args.queries, args.synthetic.seed + 7);

    let path = dir.join("bench-stores.db");
    let _ = std::fs::remove_file(&path);
    let postgres = PgGallery::open(&args.postgres)?;
    if postgres.stats()?.faces > 0 {
        bail!("{} is not empty: give an empty database", postgres.location());
    }
    let mut report = json!({"n": args.n, "dims": dims, "queries": queries.len()});
    for (name, location) in [("sqlite", path.display().to_string()), ("postgres", args.postgres.clone())] {
        eprintln!("== {name}: filling");
        let writer = faceprint::open_gallery(&location, &faceprint::OpenOptions::default())?;
        let filled = fill(&*writer.gallery, &base, dims, name)?;
        let started = Instant::now();
        let opened = faceprint::open_gallery(&location, &faceprint::OpenOptions::default())?;
        let open_s = started.elapsed().as_secs_f64();
        let (search, top) = identify(&*opened.gallery, &queries)?;
        let seen = propagation(&*writer.gallery, &*opened.gallery, &queries)?;
        eprintln!("  {name}: {filled} open {open_s:.1} s {search} {seen}");
        report[name] = json!({"fill": filled, "open_s": open_s, "search": search, "seen_by_another_instance": seen});
        report[name]["top1"] = json!(top);
    }
    // pgvector's exact SQL scan: its latency, and whether it names the best face the gallery's
    // index names for the same probe now (the propagation rounds added faces).
    let mut times = Vec::new();
    let mut agree = 0;
    for query in queries.iter().take(args.sql_queries) {
        let started = Instant::now();
        let found = postgres.search_sql(DEFAULT_COLLECTION, query, 5)?;
        times.push(started.elapsed());
        let from_index = postgres.search(DEFAULT_COLLECTION, &model(), query, 1)?;
        agree += (found.first().map(|c| c.face_id) == from_index.first().map(|c| c.face_id)) as usize;
    }
    report["pgvector_sql"] = json!({
        "queries": times.len(), "p50_ms": percentile_ms(&mut times.clone(), 50.0),
        "max_ms": times.iter().max().map_or(0.0, |t| t.as_secs_f64() * 1e3),
        "top1_agreement_with_index": agree as f64 / times.len().max(1) as f64,
    });
    let sqlite_top = report["sqlite"]["top1"].clone();
    let postgres_top = report["postgres"]["top1"].clone();
    report["top1_same_in_both"] = json!(sqlite_top == postgres_top);
    for name in ["sqlite", "postgres"] {
        if let Some(object) = report[name].as_object_mut() {
            object.remove("top1");
        }
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = &args.synthetic.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}
