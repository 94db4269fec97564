//! `ferrite bench`: what a device cares about, measured on this machine with one thread: load
//! time (mmap, validation, checksum), session creation (every op prepared once), the first run,
//! the latency distribution of the runs after three warm-ups (median, p99), the process's peak
//! resident memory, and the kernel tier of every op (`--profile` times each op too).

use crate::{feeds, load_inputs, open};
use anyhow::anyhow;
use ferrite_quantizer::npy::{self, NpyData};
use ferrite_runtime::format::DType;
use ferrite_runtime::Session;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to bench.
pub struct Options {
    /// Timed runs after the warm-up.
    pub iterations: usize,
    /// One JSON object instead of text.
    pub json: bool,
    /// Time every op.
    pub profile: bool,
    /// Where to run (cuda: fails without a GPU).
    pub device: super::device::DeviceArg,
}

/// Peak resident set size of this process in KiB (Linux: `VmHWM`), if the OS tells.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the bench and prints the report.
pub fn run(path: &Path, inputs: &[String], opts: Options) -> anyhow::Result<()> {
    let fail = |e: ferrite_runtime::Error| anyhow!("{}: {e}", path.display());
    let t0 = Instant::now();
    let model = open(path)?;
    let load = t0.elapsed();
    if opts.device == super::device::DeviceArg::Cuda {
        // Refuse before reading inputs when there is no GPU.
        cuda_placement(&model, opts.json)?;
    }
    let arrays = if inputs.is_empty() {
        model
            .inputs()
            .map(|d| {
                let n = d.info.len();
                let data = match d.info.dtype {
                    DType::F32 => NpyData::F32(vec![0.0; n]),
                    DType::I32 => NpyData::I64(vec![0; n]),
                    _ => NpyData::Bool(vec![0; n]),
                };
                (PathBuf::from("<zeros>"), npy::NpyArray { shape: d.info.shape().to_vec(), data })
            })
            .collect()
    } else {
        load_inputs(path, &model, inputs)?
    };
    let feeds = feeds(&model, &arrays)?;
    if opts.device == super::device::DeviceArg::Cuda {
        return super::device::bench(path, &model, &feeds, opts.iterations.max(1), opts.json);
    }
    let t1 = Instant::now();
    let mut session = Session::new(&model).map_err(fail)?;
    let prepare = t1.elapsed();
    let t2 = Instant::now();
    session.run(&feeds).map_err(fail)?;
    let first = t2.elapsed();
    for _ in 0..3 {
        session.run(&feeds).map_err(fail)?;
    }
    let n = opts.iterations.max(1);
    let mut times: Vec<f64> = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        session.run(&feeds).map_err(fail)?;
        times.push(ms(t.elapsed()));
    }
    let (median, p99, mean, _) = summary(&mut times);
    let p90 = times[((times.len() - 1) as f64 * 0.9).round() as usize];
    // Per op: the kernel tier always; with --profile, the time of each op summed over the runs.
    let epoch = Instant::now();
    let mut ticks = vec![0u64; session.ops().len()];
    if opts.profile {
        for _ in 0..n {
            session.run_profiled(&feeds, || epoch.elapsed().as_nanos() as u64, &mut ticks).map_err(fail)?;
        }
    }
    let tier = session.kernels().tier.name();
    let names: Vec<String> = model.ops().map(|o| o.name.to_string()).collect();
    let ops: Vec<serde_json::Value> = session
        .ops()
        .iter()
        .enumerate()
        .map(|(k, op)| {
            let mut v = serde_json::json!({"op": op.code().name(), "name": names.get(k), "tier": op.tier().name()});
            if opts.profile {
                v["ms"] = serde_json::json!(ticks[k] as f64 / 1e6 / n as f64);
            }
            v
        })
        .collect();
    let rss = peak_rss_kib();
    if opts.json {
        out!(
            "{}",
            serde_json::json!({
                "file": path.display().to_string(), "tier": tier, "threads": 1,
                "load_ms": ms(load), "prepare_ms": ms(prepare), "first_run_ms": ms(first),
                "cold_start_ms": ms(load) + ms(prepare) + ms(first),
                "arena_bytes": model.arena_len(), "file_bytes": model.bytes().len(),
                "iterations": times.len(), "mean_ms": mean, "median_ms": median, "p90_ms": p90, "p99_ms": p99,
                "min_ms": times[0], "peak_rss_kib": rss, "ops": ops,
            })
        );
        return Ok(());
    }
    out!(
        "{}: load {:.3} ms (mmap + validation + checksum), prepare {:.3} ms, first run {:.3} ms; arena {} bytes, file {} bytes",
        path.display(),
        ms(load),
        ms(prepare),
        ms(first),
        model.arena_len(),
        model.bytes().len()
    );
    out!(
        "run ({} iterations, one thread, kernels {tier}): median {median:.3} ms, p99 {p99:.3} ms, mean {mean:.3} ms, min {:.3} ms",
        times.len(),
        times[0]
    );
    if let Some(kib) = rss {
        out!("peak resident memory of this process: {kib} KiB");
    }
    let mut tiers: Vec<(&str, usize)> = Vec::new();
    for op in session.ops() {
        match tiers.iter_mut().find(|(t, _)| *t == op.tier().name()) {
            Some(e) => e.1 += 1,
            None => tiers.push((op.tier().name(), 1)),
        }
    }
    let summary: Vec<String> = tiers.iter().map(|(t, c)| format!("{c} {t}")).collect();
    out!("ops by kernel tier: {} (inspect lists each op's)", summary.join(", "));
    if opts.profile {
        let total: u64 = ticks.iter().sum();
        let mut order: Vec<usize> = (0..ticks.len()).collect();
        order.sort_by(|&a, &b| ticks[b].cmp(&ticks[a]));
        out!("  {:>4} {:<10} {:<7} {:>9} {:>6}  name", "op", "kind", "tier", "µs", "share");
        for k in order {
            let op = &session.ops()[k];
            out!(
                "  {k:>4} {:<10} {:<7} {:>9.2} {:>5.1}%  {}",
                op.code().name(),
                op.tier().name(),
                ticks[k] as f64 / 1e3 / n as f64,
                100.0 * ticks[k] as f64 / total.max(1) as f64,
                names.get(k).map(String::as_str).unwrap_or("")
            );
        }
    }
    Ok(())
}

/// `--device cuda`: refuses without a GPU; with one, prints the placement (unless `--json`).
fn cuda_placement(model: &ferrite_runtime::Model<'_>, json: bool) -> anyhow::Result<()> {
    let report = super::device::Report::new(model);
    if let Err(e) = &report.device {
        return Err(anyhow!("--device cuda: {e}"));
    }
    if !json {
        report.print(&|t| model.tensors().nth(t as usize).map(|(d, _)| d.name.to_string()).unwrap_or_default())?;
    }
    Ok(())
}

/// The latency distribution of `times` (ms, sorted in place): (median, p99, mean, min).
pub(crate) fn summary(times: &mut [f64]) -> (f64, f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (pct(0.5), pct(0.99), mean, times[0])
}
