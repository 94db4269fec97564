//! ONNX Runtime's `com.microsoft.DynamicQuantizeLSTM` (what `quantize_dynamic` makes of an LSTM),
//! computed as ONNX Runtime computes it, in f32 ops: the whole input sequence quantized once to
//! uint8 (DynamicQuantizeLinear's rule), its integer product with the int8 input weights scaled by
//! `x_scale · w_scale`; at each step each batch row of the hidden state quantized the same way and
//! its product with the recurrent weights scaled by `h_scale · r_scale` (found by matching ONNX
//! Runtime's outputs: tests/ops.rs); then the biases, the gates (i, o, f, c:
//! sigmoid, sigmoid, sigmoid, tanh) and the cell as a float LSTM. The integer products are exact
//! in f32 while their sums stay under 2^24 (255 · 127 · 518 at most).
//!
//! prepare.rs has rewritten the node as an ONNX LSTM over the dequantized weights (so that tract
//! can type it) with the weight scales in attributes; the weights' integers come back here as
//! `w / scale`. The steps are unrolled: forward direction, batch-major layout 0, no peepholes.

use super::{Lowering, Lr, Val};
use crate::import::{const_f32, const_i64, Attrs};
use crate::ir::{Data, TensorId};
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::{BinaryFn, OpCode, UnaryFn};
use tract_onnx::pb;

/// The attributes prepare.rs gives the rewritten node: the input and recurrent weights' scales
/// (one, or one per gate row).
pub(crate) const W_SCALE: &str = "ferrite_dynamic_w_scale";
pub(crate) const R_SCALE: &str = "ferrite_dynamic_r_scale";
/// Longest sequence unrolled.
const MAX_STEPS: usize = 256;

impl Lowering {
    pub(super) fn lower_dynamic_lstm(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let hidden = a
            .int("hidden_size")
            .and_then(|h| usize::try_from(h).ok())
            .filter(|h| (1..=1 << 16).contains(h))
            .ok_or("hidden_size must be in 1..=65536")?;
        if a.string("direction").is_some_and(|d| d != "forward") || a.int_or("layout", 0) != 0 {
            return Err("DynamicQuantizeLSTM: forward direction and layout 0 only".into());
        }
        if a.float("clip").is_some() || a.strings("activations").is_some() || a.int_or("input_forget", 0) != 0 {
            return Err("DynamicQuantizeLSTM: clip, activations and input_forget are not supported".into());
        }
        if self.input(node, 7)?.is_some() {
            return Err("DynamicQuantizeLSTM: peepholes are not supported".into());
        }
        let xv = self.need(node, 0)?;
        self.require_f32(&xv, "X")?;
        let &[steps, batch, input] = &self.shape(&xv)[..] else { return Err("X must be [seq, batch, input]".into()) };
        if steps > MAX_STEPS {
            return Err(format!("DynamicQuantizeLSTM over {steps} steps (unrolled: {MAX_STEPS} at most)"));
        }
        if let Some(v) = self.input(node, 4)? {
            match v {
                Val::Const(t) if const_i64(&t).is_some_and(|l| l.iter().all(|&x| x as usize == steps)) => {}
                _ => return Err("sequence_lens shorter than the sequence".into()),
            }
        }
        let g4 = 4 * hidden;
        let integers = |s: &mut Self, i: usize, k: usize, attr: &str| -> Lr<TensorId> {
            let w = s.const_input(node, i)?.and_then(|t| const_f32(&t)).ok_or("weights must be constant")?;
            let scale = Attrs(node).floats(attr).ok_or("weight scales")?;
            if g4.checked_mul(k) != Some(w.len())
                || !(scale.len() == 1 || scale.len() == g4)
                || scale.iter().any(|&v| v.is_nan() || v <= 0.0)
            {
                return Err("weights or their scales have the wrong size".into());
            }
            // [4H, k] of dequantized values -> [k, 4H] of their integers.
            let ints = (0..k * g4).map(|at| {
                let (row, col) = (at / g4, at % g4);
                (w[col * k + row] / scale[if scale.len() == 1 { 0 } else { col }]).round()
            });
            Ok(s.g.constant(format!("{name}.{attr}.integers"), vec![k, g4], Data::F32(ints.collect())))
        };
        let (wi, ri) = (integers(self, 1, input, W_SCALE)?, integers(self, 2, hidden, R_SCALE)?);
        let scale_of = |s: &mut Self, attr: &str| {
            let v = Attrs(node).floats(attr).unwrap_or_default();
            let shape = if v.len() == 1 { vec![] } else { vec![v.len()] };
            s.g.constant(format!("{name}.{attr}"), shape, Data::F32(v))
        };
        let (ws, rs) = (scale_of(self, W_SCALE), scale_of(self, R_SCALE));
        let bias = match self.const_input(node, 3)? {
            Some(b) => {
                let b = const_f32(&b).filter(|b| b.len() == 2 * g4).ok_or("B must be [1, 8H] and constant")?;
                (0..g4).map(|j| b[j] + b[g4 + j]).collect()
            }
            None => vec![0.0; g4],
        };
        let bias = self.g.constant(format!("{name}.bias"), vec![g4], Data::F32(bias));
        // The input products, for every step at once.
        let x = self.need_tensor(node, 0)?;
        let rows = self.reshaped(format!("{name}.x_rows"), x, vec![steps * batch, input]);
        let gx = self.scaled_product(format!("{name}.x"), rows, (wi, ws));
        let mut h = self.initial(node, 5, format!("{name}.h0"), vec![batch, hidden])?;
        let mut c = self.initial(node, 6, format!("{name}.c0"), vec![batch, hidden])?;
        let mut ys = Vec::new();
        for t in 0..steps {
            let p = format!("{name}.t{t}");
            let gx_t = self.slice(format!("{p}.x"), gx, (0, t * batch), vec![batch, g4]);
            // The state is quantized one batch row at a time (as ONNX Runtime does).
            let gh = if batch == 1 {
                self.scaled_product(format!("{p}.h"), h, (ri, rs))
            } else {
                let rows: Vec<Option<TensorId>> = (0..batch)
                    .map(|r| {
                        let row = self.slice(format!("{p}.h{r}"), h, (0, r), vec![1, hidden]);
                        Some(self.scaled_product(format!("{p}.h{r}"), row, (ri, rs)))
                    })
                    .collect();
                let all = self.g.activation(format!("{p}.h"), DType::F32, vec![batch, g4]);
                self.concat(format!("{p}.h"), rows, all, 0);
                all
            };
            let sum = self.binary(format!("{p}.sum"), BinaryFn::Add, (gx_t, gh), vec![batch, g4]);
            let gates = self.binary(format!("{p}.gates"), BinaryFn::Add, (sum, bias), vec![batch, g4]);
            let gate = |s: &mut Self, k: usize, f: UnaryFn, tag: &str| {
                let part = s.slice(format!("{p}.{tag}_in"), gates, (1, k * hidden), vec![batch, hidden]);
                s.unary(format!("{p}.{tag}"), f, part, (0.0, 0.0))
            };
            let (i, o) = (gate(self, 0, UnaryFn::Sigmoid, "i"), gate(self, 1, UnaryFn::Sigmoid, "o"));
            let (f, cand) = (gate(self, 2, UnaryFn::Sigmoid, "f"), gate(self, 3, UnaryFn::Tanh, "c_in"));
            let hs = vec![batch, hidden];
            let kept = self.binary(format!("{p}.kept"), BinaryFn::Mul, (f, c), hs.clone());
            let new = self.binary(format!("{p}.new"), BinaryFn::Mul, (i, cand), hs.clone());
            c = self.binary(format!("{p}.c"), BinaryFn::Add, (kept, new), hs.clone());
            let tc = self.unary(format!("{p}.tanh_c"), UnaryFn::Tanh, c, (0.0, 0.0));
            h = self.binary(format!("{p}.h"), BinaryFn::Mul, (o, tc), hs);
            ys.push(h);
        }
        self.finish_outputs(node, &name, &ys, (h, c))
    }

    /// ONNX Runtime's product of a dynamically quantized `x` ([rows, k] f32) with integer weights
    /// `w` ([k, 4H]), scaled: `((xq − zx) · w) · (sx · w_scale)`.
    fn scaled_product(&mut self, name: String, x: TensorId, (w, w_scale): (TensorId, TensorId)) -> TensorId {
        let rows = self.g.tensors[x].shape[0];
        let cols = self.g.tensors[w].shape[1];
        let (q, scale, zp) = self.dynamic_quantize(format!("{name}.quantized"), x);
        let centred = self.binary(format!("{name}.centred"), BinaryFn::Sub, (q, zp), self.g.tensors[x].shape.clone());
        let acc = self.g.activation(format!("{name}.acc"), DType::F32, vec![rows, cols]);
        self.g.push(
            OpCode::MatMul,
            format!("{name}.acc"),
            vec![Some(centred), Some(w), None],
            vec![Some(acc)],
            vec![0, 0, 1f32.to_bits(), 0, 0, 0],
        );
        let s = self.g.tensors[w_scale].shape.clone();
        let factor = self.binary(format!("{name}.factor"), BinaryFn::Mul, (scale, w_scale), s);
        self.binary(format!("{name}.scaled"), BinaryFn::Mul, (acc, factor), vec![rows, cols])
    }

    /// A slice of 2-D `x`: `shape` values from `at` (axis, start).
    fn slice(&mut self, name: String, x: TensorId, (axis, start): (usize, usize), shape: Vec<usize>) -> TensorId {
        let o = self.g.activation(name.clone(), DType::F32, shape);
        let mut attrs = vec![0u32, 0, 1, 1];
        attrs[axis] = start as u32;
        self.g.push(OpCode::Slice, name, vec![Some(x)], vec![Some(o)], attrs);
        o
    }

    fn reshaped(&mut self, name: String, x: TensorId, shape: Vec<usize>) -> TensorId {
        let o = self.g.activation(name.clone(), DType::F32, shape);
        self.g.push(OpCode::Copy, name, vec![Some(x)], vec![Some(o)], vec![]);
        o
    }

    /// The initial hidden or cell state (input `i`, `[1, batch, hidden]`) as `[batch, hidden]`,
    /// zeros when absent.
    fn initial(&mut self, node: &pb::NodeProto, i: usize, name: String, shape: Vec<usize>) -> Lr<TensorId> {
        Ok(match self.tensor(node, i)? {
            Some(t) => self.reshaped(name, t, shape),
            None => {
                let n = shape.iter().product();
                self.g.constant(name, shape, Data::F32(vec![0.0; n]))
            }
        })
    }

    /// Y (`[seq, 1, batch, hidden]`: every step's h), Y_h and Y_c (`[1, batch, hidden]`).
    fn finish_outputs(
        &mut self,
        node: &pb::NodeProto,
        name: &str,
        ys: &[TensorId],
        (h, c): (TensorId, TensorId),
    ) -> Lr<()> {
        if let Some(y) = self.output(node, 0)? {
            let [b, hidden] = self.g.tensors[ys[0]].shape[..] else { return Err("state shape".into()) };
            let all = self.g.activation(format!("{name}.steps"), DType::F32, vec![ys.len() * b, hidden]);
            let ins = ys.iter().map(|&t| Some(t)).collect();
            self.concat(format!("{name}.steps"), ins, all, 0);
            self.g.push(OpCode::Copy, format!("{name}.y"), vec![Some(all)], vec![Some(y)], vec![]);
        }
        for (k, t) in [(1, h), (2, c)] {
            if let Some(o) = self.output(node, k)? {
                self.g.push(OpCode::Copy, format!("{name}.out{k}"), vec![Some(t)], vec![Some(o)], vec![]);
            }
        }
        Ok(())
    }
}
