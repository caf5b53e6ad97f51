//! What the benchmarks measure with: latency percentiles and a process's resident memory.

use std::time::Duration;

/// The `q`-th percentile (0–100, nearest rank) of `samples`, in milliseconds; NaN when there
/// are none. Sorts `samples`.
pub fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * q / 100.0).round() as usize;
    samples[i].as_secs_f64() * 1e3
}

/// Resident set size in KiB of a process: `"self"` or a pid, from `/proc` (Linux).
pub fn rss_kib(process: &str) -> Option<u64> {
    status_kib(process, "VmRSS:")
}

/// The most resident memory a process has held, in KiB (Linux).
pub fn peak_rss_kib(process: &str) -> Option<u64> {
    status_kib(process, "VmHWM:")
}

fn status_kib(process: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_empty_is_nan() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&mut samples, 50.0), 51.0);
        assert_eq!(percentile_ms(&mut samples, 99.0), 99.0);
        assert!(percentile_ms(&mut [], 50.0).is_nan());
        assert!(rss_kib("self").is_some_and(|kib| kib > 0));
        assert!(peak_rss_kib("self") >= rss_kib("self"));
    }
}
