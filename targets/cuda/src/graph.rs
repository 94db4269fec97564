//! An artifact's op graph as placement sees it: each op's activation inputs and outputs (weights
//! live wherever the backend keeps them: uploaded once, or used in place on unified memory).

use ferrite_runtime::format::Storage;
use ferrite_runtime::ops::OpCode;
use ferrite_runtime::Model;
use std::collections::HashMap;

/// One op: its code, name, and the activation tensors it reads and writes (aliases replaced by
/// the tensors they view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpNode {
    /// Its index in execution order.
    pub index: usize,
    /// The op code.
    pub code: OpCode,
    /// Its name from the source graph.
    pub name: String,
    /// Tensor indices of its inputs that are not weights (absent optional inputs left out).
    pub inputs: Vec<u32>,
    /// Tensor indices of its outputs.
    pub outputs: Vec<u32>,
}

/// The ops in execution order (the artifact's order is topological) and the graph's inputs and
/// outputs, which live on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphView {
    /// The ops.
    pub ops: Vec<OpNode>,
    /// Tensor indices of the graph inputs.
    pub inputs: Vec<u32>,
    /// Tensor indices of the graph outputs.
    pub outputs: Vec<u32>,
    /// Recurrent state kept from one run to the next (its latest value must end on the host).
    pub state: Vec<u32>,
    /// Each alias: the tensor it views and its byte offset in it.
    pub aliases: HashMap<u32, (u32, usize)>,
    /// Every tensor's byte length.
    pub byte_len: Vec<usize>,
}

impl GraphView {
    /// The tensor whose bytes `t` is (itself unless an alias), and `t`'s offset in it.
    pub fn base(&self, t: u32) -> (u32, usize) {
        self.aliases.get(&t).copied().unwrap_or((t, 0))
    }
}

impl GraphView {
    /// Reads `model`'s graph.
    pub fn of(model: &Model<'_>) -> GraphView {
        let art = model.artifact();
        let (mut weights, mut aliases, mut state, mut byte_len) = (Vec::new(), HashMap::new(), Vec::new(), Vec::new());
        for ((d, storage), rec) in model.tensors().zip(art.tensors.iter()) {
            match storage {
                Storage::Alias => {
                    aliases.insert(d.index, (rec.alias_of.get(), rec.offset.get() as usize));
                }
                Storage::State => state.push(d.index),
                _ => {}
            }
            weights.push(storage == Storage::Weights);
            byte_len.push(d.byte_len as usize);
        }
        // An alias (what Reshape-like ops become) is its target's bytes: it lives where they do.
        // The loader checks that a target is an arena or state tensor, never another alias.
        let base = |i: u32| aliases.get(&i).map_or(i, |&(target, _)| target);
        let ids = |start: u32, len: u32, skip_weights: bool| -> Vec<u32> {
            art.index_range(start, len)
                .into_iter()
                .flatten()
                .filter(|&i| i != u32::MAX && !(skip_weights && weights.get(i as usize).copied().unwrap_or(false)))
                .map(base)
                .collect()
        };
        let ops = model
            .ops()
            .enumerate()
            .map(|(index, op)| OpNode {
                index,
                code: op.code,
                name: op.name.to_string(),
                inputs: ids(op.record.inputs_start.get(), op.record.inputs_len.get(), true),
                outputs: ids(op.record.outputs_start.get(), op.record.outputs_len.get(), false),
            })
            .collect();
        GraphView {
            ops,
            inputs: model.inputs().map(|d| base(d.index)).collect(),
            outputs: model.outputs().map(|d| base(d.index)).collect(),
            state,
            aliases,
            byte_len,
        }
    }
}
