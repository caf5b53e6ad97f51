//! `faceprint bench search`: gallery search over up to millions of synthetic faceprints that
//! behave like real ones, side by side with FAISS on the same vectors and queries.
//!
//! Real-like vectors come from a Gaussian with the mean and covariance of real embeddings
//! (every face enrolled from the test data), drawn as `mean + Dᵀw/√(n−1)` with `D` the centred
//! real embeddings and `w` standard normal, so the covariance is exactly the sample's. A query
//! is a "genuine" probe of one enrolled vector: `c·x + √(1−c²)·y⊥`, with `c` drawn from the
//! real same-person similarities of LFW DevTest and `y⊥` a fresh draw made orthogonal to `x`.
//! Isotropic unit vectors (the worst case for graph search) use the same probe recipe.

use crate::bench::measure::{percentile_ms, rss_kib};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use faceprint::{DEFAULT_COLLECTION, EnrolPolicy, FaceSelect, Gallery, HnswParams, IndexKind, NewFace, SqliteGallery};
use faceprint_gallery::{CompressedIndex, HnswIndex, VectorIndex};
use ndarray::{Array2, linalg::general_mat_mul};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde_json::{Value, json};

use crate::args::EngineArgs;

/// The FAISS script, compiled in so the command needs no checkout.
const FAISS_SCRIPT: &str = include_str!("../../../../bench/faiss_reference.py");
/// Faces written per transaction when filling the store.
const STORE_BATCH: usize = 10_000;
use crate::args::{DistributionArg, SearchBenchArgs};
use crate::bench::indexes::{K, Probes};

/// The real faces' statistics the synthetic vectors are drawn from.
pub(crate) struct Fit {
    pub(crate) mean: Vec<f32>,
    /// Centred real embeddings scaled by 1/√(n−1): `Dᵀw` has their covariance.
    centred: Array2<f32>,
    genuine: Vec<f32>,
}

fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn rss_bytes() -> u64 {
    rss_kib("self").map_or(0, |kib| kib * 1024)
}

/// Enrols every face of LFW DevTest and ORL into a fresh gallery with the real pipeline (the
/// end-to-end enrolment throughput), and returns the fit plus that measurement.
pub(crate) fn fit_real_faces(
    testdata: &Path,
    engine_args: &EngineArgs,
    dir: &Path,
) -> Result<(Fit, Value, Option<faceprint::ImpostorModel>)> {
    let engine = engine_args.engine()?;
    let shipped = match engine.identify_rule() {
        faceprint::IdentifyThreshold::ForFpir { model, .. } => Some(model),
        faceprint::IdentifyThreshold::Fixed(_) => None,
    };
    let mut images = Vec::new();
    for (root, pattern) in [("lfw-devtest/images", "jpg"), ("orl", "pgm")] {
        let protocol = faceprint_eval::identification::lfw_protocol(&testdata.join(root))?;
        for (subject, path) in protocol.enrol.into_iter().chain(protocol.probes) {
            if path.extension().is_some_and(|e| e == pattern) {
                images.push((format!("{root}/{subject}"), path));
            }
        }
    }
    if images.is_empty() {
        bail!("no images under {}", testdata.display());
    }
    let _ = std::fs::remove_file(dir.join("fit.db"));
    let gallery = SqliteGallery::builder().index(IndexKind::Exact).open(dir.join("fit.db"))?;
    let policy = EnrolPolicy { select: FaceSelect::Center, quality_gate: None, ..EnrolPolicy::default() };
    eprintln!("enrolling {} real photos (end-to-end enrolment throughput, and the fit)", images.len());
    let started = Instant::now();
    let mut enrolled = 0;
    let inputs = images.iter().map(|(_, p)| (p.clone(), None)).collect();
    engine.process_inputs_for_enrolment(inputs, FaceSelect::Center, |outcome| {
        let subject = &images[outcome.index].0;
        if outcome
            .result
            .and_then(|faces| {
                engine.enrol_faces(
                    &gallery,
                    DEFAULT_COLLECTION,
                    &faceprint::SubjectKey::Name(subject.to_owned()),
                    faces,
                    &policy,
                )
            })
            .is_ok()
        {
            enrolled += 1;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut real = Vec::new();
    gallery.for_each_face(&mut |full| {
        real.push(full.face.embedding);
        Ok(())
    })?;

    let text = std::fs::read_to_string(testdata.join("lfw-devtest/pairs.txt"))?;
    let pairs =
        faceprint_eval::parse_lfw_pairs(&text, &testdata.join("lfw-devtest/images")).map_err(anyhow::Error::msg)?;
    let paths = faceprint_eval::pair_images(&pairs);
    let embeddings = engine
        .process_files(&paths, FaceSelect::Center, true)
        .into_iter()
        .filter_map(|o| Some((o.path, o.result.ok()?.embedding(0).ok()?.clone())))
        .collect();
    let genuine: Vec<f32> = faceprint_eval::score_pairs(&pairs, &embeddings)
        .into_iter()
        .filter(|p| p.same)
        .filter_map(|p| p.similarity)
        .collect();

    let dims = real[0].len();
    let n = real.len();
    let mut mean = vec![0.0f32; dims];
    for v in &real {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += x / n as f32);
    }
    let scale = 1.0 / ((n - 1) as f32).sqrt();
    let centred = Array2::from_shape_fn((n, dims), |(i, d)| (real[i][d] - mean[d]) * scale);
    let genuine_mean = genuine.iter().sum::<f32>() / genuine.len() as f32;
    let enrolment = json!({
        "photos": images.len(), "enrolled": enrolled, "seconds": elapsed,
        "faces_per_s": enrolled as f64 / elapsed, "workers": engine.workers(),
        "real_faces_fitted": n, "genuine_pairs": genuine.len(), "genuine_mean_similarity": genuine_mean,
    });
    eprintln!("{enrolment}");
    Ok((Fit { mean, centred, genuine }, enrolment, shipped))
}

/// `count` unit vectors of the distribution, row-major, drawn on every core.
pub(crate) fn draw(fit: &Fit, real: bool, count: usize, seed: u64) -> Vec<f32> {
    let dims = fit.mean.len();
    const BLOCK: usize = 4096;
    let blocks: Vec<usize> = (0..count.div_ceil(BLOCK)).collect();
    let per_thread = blocks.len().div_ceil(threads()).max(1);
    let parts: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = blocks
            .chunks(per_thread)
            .map(|mine| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for &block in mine {
                        let rows = BLOCK.min(count - block * BLOCK);
                        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(block as u64));
                        let mut vectors = if real {
                            let samples = fit.centred.nrows();
                            let w =
                                Array2::from_shape_simple_fn((rows, samples), || rng.sample::<f32, _>(StandardNormal));
                            let mut x = Array2::from_shape_fn((rows, dims), |(_, d)| fit.mean[d]);
                            general_mat_mul(1.0, &w, &fit.centred, 1.0, &mut x);
                            x.into_raw_vec_and_offset().0
                        } else {
                            (0..rows * dims).map(|_| rng.sample::<f32, _>(StandardNormal)).collect()
                        };
                        vectors.chunks_exact_mut(dims).for_each(normalise);
                        out.extend(vectors);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("drawing thread")).collect()
    });
    parts.concat()
}

/// Genuine-like probes of random enrolled vectors; returns (queries, their source rows).
pub(crate) fn probes(
    fit: &Fit,
    real: bool,
    base: &[f32],
    dims: usize,
    count: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<usize>) {
    let n = base.len() / dims;
    let noise = draw(fit, real, count, seed ^ 0x5eed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0xface);
    let mut queries = Vec::with_capacity(count);
    let mut sources = Vec::with_capacity(count);
    for i in 0..count {
        let source = rng.random_range(0..n);
        let x = &base[source * dims..(source + 1) * dims];
        let c = fit.genuine[rng.random_range(0..fit.genuine.len())].clamp(-1.0, 1.0);
        let mut y: Vec<f32> = noise[i * dims..(i + 1) * dims].to_vec();
        let along: f32 = y.iter().zip(x).map(|(a, b)| a * b).sum();
        y.iter_mut().zip(x).for_each(|(a, b)| *a -= along * b);
        normalise(&mut y);
        let s = (1.0 - c * c).max(0.0).sqrt();
        let mut q: Vec<f32> = x.iter().zip(&y).map(|(a, b)| c * a + s * b).collect();
        normalise(&mut q);
        queries.push(q);
        sources.push(source);
    }
    (queries, sources)
}

fn recall(found: &[Vec<i64>], truth: &[Vec<i64>]) -> (f64, f64) {
    let n = found.len() as f64;
    let at1 = found.iter().zip(truth).filter(|(f, t)| f.first() == t.first()).count() as f64 / n;
    let at10 = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|id| t.contains(id)).count() as f64 / t.len().max(1) as f64)
        .sum::<f64>()
        / n;
    (at1, at10)
}

fn write_f32(path: &Path, values: impl Iterator<Item = f32>) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// Fills a SQLite gallery with the vectors (store-only enrolment, one subject per face, face id
/// = row + 1); returns its path and the seconds it took.
fn fill_store(base: &[f32], dims: usize, dir: &Path) -> Result<(PathBuf, f64)> {
    let n = base.len() / dims;
    let path = dir.join("bench.db");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(dir.join("bench.db.index"));
    let model = faceprint::ModelId("bench-synthetic".into());
    let started = Instant::now();
    {
        // Filling with the exact index attached: the graph is measured separately below.
        let gallery = SqliteGallery::builder().index(IndexKind::Exact).open(&path)?;
        for start in (0..n).step_by(STORE_BATCH) {
            let end = (start + STORE_BATCH).min(n);
            let names = (start..end).map(|i| (format!("person-{i}"), json!({}))).collect();
            let subjects = gallery.create_subjects(DEFAULT_COLLECTION, names)?;
            let faces = subjects
                .iter()
                .zip(start..end)
                .map(|(s, i)| {
                    let face = NewFace {
                        model: model.clone(),
                        embedding: base[i * dims..(i + 1) * dims].to_vec(),
                        detection_score: 0.9,
                        bbox: faceprint::BBox::new(0.0, 0.0, 100.0, 100.0),
                        image_sha256: format!("{i:064x}"),
                        crop_png: None,
                    };
                    (faceprint::SubjectKey::Id(s.id), face)
                })
                .collect();
            gallery.add_faces(DEFAULT_COLLECTION, faces)?;
            if start % (STORE_BATCH * 20) == 0 {
                eprintln!("  stored {end}/{n}");
            }
        }
    }
    Ok((path, started.elapsed().as_secs_f64()))
}

/// Gallery-level search (the index plus face → subject mapping and names) of up to 1,000
/// queries one by one: p50 and p99 in ms.
fn gallery_search_ms(gallery: &SqliteGallery, queries: &[Vec<f32>]) -> Result<(f64, f64)> {
    let model = faceprint::ModelId("bench-synthetic".into());
    let mut times = Vec::new();
    for q in queries.iter().take(1000) {
        let started = Instant::now();
        gallery.search(DEFAULT_COLLECTION, &model, q, 5)?;
        times.push(started.elapsed());
    }
    Ok((percentile_ms(&mut times, 50.0), percentile_ms(&mut times, 99.0)))
}

/// Times opening the filled gallery with `kind` (reading the vectors and building the index),
/// and searching through it.
fn open_and_search(path: &Path, kind: IndexKind, queries: &[Vec<f32>]) -> Result<Value> {
    let started = Instant::now();
    let gallery = SqliteGallery::builder().index(kind).open(path)?;
    let open_s = started.elapsed().as_secs_f64();
    let (p50, p99) = gallery_search_ms(&gallery, queries)?;
    let faces = gallery.collection_faces(DEFAULT_COLLECTION)?.max(1) as f64;
    let report = json!({"index": gallery.index_kind(DEFAULT_COLLECTION)?, "open_s": open_s,
        "index_bytes_per_face": gallery.index_memory_bytes() as f64 / faces,
        "gallery_search_p50_ms": p50, "gallery_search_p99_ms": p99});
    eprintln!("  gallery with {kind:?}: {report}");
    Ok(report)
}

/// Fills a SQLite gallery with the vectors, then measures building the graph on open, saving
/// it, and opening again with the saved graph.
fn store_run(
    base: &[f32],
    dims: usize,
    params: HnswParams,
    queries: &[Vec<f32>],
    dir: &Path,
) -> Result<(Value, SqliteGallery)> {
    let n = base.len() / dims;
    let (path, fill_s) = fill_store(base, dims, dir)?;
    let open = |label: &str| -> Result<(SqliteGallery, f64, u64)> {
        let rss = rss_bytes();
        let started = Instant::now();
        let gallery = SqliteGallery::builder().index(IndexKind::Hnsw).hnsw_params(params).open(&path)?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("  open ({label}): {seconds:.1} s");
        Ok((gallery, seconds, rss_bytes().saturating_sub(rss)))
    };
    let (gallery, build_open_s, _) = open("builds the graph")?;
    let started = Instant::now();
    gallery.save_index()?;
    let save_s = started.elapsed().as_secs_f64();
    drop(gallery);
    let (gallery, open_s, open_rss) = open("loads the saved graph")?;
    let exact_started = Instant::now();
    drop(SqliteGallery::builder().index(IndexKind::Exact).open(&path)?);
    let exact_open_s = exact_started.elapsed().as_secs_f64();
    let (search_p50, search_p99) = gallery_search_ms(&gallery, queries)?;
    let file_bytes = std::fs::metadata(&path)?.len();
    let report = json!({
        "store_fill_s": fill_s, "store_faces_per_s": n as f64 / fill_s,
        "open_building_graph_s": build_open_s, "graph_save_s": save_s,
        "open_with_saved_graph_s": open_s, "open_exact_s": exact_open_s,
        "open_rss_bytes_per_face": open_rss as f64 / n as f64,
        "index_bytes_per_face": gallery.index_memory_bytes() as f64 / n as f64,
        "gallery_file_bytes_per_face": file_bytes as f64 / n as f64,
        "gallery_search_p50_ms": search_p50,
        "gallery_search_p99_ms": search_p99,
    });
    Ok((report, gallery))
}

/// One HNSW search width: single-query latency on this thread, batched throughput on every
/// core, and recall against the exact answers. Runs on the bare graph, or through a gallery
/// (then the latency includes the face → subject mapping and the name lookup).
fn sweep_point(
    search: &dyn Fn(&[f32]) -> Result<Vec<i64>>,
    batch: &dyn Fn(&[Vec<f32>]) -> Result<()>,
    queries: &[Vec<f32>],
    truth: &[Vec<i64>],
    ef: usize,
) -> Result<(Value, Vec<Option<usize>>)> {
    let mut times = Vec::with_capacity(queries.len());
    let mut found = Vec::with_capacity(queries.len());
    for q in queries {
        let started = Instant::now();
        found.push(search(q)?);
        times.push(started.elapsed());
    }
    let started = Instant::now();
    batch(queries)?;
    let qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = (percentile_ms(&mut times, 50.0), percentile_ms(&mut times, 99.0));
    let (r1, r10) = recall(&found, truth);
    eprintln!("  ef {ef}: p50 {p50:.3} ms, p99 {p99:.3} ms, {qps:.0} q/s, recall@1 {r1:.4}, @10 {r10:.4}");
    let top1 = found.iter().map(|f| f.first().map(|&id| id as usize - 1)).collect();
    Ok((
        json!({"ef_search": ef, "p50_ms": p50, "p99_ms": p99, "batch_qps": qps, "recall_at_1": r1, "recall_at_10": r10}),
        top1,
    ))
}

/// FAISS on the same vectors, probes and sign codes: the script's own exact/HNSW report, plus
/// its indexes in the table's shape.
fn faiss_run(
    python: &Path,
    args: &SearchBenchArgs,
    base: &[f32],
    probes: &Probes,
    compressed: &CompressedIndex,
    dims: usize,
    dir: &Path,
) -> Result<(Value, Vec<Value>)> {
    let vectors = dir.join("base.f32");
    let query_file = dir.join("queries.f32");
    write_f32(&vectors, base.iter().copied())?;
    write_f32(&query_file, probes.queries.iter().flatten().copied())?;
    let (codes, query_codes) = crate::bench::indexes::write_codes(compressed, base, probes.queries, dims, dir)?;
    let script = dir.join("faiss_reference.py");
    std::fs::write(&script, FAISS_SCRIPT)?;
    let ef: Vec<String> = args.ef_search.iter().map(|e| e.to_string()).collect();
    let path = |p: &Path| p.display().to_string();
    let mut arguments = vec![
        "--vectors".into(),
        path(&vectors),
        "--queries".into(),
        path(&query_file),
        "--codes".into(),
        path(&codes),
        "--query-codes".into(),
        path(&query_codes),
        "--dims".into(),
        dims.to_string(),
        "--k".into(),
        K.to_string(),
        "--m".into(),
        args.m.to_string(),
        "--ef-construction".into(),
        args.ef_construction.to_string(),
        "--ef-search".into(),
        ef.join(","),
        "--exact-single-queries".into(),
        args.exact_single_queries.to_string(),
        "--single-queries".into(),
        args.timed_queries.to_string(),
        "--threads".into(),
        threads().to_string(),
    ];
    if args.no_faiss_hnsw || args.no_hnsw {
        arguments.push("--skip-hnsw".into());
    }
    let result = crate::bench::indexes::run_faiss_script(python, &script, &arguments);
    for file in [&vectors, &codes, &query_codes] {
        let _ = std::fs::remove_file(file);
    }
    let mut result = result?;
    let indexes = crate::bench::indexes::faiss_entries(&mut result, probes);
    if let Some(object) = result.as_object_mut() {
        object.remove("indexes");
    }
    Ok((result, indexes))
}

fn run_distribution(
    args: &SearchBenchArgs,
    fit: &Fit,
    shipped: Option<faceprint::ImpostorModel>,
    real: bool,
    dir: &Path,
) -> Result<Value> {
    let label = if real { "real-like" } else { "isotropic" };
    let dims = fit.mean.len();
    eprintln!("== {label}: drawing {} vectors, {} probes and {} strangers", args.n, args.queries, args.strangers);
    let started = Instant::now();
    let base = draw(fit, real, args.n, args.seed + real as u64);
    let (queries, sources) = probes(fit, real, &base, dims, args.queries, args.seed + 7);
    let strangers = draw(fit, real, args.strangers, args.seed + 99);
    let draw_s = started.elapsed().as_secs_f64();
    let probe_cos: f32 = queries
        .iter()
        .zip(&sources)
        .map(|(q, &s)| q.iter().zip(&base[s * dims..(s + 1) * dims]).map(|(a, b)| a * b).sum::<f32>())
        .sum::<f32>()
        / queries.len() as f32;

    eprintln!("  best impostor score against gallery size ({} strangers)", args.strangers);
    let curve = crate::bench::indexes::best_impostors(&base, dims, &strangers, threads());
    let impostors = crate::bench::indexes::impostor_report(&curve, shipped)?;
    let rule: faceprint::ImpostorModel = match shipped {
        Some(model) => model,
        None => serde_json::from_value(impostors["fitted_model"].clone())?,
    };
    let threshold = rule.threshold(faceprint::DEFAULT_FPIR, args.n);
    eprintln!("  identification threshold at FPIR 1% for {} faces: {threshold:.3}", args.n);

    eprintln!("  exact search (the truth)");
    let (mut exact, exact_build_s) = crate::bench::indexes::build_exact(&base, dims)?;
    let started = Instant::now();
    let answers = exact.search_batch(&queries, K, threads())?;
    let exact_batch_qps = queries.len() as f64 / started.elapsed().as_secs_f64();
    let truth: Vec<Vec<i64>> = answers.iter().map(|found| found.iter().map(|f| f.face_id).collect()).collect();
    let exact_top1 = answers.iter().map(|found| (found[0].face_id as usize - 1, found[0].similarity)).collect();
    let source_is_top1 = truth.iter().zip(&sources).filter(|(t, s)| t.first() == Some(&(**s as i64 + 1))).count()
        as f64
        / queries.len() as f64;
    let exact_bytes = exact.memory_bytes();
    let probe_set = Probes { queries: &queries, sources: &sources, exact_top1, threshold };
    let mated_probes = probe_set.mated();
    let mut indexes = crate::bench::indexes::exact_entries(
        &mut exact,
        exact_build_s,
        &probe_set,
        args.exact_single_queries,
        threads(),
    )?;
    drop(exact);
    let (compressed_rows, compressed) = crate::bench::indexes::compressed_entries(
        &base,
        dims,
        &probe_set,
        &args.rerank,
        args.timed_queries,
        threads(),
    )?;
    indexes.extend(compressed_rows);

    let params = HnswParams { connectivity: args.m, expansion_add: args.ef_construction, expansion_search: 64 };
    let mut sweep = Vec::new();
    let mut hnsw_entry = |point: Value, top1: Vec<Option<usize>>, build_s: &Value, bytes: &Value| -> Value {
        let (recall, agreement) = probe_set.score(&top1);
        indexes.push(json!({"kind": "hnsw", "threads": 1, "p50_ms": point["p50_ms"], "p99_ms": point["p99_ms"],
            "batch_qps": point["batch_qps"], "mated_recall": recall, "top1_agreement": agreement, "build_s": build_s,
            "bytes_per_face": bytes, "ef_search": point["ef_search"], "m": args.m}));
        point
    };
    let (hnsw, store) = if args.no_hnsw && (args.no_store || !real) {
        (Value::Null, Value::Null)
    } else if args.no_hnsw {
        // The store without a graph: filling it, and opening it with each flat index.
        let (path, fill_s) = fill_store(&base, dims, dir)?;
        let mut store = json!({"store_fill_s": fill_s, "store_faces_per_s": args.n as f64 / fill_s,
                               "gallery_file_bytes_per_face": std::fs::metadata(&path)?.len() as f64 / args.n as f64});
        store["exact"] = open_and_search(&path, IndexKind::Exact, &queries)?;
        // The first open computes the codes (and saves them when the gallery closes), the second
        // loads them.
        store["auto"] = open_and_search(&path, IndexKind::Auto, &queries)?;
        store["auto_with_saved_codes"] = open_and_search(&path, IndexKind::Auto, &queries)?;
        (Value::Null, store)
    } else if args.no_store || !real {
        eprintln!("  HNSW index: building on {} threads", threads());
        let items = crate::bench::indexes::rows_as_items(&base, dims);
        let started = Instant::now();
        let mut graph = HnswIndex::build(dims, params, &items, threads())?;
        let build_s = json!(started.elapsed().as_secs_f64());
        let bytes = json!(graph.memory_bytes() as f64 / args.n as f64);
        drop(items);
        for &ef in &args.ef_search {
            graph.set_expansion_search(ef);
            let search =
                |q: &[f32]| -> Result<Vec<i64>> { Ok(graph.search(q, K)?.iter().map(|f| f.face_id).collect()) };
            let batch =
                |qs: &[Vec<f32>]| -> Result<()> { graph.search_batch(qs, K, threads()).map(drop).map_err(Into::into) };
            let (point, top1) = sweep_point(&search, &batch, &queries, &truth, ef)?;
            sweep.push(hnsw_entry(point, top1, &build_s, &bytes));
        }
        let hnsw = json!({"m": args.m, "ef_construction": args.ef_construction, "build_s": build_s,
                          "bytes_per_face": bytes, "measured_on": "graph", "sweep": sweep});
        (hnsw, Value::Null)
    } else {
        // The gallery builds the graph when it opens: its build time is the index build time,
        // and the sweep runs through the gallery (one face per subject, face id = row + 1).
        let (store, gallery) = store_run(&base, dims, params, &queries, dir)?;
        let model = faceprint::ModelId("bench-synthetic".into());
        for &ef in &args.ef_search {
            gallery.set_expansion_search(ef);
            let search = |q: &[f32]| -> Result<Vec<i64>> {
                Ok(gallery.search(DEFAULT_COLLECTION, &model, q, K)?.iter().map(|c| c.face_id).collect())
            };
            let batch = |qs: &[Vec<f32>]| -> Result<()> {
                gallery.search_batch(DEFAULT_COLLECTION, &model, qs, K).map(drop).map_err(Into::into)
            };
            let (point, top1) = sweep_point(&search, &batch, &queries, &truth, ef)?;
            sweep.push(hnsw_entry(point, top1, &store["open_building_graph_s"], &store["index_bytes_per_face"]));
        }
        let hnsw = json!({"m": args.m, "ef_construction": args.ef_construction, "build_s": store["open_building_graph_s"],
                          "bytes_per_face": store["index_bytes_per_face"], "measured_on": "gallery", "sweep": sweep});
        (hnsw, store)
    };

    let (faiss, faiss_indexes) = match &args.faiss_python {
        Some(python) => {
            let (mut result, indexes) = faiss_run(python, args, &base, &probe_set, &compressed, dims, dir)?;
            // The two exact searches must agree: FAISS's flat top-1 against ours.
            if let Some(top) = result.get("flat_top_ids").and_then(|v| v.as_array()) {
                let agree = top
                    .iter()
                    .zip(&truth)
                    .filter(|(f, t)| f.get(0).and_then(Value::as_i64).map(|id| id + 1) == t.first().copied())
                    .count() as f64
                    / truth.len() as f64;
                result["flat_top1_agreement_with_faceprint_exact"] = json!(agree);
            }
            if let Some(object) = result.as_object_mut() {
                object.remove("flat_top_ids");
            }
            (result, indexes)
        }
        None => (Value::Null, Vec::new()),
    };
    let exact_single = &indexes[0];
    Ok(json!({
        "distribution": label, "n": args.n, "dims": dims, "queries": queries.len(), "draw_s": draw_s,
        "mean_probe_similarity_to_source": probe_cos, "source_is_exact_top1": source_is_top1,
        "identify_threshold_at_fpir_1pct": threshold,
        "mated_probes": mated_probes,
        "indexes": indexes,
        "faiss_indexes": faiss_indexes,
        "best_impostor": impostors,
        "exact": {"single_p50_ms": exact_single["p50_ms"], "single_p99_ms": exact_single["p99_ms"], "single_queries": args.exact_single_queries,
                  "batch_qps": exact_batch_qps, "bytes_per_face": exact_bytes as f64 / args.n as f64},
        "hnsw": hnsw,
        "store": store,
        "faiss": faiss,
    }))
}

pub fn run(engine_args: &EngineArgs, args: &SearchBenchArgs) -> Result<std::process::ExitCode> {
    if args.n < K || args.queries == 0 {
        bail!("--n must be at least {K} and --queries at least 1");
    }
    let temporary = tempfile::tempdir()?;
    let dir = args.work_dir.clone().unwrap_or_else(|| temporary.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let (fit, enrolment, shipped) = fit_real_faces(&args.testdata, engine_args, &dir)?;
    let mut runs = Vec::new();
    for real in [true, false] {
        let wanted = match args.distribution {
            DistributionArg::Both => true,
            DistributionArg::Real => real,
            DistributionArg::Isotropic => !real,
        };
        if wanted {
            let result = run_distribution(args, &fit, shipped, real, &dir)?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            runs.push(result);
        }
    }
    let report = json!({"threads": threads(), "enrolment_end_to_end": enrolment, "runs": runs});
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}
