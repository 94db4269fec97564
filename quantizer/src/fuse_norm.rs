//! Folds an input normalization into the Quantize that follows it: `Sub(x, offset)` then
//! `Mul(·, scale)` then `Quantize` becomes one `Quantize(x, offset, scale)` (docs/FORMAT.md), when
//! both constants vary along x's last axis only. The runtime computes `(x − offset) · scale` with
//! the same two f32 operations before quantizing, so the int8 values are the same bits; the two
//! f32 intermediates and the element-wise Binary kernel leave the artifact (and firmware flash).
//! The keyword spotters' per-coefficient feature normalization is this pattern.

use crate::ir::{Data, Graph, TensorId};
use ferrite_runtime::ops::{BinaryFn, OpCode};

/// `(the non-constant operand, the constant's values spread over `last`)` of Binary `op` with
/// function `f`; the constant must be a scalar or vary along the last axis only.
fn operand_and_row(g: &Graph, op: usize, f: BinaryFn, last: usize, commutes: bool) -> Option<(TensorId, Vec<f32>)> {
    let o = &g.ops[op];
    if o.code != OpCode::Binary || BinaryFn::from_u32(*o.attrs.first()?) != Some(f) {
        return None;
    }
    let (a, b) = (o.inputs.first().copied()??, o.inputs.get(1).copied()??);
    let row = |t: TensorId| -> Option<Vec<f32>> {
        let tensor = &g.tensors[t];
        let Some(Data::F32(v)) = tensor.data.as_ref() else { return None };
        let leading_ones = tensor.shape.iter().rev().skip(1).all(|&d| d == 1);
        match v.len() {
            1 => Some(vec![v[0]; last]),
            n if n == last && leading_ones => Some(v.clone()),
            _ => None,
        }
    };
    match (row(b), commutes.then(|| row(a)).flatten()) {
        (Some(r), _) if g.tensors[a].data.is_none() => Some((a, r)),
        (_, Some(r)) if g.tensors[b].data.is_none() => Some((b, r)),
        _ => None,
    }
}

/// Fuses every `Sub → Mul → Quantize` chain it can; returns how many.
pub fn fuse_normalization(g: &mut Graph) -> usize {
    let mut fused = 0;
    for q in 0..g.ops.len() {
        if g.ops[q].code != OpCode::Quantize || g.ops[q].inputs.len() != 1 {
            continue;
        }
        let Some(t2) = g.ops[q].inputs[0] else { continue };
        let Some(&last) = g.tensors[t2].shape.last() else { continue };
        let Some(m) = g.producer(t2).filter(|_| g.uses(t2) == 1) else { continue };
        let Some((t1, scale)) = operand_and_row(g, m, BinaryFn::Mul, last, true) else { continue };
        let Some(s) = g.producer(t1).filter(|_| g.uses(t1) == 1) else { continue };
        // Sub does not commute: x must be its first operand.
        let Some((x, offset)) = operand_and_row(g, s, BinaryFn::Sub, last, false) else { continue };
        if g.tensors[x].shape != g.tensors[t2].shape {
            continue;
        }
        let name = g.ops[q].name.clone();
        let off = g.constant(format!("{name}.offset"), vec![last], Data::F32(offset));
        let mul = g.constant(format!("{name}.scale"), vec![last], Data::F32(scale));
        g.ops[q].inputs = vec![Some(x), Some(off), Some(mul)];
        fused += 1;
    }
    if fused > 0 {
        crate::passes::remove_dead(g);
    }
    fused
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::TensorQuant;
    use ferrite_runtime::format::DType;
    use ferrite_runtime::{AlignedBytes, Input, Model, OutputData, Session};

    /// `x [1, 3, 4]` → Sub(offset) → Mul(scale) → Quantize: `offset` and `scale` as `[1, 1, 4]`
    /// rows, or a scalar scale.
    fn normalized(scalar_scale: bool) -> Graph {
        let mut g = Graph::default();
        let x = g.activation("x", DType::F32, vec![1, 3, 4]);
        let t1 = g.activation("t1", DType::F32, vec![1, 3, 4]);
        let t2 = g.activation("t2", DType::F32, vec![1, 3, 4]);
        let q = g.activation("q", DType::I8, vec![1, 3, 4]);
        g.tensors[q].quant = Some(TensorQuant::PerTensor { scale: 0.031, zero_point: -7 });
        let off = g.constant("off", vec![1, 1, 4], Data::F32(vec![0.25, -1.5, 3.125, 0.0]));
        let mul = if scalar_scale {
            g.constant("mul", vec![], Data::F32(vec![0.37]))
        } else {
            g.constant("mul", vec![1, 1, 4], Data::F32(vec![1.7, 0.33, 2.9, 0.61]))
        };
        g.push(OpCode::Binary, "sub", vec![Some(x), Some(off)], vec![Some(t1)], vec![BinaryFn::Sub as u32]);
        g.push(OpCode::Binary, "mul", vec![Some(mul), Some(t1)], vec![Some(t2)], vec![BinaryFn::Mul as u32]);
        g.push(OpCode::Quantize, "quantize", vec![Some(t2)], vec![Some(q)], vec![]);
        g.inputs.push(x);
        g.outputs.push(q);
        g
    }

    fn run(g: &Graph, x: &[f32]) -> Vec<i8> {
        let bytes = AlignedBytes::copy_from(&crate::writer::write(g, "{}", Default::default()).bytes);
        let m = Model::from_bytes(&bytes).unwrap();
        let mut s = Session::new(&m).unwrap();
        let out = s.run(&[Input::F32(x)]).unwrap();
        match out.get(0).unwrap().2 {
            OutputData::I8(v) => v.to_vec(),
            _ => panic!("i8 output"),
        }
    }

    #[test]
    fn sub_mul_quantize_becomes_one_quantize_with_the_same_bytes() {
        for scalar_scale in [false, true] {
            let g = normalized(scalar_scale);
            let mut f = g.clone();
            assert_eq!(fuse_normalization(&mut f), 1);
            assert_eq!(f.ops.len(), 1);
            assert_eq!(f.ops[0].inputs.len(), 3);
            for seed in 0..20 {
                let x: Vec<f32> = (0..12).map(|i| ((i * 7 + seed) as f32 * 0.913).sin() * 4.0).collect();
                assert_eq!(run(&f, &x), run(&g, &x), "seed {seed}");
            }
        }
    }

    #[test]
    fn other_shapes_and_orders_stay_as_they_are() {
        // An offset that varies along another axis.
        let mut g = normalized(false);
        let off = g.ops[0].inputs[1].unwrap();
        g.tensors[off].shape = vec![1, 4, 1];
        g.tensors[off].data = Some(Data::F32(vec![0.0; 4]));
        assert_eq!(fuse_normalization(&mut g.clone()), 0);
        // The constant first in Sub (offset − x) is not the pattern.
        let mut g = normalized(false);
        g.ops[0].inputs.swap(0, 1);
        assert_eq!(fuse_normalization(&mut g), 0);
        // The intermediate read elsewhere (a graph output) stays.
        let mut g = normalized(false);
        let t1 = g.ops[0].outputs[0].unwrap();
        g.outputs.push(t1);
        assert_eq!(fuse_normalization(&mut g), 0);
    }
}
