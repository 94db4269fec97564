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
