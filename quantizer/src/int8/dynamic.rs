//! Linear layers with dynamic activation quantization (`--activations dynamic`): a MatMul with
//! constant weights becomes `DynQMatMul`, which reads and writes f32 and quantizes each input row
//! with its own scale at run time (docs/QUANTIZATION.md). Weights are int8 per output channel,
//! packed k4n16; the bias stays f32. No calibrated range is needed, so the layer never sees a
//! scale fitted to other inputs: what transformer encoders, whose activations carry a few huge
//! channels, need to stay close to f32.

use super::{bytes_of, packed, Cx, Layer, Linear};
use crate::calibrate::quantize_weights_per_channel;
use crate::ir::{Data, Graph, Op, TensorId, TensorQuant};
use crate::passes::sole_consumer;
use ferrite_runtime::format::{DType, Layout};
use ferrite_runtime::ops::{BinaryFn, OpCode, UnaryFn};

pub(super) fn matmul(cx: &mut Cx<'_>, op: &Op) -> Result<Layer, String> {
    let Linear { x, y, k, n, w, bias } = cx.linear(op)?;
    let (sw, q) = quantize_weights_per_channel(&w, n);
    if sw.len() != n {
        return Err("weights do not split into output channels".into());
    }
    let name = op.name.clone();
    let wt = cx.g.constant(format!("{name}.w/q"), vec![n, k], Data::I8(packed(&q, n)));
    cx.g.tensors[wt].quant = Some(TensorQuant::PerAxis { axis: 0, scales: None });
    cx.g.tensors[wt].layout = Layout::K4N16;
    let st = cx.g.constant(format!("{name}.w_scale"), vec![n], Data::F32(sw));
    let mut new = vec![wt, st];
    let mut inputs = vec![Some(x), Some(wt), Some(st)];
    if let Some(b) = bias {
        let bt = cx.g.constant(format!("{name}.bias"), vec![n], Data::F32(b));
        new.push(bt);
        inputs.push(Some(bt));
    }
    let rows = cx.g.tensors[x].shape.iter().product::<usize>() / k.max(1);
    let scratch = cx.g.activation(format!("{name}.scratch"), DType::F32, vec![rows + (rows * k).div_ceil(4)]);
    // A fused activation follows in f32, from a new pre-activation tensor.
    let act = [op.attrs[3], op.attrs[4], op.attrs[5]];
    let out = if act[0] == UnaryFn::Identity as u32 {
        y
    } else {
        cx.g.activation(format!("{}/pre", cx.name(y)), DType::F32, cx.g.tensors[y].shape.clone())
    };
    let bytes_f32 = bytes_of(cx.g, &op.inputs[1..]);
    cx.ops.push(Op {
        code: OpCode::DynQMatMul,
        name: name.clone(),
        inputs,
        outputs: vec![Some(out)],
        attrs: vec![],
        scratch: Some(scratch),
    });
    if out != y {
        cx.ops.push(Op {
            code: OpCode::Unary,
            name: format!("{name}/activation"),
            inputs: vec![Some(out)],
            outputs: vec![Some(y)],
            attrs: act.to_vec(),
            scratch: None,
        });
    }
    Ok(cx.layer(op, "MatMul", y, y, bytes_f32, &new))
}

/// Folds what follows each `DynQMatMul` into it, as the runtime applies it while the rows are in
/// cache: first an element-wise activation that alone reads its output (GELU after a
/// transformer's FFN-in: its attributes), then an `Add` of a same-shaped f32 tensor that alone
/// reads it (the skip connection after attention and FFN-out: input 4, the residual). The
/// values are those of the ops it replaces, step for step. A layer whose output or probe was the
/// folded tensor now reports the op's new output, which the float graph also has.
pub(super) fn fuse_epilogues(g: &mut Graph, layers: &mut [Layer]) {
    while let Some((k, c, fold)) = (0..g.ops.len()).find_map(|k| epilogue_at(g, k).map(|(c, f)| (k, c, f))) {
        let (Some(y), Some(z)) = (g.ops[k].outputs[0], g.ops[c].outputs[0]) else { return };
        match fold {
            Fold::Activation(attrs) => g.ops[k].attrs = attrs.to_vec(),
            Fold::Residual(r) => {
                g.ops[k].inputs.resize(4, None);
                g.ops[k].inputs.push(Some(r));
            }
        }
        g.ops[k].outputs[0] = Some(z);
        g.ops.remove(c);
        let (from, to) = (g.tensors[y].name.clone(), g.tensors[z].name.clone());
        for l in layers.iter_mut() {
            for name in [&mut l.output, &mut l.probe] {
                if *name == from {
                    name.clone_from(&to);
                }
            }
        }
    }
}

/// What [`fuse_epilogues`] folds into op `k`.
enum Fold {
    /// The activation's attributes `(func, a, b)`.
    Activation([u32; 3]),
    /// The tensor added.
    Residual(TensorId),
}

/// The op after `DynQMatMul` `k` that [`fuse_epilogues`] folds, and how.
fn epilogue_at(g: &Graph, k: usize) -> Option<(usize, Fold)> {
    let op = &g.ops[k];
    if op.code != OpCode::DynQMatMul || op.inputs.len() > 4 {
        return None;
    }
    let y = op.outputs.first().copied()??;
    let c = sole_consumer(g, y)?;
    let next = &g.ops[c];
    match next.code {
        OpCode::Unary if op.attrs.is_empty() => {
            let func = UnaryFn::from_u32(*next.attrs.first()?)?;
            let attrs: [u32; 3] = next.attrs.get(..3)?.try_into().ok()?;
            (!matches!(func, UnaryFn::Identity | UnaryFn::Log | UnaryFn::Round)).then_some((c, Fold::Activation(attrs)))
        }
        OpCode::Binary if next.attrs.first() == Some(&(BinaryFn::Add as u32)) && next.inputs.len() == 2 => {
            let other = match (next.inputs[0]?, next.inputs[1]?) {
                (a, b) if a == y && b != y => b,
                (a, b) if b == y && a != y => a,
                _ => return None,
            };
            let (t, ty) = (&g.tensors[other], &g.tensors[y]);
            // Made before op k (or an input or constant), f32, the output's own shape.
            let early = g.producer(other).is_none_or(|p| p < k);
            (early && t.dtype == DType::F32 && t.shape == ty.shape).then_some((c, Fold::Residual(other)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x [4, 24]` → DynQMatMul (16 channels) → `then` → output, with `r [4, 16]` a second
    /// input for the residual; `then` lists the ops after the product: a Unary function or an
    /// Add of `r` (its operand first when `r_first`).
    fn graph(then: &[(UnaryFn, bool)], add: Option<bool>) -> Graph {
        let (m, k, n) = (4usize, 24usize, 16usize);
        let mut g = Graph::default();
        let x = g.activation("x", DType::F32, vec![m, k]);
        let r = g.activation("r", DType::F32, vec![m, n]);
        let q: Vec<i8> = (0..n * k).map(|i| ((i * 37 + 11) % 255) as i32 as i8).collect();
        let wt = g.constant("w", vec![n, k], Data::I8(super::packed(&q, n)));
        g.tensors[wt].quant = Some(TensorQuant::PerAxis { axis: 0, scales: None });
        g.tensors[wt].layout = Layout::K4N16;
        let st = g.constant("ws", vec![n], Data::F32((0..n).map(|c| 0.002 + c as f32 * 1e-4).collect()));
        let bt = g.constant("b", vec![n], Data::F32((0..n).map(|c| c as f32 * 0.1 - 0.8).collect()));
        let scratch = g.activation("scratch", DType::F32, vec![m + (m * k).div_ceil(4)]);
        let mut y = g.activation("y", DType::F32, vec![m, n]);
        let op = g.push(OpCode::DynQMatMul, "mm", vec![Some(x), Some(wt), Some(st), Some(bt)], vec![Some(y)], vec![]);
        g.ops[op].scratch = Some(scratch);
        for (i, &(f, _)) in then.iter().enumerate() {
            let z = g.activation(format!("u{i}"), DType::F32, vec![m, n]);
            g.push(OpCode::Unary, format!("u{i}"), vec![Some(y)], vec![Some(z)], vec![f as u32, 0, 0]);
            y = z;
        }
        if let Some(r_first) = add {
            let z = g.activation("sum", DType::F32, vec![m, n]);
            let ins = if r_first { vec![Some(r), Some(y)] } else { vec![Some(y), Some(r)] };
            g.push(OpCode::Binary, "add", ins, vec![Some(z)], vec![BinaryFn::Add as u32]);
            y = z;
        }
        g.inputs.extend([x, r]);
        g.outputs.push(y);
        g
    }

    fn run(g: &Graph) -> Vec<u32> {
        let x: Vec<f32> = (0..96).map(|i| (i as f32 * 0.61).sin() * 3.0).collect();
        let r: Vec<f32> = (0..64).map(|i| (i as f32 * 0.23).cos()).collect();
        crate::writer::run_f32(g, &[&x, &r]).iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn activation_and_residual_fold_into_the_product_with_the_same_bits() {
        for (then, add, ops_left) in [
            (vec![(UnaryFn::GeluErf, false)], Some(true), 1),
            (vec![(UnaryFn::GeluErf, false)], Some(false), 1),
            (vec![], Some(true), 1),
            (vec![(UnaryFn::Tanh, false)], None, 1),
            // Only one activation folds; the second stays.
            (vec![(UnaryFn::Relu, false), (UnaryFn::Sigmoid, false)], None, 2),
        ] {
            let g = graph(&then, add);
            let mut fused = g.clone();
            let mut layers = Vec::new();
            fuse_epilogues(&mut fused, &mut layers);
            assert_eq!(fused.ops.len(), ops_left, "{then:?} {add:?}");
            assert_eq!(fused.ops[0].code, OpCode::DynQMatMul);
            assert_eq!(fused.ops[0].inputs.len(), if add.is_some() && ops_left == 1 { 5 } else { 4 });
            assert_eq!(run(&fused), run(&g), "{then:?} {add:?}");
        }
        // A residual made after the product stays an Add.
        let mut g = graph(&[], Some(true));
        let r = g.inputs[1];
        let late = g.activation("late", DType::F32, vec![4, 16]);
        g.ops.insert(
            1,
            Op {
                code: OpCode::Unary,
                name: "neg".into(),
                inputs: vec![Some(r)],
                outputs: vec![Some(late)],
                attrs: vec![UnaryFn::Neg as u32, 0, 0],
                scratch: None,
            },
        );
        g.ops[2].inputs[0] = Some(late);
        fuse_epilogues(&mut g, &mut []);
        assert_eq!(g.ops.len(), 3);
    }
}
