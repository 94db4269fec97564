//! Lowering of quantized nodes: QuantizeLinear and DequantizeLinear (a QDQ model's points, with
//! its own scales), and ONNX Runtime's dynamic quantization (DynamicQuantizeLinear,
//! MatMulInteger, ConvInteger) computed in f32 as ONNX specifies.

use super::{f, Lowering, Lr, Val};
use crate::import::{const_f32, const_i64, Attrs};
use crate::ir::{Data, TensorId, TensorQuant};
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::{BinaryFn, OpCode, UnaryFn};
use tract_onnx::pb;
use tract_onnx::prelude::*;

impl Lowering {
    /// One f32 op: `out = func(a, b)`, out a new tensor of `shape`.
    pub(super) fn binary(
        &mut self,
        name: String,
        func: BinaryFn,
        (a, b): (TensorId, TensorId),
        shape: Vec<usize>,
    ) -> TensorId {
        let o = self.g.activation(name.clone(), DType::F32, shape);
        self.g.push(OpCode::Binary, name, vec![Some(a), Some(b)], vec![Some(o)], vec![func as u32]);
        o
    }

    /// One f32 op: `out = func(x)` (`lo` and `hi` its attribute words), of `x`'s shape.
    pub(super) fn unary(&mut self, name: String, func: UnaryFn, x: TensorId, (lo, hi): (f32, f32)) -> TensorId {
        let o = self.g.activation(name.clone(), DType::F32, self.g.tensors[x].shape.clone());
        self.g.push(OpCode::Unary, name, vec![Some(x)], vec![Some(o)], vec![func as u32, f(lo), f(hi)]);
        o
    }

    fn output_as(&mut self, node: &pb::NodeProto, i: usize, t: TensorId) -> Lr<()> {
        let name = node.output.get(i).filter(|o| !o.is_empty()).ok_or("missing output")?;
        self.g.tensors[t].name = name.clone();
        self.vals.insert(name.clone(), Val::Dyn(t));
        Ok(())
    }

    /// ONNX Runtime's dynamic quantization of a run-time tensor, in f32 as ONNX specifies it:
    /// `lo = min(0, min x)`, `hi = max(0, max x)`, `scale = (hi − lo) / 255`,
    /// `zp = clip(round(−lo / scale), 0, 255)`, `y = clip(round(x / scale) + zp, 0, 255)` (ties to
    /// even). `y` and `zp` are f32 tensors holding the uint8 values.
    pub(super) fn lower_dynamic_quantize(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let x = self.need_tensor(node, 0)?;
        self.require_f32(&Val::Dyn(x), "input")?;
        let (y, scale, zp) = self.dynamic_quantize(name, x);
        for (i, t) in [y, scale, zp].into_iter().enumerate() {
            self.output_as(node, i, t)?;
        }
        Ok(())
    }

    /// [`Self::lower_dynamic_quantize`] of f32 tensor `x`: the quantized values, the scale and the
    /// zero point (f32 tensors; the values and the zero point hold integers in [0, 255]).
    pub(super) fn dynamic_quantize(&mut self, name: String, x: TensorId) -> (TensorId, TensorId, TensorId) {
        let shape = self.g.tensors[x].shape.clone();
        let all = (0..shape.len()).fold(0u32, |m, a| m | (1 << a));
        let one: Vec<usize> = Vec::new(); // scalars, as ONNX declares y_scale and y_zero_point
        let c = |s: &mut Self, n: &str, v: f32| s.g.constant(format!("{name}.{n}"), vec![], Data::F32(vec![v]));
        let (zero, q255) = (c(self, "zero", 0.0), c(self, "qmax", 255.0));
        let mut ext = Vec::new();
        for (func, tag) in [(3u32, "min"), (2, "max")] {
            let r = self.g.activation(format!("{name}.{tag}"), DType::F32, one.clone());
            self.g.push(OpCode::Reduce, format!("{name}.{tag}"), vec![Some(x)], vec![Some(r)], vec![func, all]);
            ext.push(r);
        }
        let lo = self.binary(format!("{name}.lo"), BinaryFn::Min, (ext[0], zero), one.clone());
        let hi = self.binary(format!("{name}.hi"), BinaryFn::Max, (ext[1], zero), one.clone());
        let span = self.binary(format!("{name}.span"), BinaryFn::Sub, (hi, lo), one.clone());
        let scale = self.binary(format!("{name}.scale"), BinaryFn::Div, (span, q255), one.clone());
        let neg = self.binary(format!("{name}.lo_steps"), BinaryFn::Div, (lo, scale), one.clone());
        let neg = self.unary(format!("{name}.zp_real"), UnaryFn::Neg, neg, (0.0, 0.0));
        // Clipped with max/min, which drop a NaN: an all-zero tensor has scale 0, 0/0 steps, and
        // then quantizes to 0 (ONNX Runtime's product, scaled by 0, is 0 as well).
        let zp = self.unary(format!("{name}.zp_round"), UnaryFn::Round, neg, (0.0, 0.0));
        let zp = self.binary(format!("{name}.zp_low"), BinaryFn::Max, (zp, zero), one.clone());
        let zp = self.binary(format!("{name}.zp"), BinaryFn::Min, (zp, q255), one.clone());
        let steps = self.binary(format!("{name}.steps"), BinaryFn::Div, (x, scale), shape.clone());
        let steps = self.unary(format!("{name}.round"), UnaryFn::Round, steps, (0.0, 0.0));
        let shifted = self.binary(format!("{name}.shifted"), BinaryFn::Add, (steps, zp), shape.clone());
        let low = self.binary(format!("{name}.low"), BinaryFn::Max, (shifted, zero), shape.clone());
        let y = self.binary(name, BinaryFn::Min, (low, q255), shape);
        self.int_valued.extend([y, zp]);
        (y, scale, zp)
    }

    /// MatMulInteger (or ConvInteger) of a dynamically quantized activation (an f32 tensor of
    /// integers) with a constant uint8/int8 weight: `(a − a_zp) · (b − b_zp)` as an f32 MatMul (or
    /// Conv), the weight's zero point taken out at import (ConvInteger's per output channel).
    /// Exact while the sums stay under 2^24; ONNX Runtime sums in int32.
    pub(super) fn lower_matmul_integer(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let conv = node.op_type == "ConvInteger";
        let a = self.need_tensor(node, 0)?;
        if !self.int_valued.contains(&a) {
            return Err(format!("{} of a tensor that DynamicQuantizeLinear did not write", node.op_type));
        }
        let b = self.const_input(node, 1)?.ok_or("the weight (input 1) must be constant")?;
        let bshape = b.shape().to_vec();
        let bv = const_f32(&b).ok_or("integer weight expected")?;
        let bz = match self.const_input(node, 3)? {
            Some(z) => const_f32(&z).ok_or("integer zero point expected")?,
            None => vec![0.0],
        };
        // The zero point's axis: a MatMul weight's columns, a Conv weight's output channels.
        let (groups, inner) = if conv {
            (bshape.first().copied().ok_or("weight of rank 0")?, bshape.iter().skip(1).product::<usize>())
        } else {
            (*bshape.last().ok_or("weight of rank 0")?, 1)
        };
        if bz.len() != 1 && bz.len() != groups {
            return Err("the weight's zero point must be a scalar or one per output channel".into());
        }
        let zp_of = |i: usize| {
            bz[if bz.len() == 1 {
                0
            } else if conv {
                i / inner.max(1)
            } else {
                i % groups
            }]
        };
        let w: Vec<f32> = bv.iter().enumerate().map(|(i, &v)| v - zp_of(i)).collect();
        let wt = self.g.constant(format!("{name}.weight"), bshape, Data::F32(w));
        let a = match self.input(node, 2)? {
            Some(_) => {
                let z = self.need_tensor(node, 2)?;
                self.binary(format!("{name}.centered"), BinaryFn::Sub, (a, z), self.g.tensors[a].shape.clone())
            }
            None => a,
        };
        let oname = node.output.first().filter(|o| !o.is_empty()).ok_or("missing output")?;
        let fact = self.facts.get(oname).ok_or("no inferred fact for the output")?;
        let shape = fact.shape.as_concrete_finite().ok().flatten().ok_or("output shape not concrete")?.to_vec();
        let o = self.g.activation(oname.clone(), DType::F32, shape);
        if conv {
            let xs = self.g.tensors[a].shape.clone();
            let kernel = self.g.tensors[wt].shape[2..].to_vec();
            let r = xs.len().checked_sub(2).filter(|r| (1..=2).contains(r)).ok_or("1-D and 2-D ConvInteger only")?;
            let (st, pb_, pe, d) = self.spatial(node, &xs, &kernel)?;
            let mut attrs = vec![r as u32, Attrs(node).int_or("group", 1) as u32];
            attrs.extend(st.into_iter().chain(pb_).chain(pe).chain(d));
            attrs.extend([0, 0, 0]);
            self.g.push(OpCode::Conv, name, vec![Some(a), Some(wt), None], vec![Some(o)], attrs);
        } else {
            let attrs = vec![0, 0, f(1.0), 0, 0, 0];
            self.g.push(OpCode::MatMul, name, vec![Some(a), Some(wt), None], vec![Some(o)], attrs);
        }
        self.int_valued.insert(o);
        self.vals.insert(oname.clone(), Val::Dyn(o));
        Ok(())
    }

    /// A per-tensor scale and zero point (the zero point as Ferrite's i8 one: a uint8 zero point
    /// less 128, the values shifted alike), from inputs 1 and 2.
    fn qparams(&self, node: &pb::NodeProto) -> Lr<(f32, i32)> {
        let scale = self.const_input(node, 1)?.ok_or("no scale")?;
        let s = const_f32(&scale)
            .filter(|v| v.len() == 1)
            .ok_or("per-axis quantization of activations is not supported")?[0];
        if !(s.is_finite() && s > 0.0) {
            return Err(format!("scale {s} is not a positive number"));
        }
        let zp = match self.const_input(node, 2)? {
            // No zero point: uint8 0 (-128 here), unless opset 21's output_dtype asks for int8.
            None if Attrs(node).int("output_dtype") == Some(3) => 0,
            None => -128,
            Some(z) => {
                let v = const_i64(&z).filter(|v| v.len() == 1).ok_or("per-axis zero points are not supported")?[0];
                match z.datum_type() {
                    DatumType::U8 => v as i32 - 128,
                    DatumType::I8 => v as i32,
                    other => return Err(format!("zero point of type {other:?} (uint8 and int8 are supported)")),
                }
            }
        };
        Ok((s, zp))
    }

    /// QuantizeLinear and DequantizeLinear on activations (on weights tract folds them): Ferrite's
    /// Quantize and Dequantize with the model's own scale and zero point, so that a QDQ model runs
    /// at the precision its quantizer chose. uint8 values are held as int8 shifted by 128 (the same
    /// real values). A Dequantize must read what a Quantize with the same parameters wrote.
    pub(super) fn lower_qdq(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let (scale, zp) = self.qparams(node)?;
        let x = self.need_tensor(node, 0)?;
        let shape = self.g.tensors[x].shape.clone();
        let out = node.output.first().filter(|o| !o.is_empty()).ok_or("no output")?.clone();
        if node.op_type == "QuantizeLinear" {
            if self.g.tensors[x].dtype != DType::F32 {
                return Err("QuantizeLinear of a non-float tensor".into());
            }
            let q = self.g.activation(out.clone(), DType::I8, shape);
            self.g.tensors[q].quant = Some(TensorQuant::PerTensor { scale, zero_point: zp });
            let range = (scale * (-128 - zp) as f32, scale * (127 - zp) as f32);
            self.qranges.insert(self.g.tensors[x].name.clone(), range);
            self.vals.insert(out, Val::Dyn(q));
            self.g.push(OpCode::Quantize, name, vec![Some(x)], vec![Some(q)], vec![]);
            return Ok(());
        }
        match (self.g.tensors[x].dtype, self.g.tensors[x].quant) {
            (DType::I8, Some(TensorQuant::PerTensor { scale: s, zero_point: z })) if s == scale && z == zp => {}
            (DType::I8, _) => return Err("DequantizeLinear with other parameters than its QuantizeLinear".into()),
            _ => return Err("DequantizeLinear of a run-time tensor that no QuantizeLinear wrote".into()),
        }
        let o = self.g.activation(out.clone(), DType::F32, self.g.tensors[x].shape.clone());
        self.vals.insert(out, Val::Dyn(o));
        self.g.push(OpCode::Dequantize, name, vec![Some(x)], vec![Some(o)], vec![]);
        Ok(())
    }
}
