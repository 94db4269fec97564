//! BatchNormalization: folded to a per-channel affine when its statistics are constants (the
//! usual inference graph), computed from run-time statistics when they are not (TensorFlow's
//! layer normalisation exported as a batch normalisation over statistics the graph computes).

use super::{broadcast, Lowering, Lr, Val};
use crate::import::{const_f32, Attrs};
use crate::ir::Data;
use crate::ir::TensorId;
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::{BinaryFn, OpCode, UnaryFn};
use tract_onnx::pb;

impl Lowering {
    /// BatchNormalization (inference). With constant scale, bias, mean and variance: a
    /// per-channel affine `x·s + t` (the fusion pass folds it into a preceding Conv or MatMul).
    /// Otherwise `(x − mean) · (scale / sqrt(var + ε)) + bias` in f32 ops, each parameter viewed
    /// as `[C, 1, …]` against `x`'s `[N, C, …]`.
    pub(super) fn lower_batchnorm(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        if a.int_or("training_mode", 0) != 0 {
            return Err("training_mode=1".into());
        }
        let eps = a.float("epsilon").unwrap_or(1e-5);
        let xv = self.need(node, 0)?;
        self.require_f32(&xv, "X")?;
        let xs = self.shape(&xv);
        let c = *xs.get(1).ok_or("X must have a channel axis (rank 2 or more)")?;
        let mut pshape = vec![c];
        pshape.extend(std::iter::repeat_n(1, xs.len().saturating_sub(2)));
        let params = (1..5).map(|i| self.need(node, i)).collect::<Lr<Vec<Val>>>()?;
        for v in &params {
            self.require_f32(v, "a BatchNormalization parameter")?;
            if self.shape(v).iter().product::<usize>() != c {
                return Err("parameter length differs from the channel count".into());
            }
        }
        let x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        let consts: Option<Vec<Vec<f32>>> =
            params.iter().map(|v| if let Val::Const(t) = v { const_f32(t) } else { None }).collect();
        let Some(p) = consts else {
            return self.batchnorm_from_statistics(node, &name, (x, o), pshape, eps);
        };
        let (scale, bias, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
        let s: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
        let t: Vec<f32> = (0..c).map(|i| bias[i] - mean[i] * s[i]).collect();
        let st = self.g.constant(format!("{name}.scale"), pshape.clone(), Data::F32(s));
        let tt = self.g.constant(format!("{name}.shift"), pshape, Data::F32(t));
        let mid = self.binary(format!("{name}.mul"), BinaryFn::Mul, (x, st), xs.clone());
        self.g.push(
            OpCode::Binary,
            format!("{name}.add"),
            vec![Some(mid), Some(tt)],
            vec![Some(o)],
            vec![BinaryFn::Add as u32],
        );
        Ok(())
    }

    fn batchnorm_from_statistics(
        &mut self,
        node: &pb::NodeProto,
        name: &str,
        (x, o): (TensorId, TensorId),
        pshape: Vec<usize>,
        eps: f32,
    ) -> Lr<()> {
        let xs = self.g.tensors[x].shape.clone();
        let view = |s: &mut Self, i: usize, tag: &str| -> Lr<TensorId> {
            let t = s.need_tensor(node, i)?;
            let v = s.g.activation(format!("{name}.{tag}"), DType::F32, pshape.clone());
            s.g.push(OpCode::Copy, format!("{name}.{tag}"), vec![Some(t)], vec![Some(v)], vec![]);
            Ok(v)
        };
        let (scale, bias, mean, var) =
            (view(self, 1, "scale")?, view(self, 2, "bias")?, view(self, 3, "mean")?, view(self, 4, "var")?);
        let e = self.g.constant(format!("{name}.epsilon"), vec![], Data::F32(vec![eps]));
        let ve = self.binary(format!("{name}.var_eps"), BinaryFn::Add, (var, e), pshape.clone());
        let sd = self.unary(format!("{name}.std"), UnaryFn::Sqrt, ve, (0.0, 0.0));
        let k = self.binary(format!("{name}.factor"), BinaryFn::Div, (scale, sd), pshape.clone());
        let full = broadcast(&xs, &pshape).ok_or("X and the parameters do not broadcast")?;
        let centred = self.binary(format!("{name}.centred"), BinaryFn::Sub, (x, mean), full.clone());
        let scaled = self.binary(format!("{name}.scaled"), BinaryFn::Mul, (centred, k), full);
        self.g.push(
            OpCode::Binary,
            format!("{name}.add"),
            vec![Some(scaled), Some(bias)],
            vec![Some(o)],
            vec![BinaryFn::Add as u32],
        );
        Ok(())
    }
}
