//! One-hot rows into a MatMul become one lookup of the MatMul's rows. A OneHot lowers to a Gather
//! from a table whose row `i` is 1 at column `i` (the last row all 0, for indices out of range);
//! a MatMul of those rows by constant weights `W` picks row `i` of `W`. Gathering from `W` (with a
//! zero row appended, and the bias added to every row) gives the same values, bit for bit: each
//! product sum holds one `1·w` and exact zeros. Magika's first layer reads 1,536 bytes one-hot
//! over 257 values: 1.6 MB of one-hot rows and 50 M multiply-adds become 1,536 row copies, and
//! the table converts to an int8 embedding.

use crate::ir::{Data, Graph, TensorId};
use ferrite_runtime::ops::{OpCode, UnaryFn};

/// Folds every one-hot Gather → (reshape) → MatMul chain; returns how many.
pub fn fold_one_hot_matmul(g: &mut Graph) -> usize {
    let mut n = 0;
    while let Some((gather, copy, matmul)) = find(g) {
        rewrite(g, gather, copy, matmul);
        n += 1;
    }
    n
}

/// The single op reading `t`, when exactly one does and `t` is not a graph output.
fn only_reader(g: &Graph, t: TensorId) -> Option<usize> {
    if g.uses(t) != 1 || g.outputs.contains(&t) {
        return None;
    }
    g.ops.iter().position(|o| o.inputs.contains(&Some(t)))
}

/// A `[depth + 1, depth]` f32 constant whose row `i < depth` is 1 at column `i` and 0 elsewhere
/// and whose last row is 0: its depth.
fn one_hot_depth(g: &Graph, t: TensorId) -> Option<usize> {
    let tensor = &g.tensors[t];
    let [rows, depth] = tensor.shape[..] else { return None };
    let v = tensor.data.as_ref()?.as_f32()?;
    let ok = rows == depth + 1
        && v.iter().enumerate().all(|(k, &x)| {
            let (r, c) = (k / depth, k % depth);
            x.to_bits() == if r == c { 1f32.to_bits() } else { 0f32.to_bits() }
        });
    ok.then_some(depth)
}

/// A chain to fold: (Gather, optional reshape Copy, MatMul).
fn find(g: &Graph) -> Option<(usize, Option<usize>, usize)> {
    g.ops.iter().enumerate().find_map(|(k, op)| {
        if op.code != OpCode::Gather || op.attrs.first() != Some(&0) {
            return None;
        }
        let depth = one_hot_depth(g, op.inputs.first().copied()??)?;
        let rows = op.outputs.first().copied()??;
        let mut reader = only_reader(g, rows)?;
        let mut copy = None;
        if g.ops[reader].code == OpCode::Copy {
            copy = Some(reader);
            reader = only_reader(g, g.ops[reader].outputs.first().copied()??)?;
        }
        let m = &g.ops[reader];
        let a = copy.map_or(rows, |c| g.ops[c].outputs[0].unwrap_or(rows));
        let w = m.inputs.get(1).copied()??;
        let plain = m.code == OpCode::MatMul
            && m.inputs.first() == Some(&Some(a))
            && m.attrs[..4] == [0, 0, 1f32.to_bits(), UnaryFn::Identity as u32]
            && g.tensors[a].shape.last() == Some(&depth)
            && g.tensors[w].data.as_ref().and_then(|d| d.as_f32()).is_some()
            && g.tensors[w].shape.len() == 2
            && g.tensors[w].shape[0] == depth;
        let bias_ok = match m.inputs.get(2).copied().flatten() {
            None => true,
            Some(b) => {
                let n = g.tensors[w].shape[1];
                g.tensors[b].data.as_ref().and_then(|d| d.as_f32()).is_some_and(|v| v.len() == n || v.len() == 1)
            }
        };
        (plain && bias_ok).then_some((k, copy, reader))
    })
}

fn rewrite(g: &mut Graph, gather: usize, copy: Option<usize>, matmul: usize) {
    let (w, bias, y) = {
        let m = &g.ops[matmul];
        (m.inputs[1].expect("weights"), m.inputs.get(2).copied().flatten(), m.outputs[0].expect("output"))
    };
    let n = g.tensors[w].shape[1];
    let depth = g.tensors[w].shape[0];
    let weights = g.tensors[w].data.as_ref().and_then(|d| d.as_f32()).expect("f32 weights").to_vec();
    let b: Vec<f32> = match bias.and_then(|b| g.tensors[b].data.as_ref()).and_then(|d| d.as_f32()) {
        Some([v]) => vec![*v; n],
        Some(v) => v.to_vec(),
        None => vec![0.0; n],
    };
    // Row i: 1·w[i] + b (the MatMul's sum of one product and exact zeros, then its bias); the
    // last row: 0 + b.
    let mut table: Vec<f32> = weights.chunks(n).flat_map(|row| row.iter().zip(&b).map(|(w, b)| w + b)).collect();
    table.extend(b.iter().map(|b| 0.0 + b));
    let name = g.ops[matmul].name.clone();
    let t = g.constant(format!("{name}.rows"), vec![depth + 1, n], Data::F32(table));
    let idx = g.ops[gather].inputs[1].expect("indices");
    let mut shape = g.tensors[idx].shape.clone();
    shape.push(n);
    let picked = g.activation(format!("{name}.picked"), g.tensors[y].dtype, shape);
    let (lookup, reshape) = (
        crate::ir::Op {
            code: OpCode::Gather,
            name: name.clone(),
            inputs: vec![Some(t), Some(idx)],
            outputs: vec![Some(picked)],
            attrs: vec![0],
            scratch: None,
        },
        crate::ir::Op {
            code: OpCode::Copy,
            name: format!("{name}.reshape"),
            inputs: vec![Some(picked)],
            outputs: vec![Some(y)],
            attrs: vec![],
            scratch: None,
        },
    );
    // The MatMul's place gets the lookup and its reshape; the one-hot Gather and copy go.
    g.ops[matmul] = reshape;
    g.ops.insert(matmul, lookup);
    let mut gone = vec![gather];
    gone.extend(copy);
    gone.sort_unstable();
    for k in gone.into_iter().rev() {
        g.ops.remove(k);
    }
}
