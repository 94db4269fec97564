//! Graph rewrites between import and writing: fold per-channel affines (BatchNorm) and
//! activations into the preceding Conv or MatMul, drop ops whose results nobody reads, and store
//! big weights as fp16.

use crate::ir::{Data, Graph, TensorId};
use ferrite_runtime::ops::{BinaryFn, OpCode, UnaryFn};

/// Runs every fusion and clean-up pass.
pub fn optimize(g: &mut Graph) {
    fold_affine(g);
    fold_scalar_scale(g);
    fold_activation_bias(g);
    crate::lookup::fold_one_hot_matmul(g);
    fuse_activations(g);
    fuse_gelu(g);
    remove_dead(g);
}

/// The scalar value of a one-element constant.
fn scalar(g: &Graph, t: TensorId) -> Option<f32> {
    match g.tensors[t].data.as_ref()?.as_f32()? {
        [v] => Some(*v),
        _ => None,
    }
}

/// For a two-input op, the operand that is not the constant `c` (within `tol`), if the other is.
fn with_constant(g: &Graph, op: usize, c: f32, tol: f32) -> Option<TensorId> {
    let ins = &g.ops[op].inputs;
    let (a, b) = (ins.first().copied()??, ins.get(1).copied()??);
    match (scalar(g, a), scalar(g, b)) {
        (_, Some(v)) if (v - c).abs() <= tol => Some(a),
        (Some(v), _) if (v - c).abs() <= tol => Some(b),
        _ => None,
    }
}

fn binary_fn(g: &Graph, op: usize) -> Option<BinaryFn> {
    (g.ops[op].code == OpCode::Binary).then(|| BinaryFn::from_u32(g.ops[op].attrs[0])).flatten()
}

/// Exact GELU written out, `x · 0.5 · (1 + erf(x / √2))`, becomes one `GeluErf` (five passes
/// over the tensor become one; the value is the same function, rounded once per step
/// differently). The chain starts with `x / √2` or `x · (1/√2)`, then Erf, then `+ 1`, and ends in
/// one of the three orders exporters write the two products in:
/// - `(x · a) · 0.5` (PyTorch's export at opset < 20),
/// - `x · (a · 0.5)` (models/minilm/build_onnx.py),
/// - `(x · 0.5) · a` (Hugging Face's `x * 0.5 * (1.0 + erf(…))`),
///
/// where `a` is the `1 + erf` term.
fn fuse_gelu(g: &mut Graph) {
    while let Some((first, gone, x, out)) = (0..g.ops.len()).find_map(|k| gelu_at(g, k)) {
        g.ops[first] = crate::ir::Op {
            code: OpCode::Unary,
            name: format!("{}/gelu", g.ops[first].name),
            inputs: vec![Some(x)],
            outputs: vec![Some(out)],
            attrs: vec![UnaryFn::GeluErf as u32, 0, 0],
            scratch: None,
        };
        let mut gone = gone;
        gone.sort_unstable();
        for i in gone.into_iter().rev() {
            g.ops.remove(i);
        }
    }
}

/// The GELU chain whose `x / √2` is op `k`: the op to replace, the four others to remove, `x`
/// and the chain's output.
fn gelu_at(g: &Graph, k: usize) -> Option<(usize, [usize; 4], TensorId, TensorId)> {
    let x = g.ops[k].inputs.first().copied()??;
    let d = g.ops[k].outputs.first().copied()??;
    let c = g.ops[k].inputs.get(1).copied()??;
    let scaled = match (binary_fn(g, k)?, scalar(g, c)?) {
        (BinaryFn::Div, v) => (v - core::f32::consts::SQRT_2).abs() <= 1e-5,
        (BinaryFn::Mul, v) => (v - core::f32::consts::FRAC_1_SQRT_2).abs() <= 1e-6,
        _ => false,
    };
    if !scaled {
        return None;
    }
    let e_op =
        sole_consumer(g, d).filter(|&e| g.ops[e].code == OpCode::Unary && g.ops[e].attrs[0] == UnaryFn::Erf as u32)?;
    let e = g.ops[e_op].outputs[0]?;
    let a_op = sole_consumer(g, e).filter(|&a| binary_fn(g, a) == Some(BinaryFn::Add))?;
    if with_constant(g, a_op, 1.0, 0.0) != Some(e) {
        return None;
    }
    let a = g.ops[a_op].outputs[0]?;
    let mul_of = |op: usize, t: TensorId| -> Option<TensorId> {
        let ins = &g.ops[op].inputs;
        if binary_fn(g, op) != Some(BinaryFn::Mul) || ins.len() != 2 {
            return None;
        }
        match (ins[0]?, ins[1]?) {
            (p, q) if p == t => Some(q),
            (p, q) if q == t => Some(p),
            _ => None,
        }
    };
    let is_half = |t: TensorId| scalar(g, t) == Some(0.5);
    let m_op = sole_consumer(g, a)?;
    let other = mul_of(m_op, a)?;
    let m = g.ops[m_op].outputs[0]?;
    let (last, extra) = if other == x || is_half(other) {
        // (x · a) · 0.5 or x · (a · 0.5): the next Mul takes the other factor.
        let h_op = sole_consumer(g, m)?;
        let want_half = other == x;
        let last_factor = mul_of(h_op, m)?;
        let ok = if want_half { is_half(last_factor) } else { last_factor == x };
        (ok.then_some(h_op)?, m_op)
    } else {
        // (x · 0.5) · a: `other` is x · 0.5, read by this Mul only.
        let h_op = g.producer(other)?;
        if g.uses(other) != 1 || mul_of(h_op, x).is_none_or(|c| !is_half(c)) {
            return None;
        }
        (m_op, h_op)
    };
    let out = g.ops[last].outputs[0]?;
    // The fused op takes the place of op k, which must come after everything it reads (x) and
    // before every reader of `out`: k is the chain's first op, and x is produced before it.
    Some((k, [e_op, a_op, extra, last], x, out))
}

/// The single op reading `t`, when exactly one op does and it is not a graph output.
pub(crate) fn sole_consumer(g: &Graph, t: TensorId) -> Option<usize> {
    if g.uses(t) != 1 || g.outputs.contains(&t) {
        return None;
    }
    g.ops.iter().position(|o| o.inputs.contains(&Some(t)))
}

/// Per-output-channel values of a constant operand of a Mul/Add after a Conv (shape [C,1,..] or
/// [1,C,1,..] or a scalar) or after a 2-D MatMul (shape [N], [1,N] or a scalar).
fn channel_values(g: &Graph, t: TensorId, channels: usize, channel_axis: usize, out_rank: usize) -> Option<Vec<f32>> {
    let tensor = &g.tensors[t];
    let v = tensor.data.as_ref()?.as_f32()?;
    if v.len() == 1 {
        return Some(vec![v[0]; channels]);
    }
    if v.len() != channels {
        return None;
    }
    // Right-align the constant's shape against the output; its only non-1 dim must be the channel axis.
    let off = out_rank.checked_sub(tensor.shape.len())?;
    let ok = tensor.shape.iter().enumerate().all(|(i, &d)| d == 1 || i + off == channel_axis);
    ok.then(|| v.to_vec())
}

/// Folds `Mul(y, s)` and `Add(y, t)` with per-channel constants into the Conv or MatMul writing
/// `y` (BatchNorm lowers to exactly this pair).
fn fold_affine(g: &mut Graph) {
    loop {
        let mut changed = false;
        for k in 0..g.ops.len() {
            let op = &g.ops[k];
            if !matches!(op.code, OpCode::Conv | OpCode::MatMul) {
                continue;
            }
            // Only an op without a fused activation yet.
            let act_at = if op.code == OpCode::Conv { op.attrs.len() - 3 } else { 3 };
            if op.attrs[act_at] != UnaryFn::Identity as u32 {
                continue;
            }
            let Some(y) = op.outputs[0] else { continue };
            let Some(w) = op.inputs[1] else { continue };
            if g.tensors[w].data.as_ref().and_then(Data::as_f32).is_none() {
                continue;
            }
            let out_rank = g.tensors[y].shape.len();
            let (channels, axis) = match op.code {
                OpCode::Conv => (g.tensors[y].shape[1], 1),
                // A 2-D constant B makes the output's last axis its channels, whatever A's rank.
                _ if out_rank >= 2 && op.attrs[0] == 0 && g.tensors[w].shape.len() == 2 => {
                    (g.tensors[y].shape[out_rank - 1], out_rank - 1)
                }
                _ => continue,
            };
            let Some(c) = sole_consumer(g, y) else { continue };
            let cons = &g.ops[c];
            if cons.code != OpCode::Binary {
                continue;
            }
            let func = cons.attrs[0];
            if func != BinaryFn::Mul as u32 && func != BinaryFn::Add as u32 {
                continue;
            }
            let other = if cons.inputs[0] == Some(y) { cons.inputs[1] } else { cons.inputs[0] };
            let Some(other) = other else { continue };
            let Some(vals) = channel_values(g, other, channels, axis, out_rank) else { continue };
            let Some(out) = cons.outputs[0] else { continue };
            if g.tensors[out].shape != g.tensors[y].shape {
                continue; // the constant broadcast the output to a bigger shape
            }
            let trans_b = op.code == OpCode::MatMul && op.attrs[1] != 0;
            let old_bias: Vec<f32> = match op.inputs.get(2).copied().flatten() {
                Some(b) => match g.tensors[b].data.as_ref().and_then(Data::as_f32) {
                    Some(v) if v.len() == channels => v.to_vec(),
                    Some(v) if v.len() == 1 => vec![v[0]; channels],
                    _ => continue,
                },
                None => vec![0.0; channels],
            };
            let wname = g.tensors[w].name.clone();
            let opname = g.ops[k].name.clone();
            let mut new_w = None;
            let bias: Vec<f32> = if func == BinaryFn::Mul as u32 {
                let wt = &g.tensors[w];
                let mut wv = wt.data.as_ref().and_then(Data::as_f32).map(<[f32]>::to_vec).unwrap_or_default();
                match g.ops[k].code {
                    OpCode::Conv => {
                        let per = wv.len() / channels;
                        for (m, chunk) in wv.chunks_mut(per).enumerate() {
                            chunk.iter_mut().for_each(|x| *x *= vals[m]);
                        }
                    }
                    _ if trans_b => {
                        let kk = wv.len() / channels;
                        for (j, chunk) in wv.chunks_mut(kk).enumerate() {
                            chunk.iter_mut().for_each(|x| *x *= vals[j]);
                        }
                    }
                    _ => {
                        for (i, x) in wv.iter_mut().enumerate() {
                            *x *= vals[i % channels];
                        }
                    }
                }
                new_w = Some(g.constant(format!("{wname}.folded"), wt.shape.clone(), Data::F32(wv)));
                old_bias.iter().zip(&vals).map(|(b, s)| b * s).collect()
            } else {
                old_bias.iter().zip(&vals).map(|(b, t)| b + t).collect()
            };
            let b = g.constant(format!("{opname}.bias.folded"), vec![channels], Data::F32(bias));
            let op = &mut g.ops[k];
            if let Some(nw) = new_w {
                op.inputs[1] = Some(nw);
            }
            op.inputs[2] = Some(b);
            op.outputs[0] = Some(out);
            g.ops.remove(c);
            changed = true;
            break;
        }
        if !changed {
            return;
        }
    }
}

/// For a MatMul `k` with no bias and no activation whose output `y` only a Binary `func` reads
/// (as one operand, with the Binary's output shaped like `y`): the other operand, the Binary's
/// index and its output.
fn matmul_then(g: &Graph, k: usize, func: BinaryFn) -> Option<(TensorId, usize, TensorId)> {
    let op = &g.ops[k];
    let plain = op.code == OpCode::MatMul
        && op.inputs.get(2).is_none_or(Option::is_none)
        && op.attrs.get(3) == Some(&(UnaryFn::Identity as u32));
    let y = op.outputs[0].filter(|_| plain)?;
    let c = sole_consumer(g, y).filter(|&c| binary_fn(g, c) == Some(func))?;
    let other = match (g.ops[c].inputs.first().copied().flatten(), g.ops[c].inputs.get(1).copied().flatten()) {
        (Some(a), Some(b)) if a == y && b != y => b,
        (Some(a), Some(b)) if b == y && a != y => a,
        _ => return None,
    };
    let o = g.ops[c].outputs[0]?;
    (g.tensors[o].shape == g.tensors[y].shape).then_some((other, c, o))
}

/// Folds `Mul(y, c)` with a scalar constant `c` into the MatMul writing `y` as its `alpha`, when
/// the MatMul has no bias, no activation and `alpha` 1 (attention's `Q·Kᵀ · 1/√d`, whose operands
/// are both activations, so [`fold_affine`] cannot fold it into weights). The MatMul multiplies
/// each finished sum by `alpha`: the same product as the Mul, one pass over the tensor fewer.
fn fold_scalar_scale(g: &mut Graph) {
    while let Some((k, scale, c, o)) = (0..g.ops.len()).find_map(|k| {
        let (t, c, o) = matmul_then(g, k, BinaryFn::Mul)?;
        let scale = scalar(g, t).filter(|_| g.ops[k].attrs.get(2) == Some(&1.0f32.to_bits()))?;
        Some((k, scale, c, o))
    }) {
        g.ops[k].attrs[2] = scale.to_bits();
        g.ops[k].outputs[0] = Some(o);
        g.ops.remove(c);
    }
}

/// Folds `Add(y, t)` into the MatMul of two activations writing `y` as its bias, when the MatMul
/// has none and no activation and `t` (f32) broadcasts to `y` (attention's mask on `Q·Kᵀ`). The
/// MatMul adds its bias to each finished (scaled) sum: the same add as the Add op, one pass fewer.
/// MatMuls against weights are left to [`fold_affine`] and the int8 conversion.
fn fold_activation_bias(g: &mut Graph) {
    while let Some((k, t, c, o)) = (0..g.ops.len()).find_map(|k| {
        let (t, c, o) = matmul_then(g, k, BinaryFn::Add)?;
        let two_activations = g.ops[k].inputs.iter().take(2).flatten().all(|&x| g.tensors[x].data.is_none());
        let (ys, ts) = (&g.tensors[o].shape, &g.tensors[t].shape);
        let broadcasts = ts.len() <= ys.len() && ts.iter().rev().zip(ys.iter().rev()).all(|(&d, &e)| d == e || d == 1);
        let f32 = g.tensors[t].dtype == ferrite_runtime::format::DType::F32;
        (two_activations && broadcasts && f32).then_some((k, t, c, o))
    }) {
        let op = &mut g.ops[k];
        op.inputs.resize(op.inputs.len().max(3), None);
        op.inputs[2] = Some(t);
        op.outputs[0] = Some(o);
        g.ops.remove(c);
    }
}

/// Fuses Relu, LeakyRelu, Clip, Sigmoid and Tanh into the Conv or MatMul before them.
fn fuse_activations(g: &mut Graph) {
    loop {
        let mut changed = false;
        for k in 0..g.ops.len() {
            let op = &g.ops[k];
            if !matches!(op.code, OpCode::Conv | OpCode::MatMul) {
                continue;
            }
            let act_at = if op.code == OpCode::Conv { op.attrs.len() - 3 } else { 3 };
            if op.attrs[act_at] != UnaryFn::Identity as u32 {
                continue;
            }
            let Some(y) = op.outputs[0] else { continue };
            let Some(c) = sole_consumer(g, y) else { continue };
            let cons = &g.ops[c];
            if cons.code != OpCode::Unary {
                continue;
            }
            let f = cons.attrs[0];
            let fusable = [UnaryFn::Relu, UnaryFn::LeakyRelu, UnaryFn::Clip, UnaryFn::Sigmoid, UnaryFn::Tanh]
                .iter()
                .any(|u| *u as u32 == f);
            if !fusable {
                continue;
            }
            let (a, b, out) = (cons.attrs[1], cons.attrs[2], cons.outputs[0]);
            let op = &mut g.ops[k];
            op.attrs[act_at] = f;
            op.attrs[act_at + 1] = a;
            op.attrs[act_at + 2] = b;
            op.outputs[0] = out;
            g.ops.remove(c);
            changed = true;
            break;
        }
        if !changed {
            return;
        }
    }
}

/// Removes ops none of whose outputs reach a graph output, and unlinks unread optional outputs
/// of recurrent ops (so the runtime skips writing them).
/// Removes a QDQ model's quantize-then-dequantize pairs (the model's own fake quantization): the
/// consumers of each Dequantize read the f32 tensor its Quantize read. The int8 conversion then
/// places its own Quantize/Dequantize, with the model's ranges. Returns how many pairs went.
pub fn strip_fake_quant(g: &mut Graph) -> usize {
    let mut n = 0;
    for d in 0..g.ops.len() {
        let (OpCode::Dequantize, [Some(q)], [Some(y)]) = (g.ops[d].code, &g.ops[d].inputs[..], &g.ops[d].outputs[..])
        else {
            continue;
        };
        let (q, y) = (*q, *y);
        let Some(p) = g.producer(q).filter(|&p| g.ops[p].code == OpCode::Quantize) else { continue };
        let Some(Some(x)) = g.ops[p].inputs.first().copied() else { continue };
        if g.outputs.contains(&y) {
            continue; // a graph output keeps its name and tensor
        }
        for op in &mut g.ops {
            for i in op.inputs.iter_mut() {
                if *i == Some(y) {
                    *i = Some(x);
                }
            }
        }
        n += 1;
    }
    remove_dead(g);
    n
}

pub(crate) fn remove_dead(g: &mut Graph) {
    let mut live = vec![false; g.tensors.len()];
    for &o in &g.outputs {
        live[o] = true;
    }
    let mut keep = vec![false; g.ops.len()];
    for k in (0..g.ops.len()).rev() {
        if g.ops[k].outputs.iter().flatten().any(|&t| live[t]) {
            keep[k] = true;
            for t in g.ops[k].inputs.iter().flatten() {
                live[*t] = true;
            }
        }
    }
    let mut k = 0;
    g.ops.retain(|_| {
        k += 1;
        keep[k - 1]
    });
    for op in &mut g.ops {
        if matches!(op.code, OpCode::Lstm | OpCode::Gru) {
            for o in op.outputs.iter_mut() {
                if o.is_some_and(|t| !live[t]) {
                    *o = None;
                }
            }
        }
    }
}

/// Which inputs of an op may hold f16 weights (the big ones; small biases and norms stay f32).
fn f16_slots(code: OpCode) -> &'static [usize] {
    match code {
        OpCode::MatMul => &[0, 1],
        OpCode::Conv => &[1],
        OpCode::Gather => &[0],
        OpCode::Lstm | OpCode::Gru => &[1, 2],
        _ => &[],
    }
}

/// Stores as IEEE half every f32 weight that is only read where f16 is allowed. Returns the
/// number of tensors converted.
pub fn to_fp16(g: &mut Graph) -> usize {
    let mut ok = vec![true; g.tensors.len()];
    let mut used = vec![false; g.tensors.len()];
    for op in &g.ops {
        for (i, t) in op.inputs.iter().enumerate() {
            if let Some(t) = *t {
                used[t] = true;
                let allowed = f16_slots(op.code).contains(&i)
                    // Gather copies rows: its output must be f32 to convert on the fly.
                    && (op.code != OpCode::Gather || op.outputs[0].is_some_and(|o| g.tensors[o].dtype == ferrite_runtime::format::DType::F32));
                if !allowed {
                    ok[t] = false;
                }
            }
        }
    }
    let mut n = 0;
    for (i, t) in g.tensors.iter_mut().enumerate() {
        if !(ok[i] && used[i]) {
            continue;
        }
        if let Some(Data::F32(v)) = &t.data {
            let bits: Vec<u16> = v.iter().map(|&x| half::f16::from_f32(x).to_bits()).collect();
            t.data = Some(Data::F16(bits));
            t.dtype = ferrite_runtime::format::DType::F16;
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_runtime::format::DType;

    /// GELU written out in `order` (0: `(x·a)·0.5`, 1: `x·(a·0.5)`, 2: `(x·0.5)·a`), starting
    /// with `x/√2` or `x·(1/√2)`; `x` = 2·input, so that it is not a graph input.
    fn gelu_graph(order: usize, div: bool) -> Graph {
        let mut g = Graph::default();
        let inp = g.activation("in", DType::F32, vec![3, 7]);
        let act = |g: &mut Graph, n: &str| g.activation(n, DType::F32, vec![3, 7]);
        let (x, d, e, a, m, y) = (
            act(&mut g, "x"),
            act(&mut g, "d"),
            act(&mut g, "e"),
            act(&mut g, "a"),
            act(&mut g, "m"),
            act(&mut g, "y"),
        );
        let two = g.constant("two", vec![], Data::F32(vec![2.0]));
        let c = g.constant(
            "c",
            vec![],
            Data::F32(vec![if div { core::f32::consts::SQRT_2 } else { core::f32::consts::FRAC_1_SQRT_2 }]),
        );
        let one = g.constant("one", vec![], Data::F32(vec![1.0]));
        let half = g.constant("half", vec![], Data::F32(vec![0.5]));
        let bin = |f: BinaryFn| vec![f as u32];
        g.push(OpCode::Binary, "x", vec![Some(inp), Some(two)], vec![Some(x)], bin(BinaryFn::Mul));
        let first = if div { BinaryFn::Div } else { BinaryFn::Mul };
        if order == 2 {
            // x · 0.5 comes first, as an eager exporter writes it.
            g.push(OpCode::Binary, "xh", vec![Some(x), Some(half)], vec![Some(m)], bin(BinaryFn::Mul));
        }
        g.push(OpCode::Binary, "d", vec![Some(x), Some(c)], vec![Some(d)], bin(first));
        g.push(OpCode::Unary, "erf", vec![Some(d)], vec![Some(e)], vec![UnaryFn::Erf as u32, 0, 0]);
        g.push(OpCode::Binary, "a", vec![Some(one), Some(e)], vec![Some(a)], bin(BinaryFn::Add));
        let (p, q) = match order {
            0 => ((x, a), (m, half)),
            1 => ((a, half), (x, m)),
            _ => ((m, a), (m, a)),
        };
        if order != 2 {
            g.push(OpCode::Binary, "m", vec![Some(p.0), Some(p.1)], vec![Some(m)], bin(BinaryFn::Mul));
        }
        g.push(OpCode::Binary, "y", vec![Some(q.0), Some(q.1)], vec![Some(y)], bin(BinaryFn::Mul));
        g.inputs.push(inp);
        g.outputs.push(y);
        g
    }

    fn run_gelu(g: &Graph) -> Vec<f32> {
        let x: Vec<f32> = (0..21).map(|i| (i as f32 - 10.0) * 0.37).collect();
        crate::writer::run_f32(g, &[&x])
    }

    #[test]
    fn gelu_written_out_in_any_order_becomes_one_op_with_the_same_values() {
        for order in 0..3 {
            for div in [true, false] {
                let g = gelu_graph(order, div);
                let mut fused = g.clone();
                fuse_gelu(&mut fused);
                let codes: Vec<_> = fused.ops.iter().map(|o| (o.code, o.attrs[0])).collect();
                assert_eq!(
                    codes,
                    [(OpCode::Binary, BinaryFn::Mul as u32), (OpCode::Unary, UnaryFn::GeluErf as u32)],
                    "order {order}, div {div}"
                );
                for (a, b) in run_gelu(&fused).iter().zip(run_gelu(&g)) {
                    assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "order {order}: {a} vs {b}");
                }
            }
        }
        // A chain whose last factor is not 0.5 stays as it is.
        let mut g = gelu_graph(0, true);
        let last = g.ops.len() - 1;
        let c3 = g.constant("c3", vec![], Data::F32(vec![0.25]));
        g.ops[last].inputs[1] = Some(c3);
        fuse_gelu(&mut g);
        assert_eq!(g.ops.len(), 6);
    }

    /// `Q·Kᵀ` of two inputs (MatMul, then Mul by `c`, or by a per-column constant).
    fn attention_scores(per_column: bool) -> Graph {
        let mut g = Graph::default();
        let q = g.activation("q", DType::F32, vec![2, 3, 5]);
        let k = g.activation("kt", DType::F32, vec![2, 5, 4]);
        let s = g.activation("s", DType::F32, vec![2, 3, 4]);
        let y = g.activation("y", DType::F32, vec![2, 3, 4]);
        let c = if per_column {
            g.constant("c", vec![4], Data::F32(vec![0.5, -1.25, 3.0, 0.1]))
        } else {
            g.constant("c", vec![], Data::F32(vec![0.176_776_7]))
        };
        g.push(
            OpCode::MatMul,
            "mm",
            vec![Some(q), Some(k), None],
            vec![Some(s)],
            vec![0, 0, 1.0f32.to_bits(), 0, 0, 0],
        );
        g.push(OpCode::Binary, "scale", vec![Some(c), Some(s)], vec![Some(y)], vec![BinaryFn::Mul as u32]);
        g.inputs.extend([q, k]);
        g.outputs.push(y);
        g
    }

    fn run(g: &Graph) -> Vec<u32> {
        let q: Vec<f32> = (0..30).map(|i| (i as f32 * 0.71).sin() * 3.0).collect();
        let k: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).cos() * 2.0).collect();
        let mask = [0.0f32, -1e9, 0.25, -3.5];
        crate::writer::run_f32(g, &[&q, &k, &mask]).iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn a_mask_added_to_scaled_scores_becomes_the_matmul_bias_with_the_same_bits() {
        let mut g = attention_scores(false);
        let mask = g.activation("mask", DType::F32, vec![1, 1, 4]);
        let z = g.activation("z", DType::F32, vec![2, 3, 4]);
        let y = g.outputs[0];
        g.push(OpCode::Binary, "mask", vec![Some(y), Some(mask)], vec![Some(z)], vec![BinaryFn::Add as u32]);
        g.inputs.push(mask);
        g.outputs = vec![z];
        let mut folded = g.clone();
        fold_scalar_scale(&mut folded);
        fold_activation_bias(&mut folded);
        assert_eq!(folded.ops.len(), 1);
        assert_eq!(folded.ops[0].inputs[2], Some(mask));
        assert_eq!(run(&folded), run(&g));
    }

    #[test]
    fn a_scalar_scale_after_a_matmul_becomes_its_alpha_with_the_same_bits() {
        let g = attention_scores(false);
        let mut folded = g.clone();
        fold_scalar_scale(&mut folded);
        assert_eq!(folded.ops.len(), 1);
        assert_eq!(f32::from_bits(folded.ops[0].attrs[2]), 0.176_776_7);
        assert_eq!(run(&folded), run(&g));
        // A per-column constant is not a scalar: it stays a Mul.
        let mut g = attention_scores(true);
        fold_scalar_scale(&mut g);
        assert_eq!(g.ops.len(), 2);
    }
}
