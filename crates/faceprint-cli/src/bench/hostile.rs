//! `faceprint bench serve --hostile`: the server under an attacker's mix, from a read key (or
//! none), all at once for a fixed time, while a well-behaved client asks `/healthz` every 100 ms:
//! - 16 clients posting 20 MB JSON bodies (`{"x":[0,0,…]}`) to `/v1/detect`;
//! - 4 clients posting 0.5 MB PNGs declaring 8000×8000 RGBA at 16 bits (64 MP);
//! - 4 clients posting the largest image the server accepts with a rotating EXIF orientation;
//! - made-up HTTP methods, and a flood of unkeyed `/readyz`;
//! - 200 connections that send half a request's headers and then nothing.
//!
//! Reports the server's peak resident memory, the slowest `/healthz`, and the statuses seen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::{Client, Method};
use tokio::io::AsyncWriteExt;

use crate::bench::measure::rss_kib;

/// Peak RSS the server must stay under.
const RSS_LIMIT_MIB: f64 = 1024.0;
/// Slowest `/healthz` allowed.
const HEALTH_LIMIT: Duration = Duration::from_secs(1);

#[derive(Debug, serde::Serialize)]
pub struct HostileReport {
    seconds: f64,
    rss_mib_start: f64,
    rss_mib_peak: f64,
    rss_mib_end: f64,
    healthz_checks: usize,
    healthz_max_ms: f64,
    healthz_failures: usize,
    /// Per attack, the statuses it got (0: the connection failed or was closed).
    statuses: BTreeMap<String, BTreeMap<u16, usize>>,
    metric_series: usize,
    passed: bool,
}

impl HostileReport {
    /// Peak memory under 1 GiB, every `/healthz` answered within 1 s, bounded metric series.
    pub fn passed(&self) -> bool {
        self.passed
    }
}

type Tally = Arc<Mutex<BTreeMap<String, BTreeMap<u16, usize>>>>;

fn count(tally: &Tally, attack: &str, status: u16) {
    *tally.lock().unwrap().entry(attack.to_owned()).or_default().entry(status).or_insert(0) += 1;
}

/// A PNG of `side`×`side` zero pixels of `color` at `depth`, optionally with an EXIF
/// orientation, written row by row (small however large it claims to be).
fn zero_png(side: u32, color: png::ColorType, depth: png::BitDepth, orientation: Option<u16>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, side, side);
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    if let Some(orientation) = orientation {
        // A big-endian TIFF header and one IFD entry: Orientation (0x0112, SHORT).
        let mut exif = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        exif.extend_from_slice(&orientation.to_be_bytes());
        exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        writer.write_chunk(png::chunk::ChunkType(*b"eXIf"), &exif)?;
    }
    let samples = match color {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        _ => 1,
    };
    let row = vec![0u8; side as usize * samples * if depth == png::BitDepth::Sixteen { 2 } else { 1 }];
    {
        let mut stream = writer.stream_writer()?;
        for _ in 0..side {
            std::io::Write::write_all(&mut stream, &row)?;
        }
        stream.finish()?;
    }
    writer.finish()?;
    Ok(bytes)
}

/// Runs the mix against `base` for `seconds`; `pid` is the server's.
pub async fn run(base: &str, key: &str, pid: u32, seconds: u64) -> Result<HostileReport> {
    let client = Client::builder().pool_max_idle_per_host(64).build()?;
    let mut json = String::with_capacity(20 << 20);
    json.push_str(r#"{"x":["#);
    while json.len() < (20 << 20) - 16 {
        json.push_str("0,");
    }
    json.push_str("0]}");
    let json = bytes::Bytes::from(json);
    let deep = bytes::Bytes::from(zero_png(8000, png::ColorType::Rgba, png::BitDepth::Sixteen, None)?);
    let rotated = bytes::Bytes::from(zero_png(4800, png::ColorType::Rgba, png::BitDepth::Eight, Some(6))?);
    eprintln!(
        "hostile mix: JSON {} MB, 16-bit PNG {:.2} MB (64 MP), rotated PNG {:.2} MB (23 MP)",
        json.len() >> 20,
        deep.len() as f64 / 1e6,
        rotated.len() as f64 / 1e6
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tally: Tally = Arc::default();
    let pid = pid.to_string();
    let rss_start = rss_kib(&pid).unwrap_or(0);
    let mut tasks = Vec::new();
    let bodies: [(&str, usize, &str, &bytes::Bytes); 3] = [
        ("json_20mb", 16, "application/json", &json),
        ("png_64mp_16bit", 4, "image/png", &deep),
        ("png_rotated_largest_accepted", 4, "image/png", &rotated),
    ];
    for (attack, clients, content_type, body) in bodies {
        for _ in 0..clients {
            let (client, tally, body) = (client.clone(), tally.clone(), body.clone());
            let (url, key) = (format!("{base}/v1/detect"), key.to_owned());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let sent =
                        client.post(&url).bearer_auth(&key).header("content-type", content_type).body(body.clone());
                    let status = match sent.send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let _ = response.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    count(&tally, attack, status);
                    if status == 429 {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }));
        }
    }
    // Made-up methods and unkeyed readiness probes, as fast as answered.
    {
        let (client, tally, base) = (client.clone(), tally.clone(), base.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while Instant::now() < deadline {
                n += 1;
                let method = Method::from_bytes(format!("M{n}").as_bytes()).expect("a valid token");
                let status = match client.request(method, format!("{base}/v1/detect")).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                count(&tally, "made_up_methods", status);
                let status = match client.get(format!("{base}/readyz")).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                count(&tally, "readyz_flood", status);
            }
        }));
    }
    // Connections that never finish their headers, re-opened when the server closes them.
    let address = base.trim_start_matches("http://").to_owned();
    for _ in 0..200 {
        let (tally, address) = (tally.clone(), address.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await else {
                    count(&tally, "slow_headers", 0);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                let mut buffer = [0u8; 64];
                let left = deadline.saturating_duration_since(Instant::now());
                let closed = tokio::time::timeout(left, tokio::io::AsyncReadExt::read(&mut stream, &mut buffer)).await;
                count(&tally, "slow_headers", if closed.is_ok() { 408 } else { 0 });
            }
        }));
    }
    // The well-behaved client, and the memory sampler.
    let mut health = Vec::new();
    let mut health_failures = 0;
    let mut rss_peak = rss_start;
    while Instant::now() < deadline {
        let sent = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(5), client.get(format!("{base}/healthz")).send()).await;
        match answered {
            Ok(Ok(response)) if response.status().is_success() => health.push(sent.elapsed()),
            _ => health_failures += 1,
        }
        rss_peak = rss_peak.max(rss_kib(&pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    rss_peak = rss_peak.max(rss_kib(&pid).unwrap_or(0));
    let metrics = client.get(format!("{base}/metrics")).bearer_auth(key).send().await?.text().await?;
    let metric_series = metrics.lines().filter(|l| l.starts_with("faceprint_http_requests_total")).count();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let healthz_max_ms = health.iter().max().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let passed = mib(rss_peak) < RSS_LIMIT_MIB
        && health_failures == 0
        && healthz_max_ms < HEALTH_LIMIT.as_secs_f64() * 1e3
        && metric_series < 40;
    Ok(HostileReport {
        seconds: seconds as f64,
        rss_mib_start: mib(rss_start),
        rss_mib_peak: mib(rss_peak),
        rss_mib_end: mib(rss_kib(&pid).unwrap_or(0)),
        healthz_checks: health.len(),
        healthz_max_ms,
        healthz_failures: health_failures,
        statuses: tally.lock().unwrap().clone(),
        metric_series,
        passed,
    })
}
