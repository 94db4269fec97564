//! The int8 conversion (docs/QUANTIZATION.md): rewrites an optimised f32 graph so that every layer
//! with constant weights runs in int8, given the calibrated activation ranges.
//!
//! - MatMul with a constant 2-D B (and its folded bias and ReLU/ReLU6) → `QMatMul`;
//! - Conv → `QConv`;
//! - LSTM/GRU → the same op with int8 W and R (per-row scales) and f32 gates;
//! - Gather from a constant table (embeddings) → int8 table with per-column scales.
//!
//! Int8 values flow between int8 layers without leaving int8; a `Quantize` op is placed where an
//! int8 layer reads an f32 tensor and a `Dequantize` op where an f32 op (or the graph output) reads
//! an int8 layer's result. Layers that cannot run in int8 (activation × activation products, fused
//! sigmoid/tanh, no calibrated range), or that the caller keeps in float (mixed precision), stay as
//! they are, and every decision is returned for the report.

use crate::calibrate::{affine_params, quantize_weights_per_channel};
use crate::ir::{Data, Graph, Op, TensorId, TensorQuant};
use ferrite_runtime::format::{DType, Layout};
use ferrite_runtime::kernels::generic::int8::{quantize_multiplier, Requant};
use ferrite_runtime::kernels::generic::qgemm::pack_k4n16;
use ferrite_runtime::ops::{OpCode, ReduceFn, UnaryFn};
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod dynamic;

/// Calibrated `(lo, hi)` range of each f32 tensor, by name.
pub type Ranges = BTreeMap<String, (f32, f32)>;

/// A pre-quantized model's own per-tensor weight scales, by weight tensor name: such weights are
/// quantized with that scale (the model's own int8 values) instead of one per channel.
pub type WeightScales = BTreeMap<String, f32>;

/// Largest |bias| stored: keeps `bias + Σ` inside i32 (docs/QUANTIZATION.md, MAX_K).
const MAX_BIAS: f64 = (1u64 << 30) as f64;

/// One weighted layer and what the pass did with it.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Op name (from the source graph).
    pub name: String,
    /// Op kind (`MatMul`, `Conv`, `Gather`, `LSTM`, `GRU`).
    pub kind: &'static str,
    /// `int8`, or `float` (fp16 weights in int8 artifacts; f32 compute).
    pub precision: &'static str,
    /// Why the layer stayed in float.
    pub reason: Option<String>,
    /// The f32 tensor the layer's result is compared on (reference side).
    pub output: String,
    /// The tensor holding the layer's result in the converted graph (`output` or its int8 twin).
    pub probe: String,
    /// When the probe is laid out differently (channels-last): the permutation that takes it to
    /// the reference's dims (`reference = transpose(probe, perm)`).
    pub probe_perm: Option<Vec<usize>>,
    /// Bytes of the layer's weights in f32.
    pub bytes_f32: usize,
    /// Bytes after conversion (int8 weights, i32 biases, requantization, scales).
    pub bytes: usize,
    /// Output SQNR against the f32 model on the calibration set (dB), filled by the caller: the
    /// error accumulated up to this layer in the converted model.
    pub sqnr_db: Option<f64>,
    /// The layer's own SQNR: with only this layer in int8 (what `--accuracy-budget` compares).
    pub sqnr_isolated_db: Option<f64>,
    /// Values the conversion could not keep and changed (clamped biases or weights, channels
    /// whose requantization underflowed to the zero point): said, never silent.
    pub changes: Vec<String>,
}

/// Where an int8 product writes ([`Cx::product_output`]).
struct ProductOut {
    /// The f32 tensor the product's result stands for: the layer's output, or its pre-activation.
    out: TensorId,
    sy: f32,
    zy: i32,
    /// Clamping bounds in int8 values.
    lo: i32,
    hi: i32,
    /// The activation (function, a, b) that follows in f32, from `out` to the layer's output.
    then: Option<[u32; 3]>,
}

/// A MatMul with constant weights ([`Cx::linear`]).
struct Linear {
    x: TensorId,
    y: TensorId,
    k: usize,
    n: usize,
    /// `[N, K]`, row-major.
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
}

struct Cx<'a> {
    g: &'a mut Graph,
    /// Linear layers quantize their input per row at run time (`DynQMatMul`).
    dynamic: bool,
    ranges: &'a Ranges,
    weight_scales: &'a WeightScales,
    twin: HashMap<TensorId, TensorId>,
    ops: Vec<Op>,
    /// What the layer being converted changed ([`Layer::changes`]), taken by [`Cx::layer`].
    changes: Vec<String>,
}

fn f32_const(g: &Graph, t: Option<TensorId>) -> Option<(Vec<usize>, Vec<f32>)> {
    let t = &g.tensors[t?];
    Some((t.shape.clone(), t.data.as_ref()?.as_f32()?.to_vec()))
}

/// `v` (`rows × cols`, row-major) transposed to `cols × rows`.
fn transposed<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols).map(|i| v[(i % rows) * cols + i / rows]).collect()
}

/// The inputs of a weighted op that hold its weights: the table of a Gather, everything after the
/// activation input otherwise.
fn weight_inputs(op: &Op) -> &[Option<TensorId>] {
    if op.code == OpCode::Gather {
        &op.inputs[..1]
    } else {
        &op.inputs[1..]
    }
}

fn bytes_of(g: &Graph, ts: &[Option<TensorId>]) -> usize {
    ts.iter().flatten().filter(|&&t| g.tensors[t].data.is_some()).map(|&t| g.tensors[t].byte_len()).sum()
}

impl Cx<'_> {
    fn qparams(&self, t: TensorId) -> Option<(f32, i32)> {
        let &(lo, hi) = self.ranges.get(&self.g.tensors[t].name)?;
        (lo.is_finite() && hi.is_finite()).then(|| affine_params(lo, hi))
    }

    fn name(&self, t: TensorId) -> String {
        self.g.tensors[t].name.clone()
    }

    /// The int8 form of f32 tensor `t`: its twin when an int8 layer wrote it, else a new `Quantize`.
    fn int8_of(&mut self, t: TensorId) -> TensorId {
        if let Some(&q) = self.twin.get(&t) {
            return q;
        }
        let (scale, zero_point) = self.qparams(t).unwrap_or((1.0, 0));
        let name = self.name(t);
        let q = self.g.activation(format!("{name}/q"), DType::I8, self.g.tensors[t].shape.clone());
        self.g.tensors[q].quant = Some(TensorQuant::PerTensor { scale, zero_point });
        self.ops.push(Op {
            code: OpCode::Quantize,
            name: format!("{name}/quantize"),
            inputs: vec![Some(t)],
            outputs: vec![Some(q)],
            attrs: vec![],
            scratch: None,
        });
        self.twin.insert(t, q);
        q
    }

    /// A new int8 twin for the f32 output `y` of an int8 layer.
    fn int8_output(&mut self, y: TensorId, scale: f32, zero_point: i32) -> TensorId {
        let name = self.name(y);
        let q = self.g.activation(format!("{name}/q"), DType::I8, self.g.tensors[y].shape.clone());
        self.g.tensors[q].quant = Some(TensorQuant::PerTensor { scale, zero_point });
        q
    }

    /// Pushes the int8 layer `op` (writing `yq`), then a `Dequantize` back to `y` for f32 readers
    /// (removed later if nothing reads `y`).
    fn emit(&mut self, op: Op, y: TensorId, yq: TensorId) {
        let name = self.name(y);
        self.ops.push(op);
        self.ops.push(Op {
            code: OpCode::Dequantize,
            name: format!("{name}/dequantize"),
            inputs: vec![Some(yq)],
            outputs: vec![Some(y)],
            attrs: vec![],
            scratch: None,
        });
        self.twin.insert(y, yq);
    }

    /// Per-channel int8 weights, i32 biases and requantization for a product with `channels`
    /// output channels: `w` holds one row per channel.
    fn product_constants(
        &mut self,
        (base, weight): (&str, Option<TensorId>),
        (w, w_shape, layout): (&[f32], Vec<usize>, Layout),
        bias: Option<Vec<f32>>,
        channels: usize,
        (sx, sy): (f32, f32),
    ) -> Result<[TensorId; 3], String> {
        let model_scale = weight.and_then(|t| self.weight_scales.get(&self.g.tensors[t].name)).copied();
        let (sw, q) = match model_scale {
            // The model's own int8 values: its weights are exact multiples of its scale. Ferrite's
            // weights are symmetric (±127): a model's -128 becomes -127, and is said.
            Some(s) if channels > 0 && w.len().is_multiple_of(channels) => {
                let clamped = w.iter().filter(|&&v| (v / s).round().abs() > 127.0).count();
                if clamped > 0 {
                    self.changes.push(format!("{clamped} weights clamped to ±127 of the model's scale"));
                }
                (vec![s; channels], w.iter().map(|&v| (v / s).round().clamp(-127.0, 127.0) as i8).collect())
            }
            _ => quantize_weights_per_channel(w, channels),
        };
        if sw.len() != channels {
            return Err("weights do not split into output channels".into());
        }
        let mut bq = Vec::with_capacity(channels);
        let mut rq = Vec::with_capacity(2 * channels);
        let (mut clamped, mut silent) = (0, 0);
        for c in 0..channels {
            let acc_scale = sx as f64 * sw[c] as f64;
            let b = bias.as_ref().map_or(0.0, |b| b[c] as f64);
            let steps = (b / acc_scale).round();
            clamped += usize::from(steps.abs() > MAX_BIAS);
            bq.push(steps.clamp(-MAX_BIAS, MAX_BIAS) as i32);
            let m = acc_scale / sy as f64;
            // A multiplier below 2^-32 maps every accumulator to the zero point: use the smallest.
            let r = match quantize_multiplier(m) {
                Some(r) => r,
                None if m < 1.0 => {
                    silent += 1;
                    Requant { multiplier: 1 << 30, shift: 62 }
                }
                None => return Err(format!("requantization multiplier {m:e} out of range")),
            };
            rq.extend([r.multiplier, r.shift]);
        }
        if clamped > 0 {
            self.changes.push(format!("{clamped} biases clamped to ±2^30 accumulator steps"));
        }
        if silent > 0 {
            self.changes.push(format!(
                "{silent} output channels give only the zero point (their requantization multiplier is under 2^-32)"
            ));
        }
        let data = match layout {
            Layout::K4N16 => packed(&q, channels),
            _ => q,
        };
        let wt = self.g.constant(format!("{base}.w/q"), w_shape, Data::I8(data));
        self.g.tensors[wt].quant = Some(TensorQuant::PerAxis { axis: 0, scales: None });
        self.g.tensors[wt].layout = layout;
        let bt = self.g.constant(format!("{base}.bias/q"), vec![channels], Data::I32(bq));
        let rt = self.g.constant(format!("{base}.requant"), vec![channels, 2], Data::I32(rq));
        Ok([wt, bt, rt])
    }

    /// Output bounds of a fused activation, in the output's int8 values.
    fn bounds(func: u32, a: f32, b: f32, sy: f32, zy: i32) -> Option<(i32, i32)> {
        let q = |v: f32| (zy as f64 + (v as f64 / sy as f64).round()).clamp(-128.0, 127.0) as i32;
        match func {
            f if f == UnaryFn::Identity as u32 => Some((-128, 127)),
            f if f == UnaryFn::Relu as u32 => Some((zy.clamp(-128, 127), 127)),
            f if f == UnaryFn::Clip as u32 => Some((q(a), q(b))),
            _ => None,
        }
    }

    /// Where an int8 product whose f32 form writes `y` with the fused activation `act` (function,
    /// a, b as attribute bits) writes, and the bounds it clamps to. ReLU, clipping and none clamp
    /// in int8. A leaky ReLU with a slope above 0 cannot, but it is invertible: the product writes
    /// a new pre-activation tensor, its range `y`'s with the negative side divided by the slope,
    /// and the leaky ReLU follows in f32 ([`Self::finish_activation`]). Sigmoid and tanh are not
    /// split (they end a model, where float costs little): the layer stays float.
    fn product_output(&mut self, y: TensorId, (func, a, b): (u32, u32, u32)) -> Result<ProductOut, String> {
        let slope = f32::from_bits(a);
        if func == UnaryFn::LeakyRelu as u32 && slope > 0.0 && slope.is_finite() {
            let &(lo, hi) = self.ranges.get(&self.g.tensors[y].name).ok_or("no range for the output")?;
            let inverse = |v: f32| if v < 0.0 { v / slope } else { v };
            let (sy, zy) = affine_params(inverse(lo), inverse(hi));
            let pre = self.g.activation(format!("{}/pre", self.name(y)), DType::F32, self.g.tensors[y].shape.clone());
            return Ok(ProductOut { out: pre, sy, zy, lo: -128, hi: 127, then: Some([func, a, b]) });
        }
        let (sy, zy) = self.qparams(y).ok_or("no range for the output")?;
        let (lo, hi) = Self::bounds(func, f32::from_bits(a), f32::from_bits(b), sy, zy)
            .ok_or("fused sigmoid or tanh (int8 clamps ReLU and clipping only)")?;
        Ok(ProductOut { out: y, sy, zy, lo, hi, then: None })
    }

    /// Pushes the int8 layer `op` (see [`Self::emit`]), then the f32 activation that
    /// [`Self::product_output`] split off, from its pre-activation tensor to `y`.
    fn emit_product(&mut self, op: Op, y: TensorId, p: &ProductOut, yq: TensorId) {
        let name = op.name.clone();
        self.emit(op, p.out, yq);
        if let Some(attrs) = p.then {
            self.ops.push(Op {
                code: OpCode::Unary,
                name: format!("{name}/activation"),
                inputs: vec![Some(p.out)],
                outputs: vec![Some(y)],
                attrs: attrs.to_vec(),
                scratch: None,
            });
        }
    }

    /// A MatMul with constant weights, as a linear layer: input, output, `[N, K]` weight rows (alpha
    /// folded in) and the per-channel bias.
    fn linear(&self, op: &Op) -> Result<Linear, String> {
        let (x, y) = (op.inputs[0].ok_or("no A")?, op.outputs[0].ok_or("no output")?);
        let (bshape, mut b) = f32_const(self.g, op.inputs[1]).ok_or("B is an activation (activation × activation)")?;
        if op.attrs[0] != 0 || bshape.len() != 2 {
            return Err("A transposed, or B not 2-D".into());
        }
        let xs = self.g.tensors[x].shape.clone();
        let ys = self.g.tensors[y].shape.clone();
        if xs.is_empty() || xs.len() != ys.len() || xs[..xs.len() - 1] != ys[..ys.len() - 1] {
            return Err("A is broadcast against B".into());
        }
        let trans_b = op.attrs[1] != 0;
        let (k, n) = if trans_b { (bshape[1], bshape[0]) } else { (bshape[0], bshape[1]) };
        let alpha = f32::from_bits(op.attrs[2]);
        if alpha != 1.0 {
            b.iter_mut().for_each(|v| *v *= alpha);
        }
        // Rows of [N, K]: one per output channel.
        let w: Vec<f32> = if trans_b { b } else { transposed(&b, k, n) };
        let bias = match op.inputs[2] {
            None => None,
            Some(_) => {
                let (_, v) = f32_const(self.g, op.inputs[2]).ok_or("bias is an activation")?;
                Some(match v.len() {
                    l if l == n => v,
                    1 => vec![v[0]; n],
                    _ => return Err("bias is not per output channel".into()),
                })
            }
        };
        Ok(Linear { x, y, k, n, w, bias })
    }

    fn matmul(&mut self, op: &Op) -> Result<Layer, String> {
        if self.dynamic {
            return dynamic::matmul(self, op);
        }
        let Linear { x, y, k, n, w, bias } = self.linear(op)?;
        let (sx, _) = self.qparams(x).ok_or("no range for A")?;
        let p = self.product_output(y, (op.attrs[3], op.attrs[4], op.attrs[5]))?;
        let bytes_f32 = bytes_of(self.g, &op.inputs[1..]);
        let base = (op.name.as_str(), op.inputs.get(1).copied().flatten());
        let [wt, bt, rt] = self.product_constants(base, (&w, vec![n, k], Layout::K4N16), bias, n, (sx, p.sy))?;
        let xq = self.int8_of(x);
        let yq = self.int8_output(p.out, p.sy, p.zy);
        let q = Op {
            code: OpCode::QMatMul,
            name: op.name.clone(),
            inputs: vec![Some(xq), Some(wt), Some(bt), Some(rt)],
            outputs: vec![Some(yq)],
            attrs: vec![p.lo as u32, p.hi as u32],
            scratch: None,
        };
        self.emit_product(q, y, &p, yq);
        let probe = if p.then.is_some() { y } else { yq };
        Ok(self.layer(op, "MatMul", y, probe, bytes_f32, &[wt, bt, rt]))
    }

    fn conv(&mut self, op: &Op) -> Result<Layer, String> {
        let (x, y) = (op.inputs[0].ok_or("no X")?, op.outputs[0].ok_or("no output")?);
        let (wshape, w) = f32_const(self.g, op.inputs[1]).ok_or("weights are an activation")?;
        let m = wshape[0];
        let bias = match op.inputs[2] {
            None => None,
            Some(_) => Some(f32_const(self.g, op.inputs[2]).ok_or("bias is an activation")?.1),
        };
        let (sx, _) = self.qparams(x).ok_or("no range for X")?;
        let at = op.attrs.len() - 3;
        let p = self.product_output(y, (op.attrs[at], op.attrs[at + 1], op.attrs[at + 2]))?;
        let bytes_f32 = bytes_of(self.g, &op.inputs[1..]);
        let base = (op.name.as_str(), op.inputs.get(1).copied().flatten());
        let [wt, bt, rt] = self.product_constants(base, (&w, wshape, Layout::RowMajor), bias, m, (sx, p.sy))?;
        let xq = self.int8_of(x);
        let yq = self.int8_output(p.out, p.sy, p.zy);
        let mut attrs = op.attrs.clone();
        attrs[at..].copy_from_slice(&[0, 0, 0]);
        attrs.extend([p.lo as u32, p.hi as u32]);
        let q = Op {
            code: OpCode::QConv,
            name: op.name.clone(),
            inputs: vec![Some(xq), Some(wt), Some(bt), Some(rt)],
            outputs: vec![Some(yq)],
            attrs,
            scratch: None,
        };
        self.emit_product(q, y, &p, yq);
        let probe = if p.then.is_some() { y } else { yq };
        Ok(self.layer(op, "Conv", y, probe, bytes_f32, &[wt, bt, rt]))
    }

    fn gather(&mut self, op: &Op) -> Result<Layer, String> {
        let (shape, table) = f32_const(self.g, op.inputs[0]).ok_or("the table is an activation")?;
        let y = op.outputs[0].ok_or("no output")?;
        if shape.len() != 2 || op.attrs[0] != 0 || self.g.tensors[y].dtype != DType::F32 {
            return Err("not a 2-D embedding lookup".into());
        }
        let (rows, cols) = (shape[0], shape[1]);
        // One scale per column (embedding dimension): per-row scales would cost 4 bytes per word.
        let (scales, qt) = quantize_weights_per_channel(&transposed(&table, rows, cols), cols);
        if scales.len() != cols {
            return Err("empty table".into());
        }
        let q = transposed(&qt, cols, rows);
        let bytes_f32 = bytes_of(self.g, &op.inputs[..1]);
        let base = self.name(op.inputs[0].ok_or("no table")?);
        let st = self.g.constant(format!("{base}.scales"), vec![cols], Data::F32(scales));
        let qt = self.g.constant(format!("{base}/q"), shape, Data::I8(q));
        self.g.tensors[qt].quant = Some(TensorQuant::PerAxis { axis: 1, scales: Some(st) });
        let mut g_op = op.clone();
        g_op.inputs[0] = Some(qt);
        g_op.inputs.push(Some(st));
        self.ops.push(g_op);
        Ok(self.layer(op, "Gather", y, y, bytes_f32, &[qt, st]))
    }

    fn rnn(&mut self, op: &Op) -> Result<Layer, String> {
        let lstm = op.code == OpCode::Lstm;
        let x = op.inputs[0].ok_or("no X")?;
        let (wshape, w) = f32_const(self.g, op.inputs[1]).ok_or("W is an activation")?;
        let (rshape, r) = f32_const(self.g, op.inputs[2]).ok_or("R is an activation")?;
        let (sx, zx) = self.qparams(x).ok_or("no range for X")?;
        // Hidden states: the calibrated range of Y and Y_h, else the bound of o·tanh(c) and GRU's h.
        let mut h = (f32::INFINITY, f32::NEG_INFINITY);
        for t in op.outputs.iter().take(2).flatten() {
            if let Some(&(lo, hi)) = self.ranges.get(&self.g.tensors[*t].name) {
                h = (h.0.min(lo), h.1.max(hi));
            }
        }
        if !(h.0.is_finite() && h.1.is_finite()) {
            h = (-1.0, 1.0);
        }
        let (sh, zh) = affine_params(h.0, h.1);
        let rows = wshape[0] * wshape[1];
        let (ws, wq) = quantize_weights_per_channel(&w, rows);
        let (rs, rq) = quantize_weights_per_channel(&r, rows);
        if ws.len() != rows || rs.len() != rows {
            return Err("empty matrices".into());
        }
        let bytes_f32 = bytes_of(self.g, &op.inputs[1..3]);
        let dirs = wshape[0];
        let mk = |cx: &mut Self, nm: String, shape: Vec<usize>, q: Vec<i8>, s: Vec<f32>| {
            let st = cx.g.constant(format!("{nm}.scales"), vec![s.len()], Data::F32(s));
            let qt = cx.g.constant(format!("{nm}/q"), shape, Data::I8(packed(&q, rows)));
            cx.g.tensors[qt].quant = Some(TensorQuant::PerAxis { axis: 1, scales: (dirs == 1).then_some(st) });
            cx.g.tensors[qt].layout = Layout::K4N16;
            (qt, st)
        };
        let (wt, wst) = mk(self, format!("{}.W", op.name), wshape, wq, ws);
        let (rt, rst) = mk(self, format!("{}.R", op.name), rshape, rq, rs);
        let mut q = op.clone();
        q.inputs[1] = Some(wt);
        q.inputs[2] = Some(rt);
        q.inputs.extend([Some(wst), Some(rst)]);
        q.attrs.extend([sx.to_bits(), zx as u32, sh.to_bits(), zh as u32]);
        // The int8 kernel needs room for the quantized x and h rows after the f32 part of the
        // scratch; the room for every step's input products (docs/FORMAT.md) the lowering made.
        if let Some(s) = op.scratch {
            let xs = &self.g.tensors[x].shape;
            let batch = if op.attrs[2] == 1 { xs[0] } else { xs[1] };
            let extra = (batch * (xs[2] + op.attrs[1] as usize)).div_ceil(4);
            let len = self.g.tensors[s].len() + extra;
            let name = format!("{}.scratch", op.name);
            q.scratch = Some(self.g.activation(name, DType::F32, vec![len]));
        }
        self.ops.push(q);
        let y = op.outputs.iter().take(2).flatten().next().copied().ok_or("no output")?;
        let kind = if lstm { "LSTM" } else { "GRU" };
        Ok(self.layer(op, kind, y, y, bytes_f32, &[wt, wst, rt, rst]))
    }

    fn layer(
        &mut self,
        op: &Op,
        kind: &'static str,
        y: TensorId,
        probe: TensorId,
        bytes_f32: usize,
        new: &[TensorId],
    ) -> Layer {
        let changes = std::mem::take(&mut self.changes);
        Layer {
            changes,
            name: op.name.clone(),
            kind,
            precision: "int8",
            reason: None,
            output: self.name(y),
            probe: self.name(probe),
            probe_perm: None,
            bytes_f32,
            bytes: new.iter().map(|&t| self.g.tensors[t].byte_len()).sum(),
            sqnr_db: None,
            sqnr_isolated_db: None,
        }
    }
}

/// `q` (`rows` rows, row-major) in the k4n16 layout (docs/FORMAT.md), as the bytes the runtime's
/// packed kernels read.
fn packed(q: &[i8], rows: usize) -> Vec<i8> {
    let k = q.len() / rows.max(1);
    pack_k4n16(q, rows, k).into_iter().map(|b| b as i8).collect()
}

fn kind_of(code: OpCode) -> Option<&'static str> {
    Some(match code {
        OpCode::MatMul => "MatMul",
        OpCode::Conv => "Conv",
        OpCode::Gather => "Gather",
        OpCode::Lstm => "LSTM",
        OpCode::Gru => "GRU",
        _ => return None,
    })
}

/// Layers whose output reaches a logarithm or a square root through element-wise arithmetic,
/// clipping, data movement, sums and non-negative filterbanks only (a mel filterbank before
/// `log(x + 1e-6)`; an STFT before `sqrt(re² + im²)`, or before a power spectrum, a mel filterbank
/// and a log): int8 rounds their smallest values, the very ones a log or a square root magnifies
/// (their slopes grow without bound at 0), to a step or to zero, where the guard that kept a log
/// finite is far below one step (it becomes -inf). They stay float, the reason stated.
///
/// A sum, or a weighted layer whose constant weights are all ≥ 0 (a filterbank, an average), keeps
/// small values small, so the walk goes on through it. It stops at means, maxima and weighted
/// layers with signed weights, so a normalisation (a variance, a mean, before its square root) and
/// an ordinary layer between two others do not count.
pub fn log_sensitive(g: &Graph) -> BTreeSet<String> {
    let non_negative = |i: Option<TensorId>| f32_const(g, i).is_some_and(|(_, w)| w.iter().all(|&v| v >= 0.0));
    // `t` weighed by constant weights that are all ≥ 0 (the other MatMul operand; a Conv's kernel
    // and bias).
    let filterbank = |op: &Op, t: TensorId| {
        let input = |k: usize| op.inputs.get(k).copied().flatten();
        match op.code {
            OpCode::MatMul if input(0) == Some(t) => non_negative(input(1)),
            OpCode::MatMul if input(1) == Some(t) => non_negative(input(0)),
            OpCode::Conv => {
                input(0) == Some(t) && non_negative(input(1)) && (input(2).is_none() || non_negative(input(2)))
            }
            _ => false,
        }
    };
    let reaches_log = |start: TensorId| -> bool {
        let mut todo = vec![start];
        let mut seen = BTreeSet::new();
        while let Some(t) = todo.pop() {
            if !seen.insert(t) {
                continue;
            }
            for op in g.ops.iter().filter(|o| o.inputs.contains(&Some(t))) {
                let func = op.attrs.first().copied().unwrap_or(u32::MAX);
                if op.code == OpCode::Unary && (func == UnaryFn::Log as u32 || func == UnaryFn::Sqrt as u32) {
                    return true;
                }
                let passes_small_values = match op.code {
                    OpCode::Unary => func == UnaryFn::Clip as u32,
                    OpCode::Binary => true,
                    OpCode::Copy | OpCode::Transpose | OpCode::Concat | OpCode::Slice => true,
                    OpCode::Reduce => func == ReduceFn::Sum as u32,
                    OpCode::MatMul | OpCode::Conv => filterbank(op, t),
                    _ => false,
                };
                if passes_small_values {
                    todo.extend(op.outputs.iter().flatten().copied());
                }
            }
        }
        false
    };
    g.ops
        .iter()
        .filter(|o| matches!(o.code, OpCode::MatMul | OpCode::Conv))
        .filter(|o| o.outputs.iter().flatten().any(|&t| reaches_log(t)))
        .map(|o| o.name.clone())
        .collect()
}

/// Why a layer listed in `to_int8`'s `keep_float` stays float, as the report says it.
pub const BUDGET_REASON: &str = "its own SQNR is under --accuracy-budget";
/// The reason for a layer [`log_sensitive`] keeps float.
pub const LOG_REASON: &str = "it feeds a log or a square root, which magnify int8's rounding of small values";

/// Converts `g` to int8 in place (see the module docs) and returns one [`Layer`] per MatMul, Conv,
/// Gather and recurrent op. Ops named in `keep_float` stay float, for the reason given. Run [`crate::passes::to_fp16`]
/// afterwards to store the float layers' weights as fp16.
/// With `dynamic`, MatMuls with constant weights become `DynQMatMul` (activations quantized per row at
/// run time, f32 in and out) rather than `QMatMul`.
pub fn to_int8(
    g: &mut Graph,
    (ranges, weight_scales): (&Ranges, &WeightScales),
    keep_float: &BTreeMap<String, &str>,
    dynamic: bool,
) -> Vec<Layer> {
    let old = std::mem::take(&mut g.ops);
    let mut cx = Cx { g, dynamic, ranges, weight_scales, twin: HashMap::new(), ops: Vec::new(), changes: Vec::new() };
    let mut layers = Vec::new();
    for op in old {
        let Some(kind) = kind_of(op.code) else {
            cx.ops.push(op);
            continue;
        };
        // Gather of non-constant data (or of ids) is data movement, not a layer.
        if op.code == OpCode::Gather && f32_const(cx.g, op.inputs[0]).is_none() {
            cx.ops.push(op);
            continue;
        }
        let done = if let Some(why) = keep_float.get(&op.name) {
            Err(why.to_string())
        } else {
            match op.code {
                OpCode::MatMul => cx.matmul(&op),
                OpCode::Conv => cx.conv(&op),
                OpCode::Gather => cx.gather(&op),
                _ => cx.rnn(&op),
            }
        };
        match done {
            Ok(l) => layers.push(l),
            Err(reason) => {
                // A layer that stays float keeps its values: what its attempt noted goes.
                cx.changes.clear();
                let y = op.outputs.iter().flatten().next().copied();
                let out = y.map(|t| cx.name(t)).unwrap_or_default();
                let bytes_f32 = bytes_of(cx.g, weight_inputs(&op));
                layers.push(Layer {
                    name: op.name.clone(),
                    kind,
                    precision: "float",
                    reason: Some(reason),
                    output: out.clone(),
                    probe: out,
                    probe_perm: None,
                    bytes_f32,
                    bytes: bytes_f32,
                    sqnr_db: None,
                    sqnr_isolated_db: None,
                    changes: Vec::new(),
                });
                cx.ops.push(op);
            }
        }
    }
    let ops = std::mem::take(&mut cx.ops);
    g.ops = ops;
    crate::passes::remove_dead(g);
    if dynamic {
        dynamic::fuse_epilogues(g, &mut layers);
    }
    crate::layout::optimize_int8(g, &mut layers);
    layers
}

/// Fills `bytes` of the float layers after [`crate::passes::to_fp16`] (their weights' final size).
pub fn settle_float_sizes(g: &Graph, layers: &mut [Layer]) {
    for l in layers.iter_mut().filter(|l| l.precision == "float") {
        if let Some(op) = g.ops.iter().find(|o| o.name == l.name) {
            l.bytes = bytes_of(g, weight_inputs(op));
        }
    }
}
