//! tract's side of `benches/side_by_side.py`: loads an ONNX model with tract-onnx (the version the
//! project pins), optimizes it as tract's own tools do (`into_optimized`: its SIMD kernels), and
//! times one-thread runs on an input `.npy`, in this process. Prints one JSON line:
//! `{"load_ms", "first_run_ms", "median_ms", "p99_ms", "iterations", "peak_rss_kib"}` (the
//! process's `VmHWM` on Linux, else null).
//!
//!     cargo run --release --bin tract-bench -- MODEL.onnx INPUT.npy [ITERATIONS]

use ferrite_e2e::{npy_value, Value};
use std::time::Instant;
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: tract-bench MODEL.onnx INPUT.npy [ITERATIONS]");
        std::process::exit(2);
    }
    let iterations: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let tensor: Tensor = match npy_value(std::path::Path::new(&args[2])) {
        Value::F32(s, v) => tract_ndarray::ArrayD::from_shape_vec(s, v)?.into_tensor(),
        Value::I64(s, v) => tract_ndarray::ArrayD::from_shape_vec(s, v)?.into_tensor(),
    };
    let t0 = Instant::now();
    let mut m = tract_onnx::onnx().model_for_path(&args[1])?;
    m.set_input_fact(0, InferenceFact::dt_shape(tensor.datum_type(), tensor.shape()))?;
    let plan = m.into_optimized()?.into_runnable()?;
    let load = t0.elapsed();
    let input: TValue = tensor.into_tvalue();
    let t1 = Instant::now();
    plan.run(tvec!(input.clone()))?;
    let first = t1.elapsed();
    for _ in 0..3 {
        plan.run(tvec!(input.clone()))?;
    }
    let mut times: Vec<f64> = (0..iterations.max(1))
        .map(|_| {
            let t = Instant::now();
            let _ = plan.run(tvec!(input.clone()));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let rss = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    println!(
        "{{\"load_ms\": {}, \"first_run_ms\": {}, \"median_ms\": {}, \"p99_ms\": {}, \"iterations\": {}, \"peak_rss_kib\": {}}}",
        load.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        pct(0.5),
        pct(0.99),
        times.len(),
        rss.map_or("null".to_string(), |r| r.to_string())
    );
    Ok(())
}
