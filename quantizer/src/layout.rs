//! Graph-level speed for int8 graphs (docs/QUANTIZATION.md, "Graph-level rewrites"): after the int8
//! conversion, convolutions run channels-last with packed weights, int8 values cross data
//! movement (Transpose, Reshape-like copies) instead of being dequantized first, transposes that
//! undo each other vanish, global average pooling becomes an int8 mean, element-wise functions
//! between int8 layers become table lookups, and recurrent ops read int8 sequences directly.
//! Every rewrite keeps the values the graph computes; the per-layer SQNR report measures the result.

use crate::int8::Layer;
use crate::ir::{Data, Graph, Op, TensorId, TensorQuant};
use ferrite_runtime::format::{DType, Layout};
use ferrite_runtime::kernels::generic::apply_activation;
use ferrite_runtime::kernels::generic::int8::{dequantize, quantize_f32, quantize_multiplier};
use ferrite_runtime::kernels::generic::qconv::{pack_depthwise_hwc, pack_k4n16_hwc};
use ferrite_runtime::ops::{OpCode, UnaryFn};

/// Runs every rewrite to a fixed point. `layers` get their probes' new layouts.
pub fn optimize_int8(g: &mut Graph, layers: &mut [Layer]) {
    channels_last(g, layers);
    loop {
        let changed = merge_transposes(g)
            || int8_through_movement(g)
            || drop_requantize_pairs(g)
            || int8_mean(g)
            || int8_lut(g)
            || reduce_absorbs_transpose(g)
            || rnn_reads_int8(g);
        crate::passes::remove_dead(g);
        if !changed {
            break;
        }
    }
    unit_transposes_to_copies(g);
}

/// Ops reading `t`.
fn consumers(g: &Graph, t: TensorId) -> Vec<usize> {
    (0..g.ops.len()).filter(|&k| g.ops[k].inputs.contains(&Some(t))).collect()
}

/// The one op reading `t`, when `t` is not a graph output.
fn sole_consumer(g: &Graph, t: TensorId) -> Option<usize> {
    match consumers(g, t).as_slice() {
        [k] if !g.outputs.contains(&t) && g.ops[*k].inputs.iter().filter(|i| **i == Some(t)).count() == 1 => Some(*k),
        _ => None,
    }
}

fn replace_uses(g: &mut Graph, old: TensorId, new: TensorId) {
    for op in &mut g.ops {
        for i in op.inputs.iter_mut() {
            if *i == Some(old) {
                *i = Some(new);
            }
        }
    }
    for o in g.outputs.iter_mut() {
        if *o == old {
            *o = new;
        }
    }
}

fn perm_of(op: &Op) -> Vec<usize> {
    op.attrs.iter().map(|&a| a as usize).collect()
}

fn permuted(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&p| shape[p]).collect()
}

fn transpose_op(name: String, x: TensorId, y: TensorId, perm: &[usize]) -> Op {
    Op {
        code: OpCode::Transpose,
        name,
        inputs: vec![Some(x)],
        outputs: vec![Some(y)],
        attrs: perm.iter().map(|&p| p as u32).collect(),
        scratch: None,
    }
}

/// A new activation like `t` (same dtype and quantization) with `shape` and `layout`.
fn twin(g: &mut Graph, t: TensorId, suffix: &str, shape: Vec<usize>, layout: Layout) -> TensorId {
    let name = format!("{}{suffix}", g.tensors[t].name);
    let n = g.activation(name, g.tensors[t].dtype, shape);
    g.tensors[n].quant = g.tensors[t].quant;
    g.tensors[n].layout = layout;
    n
}

/// Every NCHW `QConv` becomes channels-last: its input through a Transpose to `[N, H, W, C]`, its
/// output back through the inverse, its weights packed (depthwise-hwc for depthwise layers,
/// k4n16-hwc otherwise). The transposes between consecutive convolutions cancel later.
fn channels_last(g: &mut Graph, layers: &mut [Layer]) {
    let mut k = 0;
    while k < g.ops.len() {
        let op = g.ops[k].clone();
        let io = (
            op.inputs.first().copied().flatten(),
            op.outputs.first().copied().flatten(),
            op.inputs.get(1).copied().flatten(),
        );
        let (OpCode::QConv, (Some(x), Some(y), Some(w))) = (op.code, io) else {
            k += 1;
            continue;
        };
        let rank = g.tensors[x].shape.len();
        if g.tensors[x].layout != Layout::RowMajor || !(3..=4).contains(&rank) {
            k += 1;
            continue;
        }
        let Some(Data::I8(wq)) = g.tensors[w].data.clone() else {
            k += 1;
            continue;
        };
        let (to_cl, from_cl): (Vec<usize>, Vec<usize>) =
            if rank == 4 { (vec![0, 2, 3, 1], vec![0, 3, 1, 2]) } else { (vec![0, 2, 1], vec![0, 2, 1]) };
        let ws = g.tensors[w].shape.clone();
        let (m, cpg) = (ws[0], ws[1]);
        let (kh, kw) = if rank == 4 { (ws[2], ws[3]) } else { (1, ws[2]) };
        let (c, group) = (g.tensors[x].shape[1], op.attrs[1] as usize);
        let depthwise = group == c && group == m && cpg == 1;
        let (data, layout) = if depthwise {
            (pack_depthwise_hwc(&wq, m, kh, kw), Layout::DepthwiseHwc)
        } else {
            (pack_k4n16_hwc(&wq, m, cpg, kh, kw).into_iter().map(|b| b as i8).collect(), Layout::K4N16Hwc)
        };
        let wp = g.constant(format!("{}/packed", g.tensors[w].name), ws, Data::I8(data));
        g.tensors[wp].quant = g.tensors[w].quant;
        g.tensors[wp].layout = layout;
        let xs = permuted(&g.tensors[x].shape, &to_cl);
        let ys = permuted(&g.tensors[y].shape, &to_cl);
        let xc = twin(g, x, "/nhwc", xs, Layout::ChannelsLast);
        let yc = twin(g, y, "/nhwc", ys, Layout::ChannelsLast);
        g.ops[k].inputs[0] = Some(xc);
        g.ops[k].inputs[1] = Some(wp);
        g.ops[k].outputs[0] = Some(yc);
        let before = transpose_op(format!("{}/to_nhwc", op.name), x, xc, &to_cl);
        let after = transpose_op(format!("{}/to_nchw", op.name), yc, y, &from_cl);
        g.ops.insert(k + 1, after);
        g.ops.insert(k, before);
        let (yname, ycname) = (g.tensors[y].name.clone(), g.tensors[yc].name.clone());
        for l in layers.iter_mut().filter(|l| l.probe == yname) {
            l.probe = ycname.clone();
            l.probe_perm = Some(from_cl.clone());
        }
        k += 3;
    }
}

/// Transpose → Transpose through a tensor nothing else reads: one Transpose with the composed
/// permutation, or none when it is the identity (the second output's readers take the first input).
fn merge_transposes(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        if g.ops[k].code != OpCode::Transpose {
            continue;
        }
        let (x, mid) = (g.ops[k].inputs[0].unwrap_or(usize::MAX), g.ops[k].outputs[0].unwrap_or(usize::MAX));
        let Some(j) = sole_consumer(g, mid) else { continue };
        if g.ops[j].code != OpCode::Transpose {
            continue;
        }
        let (p1, p2) = (perm_of(&g.ops[k]), perm_of(&g.ops[j]));
        let composed: Vec<usize> = p2.iter().map(|&i| p1[i]).collect();
        let y = g.ops[j].outputs[0].unwrap_or(usize::MAX);
        if composed.iter().enumerate().all(|(i, &p)| i == p) && g.tensors[x].layout == g.tensors[y].layout {
            replace_uses(g, y, x);
        } else {
            g.ops[j].inputs[0] = Some(x);
            g.ops[j].attrs = composed.iter().map(|&p| p as u32).collect();
        }
        return true;
    }
    false
}

fn is_movement(code: OpCode) -> bool {
    matches!(code, OpCode::Transpose | OpCode::Copy)
}

/// Dequantize → movement becomes movement (int8) → Dequantize, and movement → Quantize becomes
/// Quantize → movement (int8): data moves as one byte instead of four, and int8 values meet int8
/// consumers without a round trip.
fn int8_through_movement(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        let code = g.ops[k].code;
        let (Some(&Some(a)), Some(&Some(b))) = (g.ops[k].inputs.first(), g.ops[k].outputs.first()) else { continue };
        if code == OpCode::Dequantize {
            let Some(j) = sole_consumer(g, b) else { continue };
            if !is_movement(g.ops[j].code) {
                continue;
            }
            let c = g.ops[j].outputs[0].unwrap_or(usize::MAX);
            // movement(a) → cq, then Dequantize(cq) → c.
            let cq = twin(g, a, "/moved", g.tensors[c].shape.clone(), Layout::RowMajor);
            let mut mv = g.ops[j].clone();
            mv.inputs[0] = Some(a);
            mv.outputs[0] = Some(cq);
            let mut dq = g.ops[k].clone();
            dq.inputs[0] = Some(cq);
            dq.outputs[0] = Some(c);
            g.ops[k] = mv;
            g.ops[j] = dq;
            return true;
        }
        if is_movement(code) && g.tensors[a].dtype == DType::F32 {
            let Some(j) = sole_consumer(g, b) else { continue };
            if g.ops[j].code != OpCode::Quantize || g.tensors[a].data.is_some() {
                continue;
            }
            let bq = g.ops[j].outputs[0].unwrap_or(usize::MAX);
            // Quantize(a) → aq with bq's parameters, then movement(aq) → bq.
            let aq = twin(g, bq, "/early", g.tensors[a].shape.clone(), g.tensors[a].layout);
            let mut q = g.ops[j].clone();
            q.inputs[0] = Some(a);
            q.outputs[0] = Some(aq);
            let mut mv = g.ops[k].clone();
            mv.inputs[0] = Some(aq);
            mv.outputs[0] = Some(bq);
            g.ops[k] = q;
            g.ops[j] = mv;
            return true;
        }
    }
    false
}

fn quant_of(g: &Graph, t: TensorId) -> Option<(f32, i32)> {
    match g.tensors[t].quant {
        Some(TensorQuant::PerTensor { scale, zero_point }) => Some((scale, zero_point)),
        _ => None,
    }
}

/// Dequantize → Quantize with the same scale and zero point is the identity.
fn drop_requantize_pairs(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        if g.ops[k].code != OpCode::Dequantize {
            continue;
        }
        let (Some(a), Some(b)) = (g.ops[k].inputs[0], g.ops[k].outputs[0]) else { continue };
        for j in consumers(g, b) {
            if g.ops[j].code != OpCode::Quantize {
                continue;
            }
            let Some(c) = g.ops[j].outputs[0] else { continue };
            if quant_of(g, a) == quant_of(g, c)
                && g.tensors[a].shape == g.tensors[c].shape
                && g.tensors[a].layout == g.tensors[c].layout
            {
                replace_uses(g, c, a);
                return true;
            }
        }
    }
    false
}

/// Dequantize → Reduce(mean) → Quantize becomes one int8 mean (`QMean`) with the multiplier
/// `s_in / (count · s_out)`.
fn int8_mean(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        if g.ops[k].code != OpCode::Reduce || g.ops[k].attrs[0] != 0 {
            continue;
        }
        let (Some(f), Some(r)) = (g.ops[k].inputs[0], g.ops[k].outputs[0]) else { continue };
        let Some(dq) = g.producer(f).filter(|&p| g.ops[p].code == OpCode::Dequantize) else { continue };
        let Some(q) = sole_consumer(g, r).filter(|&j| g.ops[j].code == OpCode::Quantize) else { continue };
        if sole_consumer(g, f) != Some(k) {
            continue;
        }
        let (Some(xq), Some(rq)) = (g.ops[dq].inputs[0], g.ops[q].outputs[0]) else { continue };
        let (Some((sx, _)), Some((sy, _))) = (quant_of(g, xq), quant_of(g, rq)) else { continue };
        let mask = g.ops[k].attrs[1];
        let shape = &g.tensors[xq].shape;
        let count: usize = shape.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &d)| d).product();
        let Some(m) = quantize_multiplier(sx as f64 / (count as f64 * sy as f64)) else { continue };
        let rt = g.constant(format!("{}.requant", g.ops[k].name), vec![1, 2], Data::I32(vec![m.multiplier, m.shift]));
        g.ops[q] = Op {
            code: OpCode::QMean,
            name: g.ops[k].name.clone(),
            inputs: vec![Some(xq), Some(rt)],
            outputs: vec![Some(rq)],
            attrs: vec![mask],
            scratch: None,
        };
        // Its shape is the reduction's (keepdims or not).
        g.tensors[rq].shape = g.tensors[r].shape.clone();
        return true;
    }
    false
}

/// Dequantize → one or more element-wise functions (Unary: Sigmoid, Tanh, GELU, …) → Quantize
/// becomes one table lookup (`QLut`). The table holds the chain's result for each of the 256 int8
/// inputs, computed with the runtime's reference functions (which every tier matches bit for
/// bit), so the lookup gives exactly the chain's bytes.
fn int8_lut(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        if g.ops[k].code != OpCode::Quantize {
            continue;
        }
        let (Some(f), Some(yq)) = (g.ops[k].inputs[0], g.ops[k].outputs[0]) else { continue };
        // Back from the Quantize through Unary ops, each tensor read only by the next op.
        let (mut chain, mut t, mut reader) = (Vec::new(), f, k);
        let dq = loop {
            let Some(p) = g.producer(t).filter(|_| sole_consumer(g, t) == Some(reader)) else { break None };
            match g.ops[p].code {
                OpCode::Unary => {
                    let Some(x) = g.ops[p].inputs[0] else { break None };
                    chain.push(p);
                    (t, reader) = (x, p);
                }
                OpCode::Dequantize => break Some(p),
                _ => break None,
            }
        };
        let (Some(dq), false) = (dq, chain.is_empty()) else { continue };
        let Some(xq) = g.ops[dq].inputs[0] else { continue };
        let (Some((sx, zx)), Some((sy, zy))) = (quant_of(g, xq), quant_of(g, yq)) else { continue };
        let (tx, ty) = (&g.tensors[xq], &g.tensors[yq]);
        if tx.dtype != DType::I8 || ty.dtype != DType::I8 || tx.shape != ty.shape || tx.layout != ty.layout {
            continue;
        }
        let funcs: Option<Vec<(UnaryFn, f32, f32)>> = chain
            .iter()
            .rev()
            .map(|&u| {
                let a = &g.ops[u].attrs;
                Some((UnaryFn::from_u32(*a.first()?)?, f32::from_bits(*a.get(1)?), f32::from_bits(*a.get(2)?)))
            })
            .collect();
        let Some(funcs) = funcs else { continue };
        let table: Vec<i8> = (0..256)
            .map(|i| {
                let x = dequantize((i - 128) as i8, sx, zx);
                quantize_f32(funcs.iter().fold(x, |v, &(f, a, b)| apply_activation(f, a, b, v)), sy, zy)
            })
            .collect();
        let name = g.ops[chain[chain.len() - 1]].name.clone();
        let tt = g.constant(format!("{name}.table"), vec![256], Data::I8(table));
        // The entries are values on the output's grid.
        g.tensors[tt].quant = Some(TensorQuant::PerTensor { scale: sy, zero_point: zy });
        g.ops[k] = Op {
            code: OpCode::QLut,
            name: format!("{name}/lut"),
            inputs: vec![Some(xq), Some(tt)],
            outputs: vec![Some(yq)],
            attrs: vec![],
            scratch: None,
        };
        return true;
    }
    false
}

/// Transpose → Reduce/QMean: the reduction reads the tensor before the transpose (the axes mapped
/// through the permutation), when that leaves the kept elements in the same order; a copy gives
/// the result its old shape.
fn reduce_absorbs_transpose(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        let code = g.ops[k].code;
        let mask_at = match code {
            OpCode::Reduce => 1,
            OpCode::QMean => 0,
            _ => continue,
        };
        let (Some(t), Some(out)) = (g.ops[k].inputs[0], g.ops[k].outputs[0]) else { continue };
        let Some(p) = g.producer(t).filter(|&p| g.ops[p].code == OpCode::Transpose) else { continue };
        if sole_consumer(g, t) != Some(k) {
            continue;
        }
        let Some(x) = g.ops[p].inputs[0] else { continue };
        let perm = perm_of(&g.ops[p]);
        let mask = g.ops[k].attrs[mask_at];
        // Axis i of the transposed tensor is axis perm[i] of x.
        let mask2: u32 = perm.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &a)| 1 << a).sum();
        let xs = g.tensors[x].shape.clone();
        let kept_before: Vec<usize> = (0..xs.len()).filter(|a| mask2 & (1 << a) == 0 && xs[*a] != 1).collect();
        let kept_after: Vec<usize> =
            perm.iter().enumerate().filter(|(i, &a)| mask & (1 << i) == 0 && xs[a] != 1).map(|(_, &a)| a).collect();
        if kept_before != kept_after {
            continue;
        }
        let keep = g.tensors[out].shape.len() == xs.len();
        let new_shape: Vec<usize> = xs
            .iter()
            .enumerate()
            .filter_map(|(a, &d)| if mask2 & (1 << a) != 0 { keep.then_some(1) } else { Some(d) })
            .collect();
        let reduced = twin(g, out, "/direct", new_shape, Layout::RowMajor);
        g.ops[k].inputs[0] = Some(x);
        g.ops[k].attrs[mask_at] = mask2;
        g.ops[k].outputs[0] = Some(reduced);
        let copy = Op {
            code: OpCode::Copy,
            name: format!("{}/shape", g.ops[k].name),
            inputs: vec![Some(reduced)],
            outputs: vec![Some(out)],
            attrs: vec![],
            scratch: None,
        };
        g.ops.insert(k + 1, copy);
        return true;
    }
    false
}

/// Dequantize → int8 LSTM/GRU: the recurrent op reads the int8 sequence, with its quantization as
/// the op's x quantization (no per-step quantizing of f32 values).
fn rnn_reads_int8(g: &mut Graph) -> bool {
    for k in 0..g.ops.len() {
        if !matches!(g.ops[k].code, OpCode::Lstm | OpCode::Gru) {
            continue;
        }
        let Some(w) = g.ops[k].inputs[1] else { continue };
        if g.tensors[w].dtype != DType::I8 {
            continue;
        }
        let Some(f) = g.ops[k].inputs[0] else { continue };
        let Some(dq) = g.producer(f).filter(|&p| g.ops[p].code == OpCode::Dequantize) else { continue };
        let Some(xq) = g.ops[dq].inputs[0] else { continue };
        let Some((s, z)) = quant_of(g, xq) else { continue };
        if g.tensors[xq].layout != Layout::RowMajor || sole_consumer(g, f) != Some(k) {
            continue;
        }
        let base = if g.ops[k].code == OpCode::Lstm { 4 } else { 5 };
        g.ops[k].inputs[0] = Some(xq);
        g.ops[k].attrs[base] = s.to_bits();
        g.ops[k].attrs[base + 1] = z as u32;
        return true;
    }
    false
}

/// A transpose that moves only axes of size 1 keeps every byte in place: a copy (an alias once
/// written).
fn unit_transposes_to_copies(g: &mut Graph) {
    for op in &mut g.ops {
        if op.code != OpCode::Transpose {
            continue;
        }
        let Some(x) = op.inputs[0] else { continue };
        let shape = &g.tensors[x].shape;
        let order: Vec<usize> = op.attrs.iter().map(|&a| a as usize).filter(|&a| shape[a] != 1).collect();
        if order.windows(2).all(|w| w[0] < w[1]) {
            op.code = OpCode::Copy;
            op.attrs.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_runtime::{AlignedBytes, Input, Model, OutputData, Session};

    /// The bytes a graph with one int8 input and one int8 output computes for every int8 value.
    fn run_all_values(g: &Graph) -> Vec<i8> {
        let bytes = AlignedBytes::copy_from(&crate::writer::write(g, "{}", Default::default()).bytes);
        let m = Model::from_bytes(&bytes).unwrap();
        let mut s = Session::new(&m).unwrap();
        let x: Vec<i8> = (0..300).map(|i| (i % 256) as u8 as i8).collect();
        let out = s.run(&[Input::I8(&x)]).unwrap();
        match out.get(0).unwrap().2 {
            OutputData::I8(v) => v.to_vec(),
            _ => panic!("int8 output"),
        }
    }

    #[test]
    fn element_wise_chains_become_exact_tables() {
        for funcs in [vec![UnaryFn::GeluErf], vec![UnaryFn::Sigmoid], vec![UnaryFn::Tanh, UnaryFn::Relu]] {
            let mut g = Graph::default();
            let quant = |s: f32, z: i32| Some(TensorQuant::PerTensor { scale: s, zero_point: z });
            let xq = g.activation("x", DType::I8, vec![300]);
            g.tensors[xq].quant = quant(0.031, -7);
            let mut t = g.activation("x.f", DType::F32, vec![300]);
            g.push(OpCode::Dequantize, "dq", vec![Some(xq)], vec![Some(t)], vec![]);
            for (i, &f) in funcs.iter().enumerate() {
                let y = g.activation(format!("u{i}"), DType::F32, vec![300]);
                g.push(OpCode::Unary, format!("u{i}"), vec![Some(t)], vec![Some(y)], vec![f as u32, 0, 0]);
                t = y;
            }
            let yq = g.activation("y", DType::I8, vec![300]);
            g.tensors[yq].quant = quant(0.009, 3);
            g.push(OpCode::Quantize, "q", vec![Some(t)], vec![Some(yq)], vec![]);
            g.inputs.push(xq);
            g.outputs.push(yq);
            let chain = run_all_values(&g);
            let mut lut = g.clone();
            assert!(int8_lut(&mut lut));
            crate::passes::remove_dead(&mut lut);
            let codes: Vec<OpCode> = lut.ops.iter().map(|o| o.code).collect();
            assert_eq!(codes, [OpCode::QLut], "{funcs:?}");
            assert_eq!(run_all_values(&lut), chain, "{funcs:?}: the table gives the chain's bytes");
        }
    }
}
