//! Lowering of individual ONNX nodes onto Ferrite ops (attribute words as FORMAT.md specifies).
//! Signal-processing nodes are in signal.rs, quantized ones in quantized.rs (ONNX Runtime's
//! dynamically quantized LSTM in dynamic_lstm.rs), BatchNormalization in norm.rs, OneHot in
//! one_hot.rs.

pub(crate) mod dynamic_lstm;
mod norm;
mod one_hot;
mod quantized;
mod signal;

use super::{const_f32, const_i64, ferrite_dtype, node_name, tensor_data, Attrs, Val};
use crate::ir::{Data, Graph, TensorId};
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::{BinaryFn, CompareFn, LogicFn, OpCode, RnnParams, UnaryFn};
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceFact};

pub(crate) struct Lowering {
    pub g: Graph,
    pub vals: HashMap<String, Val>,
    /// Constant values already turned into weight tensors (by ONNX value name).
    pub materialized: HashMap<String, TensorId>,
    pub opset: i64,
    pub unsupported: Vec<(String, String, String)>,
    pub facts: HashMap<String, InferenceFact>,
    /// The range each QuantizeLinear gives the f32 tensor it quantizes (by tensor name): a QDQ
    /// model's own quantization, which int8 conversion uses instead of calibrating.
    pub qranges: std::collections::BTreeMap<String, (f32, f32)>,
    /// Per-tensor scales of a QDQ model's symmetric int8 weights, by the dequantized weight's name.
    pub wscales: std::collections::BTreeMap<String, f32>,
    /// f32 tensors holding the integers of ONNX Runtime's dynamic quantization (uint8 values, an
    /// integer product): DynamicQuantizeLinear's and MatMulInteger's outputs.
    pub int_valued: std::collections::HashSet<TensorId>,
}

type Lr<T> = std::result::Result<T, String>;

/// Attribute words of a sliding window: strides, pads at the start, pads at the end, dilations.
type Window = (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>);

fn f(v: f32) -> u32 {
    v.to_bits()
}

/// The numpy broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { 1 };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

fn norm_axis(axis: i64, rank: usize) -> Lr<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        Err(format!("axis {axis} out of range for rank {rank}"))
    } else {
        Ok(a as usize)
    }
}

impl Lowering {
    pub fn lower_node(&mut self, node: &pb::NodeProto) {
        if let Err(why) = self.try_lower(node) {
            self.unsupported.push((node_name(node), node.op_type.clone(), why));
            // Keep going so that one error lists every unsupported node: give the outputs
            // placeholder tensors of the inferred type and shape where tract knows them.
            for (i, o) in node.output.iter().enumerate().filter(|(_, o)| !o.is_empty()) {
                if !self.vals.contains_key(o) && self.output(node, i).is_err() {
                    let t = self.g.activation(o.clone(), DType::F32, vec![]);
                    self.vals.insert(o.clone(), Val::Dyn(t));
                }
            }
        }
    }

    fn input(&self, node: &pb::NodeProto, i: usize) -> Lr<Option<Val>> {
        match node.input.get(i) {
            None => Ok(None),
            Some(n) if n.is_empty() => Ok(None),
            Some(n) => self.vals.get(n).cloned().map(Some).ok_or_else(|| format!("input {n} is not defined")),
        }
    }
    fn need(&self, node: &pb::NodeProto, i: usize) -> Lr<Val> {
        self.input(node, i)?.ok_or_else(|| format!("missing input {i}"))
    }
    fn const_input(&self, node: &pb::NodeProto, i: usize) -> Lr<Option<std::sync::Arc<Tensor>>> {
        match self.input(node, i)? {
            None => Ok(None),
            Some(Val::Const(t)) => Ok(Some(t)),
            Some(Val::Dyn(_)) => Err(format!("input {i} must be constant")),
        }
    }

    pub fn shape(&self, v: &Val) -> Vec<usize> {
        match v {
            Val::Const(t) => t.shape().to_vec(),
            Val::Dyn(id) => self.g.tensors[*id].shape.clone(),
        }
    }
    fn dtype(&self, v: &Val) -> Lr<DType> {
        match v {
            Val::Const(t) => ferrite_dtype(t.datum_type()).ok_or_else(|| format!("type {:?}", t.datum_type())),
            Val::Dyn(id) => Ok(self.g.tensors[*id].dtype),
        }
    }

    /// The tensor of a value (constants become weights, once per ONNX name).
    fn tensor(&mut self, node: &pb::NodeProto, i: usize) -> Lr<Option<TensorId>> {
        let Some(v) = self.input(node, i)? else { return Ok(None) };
        let name = node.input[i].clone();
        Ok(Some(match v {
            Val::Dyn(id) => id,
            Val::Const(t) => {
                if let Some(&id) = self.materialized.get(&name) {
                    id
                } else {
                    let data = tensor_data(&t)?;
                    let id = self.g.constant(name.clone(), t.shape().to_vec(), data);
                    self.materialized.insert(name, id);
                    id
                }
            }
        }))
    }
    fn need_tensor(&mut self, node: &pb::NodeProto, i: usize) -> Lr<TensorId> {
        self.tensor(node, i)?.ok_or_else(|| format!("missing input {i}"))
    }

    /// Output `i` of `node`, typed and shaped by tract's inference.
    fn output(&mut self, node: &pb::NodeProto, i: usize) -> Lr<Option<TensorId>> {
        let Some(name) = node.output.get(i).filter(|n| !n.is_empty()) else { return Ok(None) };
        let fact = self.facts.get(name).ok_or_else(|| format!("no inferred fact for {name}"))?;
        let dt = fact.datum_type.concretize().ok_or_else(|| format!("{name}: unknown element type"))?;
        let dtype = ferrite_dtype(dt).ok_or_else(|| format!("{name}: element type {dt:?} is not supported"))?;
        let shape = fact
            .shape
            .as_concrete_finite()
            .ok()
            .flatten()
            .ok_or_else(|| format!("{name}: shape is not concrete after inference"))?
            .to_vec();
        let id = self.g.activation(name.clone(), dtype, shape);
        self.vals.insert(name.clone(), Val::Dyn(id));
        Ok(Some(id))
    }
    fn need_output(&mut self, node: &pb::NodeProto, i: usize) -> Lr<TensorId> {
        self.output(node, i)?.ok_or_else(|| "missing output".to_string())
    }

    fn require_f32(&self, v: &Val, what: &str) -> Lr<()> {
        if self.dtype(v)? == DType::F32 {
            Ok(())
        } else {
            Err(format!("{what} must be float32"))
        }
    }

    fn try_lower(&mut self, node: &pb::NodeProto) -> Lr<()> {
        let a = Attrs(node);
        let name = node_name(node);
        let op = node.op_type.as_str();
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(format!("domain {} is not supported", node.domain));
        }
        let unary = |func: UnaryFn| -> Option<(UnaryFn, f32, f32)> { Some((func, 0.0, 0.0)) };
        let un = match op {
            "Relu" => unary(UnaryFn::Relu),
            "Sigmoid" => unary(UnaryFn::Sigmoid),
            "Tanh" => unary(UnaryFn::Tanh),
            "Sqrt" => unary(UnaryFn::Sqrt),
            "Erf" => unary(UnaryFn::Erf),
            "Exp" => unary(UnaryFn::Exp),
            "Log" => unary(UnaryFn::Log),
            "Neg" => unary(UnaryFn::Neg),
            "Abs" => unary(UnaryFn::Abs),
            "Reciprocal" => unary(UnaryFn::Reciprocal),
            "LeakyRelu" => Some((UnaryFn::LeakyRelu, a.float("alpha").unwrap_or(0.01), 0.0)),
            "Gelu" => match a.string("approximate").as_deref() {
                None | Some("none") => unary(UnaryFn::GeluErf),
                Some("tanh") => unary(UnaryFn::GeluTanh),
                Some(other) => return Err(format!("approximate={other}")),
            },
            _ => None,
        };
        if let Some((func, p1, p2)) = un {
            let x = self.need(node, 0)?;
            self.require_f32(&x, "input")?;
            let xi = self.need_tensor(node, 0)?;
            let o = self.need_output(node, 0)?;
            self.g.push(OpCode::Unary, name, vec![Some(xi)], vec![Some(o)], vec![func as u32, f(p1), f(p2)]);
            return Ok(());
        }
        match op {
            "Clip"
                if self.opset >= 11 && [1, 2].iter().any(|&i| matches!(self.input(node, i), Ok(Some(Val::Dyn(_))))) =>
            {
                // Bounds computed at run time (a spectrogram's top-dB floor): min(max(x, lo), hi).
                let x = self.need_tensor(node, 0)?;
                self.require_f32(&Val::Dyn(x), "input")?;
                let o = self.need_output(node, 0)?;
                let mut steps = Vec::new();
                for (i, func) in [(1, BinaryFn::Max), (2, BinaryFn::Min)] {
                    if let Some(b) = self.tensor(node, i)? {
                        self.require_f32(&Val::Dyn(b), "bound")?;
                        steps.push((func, b));
                    }
                }
                self.binary_chain(&name, x, &steps, o)?;
            }
            "Clip" => {
                let x = self.need(node, 0)?;
                self.require_f32(&x, "input")?;
                let (lo, hi) = if self.opset >= 11 {
                    let lo = self.const_input(node, 1)?.and_then(|t| const_f32(&t)).and_then(|v| v.first().copied());
                    let hi = self.const_input(node, 2)?.and_then(|t| const_f32(&t)).and_then(|v| v.first().copied());
                    (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY))
                } else {
                    (a.float("min").unwrap_or(f32::NEG_INFINITY), a.float("max").unwrap_or(f32::INFINITY))
                };
                let xi = self.need_tensor(node, 0)?;
                let o = self.need_output(node, 0)?;
                self.g.push(
                    OpCode::Unary,
                    name,
                    vec![Some(xi)],
                    vec![Some(o)],
                    vec![UnaryFn::Clip as u32, f(lo), f(hi)],
                );
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" => {
                let func = match op {
                    "Add" => BinaryFn::Add,
                    "Sub" => BinaryFn::Sub,
                    "Mul" => BinaryFn::Mul,
                    "Div" => BinaryFn::Div,
                    "Pow" => BinaryFn::Pow,
                    "Max" => BinaryFn::Max,
                    _ => BinaryFn::Min,
                };
                let n_in = node.input.iter().filter(|i| !i.is_empty()).count();
                if matches!(op, "Max" | "Min") && n_in != 2 && n_in > 0 {
                    return self.lower_variadic(node, name, func, n_in);
                }
                if n_in != 2 {
                    return Err(format!("{n_in} inputs (only 2 are supported)"));
                }
                for i in 0..2 {
                    let v = self.need(node, i)?;
                    self.require_f32(&v, "operands")?;
                }
                let x = self.need_tensor(node, 0)?;
                let y = self.need_tensor(node, 1)?;
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Binary, name, vec![Some(x), Some(y)], vec![Some(o)], vec![func as u32]);
            }
            "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Dropout" => {
                let x = self.need_tensor(node, 0)?;
                if node.output.iter().skip(1).any(|o| !o.is_empty()) && op == "Dropout" {
                    return Err("Dropout mask output".into());
                }
                // Dropout in training mode drops at random: only inference (a copy) is ours.
                let training = match self.input(node, 2)? {
                    Some(Val::Const(t)) => const_i64(&t).is_some_and(|v| v.iter().any(|&x| x != 0)),
                    Some(Val::Dyn(_)) => true,
                    None => false,
                };
                if op == "Dropout" && training {
                    return Err("Dropout in training mode (random); export the model in eval mode".into());
                }
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Copy, name, vec![Some(x)], vec![Some(o)], vec![]);
            }
            "Transpose" => {
                let xv = self.need(node, 0)?;
                let rank = self.shape(&xv).len();
                let perm: Vec<i64> = a.ints("perm").unwrap_or_else(|| (0..rank as i64).rev().collect());
                let x = self.need_tensor(node, 0)?;
                let o = self.need_output(node, 0)?;
                self.g.push(
                    OpCode::Transpose,
                    name,
                    vec![Some(x)],
                    vec![Some(o)],
                    perm.iter().map(|&p| p as u32).collect(),
                );
            }
            "Concat" => {
                let o = self.need_output(node, 0)?;
                let rank = self.g.tensors[o].shape.len();
                let axis = norm_axis(a.int_or("axis", 0), rank)?;
                let mut ins = Vec::new();
                for i in 0..node.input.len() {
                    if let Some(t) = self.tensor(node, i)? {
                        if self.g.tensors[t].shape.get(axis) != Some(&0) {
                            ins.push(Some(t));
                        }
                    }
                }
                self.concat(name, ins, o, axis);
            }
            "Split" => {
                let xv = self.need(node, 0)?;
                let rank = self.shape(&xv).len();
                let axis = norm_axis(a.int_or("axis", 0), rank)?;
                let x = self.need_tensor(node, 0)?;
                let mut outs = Vec::new();
                for i in 0..node.output.len() {
                    outs.push(Some(self.need_output(node, i)?));
                }
                self.g.push(OpCode::Split, name, vec![Some(x)], outs, vec![axis as u32]);
            }
            "Slice" => self.lower_slice(node, name)?,
            "Pad" => self.lower_pad(node, name)?,
            "QuantizeLinear" | "DequantizeLinear" => self.lower_qdq(node, name)?,
            "STFT" => self.lower_stft(node, name)?,
            "DFT" => self.lower_dft(node, name)?,
            "Round" => {
                let x = self.need_tensor(node, 0)?;
                self.require_f32(&Val::Dyn(x), "input")?;
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Unary, name, vec![Some(x)], vec![Some(o)], vec![UnaryFn::Round as u32, 0, 0]);
            }
            "DynamicQuantizeLinear" => self.lower_dynamic_quantize(node, name)?,
            "MatMulInteger" | "ConvInteger" => self.lower_matmul_integer(node, name)?,
            "GatherElements" | "ScatterElements" => self.lower_elements(node, name)?,
            "Size" | "Shape" => {
                // Constant once the input's shape is known (tract does not always fold them).
                let dims: Vec<i64> = self.shape(&self.need(node, 0)?).iter().map(|&d| d as i64).collect();
                let value = if op == "Size" {
                    tract_onnx::prelude::tensor0(dims.iter().product::<i64>())
                } else {
                    let r = dims.len() as i64;
                    let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
                    let (lo, hi) = (clamp(a.int_or("start", 0)), clamp(a.int_or("end", r)));
                    tract_onnx::prelude::tensor1(dims.get(lo..hi.max(lo)).unwrap_or(&[]))
                };
                let out = node.output.first().ok_or("no output")?;
                self.vals.insert(out.clone(), Val::Const(std::sync::Arc::new(value)));
            }
            "Expand" => {
                let x = self.need_tensor(node, 0)?;
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Expand, name, vec![Some(x)], vec![Some(o)], vec![]);
            }
            "Where" => {
                let c = self.need_tensor(node, 0)?;
                let x = self.need_tensor(node, 1)?;
                let y = self.need_tensor(node, 2)?;
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Where, name, vec![Some(c), Some(x), Some(y)], vec![Some(o)], vec![]);
            }
            "Cast" if a.int("to") == Some(9) => self.lower_cast_to_bool(node, name)?,
            "Cast" => {
                let x = self.need_tensor(node, 0)?;
                let o = self.need_output(node, 0)?;
                let code = if self.g.tensors[x].dtype == self.g.tensors[o].dtype { OpCode::Copy } else { OpCode::Cast };
                self.g.push(code, name, vec![Some(x)], vec![Some(o)], vec![]);
            }
            "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" => {
                let func = match node.op_type.as_str() {
                    "Equal" => CompareFn::Equal,
                    "Less" => CompareFn::Less,
                    "LessOrEqual" => CompareFn::LessOrEqual,
                    "Greater" => CompareFn::Greater,
                    _ => CompareFn::GreaterOrEqual,
                };
                let (x, y) = (self.need_tensor(node, 0)?, self.need_tensor(node, 1)?);
                let (dx, dy) = (self.g.tensors[x].dtype, self.g.tensors[y].dtype);
                if dx != dy || !matches!(dx, DType::F32 | DType::I32) {
                    return Err(format!("comparing {dx:?} with {dy:?} (numbers of one type only)"));
                }
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Compare, name, vec![Some(x), Some(y)], vec![Some(o)], vec![func as u32]);
            }
            "And" | "Or" | "Xor" | "Not" => {
                let func = match node.op_type.as_str() {
                    "And" => LogicFn::And,
                    "Or" => LogicFn::Or,
                    "Xor" => LogicFn::Xor,
                    _ => LogicFn::Not,
                };
                let arity = if func == LogicFn::Not { 1 } else { 2 };
                let ins = (0..arity).map(|i| self.need_tensor(node, i).map(Some)).collect::<Lr<Vec<_>>>()?;
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Logic, name, ins, vec![Some(o)], vec![func as u32]);
            }
            "ArgMax" | "ArgMin" => {
                let xv = self.need(node, 0)?;
                let axis = norm_axis(a.int_or("axis", 0), self.shape(&xv).len())?;
                let x = self.need_tensor(node, 0)?;
                if !matches!(self.g.tensors[x].dtype, DType::F32 | DType::I32) {
                    return Err("ArgMax/ArgMin of f32 or integers only".into());
                }
                let o = self.need_output(node, 0)?;
                let attrs = vec![
                    axis as u32,
                    u32::from(node.op_type == "ArgMin"),
                    u32::from(a.int_or("select_last_index", 0) != 0),
                ];
                self.g.push(OpCode::ArgReduce, name, vec![Some(x)], vec![Some(o)], attrs);
            }
            "Gather" => {
                let data = self.need(node, 0)?;
                let rank = self.shape(&data).len();
                let axis = norm_axis(a.int_or("axis", 0), rank)?;
                let d = self.need_tensor(node, 0)?;
                let idx = self.need_tensor(node, 1)?;
                if self.g.tensors[idx].dtype != DType::I32 {
                    return Err("indices must be integers".into());
                }
                let o = self.need_output(node, 0)?;
                self.g.push(OpCode::Gather, name, vec![Some(d), Some(idx)], vec![Some(o)], vec![axis as u32]);
            }
            "MatMul" => {
                let av = self.need(node, 0)?;
                let bv = self.need(node, 1)?;
                self.require_f32(&av, "A")?;
                self.require_f32(&bv, "B")?;
                let a1 = self.shape(&av).len() == 1;
                let b1 = self.shape(&bv).len() == 1;
                let a_t = self.need_tensor(node, 0)?;
                let b_t = self.need_tensor(node, 1)?;
                let o = self.need_output(node, 0)?;
                // Rank-1 operands (numpy semantics): A [K] is [1, K], B [K] is [K, 1], and the
                // output loses those unit axes, so compute with them and reshape after.
                let a_t = self.at_least_2d(a_t, true, &name)?;
                let b_t = self.at_least_2d(b_t, false, &name)?;
                if !a1 && !b1 {
                    self.g.push(
                        OpCode::MatMul,
                        name,
                        vec![Some(a_t), Some(b_t), None],
                        vec![Some(o)],
                        vec![0, 0, f(1.0), 0, 0, 0],
                    );
                } else {
                    let mut t = self.g.tensors[o].shape.clone();
                    if a1 {
                        let at = t.len() - usize::from(!b1);
                        t.insert(at, 1);
                    }
                    if b1 {
                        t.push(1);
                    }
                    let tmp = self.g.activation(format!("{name}.2d"), DType::F32, t);
                    self.g.push(
                        OpCode::MatMul,
                        name.clone(),
                        vec![Some(a_t), Some(b_t), None],
                        vec![Some(tmp)],
                        vec![0, 0, f(1.0), 0, 0, 0],
                    );
                    self.g.push(OpCode::Copy, format!("{name}.reshape"), vec![Some(tmp)], vec![Some(o)], vec![]);
                }
            }
            "Gemm" => {
                let alpha = a.float("alpha").unwrap_or(1.0);
                let beta = a.float("beta").unwrap_or(1.0);
                let ta = a.int_or("transA", 0) != 0;
                let tb = a.int_or("transB", 0) != 0;
                let av = self.need(node, 0)?;
                let bv = self.need(node, 1)?;
                self.require_f32(&av, "A")?;
                self.require_f32(&bv, "B")?;
                let a_t = self.need_tensor(node, 0)?;
                let b_t = self.need_tensor(node, 1)?;
                let bias = match self.input(node, 2)? {
                    None => None,
                    Some(Val::Const(t)) => {
                        let mut v = const_f32(&t).ok_or("bias must be float")?;
                        if beta != 1.0 {
                            v.iter_mut().for_each(|x| *x *= beta);
                        }
                        Some(self.g.constant(format!("{}.bias", node.input[2]), t.shape().to_vec(), Data::F32(v)))
                    }
                    Some(Val::Dyn(t)) if beta == 1.0 => Some(t),
                    Some(Val::Dyn(_)) => return Err("dynamic C with beta != 1".into()),
                };
                let o = self.need_output(node, 0)?;
                self.g.push(
                    OpCode::MatMul,
                    name,
                    vec![Some(a_t), Some(b_t), bias],
                    vec![Some(o)],
                    vec![ta as u32, tb as u32, f(alpha), 0, 0, 0],
                );
            }
            "Conv" => self.lower_conv(node, name)?,
            "BatchNormalization" => self.lower_batchnorm(node, name)?,
            "OneHot" => self.lower_one_hot(node, name)?,
            "Softmax" | "LogSoftmax" => {
                let xv = self.need(node, 0)?;
                self.require_f32(&xv, "input")?;
                let shape = self.shape(&xv);
                let rank = shape.len();
                let log = (op == "LogSoftmax") as u32;
                let default_axis = if self.opset >= 13 { -1 } else { 1 };
                let axis = norm_axis(a.int_or("axis", default_axis), rank)?;
                let x = self.need_tensor(node, 0)?;
                let o = self.need_output(node, 0)?;
                if self.opset >= 13 || axis == rank - 1 {
                    self.g.push(OpCode::Softmax, name, vec![Some(x)], vec![Some(o)], vec![axis as u32, log]);
                } else {
                    // Before opset 13 the input is coerced to 2-D at `axis`.
                    let outer: usize = shape[..axis].iter().product();
                    let inner: usize = shape[axis..].iter().product();
                    let t2 = self.g.activation(format!("{name}.2d"), DType::F32, vec![outer, inner]);
                    let o2 = self.g.activation(format!("{name}.2d.out"), DType::F32, vec![outer, inner]);
                    self.g.push(OpCode::Copy, format!("{name}.flatten"), vec![Some(x)], vec![Some(t2)], vec![]);
                    self.g.push(OpCode::Softmax, name.clone(), vec![Some(t2)], vec![Some(o2)], vec![1, log]);
                    self.g.push(OpCode::Copy, format!("{name}.unflatten"), vec![Some(o2)], vec![Some(o)], vec![]);
                }
            }
            "LayerNormalization" => {
                let xv = self.need(node, 0)?;
                self.require_f32(&xv, "input")?;
                let shape = self.shape(&xv);
                let axis = norm_axis(a.int_or("axis", -1), shape.len())?;
                let eps = a.float("epsilon").unwrap_or(1e-5);
                let inner: usize = shape[axis..].iter().product();
                let x = self.need_tensor(node, 0)?;
                let scale = self.full_param(node, 1, inner)?;
                let bias = if self.input(node, 2)?.is_some() { Some(self.full_param(node, 2, inner)?) } else { None };
                if node.output.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err("Mean/InvStdDev outputs".into());
                }
                let o = self.need_output(node, 0)?;
                self.g.push(
                    OpCode::LayerNorm,
                    name,
                    vec![Some(x), Some(scale), bias],
                    vec![Some(o)],
                    vec![axis as u32, f(eps)],
                );
            }
            "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceSumSquare" => {
                let xv = self.need(node, 0)?;
                self.require_f32(&xv, "input")?;
                let rank = self.shape(&xv).len();
                let func = match op {
                    "ReduceMean" => 0,
                    "ReduceSum" | "ReduceSumSquare" => 1,
                    "ReduceMax" => 2,
                    _ => 3,
                };
                let axes_from_input = op == "ReduceSum" && self.opset >= 13 || self.opset >= 18;
                let mut x = self.need_tensor(node, 0)?;
                if op == "ReduceSumSquare" {
                    // x·x, then the sum (the same f32 products ONNX Runtime sums).
                    let sq = self.g.activation(format!("{name}.square"), DType::F32, self.g.tensors[x].shape.clone());
                    let mul = BinaryFn::Mul as u32;
                    self.g.push(
                        OpCode::Binary,
                        format!("{name}.square"),
                        vec![Some(x), Some(x)],
                        vec![Some(sq)],
                        vec![mul],
                    );
                    x = sq;
                }
                let axes: Option<Vec<i64>> = if axes_from_input {
                    self.const_input(node, 1)?.and_then(|t| const_i64(&t))
                } else {
                    a.ints("axes")
                };
                let axes: Vec<usize> = match axes {
                    Some(v) if !v.is_empty() => v.iter().map(|&x| norm_axis(x, rank)).collect::<Lr<_>>()?,
                    _ if a.int_or("noop_with_empty_axes", 0) != 0 => vec![],
                    _ => (0..rank).collect(),
                };
                let mask = axes.iter().fold(0u32, |m, &x| m | (1 << x));
                let o = self.need_output(node, 0)?;
                if mask == 0 {
                    self.g.push(OpCode::Copy, name, vec![Some(x)], vec![Some(o)], vec![]);
                } else {
                    self.g.push(OpCode::Reduce, name, vec![Some(x)], vec![Some(o)], vec![func, mask]);
                }
            }
            "GlobalAveragePool" | "GlobalMaxPool" => {
                let xv = self.need(node, 0)?;
                let rank = self.shape(&xv).len();
                let mask = (2..rank).fold(0u32, |m, x| m | (1 << x));
                let x = self.need_tensor(node, 0)?;
                let o = self.need_output(node, 0)?;
                let func = if op == "GlobalAveragePool" { 0 } else { 2 };
                self.g.push(OpCode::Reduce, name, vec![Some(x)], vec![Some(o)], vec![func, mask]);
            }
            "AveragePool" | "MaxPool" => self.lower_pool(node, name)?,
            "LSTM" if Attrs(node).floats(dynamic_lstm::W_SCALE).is_some() => self.lower_dynamic_lstm(node, name)?,
            "LSTM" | "GRU" => self.lower_rnn(node, name)?,
            _ => return Err(String::new()),
        }
        Ok(())
    }

    /// A parameter tensor of exactly `n` values (broadcast scalars and short constants are expanded).
    /// Concat of `ins` into `o` along `axis`: a tree of Concats when there are more inputs than
    /// an op may have (an unrolled Scan's steps), each level concatenating runs of its inputs.
    fn concat(&mut self, name: String, mut ins: Vec<Option<TensorId>>, o: TensorId, axis: usize) {
        const MOST: usize = 31; // a runtime op has at most 32 inputs and outputs in all
        let mut level = 0;
        while ins.len() > MOST {
            let mut next = Vec::new();
            for (k, run) in ins.chunks(MOST).enumerate() {
                let mut shape = self.g.tensors[run[0].expect("input")].shape.clone();
                shape[axis] = run.iter().map(|t| self.g.tensors[t.expect("input")].shape[axis]).sum();
                let part = self.g.activation(format!("{name}.l{level}.{k}"), self.g.tensors[o].dtype, shape);
                self.g.push(
                    OpCode::Concat,
                    format!("{name}.l{level}.{k}"),
                    run.to_vec(),
                    vec![Some(part)],
                    vec![axis as u32],
                );
                next.push(Some(part));
            }
            ins = next;
            level += 1;
        }
        self.g.push(OpCode::Concat, name, ins, vec![Some(o)], vec![axis as u32]);
    }

    fn full_param(&mut self, node: &pb::NodeProto, i: usize, n: usize) -> Lr<TensorId> {
        match self.need(node, i)? {
            Val::Const(t) => {
                let v = const_f32(&t).ok_or("parameter must be float")?;
                let full = if v.len() == n {
                    v
                } else if v.len() == 1 {
                    vec![v[0]; n]
                } else {
                    return Err("parameter does not match the normalized shape".into());
                };
                Ok(self.g.constant(node.input[i].clone(), vec![n], Data::F32(full)))
            }
            Val::Dyn(t) if self.g.tensors[t].len() == n => Ok(t),
            Val::Dyn(_) => Err("dynamic parameter of the wrong size".into()),
        }
    }

    /// Gives a rank-1 operand a unit axis (A: [1, K]; B: [K, 1]).
    fn at_least_2d(&mut self, t: TensorId, is_a: bool, name: &str) -> Lr<TensorId> {
        let shape = self.g.tensors[t].shape.clone();
        if shape.len() >= 2 {
            return Ok(t);
        }
        let new_shape = if is_a { vec![1, shape[0]] } else { vec![shape[0], 1] };
        if let Some(d) = self.g.tensors[t].data.clone() {
            return Ok(self.g.constant(format!("{}.2d", self.g.tensors[t].name), new_shape, d));
        }
        let o = self.g.activation(format!("{name}.{}2d", if is_a { "a" } else { "b" }), DType::F32, new_shape);
        self.g.push(
            OpCode::Copy,
            format!("{name}.{}2d", if is_a { "a" } else { "b" }),
            vec![Some(t)],
            vec![Some(o)],
            vec![],
        );
        Ok(o)
    }

    /// Max or Min of one or of three and more inputs (with broadcasting): a chain of binary ops.
    fn lower_variadic(&mut self, node: &pb::NodeProto, name: String, func: BinaryFn, n: usize) -> Lr<()> {
        for i in 0..n {
            let v = self.need(node, i)?;
            self.require_f32(&v, "operands")?;
        }
        let o = self.need_output(node, 0)?;
        let first = self.need_tensor(node, 0)?;
        if n == 1 {
            self.g.push(OpCode::Copy, name, vec![Some(first)], vec![Some(o)], vec![]);
            return Ok(());
        }
        let steps = (1..n).map(|i| self.need_tensor(node, i).map(|t| (func, t))).collect::<Lr<Vec<_>>>()?;
        self.binary_chain(&name, first, &steps, o)
    }

    /// `out = f_n(… f_1(start, t_1) …, t_n)`: one Binary op per step, the intermediate results
    /// new tensors of the broadcast shape.
    fn binary_chain(&mut self, name: &str, start: TensorId, steps: &[(BinaryFn, TensorId)], out: TensorId) -> Lr<()> {
        let mut cur = start;
        for (k, &(func, t)) in steps.iter().enumerate() {
            let dst = if k + 1 == steps.len() {
                out
            } else {
                let (a, b) = (self.g.tensors[cur].shape.clone(), self.g.tensors[t].shape.clone());
                let shape = broadcast(&a, &b).ok_or("inputs do not broadcast")?;
                self.g.activation(format!("{name}.{}", k + 1), DType::F32, shape)
            };
            let ins = vec![Some(cur), Some(t)];
            self.g.push(OpCode::Binary, format!("{name}.{}", k + 1), ins, vec![Some(dst)], vec![func as u32]);
            cur = dst;
        }
        Ok(())
    }

    /// ONNX Cast to bool: true where the value is not zero (a plain conversion would truncate 0.5
    /// to 0). From bool it is a copy; from u8, `Not(Not(x))`; from numbers, `Not(x == 0)`.
    fn lower_cast_to_bool(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let from = node.input.first().and_then(|i| self.facts.get(i)).and_then(|f| f.datum_type.concretize());
        let x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        let shape = self.g.tensors[x].shape.clone();
        match (from, self.g.tensors[x].dtype) {
            (Some(DatumType::Bool), _) => {
                self.g.push(OpCode::Copy, name, vec![Some(x)], vec![Some(o)], vec![]);
            }
            (_, DType::U8) => {
                let t = self.g.activation(format!("{name}.not"), DType::U8, shape);
                self.g.push(
                    OpCode::Logic,
                    format!("{name}.not"),
                    vec![Some(x)],
                    vec![Some(t)],
                    vec![LogicFn::Not as u32],
                );
                self.g.push(OpCode::Logic, name, vec![Some(t)], vec![Some(o)], vec![LogicFn::Not as u32]);
            }
            (_, dt @ (DType::F32 | DType::I32)) => {
                let zero = match dt {
                    DType::F32 => Data::F32(vec![0.0]),
                    _ => Data::I32(vec![0]),
                };
                let z = self.g.constant(format!("{name}.zero"), vec![], zero);
                let t = self.g.activation(format!("{name}.is_zero"), DType::U8, shape);
                let eq = CompareFn::Equal as u32;
                self.g.push(
                    OpCode::Compare,
                    format!("{name}.is_zero"),
                    vec![Some(x), Some(z)],
                    vec![Some(t)],
                    vec![eq],
                );
                self.g.push(OpCode::Logic, name, vec![Some(t)], vec![Some(o)], vec![LogicFn::Not as u32]);
            }
            (_, dt) => return Err(format!("Cast of {dt:?} to bool")),
        }
        Ok(())
    }

    /// ONNX Pad (opset 2-21): pads from the attribute (before 11) or a constant input; negative
    /// pads crop (a Slice first); `axes` (18+) and `wrap` are refused.
    fn lower_pad(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let xv = self.need(node, 0)?;
        let rank = self.shape(&xv).len();
        let dtype = self.dtype(&xv)?;
        let (pads, value) = if self.opset < 11 {
            (a.ints("pads").ok_or("no pads")?, a.float("value").unwrap_or(0.0))
        } else {
            let pads = self.const_input(node, 1)?.ok_or("no pads")?;
            let pads = const_i64(&pads).ok_or("pads must be integers")?;
            let value = match self.const_input(node, 2)? {
                Some(t) => *const_f32(&t).and_then(|v| v.first().copied()).as_ref().ok_or("bad constant_value")?,
                None => 0.0,
            };
            (pads, value)
        };
        // tract 0.23.9 infers no shape for Pad with `axes` (opset 18): refused until we infer it.
        if self.input(node, 3)?.is_some() {
            return Err("Pad with `axes` is not supported yet".into());
        }
        let axes: Vec<usize> = (0..rank).collect();
        if pads.len() != 2 * axes.len() {
            return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
        }

        let mode = match a.string("mode").as_deref() {
            None | Some("constant") => 0u32,
            Some("reflect") => 1,
            Some("edge") => 2,
            Some(m) => return Err(format!("mode={m}")),
        };
        let bits = match dtype {
            DType::F32 => f(value),
            DType::I32 => value as i32 as u32,
            DType::U8 => value as u8 as u32,
            other => return Err(format!("Pad of {other:?}")),
        };
        let mut begin = vec![0u32; rank];
        for (k, &ax) in axes.iter().enumerate() {
            begin[ax] = u32::try_from(pads[k].max(0)).map_err(|_| "pad too large")?;
        }
        let mut x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        // Negative pads crop: a Slice first, then the positive pads.
        if pads.iter().any(|&p| p < 0) {
            let xs = self.g.tensors[x].shape.clone();
            let crop = |k: usize| (-pads[k]).max(0) as usize;
            let mut kept = xs.clone();
            for (k, &ax) in axes.iter().enumerate() {
                kept[ax] = xs[ax]
                    .checked_sub(crop(k) + crop(k + axes.len()))
                    .filter(|&d| d > 0)
                    .ok_or("pads crop the whole axis")?;
            }
            let mut attrs: Vec<u32> = vec![0; rank];
            for (k, &ax) in axes.iter().enumerate() {
                attrs[ax] = crop(k) as u32;
            }
            attrs.extend(std::iter::repeat_n(1u32, rank));
            let c = self.g.activation(format!("{name}.crop"), dtype, kept);
            self.g.push(OpCode::Slice, format!("{name}.crop"), vec![Some(x)], vec![Some(c)], attrs);
            x = c;
            if pads.iter().all(|&p| p <= 0) {
                self.g.push(OpCode::Copy, name, vec![Some(x)], vec![Some(o)], vec![]);
                return Ok(());
            }
        }
        let mut attrs = vec![mode, bits];
        attrs.extend(begin);
        self.g.push(OpCode::Pad, name, vec![Some(x)], vec![Some(o)], attrs);
        Ok(())
    }

    fn lower_slice(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let xv = self.need(node, 0)?;
        let shape = self.shape(&xv);
        let rank = shape.len();
        let (starts, ends, axes, steps) = if self.opset >= 10 {
            let g = |i| -> Lr<Option<Vec<i64>>> { Ok(self.const_input(node, i)?.and_then(|t| const_i64(&t))) };
            (g(1)?.ok_or("starts must be constant")?, g(2)?.ok_or("ends must be constant")?, g(3)?, g(4)?)
        } else {
            (a.ints("starts").ok_or("starts")?, a.ints("ends").ok_or("ends")?, a.ints("axes"), None)
        };
        let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps: Vec<i64> = steps.unwrap_or_else(|| vec![1; starts.len()]);
        let mut st = vec![0u32; rank];
        let mut sp = vec![1u32; rank];
        for (k, &ax) in axes.iter().enumerate() {
            let ax = norm_axis(ax, rank)?;
            let d = shape[ax] as i64;
            let step = *steps.get(k).ok_or("steps")?;
            if step == 0 {
                return Err("zero step".into());
            }
            let mut s = *starts.get(k).ok_or("starts")?;
            if s < 0 {
                s += d;
            }
            let s = if step > 0 { s.clamp(0, d) } else { s.clamp(0, d - 1) };
            let _ = ends.get(k).ok_or("ends")?; // the output shape (from inference) gives the count
            st[ax] = s as u32;
            sp[ax] = i32::try_from(step).map_err(|_| "step too large")? as u32;
        }
        let x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        // Starting past the end only happens for empty outputs; keep the runtime's rule (start < dim).
        for (ax, s) in st.iter_mut().enumerate() {
            if self.g.tensors[o].shape[ax] == 0 || *s as usize >= shape[ax] {
                *s = 0;
            }
        }
        let mut attrs = st;
        attrs.extend(sp);
        self.g.push(OpCode::Slice, name, vec![Some(x)], vec![Some(o)], attrs);
        Ok(())
    }

    fn spatial(&self, node: &pb::NodeProto, in_shape: &[usize], kernel: &[usize]) -> Lr<Window> {
        let a = Attrs(node);
        let r = kernel.len();
        let strides: Vec<usize> =
            a.ints("strides").map(|v| v.iter().map(|&x| x as usize).collect()).unwrap_or(vec![1; r]);
        let dil: Vec<usize> =
            a.ints("dilations").map(|v| v.iter().map(|&x| x as usize).collect()).unwrap_or(vec![1; r]);
        if strides.len() != r || dil.len() != r {
            return Err("strides/dilations rank".into());
        }
        let auto_pad = a.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
        let (mut pb_, mut pe) = (vec![0usize; r], vec![0usize; r]);
        match auto_pad.as_str() {
            "NOTSET" => {
                if let Some(p) = a.ints("pads") {
                    if p.len() != 2 * r || p.iter().any(|&x| x < 0) {
                        return Err("pads".into());
                    }
                    for i in 0..r {
                        pb_[i] = p[i] as usize;
                        pe[i] = p[r + i] as usize;
                    }
                }
            }
            "VALID" => {}
            "SAME_UPPER" | "SAME_LOWER" => {
                for i in 0..r {
                    let inp = in_shape[2 + i];
                    let out = inp.div_ceil(strides[i]);
                    let span = (kernel[i] - 1) * dil[i] + 1;
                    let total = ((out - 1) * strides[i] + span).saturating_sub(inp);
                    let small = total / 2;
                    if auto_pad == "SAME_UPPER" {
                        pb_[i] = small;
                        pe[i] = total - small;
                    } else {
                        pb_[i] = total - small;
                        pe[i] = small;
                    }
                }
            }
            other => return Err(format!("auto_pad={other}")),
        }
        let c = |v: &[usize]| v.iter().map(|&x| x as u32).collect();
        Ok((c(&strides), c(&pb_), c(&pe), c(&dil)))
    }

    fn lower_conv(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let xv = self.need(node, 0)?;
        let wv = self.need(node, 1)?;
        self.require_f32(&xv, "X")?;
        self.require_f32(&wv, "W")?;
        let xs = self.shape(&xv);
        let ws = self.shape(&wv);
        let r = xs.len().checked_sub(2).ok_or("input rank")?;
        if r != 1 && r != 2 {
            return Err(format!("{r}-D convolution (1-D and 2-D are supported)"));
        }
        let kernel: Vec<usize> = ws[2..].to_vec();
        let (s, pb_, pe, d) = self.spatial(node, &xs, &kernel)?;
        let group = a.int_or("group", 1) as u32;
        let x = self.need_tensor(node, 0)?;
        let w = self.need_tensor(node, 1)?;
        let b = self.tensor(node, 2)?;
        let o = self.need_output(node, 0)?;
        let mut attrs = vec![r as u32, group];
        attrs.extend(s);
        attrs.extend(pb_);
        attrs.extend(pe);
        attrs.extend(d);
        attrs.extend([0, 0, 0]);
        self.g.push(OpCode::Conv, name, vec![Some(x), Some(w), b], vec![Some(o)], attrs);
        Ok(())
    }

    fn lower_pool(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let xv = self.need(node, 0)?;
        self.require_f32(&xv, "input")?;
        let xs = self.shape(&xv);
        let kernel: Vec<usize> = a.ints("kernel_shape").ok_or("kernel_shape")?.iter().map(|&x| x as usize).collect();
        let r = kernel.len();
        if r != 1 && r != 2 || xs.len() != r + 2 {
            return Err("only 1-D and 2-D pooling".into());
        }
        if node.output.get(1).is_some_and(|o| !o.is_empty()) {
            return Err("MaxPool indices output".into());
        }
        let (s, pb_, pe, d) = self.spatial(node, &xs, &kernel)?;
        let x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        // ceil_mode: supported when it does not change the output (checked by the runtime's shape rule).
        let max = (node.op_type == "MaxPool") as u32;
        let mut attrs = vec![max, r as u32];
        attrs.extend(kernel.iter().map(|&k| k as u32));
        attrs.extend(s);
        attrs.extend(pb_);
        attrs.extend(pe);
        attrs.extend(d);
        attrs.push(a.int_or("count_include_pad", 0) as u32);
        if a.int_or("ceil_mode", 0) != 0 {
            let floor_ok = {
                let st: Vec<usize> = attrs[2 + r..2 + 2 * r].iter().map(|&x| x as usize).collect();
                let pads: Vec<usize> =
                    (0..r).map(|i| attrs[2 + 2 * r + i] as usize + attrs[2 + 3 * r + i] as usize).collect();
                let dl: Vec<usize> = attrs[2 + 4 * r..2 + 5 * r].iter().map(|&x| x as usize).collect();
                (0..r).all(|i| {
                    let span = (kernel[i] - 1) * dl[i] + 1;
                    let fl = (xs[2 + i] + pads[i]).saturating_sub(span) / st[i] + 1;
                    fl == self.g.tensors[o].shape[2 + i]
                })
            };
            if !floor_ok {
                return Err("ceil_mode=1 changes the output size".into());
            }
        }
        self.g.push(OpCode::Pool, name, vec![Some(x)], vec![Some(o)], attrs);
        Ok(())
    }

    fn lower_rnn(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let lstm = node.op_type == "LSTM";
        let xv = self.need(node, 0)?;
        self.require_f32(&xv, "X")?;
        let direction = match a.string("direction").as_deref() {
            None | Some("forward") => 0u32,
            Some("reverse") => 1,
            Some("bidirectional") => 2,
            Some(d) => return Err(format!("direction={d}")),
        };
        let hidden = a.int("hidden_size").ok_or("hidden_size")? as usize;
        let layout = a.int_or("layout", 0) as u32;
        let clip = a.float("clip").unwrap_or(0.0);
        if let Some(acts) = a.strings("activations") {
            let want: &[&str] = if lstm { &["Sigmoid", "Tanh", "Tanh"] } else { &["Sigmoid", "Tanh"] };
            let dirs = if direction == 2 { 2 } else { 1 };
            let ok = acts.len() == want.len() * dirs
                && acts.iter().enumerate().all(|(i, s)| s.eq_ignore_ascii_case(want[i % want.len()]));
            if !ok {
                return Err(format!("activations {acts:?} (only the defaults are supported)"));
            }
        }
        if lstm && a.int_or("input_forget", 0) != 0 {
            return Err("input_forget=1".into());
        }
        let xs = self.shape(&xv);
        let seq = if layout == 0 { xs[0] } else { xs[1] };
        let batch = if layout == 0 { xs[1] } else { xs[0] };
        // sequence_lens: fine when it is constant and every sequence is full length.
        if let Some(v) = self.input(node, 4)? {
            match v {
                Val::Const(t) if const_i64(&t).is_some_and(|l| l.iter().all(|&x| x as usize == seq)) => {}
                _ => return Err("sequence_lens shorter than the sequence".into()),
            }
        }
        let x = self.need_tensor(node, 0)?;
        let w = self.need_tensor(node, 1)?;
        let r = self.need_tensor(node, 2)?;
        let b = self.tensor(node, 3)?;
        let h0 = self.tensor(node, 5)?;
        let mut inputs = vec![Some(x), Some(w), Some(r), b, h0];
        if lstm {
            inputs.push(self.tensor(node, 6)?);
            inputs.push(self.tensor(node, 7)?);
        }
        let n_out = if lstm { 3 } else { 2 };
        let mut outputs = Vec::new();
        for i in 0..n_out {
            outputs.push(self.output(node, i)?);
        }
        let attrs = if lstm {
            vec![direction, hidden as u32, layout, f(clip)]
        } else {
            vec![direction, hidden as u32, layout, a.int_or("linear_before_reset", 0) as u32, f(clip)]
        };
        let dirs = if direction == 2 { 2 } else { 1 };
        let input = xs[2];
        let p = RnnParams {
            lstm,
            seq,
            batch,
            input,
            hidden,
            dirs,
            reverse_only: direction == 1,
            batch_first: layout == 1,
            linear_before_reset: false,
            clip,
            int8: None,
            packed: false,
            xproj: false,
        };
        // Room for every step's input products too (one GEMM over the sequence: docs/FORMAT.md).
        let scratch = self.g.activation(format!("{name}.scratch"), DType::F32, vec![p.scratch_len() + p.xproj_len()]);
        let k = self.g.push(if lstm { OpCode::Lstm } else { OpCode::Gru }, name, inputs, outputs, attrs);
        self.g.ops[k].scratch = Some(scratch);
        Ok(())
    }
}
