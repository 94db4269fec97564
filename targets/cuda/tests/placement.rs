//! Placement on every trained reference model with fake devices (no GPU needed): a device with a
//! kernel for every op takes the whole graph; one with kernels for the heavy ops only takes those,
//! leaves every other op on the CPU, and never needs more transfers than putting every supported
//! op on the GPU would; the real CUDA backend's lowering puts only ops it lowered on the GPU.

use ferrite_cuda::lower::lower_all;
use ferrite_cuda::placement::{is_heavy, plan, Place};
use ferrite_cuda::{GraphView, OpNode};
use ferrite_e2e::trained_artifact;
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{Model, Session};
use std::collections::HashSet;

const MODELS: [&str; 4] = ["kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer"];

/// Each model's graph, and which of its ops the CUDA backend lowers to kernels.
fn graphs() -> Vec<(&'static str, GraphView, Vec<bool>)> {
    MODELS
        .iter()
        .map(|name| {
            let art = trained_artifact(name, Precision::F32);
            let model = Model::from_bytes(&art).unwrap();
            let lowered = lower_all(&Session::new(&model).unwrap()).iter().map(Option::is_some).collect();
            (*name, GraphView::of(&model), lowered)
        })
        .collect()
}

/// Transfers when every supported op runs on the GPU, whatever its neighbours: what placement
/// must not exceed.
fn naive_transfers(g: &GraphView, supported: impl Fn(&OpNode) -> bool) -> usize {
    let mut at: std::collections::HashMap<u32, Place> = g.inputs.iter().map(|&t| (t, Place::Cpu)).collect();
    let mut moved = HashSet::new();
    for op in &g.ops {
        let p = if supported(op) { Place::Gpu } else { Place::Cpu };
        for t in &op.inputs {
            if at.get(t).copied().unwrap_or(Place::Cpu) != p {
                moved.insert((*t, p));
            }
        }
        for &t in &op.outputs {
            at.insert(t, p);
        }
    }
    for t in &g.outputs {
        if at.get(t).copied().unwrap_or(Place::Cpu) != Place::Cpu {
            moved.insert((*t, Place::Cpu));
        }
    }
    moved.len()
}

#[test]
fn every_trained_model_places_whole_partial_and_not_at_all() {
    for (name, g, lowered) in graphs() {
        assert!(!g.ops.is_empty() && !g.inputs.is_empty() && !g.outputs.is_empty(), "{name}");
        // Every op has a kernel: one upload of the inputs, one download of the outputs.
        let all = plan(&g, &|_: &OpNode| true);
        assert!(all.whole_graph, "{name}");
        assert_eq!(all.count(Place::Gpu), g.ops.len(), "{name}");
        assert_eq!(all.transfers.len(), g.inputs.len() + g.outputs.len(), "{name}");

        // Kernels for the heavy ops only.
        let heavy = |o: &OpNode| is_heavy(o.code);
        let p = plan(&g, &heavy);
        assert!(g.ops.iter().any(heavy), "{name} has products");
        assert!(!p.whole_graph, "{name}");
        for (op, place) in g.ops.iter().zip(&p.places) {
            assert_eq!(*place == Place::Gpu, heavy(op), "{name}: {:?} {} on {place:?}", op.code, op.name);
        }
        assert!(!p.transfers.is_empty(), "{name}");
        assert!(p.transfers.len() <= naive_transfers(&g, heavy), "{name}");

        // Kernels for everything but the heavy ops: the light ops stay with them on the CPU, and
        // nothing moves (putting them on the GPU regardless would move tensors back and forth).
        let light = |o: &OpNode| !is_heavy(o.code);
        let p = plan(&g, &light);
        assert!(p.transfers.len() <= naive_transfers(&g, light), "{name}");
        assert!(p.transfers.len() < naive_transfers(&g, light) || naive_transfers(&g, light) == 0, "{name}");

        // The CUDA backend as built today: only what it lowered goes to the GPU.
        let real = |o: &OpNode| lowered[o.index];
        let p = plan(&g, &real);
        for (op, place) in g.ops.iter().zip(&p.places) {
            assert!(*place == Place::Cpu || real(op), "{name}: {} on the GPU without a kernel", op.name);
        }
        assert!(p.transfers.len() <= naive_transfers(&g, real), "{name}");
    }
}
