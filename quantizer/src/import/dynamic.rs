//! ONNX Runtime's dynamic quantization (`quantize_dynamic`), rewritten before analysis.
//!
//! - `com.microsoft.DynamicQuantizeLSTM` becomes an ONNX LSTM over its dequantized weights (so
//!   that tract can type it), the weights' scales in attributes that lower/dynamic_lstm.rs reads to
//!   compute the node as ONNX Runtime does.
//! - For int8 conversion ([`dynamic_to_weight_qdq`]), every dynamic product becomes the float op
//!   on its weights dequantized by a `DequantizeLinear` (a QDQ model's weight form): the int8
//!   conversion then keeps the model's own int8 weights and scales, and calibrates the activation
//!   ranges the dynamic model computed at run time.

use super::lower::dynamic_lstm::{R_SCALE, W_SCALE};
use super::prepare::simple;
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Rewrites ONNX Runtime's `com.microsoft.DynamicQuantizeLSTM` nodes as ONNX LSTMs over their
/// dequantized weights (transposed from `[dirs, k, 4H]` to ONNX's `[dirs, 4H, k]`), so that tract
/// can type them. With `emulate`, the weights' scales go in attributes: lower/dynamic_lstm.rs then
/// computes the node as ONNX Runtime does, its dynamic quantization of the input and the state
/// included; without, it is a float LSTM for the int8 conversion to quantize (its own way: per
/// gate row, calibrated). Returns how many nodes were rewritten.
pub(crate) fn dynamic_lstm_to_lstm(graph: &mut pb::GraphProto, emulate: bool) -> Result<usize, String> {
    let mut n = 0;
    for at in 0..graph.node.len() {
        if graph.node[at].op_type != "DynamicQuantizeLSTM" {
            continue;
        }
        let node = graph.node[at].clone();
        let input = |i: usize| node.input.get(i).cloned().unwrap_or_default();
        let init = |name: &str| {
            graph.initializer.iter().find(|t| t.name == name).and_then(values_of).ok_or_else(|| {
                format!("DynamicQuantizeLSTM {}: {name} must be a constant int8, uint8 or float initializer", node.name)
            })
        };
        let mut lstm = node.clone();
        let mut added = Vec::new();
        lstm.op_type = "LSTM".into();
        lstm.domain = String::new();
        for (w, scale, zp, attr) in [(1, 8, 9, W_SCALE), (2, 10, 11, R_SCALE)] {
            let (q, s) = (init(&input(w))?, init(&input(scale))?);
            let z = if input(zp).is_empty() { vec![0.0] } else { init(&input(zp))? };
            let dims =
                &graph.initializer.iter().find(|t| t.name == input(w)).map(|t| t.dims.clone()).unwrap_or_default();
            let [dirs, k, g4] = dims[..] else {
                return Err(format!("DynamicQuantizeLSTM {}: weights of rank 3", node.name));
            };
            let (dirs, k, g4) = (dirs as usize, k as usize, g4 as usize);
            let per = |v: &[f32], j: usize| v[if v.len() == 1 { 0 } else { j % v.len() }];
            let fits = k.checked_mul(g4) == Some(q.len());
            if dirs != 1 || !(s.len() == 1 || s.len() == g4) || !(z.len() == 1 || z.len() == g4) || !fits {
                return Err(format!(
                    "DynamicQuantizeLSTM {}: one direction, scales and zero points per tensor or per gate row",
                    node.name
                ));
            }
            // [k, 4H] of integers -> [4H, k] of (q - z) * s.
            let deq = (0..g4 * k).map(|at| {
                let (row, col) = (at / k, at % k);
                (q[col * g4 + row] - per(&z, row)) * per(&s, row)
            });
            let deq: Vec<f32> = deq.collect();
            let name = format!("{}/dequantized", input(w));
            added.push(pb::TensorProto {
                name: name.clone(),
                dims: vec![1, g4 as i64, k as i64],
                data_type: DataType::Float as i32,
                float_data: deq,
                ..Default::default()
            });
            lstm.input[w] = name;
            if emulate {
                lstm.attribute.push(pb::AttributeProto {
                    name: attr.into(),
                    r#type: 6,
                    floats: s,
                    ..Default::default()
                });
            }
        }
        lstm.input.truncate(8);
        graph.initializer.extend(added);
        graph.node[at] = lstm;
        n += 1;
    }
    Ok(n)
}

/// The values of an int8, uint8 or float initializer stored in the file (not as external data).
fn values_of(t: &pb::TensorProto) -> Option<Vec<f32>> {
    let raw = &t.raw_data;
    match DataType::try_from(t.data_type).ok()? {
        DataType::Float if !raw.is_empty() => {
            Some(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        DataType::Float => Some(t.float_data.clone()),
        DataType::Int8 if !raw.is_empty() => Some(raw.iter().map(|&b| b as i8 as f32).collect()),
        DataType::Uint8 if !raw.is_empty() => Some(raw.iter().map(|&b| b as f32).collect()),
        DataType::Int8 | DataType::Uint8 => Some(t.int32_data.iter().map(|&v| v as f32).collect()),
        _ => None,
    }
}

/// For int8 conversion: each `MatMulInteger`/`ConvInteger` of a `DynamicQuantizeLinear`'d input
/// whose product is cast to float and scaled by `x_scale · w_scale` (what `quantize_dynamic`
/// writes) becomes the float op on the input before its quantization and on the weights through
/// `DequantizeLinear(w, w_scale, w_zero_point)`. The Cast and the scaling go; the run-time
/// quantization, read by nothing any more, is dropped later. Products in another form are left
/// as they are (they run as written). Returns how many were rewritten.
pub(crate) fn dynamic_to_weight_qdq(graph: &mut pb::GraphProto) -> usize {
    let producer: HashMap<&str, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();
    let readers = |name: &str| {
        graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| n.input.iter().any(|i| i == name))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let is_init = |name: &str| graph.initializer.iter().any(|t| t.name == name);
    let sole = |name: &str, op: &str| match readers(name)[..] {
        [i] if graph.node[i].op_type == op && !graph.output.iter().any(|o| o.name == name) => Some(i),
        _ => None,
    };
    let mut plan: Vec<(usize, [usize; 2], Vec<pb::NodeProto>)> = Vec::new();
    for (k, m) in graph.node.iter().enumerate() {
        if !matches!(m.op_type.as_str(), "MatMulInteger" | "ConvInteger") || m.input.len() < 2 {
            continue;
        }
        let Some(&d) = producer.get(m.input[0].as_str()) else { continue };
        let dq = &graph.node[d];
        if dq.op_type != "DynamicQuantizeLinear" || dq.output.first() != Some(&m.input[0]) || dq.output.len() < 2 {
            continue;
        }
        let Some(x) = dq.input.first() else { continue };
        let (x_scale, w) = (&dq.output[1], &m.input[1]);
        let Some(out) = m.output.first() else { continue };
        let Some(cast) = sole(out, "Cast") else { continue };
        let Some(cast_out) = graph.node[cast].output.first() else { continue };
        let Some(mul) = sole(cast_out, "Mul") else { continue };
        let Some(y) = graph.node[mul].output.first().cloned() else { continue };
        let scale = graph.node[mul].input.iter().find(|i| *i != cast_out).cloned().unwrap_or_default();
        // The scale: x_scale · w_scale, w_scale a constant.
        let Some(w_scale) =
            producer.get(scale.as_str()).map(|&s| &graph.node[s]).filter(|s| s.op_type == "Mul").and_then(|s| {
                let other = s.input.iter().find(|i| *i != x_scale)?;
                (s.input.contains(x_scale) && is_init(other)).then(|| other.clone())
            })
        else {
            continue;
        };
        if !is_init(w) {
            continue;
        }
        let weight = format!("{w}/dequantized_weight");
        let mut ins = vec![w.clone(), w_scale];
        if let Some(z) = m.input.get(3).filter(|z| !z.is_empty()) {
            ins.push(z.clone());
        }
        let mut nodes = vec![simple("DequantizeLinear", format!("{weight}/node"), ins, weight.clone())];
        let op = if m.op_type == "ConvInteger" { "Conv" } else { "MatMul" };
        let mut f = simple(op, format!("{}/float", m.name), vec![x.clone(), weight], y);
        if op == "Conv" {
            f.attribute = m.attribute.clone();
        }
        nodes.push(f);
        plan.push((k, [cast, mul], nodes));
    }
    let n = plan.len();
    let mut gone: Vec<usize> = plan.iter().flat_map(|p| p.1).collect();
    gone.sort_unstable();
    let mut by_node: HashMap<usize, Vec<pb::NodeProto>> = plan.into_iter().map(|(k, _, v)| (k, v)).collect();
    let old = std::mem::take(&mut graph.node);
    for (i, node) in old.into_iter().enumerate() {
        if gone.binary_search(&i).is_ok() {
            continue;
        }
        match by_node.remove(&i) {
            Some(nodes) => graph.node.extend(nodes),
            None => graph.node.push(node),
        }
    }
    n
}
