//! `faceprint bench serve`: the HTTP server under load on loopback. Starts `faceprint serve` as
//! a child process on a fresh gallery (40 ORL subjects enrolled through the API), then for each
//! endpoint and client count runs closed-loop clients for a fixed time: throughput, latency
//! percentiles, status counts, and the server's resident memory sampled throughout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::args::ServeBenchArgs;
use crate::bench::measure::{percentile_ms, rss_kib};

/// The server child, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

#[derive(Debug, serde::Serialize)]
struct Run {
    endpoint: String,
    clients: usize,
    seconds: f64,
    requests: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    statuses: BTreeMap<u16, usize>,
    transport_errors: usize,
    rss_mib_start: f64,
    rss_mib_max: f64,
    rss_mib_end: f64,
}

pub fn run(args: &ServeBenchArgs) -> Result<std::process::ExitCode> {
    let orl = args.data.join("orl");
    let lfw = args.data.join("lfw-devtest/images");
    if !orl.is_dir() || !lfw.is_dir() {
        bail!("{} does not hold orl/ and lfw-devtest/", args.data.display());
    }
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let exe = std::env::current_exe()?;
    let output = Command::new(&exe).arg("--gallery").arg(&db).args(["keys", "create", "--scope", "write"]).output()?;
    let key = String::from_utf8(output.stdout)?.trim().to_owned();
    let mut child = Command::new(&exe)
        .arg("--gallery")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--queue", &args.queue.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting faceprint serve")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("server stdout")?).read_line(&mut line)?;
    let base = line.trim().strip_prefix("faceprint listening on ").context("the server's address line")?.to_owned();
    let server = Server { child, base };
    let pid = server.child.id();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.hostile {
        let output =
            Command::new(&exe).arg("--gallery").arg(&db).args(["keys", "create", "--scope", "read"]).output()?;
        let read_key = String::from_utf8(output.stdout)?.trim().to_owned();
        let report = runtime.block_on(crate::bench::hostile::run(&server.base, &read_key, pid, args.duration))?;
        drop(server);
        println!("{}", serde_json::to_string_pretty(&report)?);
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        }
        return Ok(if report.passed() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) });
    }
    let runs = runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(512).build()?;
        enrol_orl(&client, &server.base, &key, &orl).await?;
        let pair = (
            std::fs::read(lfw.join("Abdullah_Gul/Abdullah_Gul_0013.jpg"))?,
            std::fs::read(lfw.join("Abdullah_Gul/Abdullah_Gul_0014.jpg"))?,
        );
        let probe = std::fs::read(orl.join("s7/6.pgm"))?;
        let mut runs = Vec::new();
        for endpoint in ["compare", "identify"] {
            for &clients in &args.clients {
                let run = load(&client, &server.base, &key, endpoint, clients, args.duration, &pair, &probe, pid).await;
                eprintln!(
                    "{endpoint:>8} {clients:>4} clients: {:>7.1} req/s, p50 {:>8.1} ms, p99 {:>8.1} ms, statuses {:?}, transport errors {}, RSS {:.0} → {:.0} MiB (max {:.0})",
                    run.per_second, run.p50_ms, run.p99_ms, run.statuses, run.transport_errors, run.rss_mib_start, run.rss_mib_end, run.rss_mib_max
                );
                runs.push(run);
            }
        }
        anyhow::Ok(runs)
    })?;
    drop(server);
    println!("| endpoint | clients | req/s | p50 ms | p99 ms | 200 | 429 | other | RSS MiB start → end (max) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &runs {
        let ok = r.statuses.get(&200).copied().unwrap_or(0);
        let busy = r.statuses.get(&429).copied().unwrap_or(0);
        let other = r.requests - ok - busy;
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {ok} | {busy} | {other} | {:.0} → {:.0} ({:.0}) |",
            r.endpoint, r.clients, r.per_second, r.p50_ms, r.p99_ms, r.rss_mib_start, r.rss_mib_end, r.rss_mib_max
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&runs)?)?;
    }
    let failed = runs.iter().any(|r| r.transport_errors > 0 || r.statuses.keys().any(|s| *s != 200 && *s != 429));
    Ok(if failed { std::process::ExitCode::from(1) } else { std::process::ExitCode::SUCCESS })
}

async fn enrol_orl(client: &reqwest::Client, base: &str, key: &str, orl: &std::path::Path) -> Result<()> {
    for subject in 1..=40 {
        let created = client
            .post(format!("{base}/v1/collections/default/subjects"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "name": format!("s{subject}") }).to_string())
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let created: serde_json::Value = serde_json::from_slice(&created)?;
        let photo = std::fs::read(orl.join(format!("s{subject}/1.pgm")))?;
        client
            .post(format!("{base}/v1/collections/default/subjects/{}/faces?force=true", created["id"]))
            .bearer_auth(key)
            .body(photo)
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn load(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    endpoint: &str,
    clients: usize,
    seconds: u64,
    pair: &(Vec<u8>, Vec<u8>),
    probe: &[u8],
    pid: u32,
) -> Run {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let transport_errors = Arc::new(Mutex::new(0usize));
    let pid = pid.to_string();
    let rss_start = rss_kib(&pid).unwrap_or(0);
    let sampler = {
        let (done, pid) = (deadline, pid.clone());
        tokio::spawn(async move {
            let mut max = 0;
            while Instant::now() < done {
                max = max.max(rss_kib(&pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            max
        })
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, key, latencies, statuses, errors) =
                (client.clone(), key.to_owned(), latencies.clone(), statuses.clone(), transport_errors.clone());
            let url = format!("{base}/v1/{endpoint}");
            let (a, b, probe, endpoint) = (pair.0.clone(), pair.1.clone(), probe.to_vec(), endpoint.to_owned());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let request = client.post(&url).bearer_auth(&key);
                    let request = if endpoint == "compare" {
                        let form = reqwest::multipart::Form::new()
                            .part("image1", reqwest::multipart::Part::bytes(a.clone()).file_name("a.jpg"))
                            .part("image2", reqwest::multipart::Part::bytes(b.clone()).file_name("b.jpg"));
                        request.multipart(form)
                    } else {
                        request.body(probe.clone())
                    };
                    let sent = Instant::now();
                    match request.send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let retry_after = response
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.parse::<u64>().ok());
                            let _ = response.bytes().await;
                            if status == 429 {
                                // A well-behaved client waits as long as Retry-After says.
                                tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
                            } else {
                                latencies.lock().unwrap().push(sent.elapsed());
                            }
                            *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                        }
                        Err(_) => *errors.lock().unwrap() += 1,
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_max = sampler.await.unwrap_or(0);
    let mut latencies = latencies.lock().unwrap().clone();
    let statuses = statuses.lock().unwrap().clone();
    let ok = statuses.get(&200).copied().unwrap_or(0);
    let mib = |kib: u64| kib as f64 / 1024.0;
    Run {
        endpoint: endpoint.to_owned(),
        clients,
        seconds: elapsed,
        requests: statuses.values().sum(),
        per_second: ok as f64 / elapsed,
        p50_ms: percentile_ms(&mut latencies, 50.0),
        p99_ms: percentile_ms(&mut latencies, 99.0),
        statuses,
        transport_errors: *transport_errors.lock().unwrap(),
        rss_mib_start: mib(rss_start),
        rss_mib_max: mib(rss_max.max(rss_start)),
        rss_mib_end: mib(rss_kib(&pid).unwrap_or(0)),
    }
}
