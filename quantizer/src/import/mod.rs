//! ONNX import. tract-onnx parses the file and infers every tensor's type and shape (and folds
//! what is constant, shape arithmetic included); we then walk the ONNX nodes in their (topological)
//! file order and lower each one that still computes something at run time onto Ferrite's op set.
//! Working on ONNX nodes rather than on tract's decluttered graph keeps ONNX semantics (LSTM, GRU,
//! Gemm...) intact: our ops are specified against the ONNX spec, not against tract internals.

mod attrs;
mod contain;
mod dynamic;
mod lower;
mod prepare;
mod scan;

use crate::error::{Error, Result};
use crate::ir::{Data, Graph, TensorId};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceOp};

pub use attrs::Attrs;
use contain::contained;
pub use contain::quiet_contained_panics;
pub use prepare::FixedValue;

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Shapes for named inputs (`--input-shape NAME=D1,D2,...`; empty for a scalar).
    pub input_shapes: Vec<(String, Vec<usize>)>,
    /// Inputs frozen to constants (`--fix NAME=VALUE|FILE.npy`).
    pub fixed: Vec<(String, FixedValue)>,
    /// ONNX Runtime's dynamic quantization read as its weights only (for int8 conversion, which
    /// keeps the weights and calibrates the activations): dynamic.rs.
    pub dynamic_as_weights: bool,
    /// The size a symbolic first dimension (the batch) takes where `input_shapes` does not give
    /// the input's shape (`--batch`; 0 or 1: one example at a time).
    pub batch: usize,
}

/// A value during lowering: a constant (folded by tract) or a run-time tensor of the graph.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Const(Arc<Tensor>),
    Dyn(TensorId),
}

/// What an import returns.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The lowered graph (f32 weights).
    pub graph: Graph,
    /// Default-domain opset of the source.
    pub opset: i64,
    /// Producer recorded in the ONNX file.
    pub producer: String,
    /// Size of the source file in bytes.
    pub source_bytes: u64,
    /// CRC-32 of the source file (provenance in the model card).
    pub source_crc32: u32,
    /// SHA-256 of the ONNX bytes, in hex (the source's identity in the model card).
    pub source_sha256: String,
    /// Inputs frozen to constants (`--fix`).
    pub fixed: Vec<(String, FixedValue)>,
    /// `If` nodes whose condition was known: only their branch taken is kept.
    pub ifs_taken: usize,
    /// `If` nodes whose condition depends on the data: both branches run, `Where` selects.
    pub ifs_selected: usize,
    /// Scan nodes unrolled into their steps.
    pub scans_unrolled: usize,
    /// A QDQ model's own quantization: the range its QuantizeLinear nodes give each f32 tensor.
    pub model_ranges: std::collections::BTreeMap<String, (f32, f32)>,
    /// A QDQ model's per-tensor weight scales (symmetric int8 weights), by weight name.
    pub model_weight_scales: std::collections::BTreeMap<String, f32>,
}

/// The scale of a DequantizeLinear of a constant int8 weight with a zero point of 0 and one scale
/// for the whole tensor (per-channel scales are max|w|/127 per channel, which int8 conversion
/// computes alike).
fn weight_scale(cx: &lower::Lowering, node: &pb::NodeProto) -> Option<f32> {
    let konst = |i: usize| match node.input.get(i).and_then(|n| cx.vals.get(n)) {
        Some(Val::Const(t)) => Some(t.clone()),
        _ => None,
    };
    let q = konst(0)?;
    if q.datum_type() != DatumType::I8 {
        return None;
    }
    let s = const_f32(&*konst(1)?).filter(|v| v.len() == 1)?[0];
    let zero = konst(2).map_or(Some(true), |z| const_i64(&z).map(|v| v.iter().all(|&x| x == 0)))?;
    (zero && s.is_finite() && s > 0.0).then_some(s)
}

/// Nested `If`s come up one level per round; past this many the graph is refused.
const MAX_IF_ROUNDS: usize = 16;

#[derive(Default)]
struct IfCount {
    rounds: usize,
    taken: usize,
    selected: usize,
    /// Scan nodes unrolled (scan.rs).
    scans: usize,
}

/// The truth of a condition tensor (one element), if it has one.
fn truth(t: &Tensor) -> Option<bool> {
    if t.len() != 1 {
        return None;
    }
    let c = t.cast_to::<f64>().ok()?;
    Some(c.try_as_plain_ram().ok()?.as_slice::<f64>().ok()?[0] != 0.0)
}

fn tract_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Onnx { path: path.to_owned(), message: e.to_string() }
}

/// Runs a call into tract with its panics contained (`what` says which stage or node).
fn guard<T>(path: &Path, what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Result<T> {
    contained(f).map_err(|message| Error::Contained { path: path.to_owned(), what: what(), message })
}

/// Maps a tract datum type onto a Ferrite activation dtype.
pub(crate) fn ferrite_dtype(dt: DatumType) -> Option<ferrite_runtime::format::DType> {
    use ferrite_runtime::format::DType;
    Some(match dt {
        DatumType::F32 => DType::F32,
        DatumType::I64 | DatumType::I32 | DatumType::I16 | DatumType::I8 | DatumType::U16 => DType::I32,
        // tract's inference types an int64 computed at run time (a Cast of data) as a dimension.
        DatumType::TDim => DType::I32,
        DatumType::Bool | DatumType::U8 => DType::U8,
        _ => return None,
    })
}

/// Converts a tract constant to Ferrite data (f32, i32 with range check, or u8).
pub(crate) fn tensor_data(t: &Tensor) -> std::result::Result<Data, String> {
    let dt = t.datum_type();
    match dt {
        DatumType::F32 | DatumType::F64 | DatumType::F16 => {
            let c = t.cast_to::<f32>().map_err(|e| e.to_string())?;
            Ok(Data::F32(
                c.try_as_plain_ram().map_err(|e| e.to_string())?.as_slice::<f32>().map_err(|e| e.to_string())?.to_vec(),
            ))
        }
        DatumType::Bool | DatumType::U8 => {
            let c = t.cast_to::<u8>().map_err(|e| e.to_string())?;
            Ok(Data::U8(
                c.try_as_plain_ram().map_err(|e| e.to_string())?.as_slice::<u8>().map_err(|e| e.to_string())?.to_vec(),
            ))
        }
        DatumType::I64
        | DatumType::I32
        | DatumType::I16
        | DatumType::I8
        | DatumType::U16
        | DatumType::U32
        | DatumType::TDim => {
            let c = t.cast_to::<i64>().map_err(|e| e.to_string())?;
            let v =
                c.try_as_plain_ram().map_err(|e| e.to_string())?.as_slice::<i64>().map_err(|e| e.to_string())?.to_vec();
            let v: std::result::Result<Vec<i32>, _> = v.iter().map(|&x| i32::try_from(x)).collect();
            Ok(Data::I32(v.map_err(|_| "integer constant does not fit in i32".to_string())?))
        }
        other => Err(format!("constant of type {other:?} is not supported")),
    }
}

/// Reads a constant as i64 values (shapes, axes, indices).
pub(crate) fn const_i64(t: &Tensor) -> Option<Vec<i64>> {
    let c = t.cast_to::<i64>().ok()?;
    Some(c.try_as_plain_ram().ok()?.as_slice::<i64>().ok()?.to_vec())
}

/// Reads a constant as f32 values.
pub(crate) fn const_f32(t: &Tensor) -> Option<Vec<f32>> {
    let c = t.cast_to::<f32>().ok()?;
    Some(c.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec())
}

/// Imports the ONNX model at `path`.
pub fn import_onnx(path: &Path, opts: &ImportOptions) -> Result<Imported> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    import_bytes(path, &bytes, opts)
}

/// Imports an ONNX model from its bytes (`path` names it in messages; external data is looked
/// for beside it).
pub fn import_bytes(path: &Path, bytes: &[u8], opts: &ImportOptions) -> Result<Imported> {
    let onnx = tract_onnx::onnx();
    let proto: pb::ModelProto =
        guard(path, || "decoding the protobuf".into(), || onnx.proto_model_for_read(&mut &*bytes))?
            .map_err(|e| tract_err(path, format!("{e:#}")))?;
    let mut imported = import_proto(path, &proto, opts)?;
    imported.source_bytes = bytes.len() as u64;
    imported.source_crc32 = crc32fast::hash(bytes);
    imported.source_sha256 = {
        use sha2::Digest;
        sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    Ok(imported)
}

/// tract's model of `proto` with every input's type and shape set: declared, or from
/// `--input-shape`, `--batch` (else 1) for a symbolic first dimension.
type Typed = (tract_onnx::model::ParseResult, InferenceModel, Vec<(String, DatumType, Vec<usize>)>);
fn typed_model(
    path: &Path,
    onnx: &tract_onnx::model::Onnx,
    proto: &pb::ModelProto,
    dir: Option<&str>,
    opts: &ImportOptions,
) -> Result<Typed> {
    let parsed = guard(path, || "parsing the graph".into(), || onnx.parse(proto, dir))?
        .map_err(|e| tract_err(path, format!("{e:#}")))?;
    let mut model = parsed.model.clone();
    // Fix every input's shape: declared, or from --input-shape, the batch for a symbolic first dim.
    // A shape given for a fixed input was used by `--fix` already.
    let mut used_shapes: Vec<bool> =
        opts.input_shapes.iter().map(|(n, _)| opts.fixed.iter().any(|(f, _)| f == n)).collect();
    let input_outlets = model.input_outlets().map_err(|e| tract_err(path, e))?.to_vec();
    let mut input_facts = Vec::new();
    for (ix, outlet) in input_outlets.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        // tract makes a name no node computes into an input: say what it is.
        if !proto.graph.as_ref().is_some_and(|g| g.input.iter().any(|i| i.name == name)) {
            return Err(Error::Graph {
                path: path.to_owned(),
                message: format!("{name} is read by a node but is no input, initializer or node output"),
            });
        }
        let fact = model.input_fact(ix).map_err(|e| tract_err(path, e))?.clone();
        let dt = fact.datum_type.concretize().ok_or_else(|| Error::InputShape {
            path: path.to_owned(),
            message: format!("input {name} has no element type"),
        })?;
        let declared: Vec<Option<usize>> =
            fact.shape.dims().map(|d| d.concretize().and_then(|d| d.to_i64().ok()).map(|d| d as usize)).collect();
        let given = opts.input_shapes.iter().position(|(n, _)| *n == name);
        let shape: Vec<usize> = if let Some(gi) = given {
            used_shapes[gi] = true;
            let s = &opts.input_shapes[gi].1;
            if !fact.shape.is_open() && s.len() != declared.len() {
                return Err(Error::InputShape {
                    path: path.to_owned(),
                    message: format!("{name}: model declares rank {}, --input-shape gives {}", declared.len(), s.len()),
                });
            }
            for (i, (d, g)) in declared.iter().zip(s).enumerate() {
                if let Some(d) = d {
                    if d != g {
                        return Err(Error::InputShape {
                            path: path.to_owned(),
                            message: format!(
                                "{name}: dimension {i} is fixed to {d} in the model, --input-shape gives {g}"
                            ),
                        });
                    }
                }
            }
            s.clone()
        } else {
            if fact.shape.is_open() {
                return Err(Error::InputShape {
                    path: path.to_owned(),
                    message: format!("{name} has unknown rank; pass --input-shape {name}=D1,D2,..."),
                });
            }
            let symbolic: Vec<usize> =
                declared.iter().enumerate().filter(|(_, d)| d.is_none()).map(|(i, _)| i).collect();
            if symbolic.iter().any(|&i| i != 0) {
                return Err(Error::InputShape {
                    path: path.to_owned(),
                    message: format!(
                        "{name} has symbolic dimension(s) {symbolic:?}; pass --input-shape {name}=D1,D2,..."
                    ),
                });
            }
            if opts.batch > 1 && declared.first().is_some_and(Option::is_some) {
                return Err(Error::InputShape {
                    path: path.to_owned(),
                    message: format!(
                        "--batch {}: input {name} has a fixed first dimension ({:?}), not a batch one",
                        opts.batch, declared
                    ),
                });
            }
            declared.iter().map(|d| d.unwrap_or(opts.batch.max(1))).collect()
        };
        model.set_input_fact(ix, InferenceFact::dt_shape(dt, &*shape)).map_err(|e| tract_err(path, e))?;
        input_facts.push((name, dt, shape));
    }
    if let Some(i) = used_shapes.iter().position(|u| !u) {
        return Err(Error::InputShape {
            path: path.to_owned(),
            message: format!("--input-shape names {}, which is not an input of the model", opts.input_shapes[i].0),
        });
    }
    Ok((parsed, model, input_facts))
}

/// Imports an already parsed ONNX model (`path` is used for messages and external data).
pub fn import_proto(path: &Path, proto: &pb::ModelProto, opts: &ImportOptions) -> Result<Imported> {
    let onnx = tract_onnx::onnx();
    let dir = path.parent().map(|p| p.to_string_lossy().into_owned());
    let mut proto = proto.clone();
    let graph = proto.graph.as_mut().ok_or_else(|| tract_err(path, "no graph"))?;
    for (name, value) in &opts.fixed {
        let shape = opts.input_shapes.iter().find(|(n, _)| n == name).map(|(_, s)| &s[..]);
        prepare::fix_input(graph, name, value, shape)
            .map_err(|message| Error::InputShape { path: path.to_owned(), message })?;
    }
    prepare::forget_symbols(graph);
    prepare::qoperator_to_qdq(graph);
    if opts.dynamic_as_weights {
        dynamic::dynamic_to_weight_qdq(graph);
    }
    dynamic::dynamic_lstm_to_lstm(graph, !opts.dynamic_as_weights).map_err(|m| tract_err(path, m))?;
    scan::separate_scan_outputs(graph);
    let opset =
        proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);

    // Analyse; while top-level `If` nodes remain, replace them (their conditions are known once
    // the inputs are, or they select) and analyse again: nested ones come up a level each round.
    let mut ifs = IfCount::default();
    let (parsed, model, input_facts) = loop {
        let (parsed, mut model, input_facts) = typed_model(path, &onnx, &proto, dir.as_deref(), opts)?;
        let analysed = guard(path, || "shape inference".into(), || model.analyse(false))?;
        let graph = proto.graph.as_mut().ok_or_else(|| tract_err(path, "no graph"))?;
        let at: Vec<usize> = graph.node.iter().enumerate().filter(|(_, n)| n.op_type == "If").map(|(i, _)| i).collect();
        // STFT signals of rank 2 ([batch, length], which ONNX Runtime accepts; the spec and
        // tract want [batch, length, 1]): known once analysis has reached them.
        let rank = |name: &str| {
            let f = parsed.outlets_by_name.get(name).and_then(|o| model.outlet_fact(*o).ok())?;
            f.shape.rank().concretize().map(|r| r as usize)
        };
        let flat: Vec<usize> = graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| n.op_type == "STFT" && n.input.first().and_then(|i| rank(i)) == Some(2))
            .map(|(i, _)| i)
            .collect();
        // Scans whose scanned length analysis has found: unrolled into their steps.
        let scans: Vec<(usize, usize)> = (0..graph.node.len())
            .filter(|&i| graph.node[i].op_type == "Scan")
            .filter_map(|i| {
                let (input, axis) = scan::scanned(graph, i).ok()?;
                let f = parsed.outlets_by_name.get(&input).and_then(|o| model.outlet_fact(*o).ok())?;
                let dims = f.shape.as_concrete_finite().ok().flatten()?.to_vec();
                let axis = if axis < 0 { axis + dims.len() as i64 } else { axis };
                Some((i, *dims.get(usize::try_from(axis).ok()?)?))
            })
            .collect();
        if (at.is_empty() && flat.is_empty() && scans.is_empty()) || ifs.rounds == MAX_IF_ROUNDS {
            analysed.map_err(|e| tract_err(path, format!("shape inference failed: {e:#}")))?;
            break (parsed, model, input_facts);
        }
        for &(i, steps) in scans.iter().rev() {
            let what = format!("Scan {}", node_name(&graph.node[i]));
            scan::unroll_scan(graph, i, steps, opset)
                .map_err(|m| Error::Graph { path: path.to_owned(), message: format!("{what}: {m}") })?;
            ifs.scans += 1;
        }
        for &i in flat.iter().rev() {
            prepare::unsqueeze_signal(graph, i);
        }
        for &i in at.iter().rev() {
            let cond = graph.node[i].input.first().and_then(|c| parsed.outlets_by_name.get(c));
            let known = cond.and_then(|o| model.outlet_fact(*o).ok()).and_then(|f| f.value.concretize());
            let choice = match known.as_deref().map(truth) {
                Some(Some(b)) => prepare::IfChoice::Take(b),
                _ => prepare::IfChoice::Select,
            };
            if choice == prepare::IfChoice::Select {
                ifs.selected += 1;
            } else {
                ifs.taken += 1;
            }
            let what = format!("If {}", node_name(&graph.node[i]));
            prepare::remove_if(graph, i, choice)
                .map_err(|m| Error::Graph { path: path.to_owned(), message: format!("{what}: {m}") })?;
        }
        ifs.rounds += 1;
    };
    let graph_proto = proto.graph.as_ref().ok_or_else(|| tract_err(path, "no graph"))?;

    let mut cx = lower::Lowering {
        g: Graph::default(),
        vals: HashMap::new(),
        materialized: HashMap::new(),
        opset,
        unsupported: Vec::new(),
        facts: HashMap::new(),
        qranges: Default::default(),
        wscales: Default::default(),
        int_valued: Default::default(),
    };
    // Facts of every named ONNX value, from tract's analysis.
    for (name, outlet) in &parsed.outlets_by_name {
        if let Ok(f) = model.outlet_fact(*outlet) {
            cx.facts.insert(name.clone(), f.clone());
        }
    }
    for (name, dt, shape) in &input_facts {
        let fdt = ferrite_dtype(*dt).ok_or_else(|| Error::InputShape {
            path: path.to_owned(),
            message: format!("input {name} has unsupported type {dt:?}"),
        })?;
        let t = cx.g.activation(name.clone(), fdt, shape.clone());
        cx.g.inputs.push(t);
        cx.vals.insert(name.clone(), Val::Dyn(t));
    }
    for init in &graph_proto.initializer {
        if cx.vals.contains_key(&init.name) {
            continue; // an initializer overridden by a graph input
        }
        let what = || format!("initializer {}", init.name);
        let t = guard(path, what, || tract_onnx::tensor::load_tensor(&*onnx.provider, init, dir.as_deref()))?
            .map_err(|e| tract_err(path, format!("initializer {}: {e:#}", init.name)))?;
        cx.vals.insert(init.name.clone(), Val::Const(Arc::new(t)));
    }

    for node in &graph_proto.node {
        let outs: Vec<&String> = node.output.iter().filter(|o| !o.is_empty()).collect();
        // A QDQ model's weight, dequantized here: its scale, for int8 conversion to keep.
        if node.op_type == "DequantizeLinear" {
            if let (Some(out), Some(scale)) = (outs.first(), weight_scale(&cx, node)) {
                cx.wscales.insert((*out).clone(), scale);
            }
        }
        // 1. Folded by tract's analysis?
        let folded: Option<Vec<Arc<Tensor>>> =
            outs.iter().map(|o| cx.facts.get(*o).and_then(|f| f.value.concretize())).collect();
        if let Some(values) = folded.filter(|v| !v.is_empty()) {
            for (o, v) in outs.iter().zip(values) {
                cx.vals.insert((*o).clone(), Val::Const(v));
            }
            continue;
        }
        // 2. All inputs constant: evaluate with tract (folds what analysis left for size reasons).
        let const_inputs: Option<Vec<Arc<Tensor>>> = node
            .input
            .iter()
            .filter(|i| !i.is_empty())
            .map(|i| match cx.vals.get(i) {
                Some(Val::Const(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        if let (Some(inputs), Some(first)) = (const_inputs, outs.first()) {
            // Nodes without inputs fold only when they are Constant (never e.g. RandomNormal).
            if !inputs.is_empty() || node.op_type == "Constant" {
                if let Some(outlet) = parsed.outlets_by_name.get(*first) {
                    let op: &dyn InferenceOp = &*model.node(outlet.node).op;
                    let tv: TVec<TValue> = inputs.iter().map(|t| (**t).clone().into_tvalue()).collect();
                    let what = || format!("evaluating node {} ({})", node_name(node), node.op_type);
                    if let Ok(Some(res)) = guard(path, what, || op.eval_out_of_plan(tv))? {
                        if res.len() >= outs.len() {
                            for (o, v) in outs.iter().zip(res) {
                                cx.vals.insert((*o).clone(), Val::Const(v.into_arc_tensor()));
                            }
                            continue;
                        }
                    }
                }
            }
        }
        // 3. Lower onto Ferrite ops (tract's tensors are read there too).
        let what = || format!("lowering node {} ({})", node_name(node), node.op_type);
        guard(path, what, || cx.lower_node(node))?;
    }
    if !cx.unsupported.is_empty() {
        return Err(Error::Unsupported { path: path.to_owned(), nodes: cx.unsupported });
    }
    if let Some(t) = cx.g.tensors.iter().find(|t| t.shape.len() > ferrite_runtime::format::MAX_RANK) {
        return Err(Error::Graph {
            path: path.to_owned(),
            message: format!(
                "{} has {} dimensions; Ferrite's tensors have at most {}",
                t.name,
                t.shape.len(),
                ferrite_runtime::format::MAX_RANK
            ),
        });
    }
    for out in &graph_proto.output {
        match cx.vals.get(&out.name) {
            Some(Val::Dyn(t)) => {
                let t = *t;
                // An output that is also an input or listed twice still needs its own tensor.
                if cx.g.inputs.contains(&t) || cx.g.outputs.contains(&t) {
                    copy_out(&mut cx.g, t, &out.name);
                } else {
                    cx.g.tensors[t].name = out.name.clone();
                    cx.g.outputs.push(t);
                }
            }
            Some(Val::Const(c)) => {
                // An output that depends on no input (a Shape of a fixed-shape input): a weight
                // copied out on every run.
                let data = tensor_data(c).map_err(|m| Error::Graph {
                    path: path.to_owned(),
                    message: format!("output {}: {m}", out.name),
                })?;
                let w = cx.g.constant(format!("{}.value", out.name), c.shape().to_vec(), data);
                copy_out(&mut cx.g, w, &out.name);
            }
            None => {
                return Err(Error::Graph {
                    path: path.to_owned(),
                    message: format!("output {} is not computed by any node", out.name),
                })
            }
        }
    }
    let producer = format!("{} {}", proto.producer_name, proto.producer_version).trim().to_string();
    let fixed = opts.fixed.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    Ok(Imported {
        graph: cx.g,
        opset,
        producer,
        source_bytes: 0,
        source_crc32: 0,
        source_sha256: String::new(),
        fixed,
        ifs_taken: ifs.taken,
        ifs_selected: ifs.selected,
        scans_unrolled: ifs.scans,
        model_ranges: cx.qranges,
        model_weight_scales: cx.wscales,
    })
}

/// Graph output `name` as a copy of tensor `t` (an input, a weight, or a tensor already output).
fn copy_out(g: &mut Graph, t: TensorId, name: &str) {
    let (dtype, shape) = (g.tensors[t].dtype, g.tensors[t].shape.clone());
    let o = g.activation(name.to_string(), dtype, shape);
    g.push(ferrite_runtime::ops::OpCode::Copy, format!("{name}.copy"), vec![Some(t)], vec![Some(o)], vec![]);
    g.outputs.push(o);
}

/// Used by lowering for messages.
pub(crate) fn node_name(node: &pb::NodeProto) -> String {
    if node.name.is_empty() {
        node.output.first().cloned().unwrap_or_default()
    } else {
        node.name.clone()
    }
}
