//! The `"indexes"` table of `faceprint bench search`: every index kind on the same vectors and
//! probes, in one shape (latency on one and two threads, batch throughput, agreement with exact
//! search, build time and memory), and FAISS's indexes in the same shape; plus the best
//! impostor score against gallery size, which the FPIR rule of `identify` is fitted to.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use faceprint::ImpostorModel;
use faceprint_gallery::{CompressedIndex, CompressedParams, ExactIndex, ScoredFace, VectorIndex};
use ndarray::{ArrayView2, linalg::general_mat_mul};
use serde_json::{Value, json};

use crate::bench::measure::percentile_ms;

/// Faces returned per query.
pub const K: usize = 10;

/// The probes and what exact search says about them.
pub struct Probes<'a> {
    pub queries: &'a [Vec<f32>],
    /// Row of the enrolled vector each probe was drawn from (its mate).
    pub sources: &'a [usize],
    /// Exact search's top 1 per probe: (row, similarity).
    pub exact_top1: Vec<(usize, f32)>,
    /// Identification threshold at the gallery's size: mates below it do not count.
    pub threshold: f32,
}

impl Probes<'_> {
    /// Probes whose mate exact search returns as top-1 at or above the threshold: the
    /// denominator of `mated_recall`.
    pub fn mated(&self) -> usize {
        self.exact_top1
            .iter()
            .zip(self.sources)
            .filter(|&(&(row, similarity), &source)| row == source && similarity >= self.threshold)
            .count()
    }

    /// Fraction of the probes whose mate exact search returns as top-1 above the threshold
    /// that `top1` (rows) also returns as top-1; and the agreement with exact top-1 overall.
    pub fn score(&self, top1: &[Option<usize>]) -> (f64, f64) {
        let (mut mated, mut found, mut agree, mut seen) = (0usize, 0usize, 0usize, 0usize);
        for ((&(row, similarity), &source), ours) in self.exact_top1.iter().zip(self.sources).zip(top1) {
            seen += 1;
            agree += usize::from(*ours == Some(row));
            if row == source && similarity >= self.threshold {
                mated += 1;
                found += usize::from(*ours == Some(row));
            }
        }
        (found as f64 / mated.max(1) as f64, agree as f64 / seen.max(1) as f64)
    }
}

/// One row of the table.
fn entry(kind: &str, threads: usize, times: &mut [Duration], batch_qps: f64, scores: (f64, f64)) -> Value {
    json!({"kind": kind, "threads": threads, "p50_ms": percentile_ms(times, 50.0), "p99_ms": percentile_ms(times, 99.0),
           "batch_qps": batch_qps, "mated_recall": scores.0, "top1_agreement": scores.1})
}

/// Times the first `timed` probes as single queries and every probe as one batch through
/// `index`; the batch's top-1 answers are the ones scored (single and batched searches give the
/// same answers: tested).
fn measure(
    index: &dyn VectorIndex,
    probes: &Probes,
    timed: usize,
    batch_threads: usize,
) -> Result<(Vec<Duration>, f64, Vec<Option<usize>>)> {
    let mut times = Vec::with_capacity(timed);
    for query in &probes.queries[..timed.min(probes.queries.len())] {
        let started = Instant::now();
        index.search(query, K)?;
        times.push(started.elapsed());
    }
    let started = Instant::now();
    let answers = index.search_batch(probes.queries, K, batch_threads)?;
    let qps = probes.queries.len() as f64 / started.elapsed().as_secs_f64();
    let top1 = answers.iter().map(|found| found.first().map(|f: &ScoredFace| f.face_id as usize - 1)).collect();
    Ok((times, qps, top1))
}

/// Every row of the base with its face id (row + 1).
pub fn rows_as_items(base: &[f32], dims: usize) -> Vec<(i64, &[f32])> {
    base.chunks_exact(dims).enumerate().map(|(i, v)| (i as i64 + 1, v)).collect()
}

/// The exact index over the base, and the seconds building it took.
pub fn build_exact(base: &[f32], dims: usize) -> Result<(ExactIndex, f64)> {
    let started = Instant::now();
    let mut index = ExactIndex::with_capacity(dims, base.len() / dims);
    for (id, v) in rows_as_items(base, dims) {
        index.insert(id, v)?;
    }
    Ok((index, started.elapsed().as_secs_f64()))
}

/// Exact search (built in `build_s`) on one and on every thread.
pub fn exact_entries(
    index: &mut ExactIndex,
    build_s: f64,
    probes: &Probes,
    single_queries: usize,
    threads: usize,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for t in [1, threads] {
        index.set_threads(t);
        let (mut times, qps, top1) = measure(index, probes, single_queries, threads)?;
        let mut row = entry("exact", t, &mut times, qps, probes.score(&top1));
        row["build_s"] = json!(build_s);
        row["bytes_per_face"] = json!(index.memory_bytes() as f64 / index.len() as f64);
        eprintln!("  exact, {t} thread(s): {row}");
        out.push(row);
        if threads == 1 {
            break;
        }
    }
    Ok(out)
}

/// The compressed index at each shortlist size, on one and on every thread; also returns the
/// index (its codes are FAISS's binary index's input).
pub fn compressed_entries(
    base: &[f32],
    dims: usize,
    probes: &Probes,
    reranks: &[usize],
    timed: usize,
    threads: usize,
) -> Result<(Vec<Value>, CompressedIndex)> {
    let n = base.len() / dims;
    let started = Instant::now();
    let mut index = CompressedIndex::build(dims, CompressedParams::default(), &rows_as_items(base, dims), threads)?;
    let build_s = started.elapsed().as_secs_f64();
    let bytes = index.memory_bytes() as f64 / n as f64;
    let mut out = Vec::new();
    for &rerank in reranks {
        for t in if threads > 1 { vec![1, threads] } else { vec![1] } {
            index.set_threads(t);
            index.set_rerank(rerank);
            let (mut times, qps, top1) = measure(&index, probes, timed, threads)?;
            let mut row = entry("compressed", t, &mut times, qps, probes.score(&top1));
            row["rerank"] = json!(rerank);
            row["shortlist"] = json!(index.params().shortlist);
            row["build_s"] = json!(build_s);
            row["bytes_per_face"] = json!(bytes);
            // Beyond the float vectors, which exact search holds too.
            row["extra_bytes_per_face"] = json!(bytes - (dims * 4) as f64);
            eprintln!("  compressed, rerank {rerank}, {t} thread(s): {row}");
            out.push(row);
        }
    }
    Ok((out, index))
}

/// The sign codes `index` gives the base and the probes, 64 bytes each, row after row: FAISS's
/// binary index runs on exactly the codes the compressed index scans.
pub fn write_codes(
    index: &CompressedIndex,
    base: &[f32],
    queries: &[Vec<f32>],
    dims: usize,
    dir: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let write = |path: &Path, vectors: &mut dyn Iterator<Item = &[f32]>| -> Result<()> {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for v in vectors {
            for word in index.code_of(v) {
                out.write_all(&word.to_le_bytes())?;
            }
        }
        out.flush()?;
        Ok(())
    };
    let (base_path, query_path) = (dir.join("base.codes"), dir.join("queries.codes"));
    write(&base_path, &mut base.chunks_exact(dims))?;
    write(&query_path, &mut queries.iter().map(|q| q.as_slice()))?;
    Ok((base_path, query_path))
}

/// FAISS's answers in the table's shape: its script reports each index's top-1 rows; they are
/// scored here exactly like ours.
pub fn faiss_entries(result: &mut Value, probes: &Probes) -> Vec<Value> {
    let Some(indexes) = result.get_mut("indexes").and_then(Value::as_array_mut) else { return Vec::new() };
    indexes
        .iter_mut()
        .map(|index| {
            let top1: Vec<Option<usize>> = index["top1_rows"]
                .as_array()
                .map(|rows| rows.iter().map(|r| r.as_i64().filter(|&r| r >= 0).map(|r| r as usize)).collect())
                .unwrap_or_default();
            let (recall, agreement) = probes.score(&top1);
            let mut row = index.clone();
            if let Some(object) = row.as_object_mut() {
                object.remove("top1_rows");
                object.insert("mated_recall".into(), json!(recall));
                object.insert("top1_agreement".into(), json!(agreement));
            }
            row
        })
        .collect()
}

/// Gallery sizes at which the best impostor score is read.
const IMPOSTOR_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// FPIRs whose thresholds are read at each size (the fit uses all of them).
const IMPOSTOR_FPIRS: [f64; 3] = [0.5, 0.1, 0.01];

/// Best impostor score of each non-mated probe (a person not enrolled) among the first `n` rows
/// of the base, for each size up to the base's: one pass of matrix products, keeping each
/// probe's running maximum and reading it at every size.
pub fn best_impostors(base: &[f32], dims: usize, strangers: &[f32], threads: usize) -> Vec<(usize, Vec<f32>)> {
    let rows = base.len() / dims;
    let sizes: Vec<usize> = IMPOSTOR_SIZES
        .iter()
        .copied()
        .filter(|&s| s <= rows)
        .chain([rows])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let probes = strangers.len() / dims;
    let per_thread = probes.div_ceil(threads.max(1)).max(1);
    let parts: Vec<Vec<Vec<f32>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = strangers
            .chunks(per_thread * dims)
            .map(|mine| {
                let sizes = &sizes;
                scope.spawn(move || {
                    let count = mine.len() / dims;
                    let query = ArrayView2::from_shape((count, dims), mine).expect("probe shape");
                    let mut best = vec![f32::NEG_INFINITY; count];
                    let mut at_size = vec![Vec::new(); sizes.len()];
                    let block = 4096;
                    let mut scores = ndarray::Array2::<f32>::zeros((block, count));
                    let mut next_size = 0;
                    for start in (0..rows).step_by(block) {
                        let end = (start + block).min(rows);
                        let gallery = ArrayView2::from_shape((end - start, dims), &base[start * dims..end * dims])
                            .expect("row shape");
                        let mut out = scores.slice_axis_mut(ndarray::Axis(0), ndarray::Slice::from(0..end - start));
                        general_mat_mul(1.0, &gallery, &query.t(), 0.0, &mut out);
                        for (r, row) in out.rows().into_iter().enumerate() {
                            for (b, &s) in best.iter_mut().zip(row) {
                                *b = b.max(s);
                            }
                            while next_size < sizes.len() && start + r + 1 == sizes[next_size] {
                                at_size[next_size] = best.clone();
                                next_size += 1;
                            }
                        }
                    }
                    at_size
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("impostor thread")).collect()
    });
    sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| (size, parts.iter().flat_map(|p| p[i].iter().copied()).collect()))
        .collect()
}

/// The measured thresholds per size, the model fitted to them, and how the rule of the shipped
/// model does on them.
pub fn impostor_report(curve: &[(usize, Vec<f32>)], shipped: Option<ImpostorModel>) -> Result<Value> {
    let mut points = Vec::new();
    let mut sizes = Vec::new();
    for (size, scores) in curve {
        let mut sorted = scores.clone();
        sorted.sort_by(f32::total_cmp);
        let quantile = |fpir: f64| f64::from(sorted[((sorted.len() as f64 - 1.0) * (1.0 - fpir)).round() as usize]);
        let thresholds: Vec<f64> = IMPOSTOR_FPIRS.iter().map(|&f| quantile(f)).collect();
        points.extend(IMPOSTOR_FPIRS.iter().zip(&thresholds).map(|(&f, &t)| (*size, f, t)));
        let shipped_rule = shipped.map(|m| {
            let t = m.threshold(0.01, *size);
            let measured = scores.iter().filter(|&&s| s >= t).count() as f64 / scores.len() as f64;
            json!({"threshold": t, "measured_fpir": measured})
        });
        sizes.push(json!({"faces": size, "probes": scores.len(), "mean_best_impostor": scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len() as f64,
                          "threshold_at_fpir": IMPOSTOR_FPIRS.iter().zip(&thresholds).map(|(f, t)| json!({"fpir": f, "threshold": t})).collect::<Vec<_>>(),
                          "shipped_rule_at_fpir_1pct": shipped_rule}));
    }
    let Some(fitted) = ImpostorModel::fit(&points) else { bail!("too few gallery sizes to fit the impostor model") };
    Ok(json!({"sizes": sizes, "fitted_model": fitted, "shipped_model": shipped}))
}

/// Runs the FAISS script on the vectors, probes and codes written to `dir`.
pub fn run_faiss_script(python: &Path, script: &Path, arguments: &[String]) -> Result<Value> {
    eprintln!("  running FAISS ({})", python.display());
    let output = std::process::Command::new(python)
        .arg(script)
        .args(arguments)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!("the FAISS script failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("reading the FAISS script's JSON")
}
