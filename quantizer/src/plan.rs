//! Ahead-of-time memory planning: every activation gets an offset in one arena. A tensor is live
//! from the op that writes it (graph inputs: from the start) to the last op that reads it (graph
//! outputs: to the end); tensors whose live ranges intersect never share bytes. Placement is
//! greedy best-fit by decreasing size, which is what TFLite Micro's planner does and is within a
//! few percent of optimal on sequential graphs.

use crate::alias::View;
use crate::ir::{Graph, TensorId};
use ferrite_runtime::format::{align_up, NO_OP};

/// Where and when one activation lives.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// Tensor.
    pub tensor: TensorId,
    /// Writer op, or `NO_OP` for graph inputs.
    pub def_op: u32,
    /// Last reader (the op count for graph outputs).
    pub last_op: u32,
    /// Byte offset in the arena.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
}

/// The arena plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One placement per activation, sorted by tensor.
    pub slots: Vec<Placement>,
    /// Arena size in bytes.
    pub arena_len: u64,
}

/// Plans the arena for `g` (all tensors without data are activations). An alias (`alias[t]`) has
/// no slot of its own: reading it reads its target, whose slot lives until the alias's last reader.
pub fn plan(g: &Graph, alias: &[Option<View>]) -> Plan {
    let n_ops = g.ops.len() as u32;
    let root = |t: TensorId| alias.get(t).copied().flatten().map_or(t, |v| v.target);
    let mut def: Vec<Option<u32>> = vec![None; g.tensors.len()];
    let mut last: Vec<Option<u32>> = vec![None; g.tensors.len()];
    for &i in &g.inputs {
        def[i] = Some(NO_OP);
        last[i] = Some(0);
    }
    for (k, op) in g.ops.iter().enumerate() {
        let k = k as u32;
        for t in op.inputs.iter().flatten() {
            if g.tensors[*t].data.is_none() {
                let t = root(*t);
                last[t] = Some(last[t].map_or(k, |l| l.max(k)));
            }
        }
        for t in op.outputs.iter().flatten().chain(op.scratch.iter()) {
            def[*t] = Some(k);
            last[*t] = Some(last[*t].map_or(k, |l| l.max(k)));
        }
    }
    for &o in &g.outputs {
        last[root(o)] = Some(n_ops);
    }
    let mut slots: Vec<Placement> = (0..g.tensors.len())
        .filter(|&t| g.tensors[t].data.is_none() && root(t) == t)
        .filter_map(|t| {
            let len = (g.tensors[t].len() * g.tensors[t].dtype.size()) as u64;
            Some(Placement { tensor: t, def_op: def[t]?, last_op: last[t]?, offset: 0, len })
        })
        .collect();
    let start = |p: &Placement| if p.def_op == NO_OP { -1i64 } else { p.def_op as i64 };
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by(|&a, &b| slots[b].len.cmp(&slots[a].len).then(a.cmp(&b)));
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_len = 0u64;
    for &i in &order {
        let me = slots[i];
        // Intervals of already placed tensors that are live at the same time, sorted by offset.
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .map(|&j| slots[j])
            .filter(|o| start(o) <= me.last_op as i64 && start(&me) <= o.last_op as i64)
            .map(|o| (o.offset, o.offset + o.len))
            .collect();
        busy.sort();
        // Best fit: the smallest gap that holds the tensor; else after the last busy block.
        let mut best: Option<(u64, u64)> = None; // (gap size, offset)
        let mut cursor = 0u64;
        for &(s, e) in &busy {
            if s >= cursor && s - cursor >= me.len && best.is_none_or(|(g, _)| s - cursor < g) {
                best = Some((s - cursor, cursor));
            }
            cursor = cursor.max(align_up(e).unwrap_or(e));
        }
        let offset = best.map_or(cursor, |(_, o)| o);
        slots[i].offset = offset;
        arena_len = arena_len.max(align_up(offset + me.len).unwrap_or(offset + me.len));
        placed.push(i);
    }
    slots.sort_by_key(|p| p.tensor);
    Plan { slots, arena_len }
}
