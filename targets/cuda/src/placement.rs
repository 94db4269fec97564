//! Where each op runs. The whole graph goes to the GPU when every op has a GPU kernel. Otherwise
//! ops go one by one: an op without a kernel runs on the CPU (the fallback is the CPU session's
//! own kernel, the reference every backend is tested against); a heavy op with a kernel (the
//! products, convolutions and recurrent ops, where a GPU pays) runs on the GPU; a light op with a
//! kernel (element-wise, data movement, normalization) runs where most of its input bytes already
//! are (on a tie the GPU if it holds any, else the CPU), so that it moves at most half its input. Every tensor that a consumer
//! needs on the other side costs one transfer; graph inputs start on the host and graph outputs
//! end there.

use crate::graph::{GraphView, OpNode};
use ferrite_runtime::ops::OpCode;
use std::collections::HashMap;

/// A processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The CPU session's kernels.
    Cpu,
    /// The CUDA backend.
    Gpu,
}

impl Place {
    /// `cpu` or `cuda`, as `ferrite inspect --device cuda` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Place::Cpu => "cpu",
            Place::Gpu => "cuda",
        }
    }
}

/// Which ops a device has kernels for.
pub trait Support {
    /// Whether `op` can run on the device.
    fn supports(&self, op: &OpNode) -> bool;
}

impl<F: Fn(&OpNode) -> bool> Support for F {
    fn supports(&self, op: &OpNode) -> bool {
        self(op)
    }
}

/// Ops where a GPU pays for a transfer: products, convolutions, recurrent layers.
pub fn is_heavy(code: OpCode) -> bool {
    matches!(
        code,
        OpCode::MatMul
            | OpCode::Conv
            | OpCode::QMatMul
            | OpCode::QConv
            | OpCode::DynQMatMul
            | OpCode::Lstm
            | OpCode::Gru
    )
}

/// A copy of one tensor between host and device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The tensor's index in the artifact.
    pub tensor: u32,
    /// Where it is copied to.
    pub to: Place,
}

/// Where every op runs and what crosses between host and device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// One place per op, in execution order.
    pub places: Vec<Place>,
    /// Every host/device copy a run makes (graph inputs to the GPU and outputs back included).
    pub transfers: Vec<Transfer>,
    /// True when every op runs on the GPU.
    pub whole_graph: bool,
}

impl Placement {
    /// How many ops run on `place`.
    pub fn count(&self, place: Place) -> usize {
        self.places.iter().filter(|&&p| p == place).count()
    }
}

/// Places `g`'s ops for a device with `support` (module documentation).
pub fn plan(g: &GraphView, support: &dyn Support) -> Placement {
    let supported: Vec<bool> = g.ops.iter().map(|op| support.supports(op)).collect();
    let whole_graph = !g.ops.is_empty() && supported.iter().all(|&s| s);
    // Where each tensor is produced; graph inputs (and anything no op makes) are on the host.
    let mut at: HashMap<u32, Place> = g.inputs.iter().map(|&t| (t, Place::Cpu)).collect();
    let mut places = Vec::with_capacity(g.ops.len());
    for (op, &ok) in g.ops.iter().zip(&supported) {
        let place = if whole_graph {
            Place::Gpu
        } else if !ok {
            Place::Cpu
        } else if is_heavy(op.code) {
            Place::Gpu
        } else {
            // The side holding most of its input bytes (a tensor of unknown size counts 1): an
            // attention mask from the host does not pull the scores it is added to back. On a
            // tie, the GPU if it holds any: a residual add of a GPU product and a host tensor
            // then keeps the residual stream on the device for the layers after it.
            let bytes = |t: &u32| g.byte_len.get(*t as usize).copied().unwrap_or(1).max(1);
            let on_gpu: usize = op.inputs.iter().filter(|t| at.get(t) == Some(&Place::Gpu)).map(bytes).sum();
            let all: usize = op.inputs.iter().map(bytes).sum();
            if 2 * on_gpu > all || (2 * on_gpu == all && on_gpu > 0) {
                Place::Gpu
            } else {
                Place::Cpu
            }
        };
        for &t in &op.outputs {
            at.insert(t, place);
        }
        places.push(place);
    }
    Placement { transfers: transfers(g, &places, &at), places, whole_graph }
}

/// One transfer per tensor and side that needs it but did not make it.
fn transfers(g: &GraphView, places: &[Place], at: &HashMap<u32, Place>) -> Vec<Transfer> {
    let mut out: Vec<Transfer> = Vec::new();
    let mut need = |t: u32, to: Place| {
        let from = at.get(&t).copied().unwrap_or(Place::Cpu);
        let x = Transfer { tensor: t, to };
        if from != to && !out.contains(&x) {
            out.push(x);
        }
    };
    for (op, &p) in g.ops.iter().zip(places) {
        for &t in &op.inputs {
            need(t, p);
        }
    }
    for &t in &g.outputs {
        need(t, Place::Cpu);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(code: OpCode, inputs: &[u32], outputs: &[u32]) -> OpNode {
        OpNode { index: 0, code, name: String::new(), inputs: inputs.to_vec(), outputs: outputs.to_vec() }
    }

    /// x(0) → MatMul → 1 → Unary → 2 → Softmax → 3 → MatMul → 4 (output).
    fn chain() -> GraphView {
        GraphView {
            ops: vec![
                op(OpCode::MatMul, &[0], &[1]),
                op(OpCode::Unary, &[1], &[2]),
                op(OpCode::Softmax, &[2], &[3]),
                op(OpCode::MatMul, &[3], &[4]),
            ],
            inputs: vec![0],
            outputs: vec![4],
            ..GraphView::default()
        }
    }

    #[test]
    fn a_fully_supported_graph_runs_whole_on_the_gpu() {
        let p = plan(&chain(), &|_: &OpNode| true);
        assert!(p.whole_graph);
        assert_eq!(p.places, vec![Place::Gpu; 4]);
        assert_eq!(p.transfers, vec![Transfer { tensor: 0, to: Place::Gpu }, Transfer { tensor: 4, to: Place::Cpu }]);
    }

    #[test]
    fn nothing_supported_means_no_transfer() {
        let p = plan(&chain(), &|_: &OpNode| false);
        assert!(!p.whole_graph);
        assert_eq!(p.count(Place::Cpu), 4);
        assert!(p.transfers.is_empty());
    }

    #[test]
    fn an_unsupported_op_falls_back_and_light_ops_follow_their_inputs() {
        // Softmax has no kernel: Unary (supported, light) stays with its GPU input, the second
        // MatMul (heavy) goes back to the GPU: 1 → host after Unary, 3 → device, 4 → host.
        let p = plan(&chain(), &|o: &OpNode| o.code != OpCode::Softmax);
        assert_eq!(p.places, vec![Place::Gpu, Place::Gpu, Place::Cpu, Place::Gpu]);
        let moved: Vec<(u32, Place)> = p.transfers.iter().map(|t| (t.tensor, t.to)).collect();
        assert_eq!(moved, vec![(0, Place::Gpu), (2, Place::Cpu), (3, Place::Gpu), (4, Place::Cpu)]);
    }

    #[test]
    fn a_light_op_between_host_ops_stays_on_the_host() {
        // Only Unary has a kernel: moving it would cost two transfers for nothing.
        let p = plan(&chain(), &|o: &OpNode| o.code == OpCode::Unary);
        assert_eq!(p.count(Place::Gpu), 0);
        assert!(p.transfers.is_empty());
    }

    #[test]
    fn a_tensor_read_twice_on_the_other_side_moves_once() {
        let g = GraphView {
            ops: vec![
                op(OpCode::Lstm, &[0], &[1]),
                op(OpCode::Gather, &[1], &[2]),
                op(OpCode::Gather, &[1], &[3]),
                op(OpCode::Concat, &[2, 3], &[4]),
            ],
            inputs: vec![0],
            outputs: vec![4],
            ..GraphView::default()
        };
        let p = plan(&g, &|o: &OpNode| o.code == OpCode::Lstm);
        assert_eq!(p.places, vec![Place::Gpu, Place::Cpu, Place::Cpu, Place::Cpu]);
        assert_eq!(p.transfers, vec![Transfer { tensor: 0, to: Place::Gpu }, Transfer { tensor: 1, to: Place::Cpu }]);
    }
}
