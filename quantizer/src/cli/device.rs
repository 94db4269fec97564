//! `--device cuda` for `inspect` and `bench`: the GPU this machine has (or why there is none)
//! and where each op runs on the CUDA backend (ferrite-cuda's placement: ops without a GPU
//! kernel fall back to the CPU kernels).

use ferrite_cuda::lower::{lower_all, KERNEL_OPS};
use ferrite_cuda::{plan, Device, GraphView, OpNode, Place, Placement};
use ferrite_runtime::{Model, Session};

/// Where to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceArg {
    /// The CPU kernels (the default).
    #[default]
    Cpu,
    /// The CUDA backend (Jetson-class boards), with CPU fallback per op.
    Cuda,
}

/// The device and the placement of a model's ops on it.
pub struct Report {
    /// The device, or why there is none.
    pub device: Result<Device, ferrite_cuda::Error>,
    /// The graph as placed.
    pub graph: GraphView,
    /// Where each op runs.
    pub placement: Placement,
}

impl Report {
    /// Opens GPU 0 and places `model`'s ops for the CUDA backend.
    pub fn new(model: &Model<'_>) -> Report {
        let graph = GraphView::of(model);
        // Which ops the kernels take depends on each op's prepared form (weights, quantization).
        let lowered = Session::new(model).map(|s| lower_all(&s)).unwrap_or_default();
        let placement = plan(&graph, &|op: &OpNode| matches!(lowered.get(op.index), Some(Some(_))));
        Report { device: Device::open(0), graph, placement }
    }

    /// The device line: its name and what the backend uses of it, or why it is not available.
    fn device_line(&self) -> String {
        match &self.device {
            Ok(d) => {
                let i = d.info();
                format!(
                    "{} (compute {}.{}, {:.1} GiB, unified memory: {})",
                    i.name,
                    i.compute_capability.0,
                    i.compute_capability.1,
                    i.total_memory as f64 / (1u64 << 30) as f64,
                    if i.unified_memory() { "yes, weights used in place" } else { "no, weights uploaded once" }
                )
            }
            Err(e) => e.to_string(),
        }
    }

    /// For `--json`: the device, each op's place, and the transfers.
    pub fn json(&self, tensor_name: &dyn Fn(u32) -> String) -> serde_json::Value {
        serde_json::json!({
            "device": "cuda",
            "available": self.device.is_ok(),
            "status": self.device_line(),
            "gpu_kernels": KERNEL_OPS.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "whole_graph": self.placement.whole_graph,
            "ops": self.graph.ops.iter().zip(&self.placement.places)
                .map(|(op, p)| serde_json::json!({"op": op.code.name(), "name": op.name, "device": p.name()}))
                .collect::<Vec<_>>(),
            "transfers": self.placement.transfers.iter()
                .map(|t| serde_json::json!({"tensor": tensor_name(t.tensor), "to": t.to.name()}))
                .collect::<Vec<_>>(),
        })
    }

    /// As text: the device, a summary, each op's place, and the transfers.
    pub fn print(&self, tensor_name: &dyn Fn(u32) -> String) -> anyhow::Result<()> {
        let p = &self.placement;
        out!("device cuda: {}", self.device_line());
        out!(
            "placement: {} of {} ops on cuda{}, {} on the CPU; {} host/device transfers a run",
            p.count(Place::Gpu),
            p.places.len(),
            if p.whole_graph { " (the whole graph)" } else { "" },
            p.count(Place::Cpu),
            p.transfers.len(),
        );
        for (k, (op, place)) in self.graph.ops.iter().zip(&p.places).enumerate() {
            out!("  {k:>4} {:<10} {:<4} {}", op.code.name(), place.name(), op.name);
        }
        for t in &p.transfers {
            out!("  transfer {} -> {}", tensor_name(t.tensor), t.to.name());
        }
        Ok(())
    }
}

/// `ferrite bench --device cuda`: the model on GPU 0 (weights registered in place on unified
/// memory, else uploaded once), timed from host inputs to host outputs: the first run (which
/// records the CUDA Graph), then `iterations` runs after three warm-ups, with CUDA Graphs and
/// without (whole-graph placements only).
#[cfg(feature = "cuda")]
pub fn bench(
    path: &std::path::Path,
    model: &Model<'_>,
    feeds: &[ferrite_runtime::Input<'_>],
    iterations: usize,
    json: bool,
) -> anyhow::Result<()> {
    use ferrite_cuda::gpu::{CudaSession, DeviceWeights, WeightsMode};
    use std::time::Instant;
    let fail = |e: ferrite_cuda::Error| anyhow::anyhow!("{}: --device cuda: {e}", path.display());
    let device = Device::open(0).map_err(fail)?;
    let t0 = Instant::now();
    let weights = DeviceWeights::new(&device, model, WeightsMode::Auto).map_err(fail)?;
    let mut session = CudaSession::new(&device, model, weights.clone()).map_err(fail)?;
    let setup = t0.elapsed().as_secs_f64() * 1e3;
    let time = |session: &mut CudaSession<'_, '_>| -> anyhow::Result<(f64, Vec<f64>)> {
        let t = Instant::now();
        session.run(feeds).map_err(fail)?;
        let first = t.elapsed().as_secs_f64() * 1e3;
        for _ in 0..3 {
            session.run(feeds).map_err(fail)?;
        }
        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let t = Instant::now();
            session.run(feeds).map_err(fail)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok((first, times))
    };
    let (first, mut graphs) = time(&mut session)?;
    let p = session.placement().clone();
    let (median, p99, mean, min) = super::bench::summary(&mut graphs);
    // Op by op too, where the graph could be one CUDA Graph: what the graph saves.
    let direct = if p.whole_graph {
        session.set_cuda_graphs(false);
        let (_, mut t) = time(&mut session)?;
        Some(super::bench::summary(&mut t).0)
    } else {
        None
    };
    let info = device.info();
    let weights = if weights.is_mapped() { "mapped in place" } else { "uploaded once" };
    if json {
        out!(
            "{}",
            serde_json::json!({
                "file": path.display().to_string(), "device": "cuda", "gpu": info.name,
                "gpu_ops": p.count(Place::Gpu), "ops": p.places.len(), "whole_graph": p.whole_graph,
                "transfers": p.transfers.len(), "weights": weights, "setup_ms": setup, "first_run_ms": first,
                "iterations": iterations, "median_ms": median, "p99_ms": p99, "mean_ms": mean, "min_ms": min,
                "cuda_graphs": p.whole_graph, "median_ms_without_cuda_graphs": direct,
            })
        );
        return Ok(());
    }
    out!(
        "{}: cuda ({}): {} of {} ops on the GPU{}, weights {weights}; setup {setup:.3} ms (kernels, weights, arena), first run {first:.3} ms",
        path.display(),
        info.name,
        p.count(Place::Gpu),
        p.places.len(),
        if p.whole_graph { " (the whole graph, one CUDA Graph)" } else { "" }
    );
    out!("run ({iterations} iterations, host inputs to host outputs): median {median:.3} ms, p99 {p99:.3} ms, mean {mean:.3} ms, min {min:.3} ms");
    if let Some(d) = direct {
        out!("without CUDA Graphs (one launch at a time): median {d:.3} ms");
    }
    Ok(())
}

/// `ferrite bench --device cuda` in a build without the `cuda` feature: the device check before
/// it already refused (no driver can be opened without the feature).
#[cfg(not(feature = "cuda"))]
pub fn bench(
    path: &std::path::Path,
    _: &Model<'_>,
    _: &[ferrite_runtime::Input<'_>],
    _: usize,
    _: bool,
) -> anyhow::Result<()> {
    Err(anyhow::anyhow!(
        "{}: --device cuda: CUDA is not available: this ferrite is built without the `cuda` feature",
        path.display()
    ))
}
