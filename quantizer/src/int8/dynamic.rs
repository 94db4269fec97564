//! Linear layers with dynamic activation quantization (`--activations dynamic`): a MatMul with
//! constant weights becomes `DynQMatMul`, which reads and writes f32 and quantizes each input row
//! with its own scale at run time (docs/QUANTIZATION.md). Weights are int8 per output channel,
//! packed k4n16; the bias stays f32. No calibrated range is needed, so the layer never sees a
//! scale fitted to other inputs: what transformer encoders, whose activations carry a few huge
//! channels, need to stay close to f32.

use super::{bytes_of, packed, Cx, Layer, Linear};
use crate::calibrate::quantize_weights_per_channel;
use crate::ir::{Data, Op, TensorQuant};
use ferrite_runtime::format::{DType, Layout};
use ferrite_runtime::ops::{OpCode, UnaryFn};

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
