//! `faceprint bench cluster`: clustering time, memory and quality on synthetic real-like faces
//! (as `bench search` draws them: identities drawn from the fit of real faceprints, and each
//! identity's faces drawn around it at real same-person similarities), with DBSCAN as Immich
//! runs it and agglomerative average linkage side by side where they fit (both are quadratic).

use std::time::Instant;

use anyhow::{Result, bail};
use faceprint::cluster::{ClusterFace, ClusterParams, cluster};
use faceprint_eval::clustering::{ClusterScores, agglomerative_average, dbscan, score_clustering};
use serde_json::{Value, json};

use crate::args::ClusterBenchArgs;
use crate::args::EngineArgs;
use crate::bench::measure::{peak_rss_kib, rss_kib};
use crate::bench::search::{draw, fit_real_faces, probes};
use crate::eval::cluster::incremental;

/// Above this many faces the baselines' n² pairs are not run by default.
const BASELINES_UP_TO: usize = 20_000;

fn with_time(scores: ClusterScores, started: Instant) -> ClusterScores {
    ClusterScores { seconds: started.elapsed().as_secs_f64(), ..scores }
}

pub fn run(engine_args: &EngineArgs, args: &ClusterBenchArgs) -> Result<std::process::ExitCode> {
    if args.n < 2 || args.faces_per_person < 1.0 {
        bail!("--n must be at least 2 and --faces-per-person at least 1");
    }
    let dir = tempfile::tempdir()?;
    let (fit, _, _) = fit_real_faces(&args.synthetic.testdata, engine_args, dir.path())?;
    let dims = fit.mean.len();
    let people = ((args.n as f64 / args.faces_per_person).ceil() as usize).max(1);
    eprintln!("== drawing {people} people and {} faces of them", args.n);
    let identities = draw(&fit, true, people, args.synthetic.seed);
    let (faces, person_of) = probes(&fit, true, &identities, dims, args.n, args.synthetic.seed + 11);
    drop(identities);
    let rss_before = rss_kib("self").unwrap_or(0);

    let mut params = ClusterParams::from(args.cluster);
    params.exact_below = args.exact_below.unwrap_or(params.exact_below);
    params.rerank = args.rerank.unwrap_or(params.rerank);
    params.partitioned_from = args.partitioned_from.unwrap_or(params.partitioned_from);
    params.probed_share = args.probed_share.unwrap_or(params.probed_share);
    let inputs: Vec<ClusterFace> = faces.iter().enumerate().map(|(i, v)| ClusterFace::new(v, i as u64)).collect();
    eprintln!("== faceprint: clustering {} faces", inputs.len());
    let started = Instant::now();
    let clustering = cluster(&inputs, &params)?;
    let ours = with_time(score_clustering(&clustering.group_of, &person_of), started);
    let stats = clustering.stats;
    let mut report = json!({
        "n": args.n, "people_drawn": people, "dims": dims, "threads": params.threads,
        "faceprint": ours,
        "graph": {
            "search": format!("{:?}", stats.search).to_lowercase(), "edges": stats.edges, "seeds": stats.seeds,
            "graph_s": stats.graph.as_secs_f64(), "whispers_s": stats.whispers.as_secs_f64(),
            "merge_s": stats.merge.as_secs_f64(),
        },
        "memory": {
            "vectors_mib": (args.n * dims * 4) as f64 / 1048576.0,
            "rss_before_mib": rss_before as f64 / 1024.0,
            "peak_rss_mib": peak_rss_kib("self").unwrap_or(0) as f64 / 1024.0,
        },
    });
    eprintln!("{}", report["faceprint"]);
    let full = clustering.group_of;
    if args.n <= BASELINES_UP_TO {
        eprintln!("== incremental: even faces first, their groups held, then all");
        let views: Vec<&[f32]> = faces.iter().map(Vec::as_slice).collect();
        let photos: Vec<u64> = (0..args.n as u64).collect();
        let persons: Vec<Option<usize>> = person_of.iter().copied().map(Some).collect();
        report["incremental"] = serde_json::to_value(incremental(&views, &photos, &persons, &full, &params)?)?;
    }
    drop(full);
    if args.baselines.unwrap_or(args.n <= BASELINES_UP_TO) {
        let views: Vec<&[f32]> = faces.iter().map(Vec::as_slice).collect();
        eprintln!("== DBSCAN (Immich's defaults)");
        let started = Instant::now();
        let immich = with_time(score_clustering(&dbscan(&views, 0.5, 3), &person_of), started);
        eprintln!("== agglomerative average linkage");
        let started = Instant::now();
        let labels = agglomerative_average(&views, params.merge_similarity);
        let agglomerative = with_time(score_clustering(&labels, &person_of), started);
        report["baselines"] = json!({ "dbscan_immich": immich, "agglomerative": agglomerative });
    }
    print_report(&report);
    if let Some(path) = &args.synthetic.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn print_report(report: &Value) {
    let g = &report["graph"];
    println!(
        "{} faces of {} drawn people; graph {} ({} edges): {:.2} s, whispers {:.2} s ({} seeds), merge {:.2} s; peak memory {:.0} MiB",
        report["n"],
        report["people_drawn"],
        g["search"].as_str().unwrap_or("?"),
        g["edges"],
        g["graph_s"].as_f64().unwrap_or(0.0),
        g["whispers_s"].as_f64().unwrap_or(0.0),
        g["seeds"],
        g["merge_s"].as_f64().unwrap_or(0.0),
        report["memory"]["peak_rss_mib"].as_f64().unwrap_or(0.0),
    );
    if let Some(i) = report.get("incremental") {
        println!("incremental against the full run: {i}");
    }
    println!("{:<26} {:>9} {:>9} {:>9} {:>9} {:>9}", "method", "clusters", "BCubed F", "pair F", "NMI", "seconds");
    let rows = [
        ("faceprint", &report["faceprint"]),
        ("DBSCAN (Immich)", &report["baselines"]["dbscan_immich"]),
        ("agglomerative average", &report["baselines"]["agglomerative"]),
    ];
    for (name, s) in rows.into_iter().filter(|(_, s)| !s.is_null()) {
        println!(
            "{name:<26} {:>9} {:>9.4} {:>9.4} {:>9.4} {:>9.2}",
            s["clusters"],
            s["bcubed_f"].as_f64().unwrap_or(f64::NAN),
            s["pairwise_f"].as_f64().unwrap_or(f64::NAN),
            s["nmi"].as_f64().unwrap_or(f64::NAN),
            s["seconds"].as_f64().unwrap_or(f64::NAN),
        );
    }
}
