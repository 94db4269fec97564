//! Rewrites of the ONNX graph before tract analyses it, for models as people ship them:
//! - inputs frozen by `--fix` become initializers (a sample rate, a state shape);
//! - symbolic dimensions in the file's declared output and intermediate shapes are forgotten
//!   (tract infers them again from the concrete input shapes; a declared `batch` would otherwise
//!   refuse to unify with the batch of 1 chosen for it);
//! - `If` nodes are removed: one whose condition is known once inputs are fixed is replaced by the
//!   branch it takes; one whose condition depends on the data runs both branches and selects each
//!   output with `Where` (valid because ONNX branches have no side effects; it costs the branch not
//!   taken, and both branches must give outputs of one shape).

use std::collections::{HashMap, HashSet};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::type_proto;

/// A value `--fix` freezes an input to.
#[derive(Debug, Clone, PartialEq)]
pub enum FixedValue {
    /// One number, filling the input's shape (a rank-0 input, or one of declared size).
    Scalar(f64),
    /// An array (from a `.npy` file): its shape, and its values as f64.
    Array {
        /// Dimensions.
        shape: Vec<usize>,
        /// Values in row-major order.
        values: Vec<f64>,
    },
}

/// Declared element type and dims (`None` for a symbolic or missing dimension) of a value.
fn declared(vi: &pb::ValueInfoProto) -> Option<(i32, Option<Vec<Option<usize>>>)> {
    let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref()?.value.as_ref() else { return None };
    let dims = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if v >= 0 => Some(v as usize),
                _ => None,
            })
            .collect()
    });
    Some((t.elem_type, dims))
}

/// Freezes input `name` to `value`: the input becomes an initializer of its declared type.
/// `shape` is the input's shape from `--input-shape`, if given.
pub(crate) fn fix_input(
    graph: &mut pb::GraphProto,
    name: &str,
    value: &FixedValue,
    shape: Option<&[usize]>,
) -> Result<(), String> {
    let at = graph.input.iter().position(|i| i.name == name).ok_or_else(|| format!("--fix {name}: no such input"))?;
    let (elem, dims) =
        declared(&graph.input[at]).ok_or_else(|| format!("--fix {name}: the input has no tensor type"))?;
    let (shape, values): (Vec<usize>, Vec<f64>) = match value {
        FixedValue::Array { shape, values } => (shape.clone(), values.clone()),
        FixedValue::Scalar(v) => {
            let shape: Vec<usize> = match (shape, &dims) {
                (Some(s), _) => s.to_vec(),
                (None, Some(d)) if d.iter().all(|x| x.is_some()) => d.iter().map(|x| x.unwrap_or(0)).collect(),
                _ => {
                    return Err(format!("--fix {name}: the input's shape is not fixed; give --input-shape {name}=..."))
                }
            };
            let n = shape.iter().product();
            (shape, vec![*v; n])
        }
    };
    if let Some(d) = &dims {
        let fits = d.len() == shape.len() && d.iter().zip(&shape).all(|(a, b)| a.is_none_or(|a| a == *b));
        if !fits {
            return Err(format!("--fix {name}: shape {shape:?} does not fit the declared shape {d:?}"));
        }
    }
    let mut t = pb::TensorProto {
        name: name.to_string(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: elem,
        ..Default::default()
    };
    let integral = |v: f64| v.fract() == 0.0 && v.abs() < 9.0e15;
    match DataType::try_from(elem) {
        Ok(DataType::Float) => t.float_data = values.iter().map(|&v| v as f32).collect(),
        Ok(DataType::Int64) if values.iter().all(|&v| integral(v)) => {
            t.int64_data = values.iter().map(|&v| v as i64).collect()
        }
        Ok(DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8 | DataType::Bool)
            if values.iter().all(|&v| integral(v) && v.abs() <= i32::MAX as f64) =>
        {
            t.int32_data = values.iter().map(|&v| v as i32).collect()
        }
        Ok(DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Uint8 | DataType::Bool) => {
            return Err(format!("--fix {name}: the input is an integer, the value is not"))
        }
        _ => return Err(format!("--fix {name}: inputs of element type {elem} cannot be fixed")),
    }
    graph.input.remove(at);
    graph.initializer.retain(|i| i.name != name);
    graph.initializer.push(t);
    Ok(())
}

/// Forgets symbolic dimensions in declared outputs and intermediate values (here and in
/// subgraphs): tract infers them from the inputs.
pub(crate) fn forget_symbols(graph: &mut pb::GraphProto) {
    forget(graph, false)
}

/// In a subgraph (a Scan's or Loop's body), the inputs' declared symbols go too: they name the
/// outer graph's dimensions, which the import has made concrete.
fn forget(graph: &mut pb::GraphProto, subgraph: bool) {
    let inputs = if subgraph { graph.input.len() } else { 0 };
    for vi in graph.input.iter_mut().take(inputs).chain(graph.output.iter_mut()).chain(graph.value_info.iter_mut()) {
        if let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            if let Some(s) = t.shape.as_mut() {
                for d in &mut s.dim {
                    if matches!(d.value, Some(pb::tensor_shape_proto::dimension::Value::DimParam(_))) {
                        d.value = None;
                    }
                }
            }
        }
    }
    for node in &mut graph.node {
        for a in &mut node.attribute {
            a.g.iter_mut().chain(a.graphs.iter_mut()).for_each(|g| forget(g, true));
        }
    }
}

/// What to do with an `If` node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum IfChoice {
    /// The condition is known: keep this branch (`true`: then_branch).
    Take(bool),
    /// The condition depends on the data: run both, select with `Where`.
    Select,
}

/// Replaces the top-level `If` node at `at` as `choice` says. Names the branches define are
/// prefixed (`<If's first output>/then/`), so that they cannot collide with the graph's.
pub(crate) fn remove_if(graph: &mut pb::GraphProto, at: usize, choice: IfChoice) -> Result<(), String> {
    let node = graph.node[at].clone();
    let branch = |name: &str| -> Result<pb::GraphProto, String> {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.g.clone())
            .ok_or_else(|| format!("If {}: no {name}", node.name))
    };
    let base = node.output.first().cloned().unwrap_or_else(|| node.name.clone());
    let mut nodes = Vec::new();
    let mut outs_of = |which: &str| -> Result<Vec<String>, String> {
        let g = branch(which)?;
        let prefix = format!("{base}/{}/", &which[..4]);
        let (inlined, inits, outs) = inline_branch(g, &prefix);
        graph.initializer.extend(inits);
        nodes.extend(inlined);
        if outs.len() != node.output.len() {
            return Err(format!(
                "If {}: {which} has {} outputs, the node {}",
                node.name,
                outs.len(),
                node.output.len()
            ));
        }
        Ok(outs)
    };
    match choice {
        IfChoice::Take(cond) => {
            let outs = outs_of(if cond { "then_branch" } else { "else_branch" })?;
            for (o, b) in node.output.iter().zip(outs) {
                nodes.push(simple("Identity", format!("{o}/identity"), vec![b], o.clone()));
            }
        }
        IfChoice::Select => {
            let (t, e) = (outs_of("then_branch")?, outs_of("else_branch")?);
            let cond = node.input.first().cloned().ok_or_else(|| format!("If {}: no condition", node.name))?;
            for ((o, t), e) in node.output.iter().zip(t).zip(e) {
                nodes.push(simple("Where", format!("{o}/select"), vec![cond.clone(), t, e], o.clone()));
            }
        }
    }
    graph.node.splice(at..=at, nodes);
    Ok(())
}

/// Rewrites ONNX Runtime's QOperator nodes (`QLinearMatMul`, `QLinearConv`) as the QDQ form they
/// stand for: DequantizeLinear of each quantized input, the float op, QuantizeLinear of the result
/// (a QLinearConv's int32 bias dequantized with scale `x_scale · w_scale`). The importer and the
/// int8 conversion then treat the model as any QDQ model: its own scales, no calibration. Returns
/// how many nodes were rewritten.
pub(crate) fn qoperator_to_qdq(graph: &mut pb::GraphProto) -> usize {
    let mut n = 0;
    let mut at = 0;
    while at < graph.node.len() {
        let node = graph.node[at].clone();
        let ins = |i: usize| node.input.get(i).cloned().unwrap_or_default();
        let (Some(y), true) =
            (node.output.first().cloned(), matches!(node.op_type.as_str(), "QLinearMatMul" | "QLinearConv"))
        else {
            at += 1;
            continue;
        };
        let p = format!("{}/qdq/", if node.name.is_empty() { &y } else { &node.name });
        let dq = |x: String, s: String, z: String, axis: Option<i64>, out: String| {
            let mut d = simple("DequantizeLinear", format!("{out}/node"), vec![x, s, z], out);
            if let Some(a) = axis {
                d.attribute.push(pb::AttributeProto { name: "axis".into(), r#type: 2, i: a, ..Default::default() });
            }
            d
        };
        let mut nodes = vec![dq(ins(0), ins(1), ins(2), None, format!("{p}x"))];
        // Weights per output channel: axis 0 of a Conv's [M, C, k...], the last of a MatMul's [K, N].
        let w_axis = if node.op_type == "QLinearConv" { 0 } else { 1 };
        nodes.push(dq(ins(3), ins(4), ins(5), Some(w_axis), format!("{p}w")));
        let mut float_ins = vec![format!("{p}x"), format!("{p}w")];
        if node.op_type == "QLinearConv" && !ins(8).is_empty() {
            nodes.push(simple("Mul", format!("{p}bias_scale/node"), vec![ins(1), ins(4)], format!("{p}bias_scale")));
            nodes.push(simple(
                "DequantizeLinear",
                format!("{p}b/node"),
                vec![ins(8), format!("{p}bias_scale")],
                format!("{p}b"),
            ));
            float_ins.push(format!("{p}b"));
        }
        let op = if node.op_type == "QLinearConv" { "Conv" } else { "MatMul" };
        let mut f = simple(op, format!("{p}{op}"), float_ins, format!("{p}y"));
        f.attribute = node.attribute.clone();
        nodes.push(f);
        nodes.push(simple("QuantizeLinear", format!("{p}q"), vec![format!("{p}y"), ins(6), ins(7)], y));
        let len = nodes.len();
        graph.node.splice(at..=at, nodes);
        at += len;
        n += 1;
    }
    n
}

/// Gives the STFT node at `at` a `[batch, length, 1]` signal in place of its `[batch, length]`
/// one (an Unsqueeze on the last axis, opset 13's form: STFT exists from opset 17).
pub(crate) fn unsqueeze_signal(graph: &mut pb::GraphProto, at: usize) {
    let signal = graph.node[at].input[0].clone();
    let (axes, out) = (format!("{signal}/stft_axes"), format!("{signal}/stft_signal"));
    graph.initializer.push(pb::TensorProto {
        name: axes.clone(),
        dims: vec![1],
        data_type: DataType::Int64 as i32,
        int64_data: vec![2],
        ..Default::default()
    });
    graph.node[at].input[0] = out.clone();
    graph.node.insert(at, simple("Unsqueeze", format!("{out}/unsqueeze"), vec![signal, axes], out));
}

pub(super) fn simple(op: &str, name: String, inputs: Vec<String>, output: String) -> pb::NodeProto {
    pb::NodeProto { op_type: op.to_string(), name, input: inputs, output: vec![output], ..Default::default() }
}

/// A branch's nodes and initializers with the names it defines prefixed, and its outputs' new
/// names. Names from the enclosing scope are left alone.
fn inline_branch(mut g: pb::GraphProto, prefix: &str) -> (Vec<pb::NodeProto>, Vec<pb::TensorProto>, Vec<String>) {
    let defined: HashSet<String> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().filter(|o| !o.is_empty()).cloned())
        .chain(g.initializer.iter().map(|i| i.name.clone()))
        .collect();
    let map: HashMap<String, String> = defined.into_iter().map(|n| (n.clone(), format!("{prefix}{n}"))).collect();
    for n in &mut g.node {
        rename_node(n, &map);
        n.name = format!("{prefix}{}", n.name);
    }
    for i in &mut g.initializer {
        i.name = map[&i.name].clone();
    }
    let outs = g.output.iter().map(|o| map.get(&o.name).cloned().unwrap_or_else(|| o.name.clone())).collect();
    (g.node, g.initializer, outs)
}

/// Renames a node's inputs and outputs, and the outer names its own subgraphs read.
pub(super) fn rename_node(n: &mut pb::NodeProto, map: &HashMap<String, String>) {
    for s in n.input.iter_mut().chain(n.output.iter_mut()) {
        if let Some(m) = map.get(s.as_str()) {
            *s = m.clone();
        }
    }
    for a in &mut n.attribute {
        for sub in a.g.iter_mut().chain(a.graphs.iter_mut()) {
            // Names the subgraph defines itself shadow the outer ones.
            let own: HashSet<String> = sub
                .node
                .iter()
                .flat_map(|x| x.output.iter().cloned())
                .chain(sub.initializer.iter().map(|i| i.name.clone()))
                .chain(sub.input.iter().map(|i| i.name.clone()))
                .collect();
            let outer: HashMap<String, String> =
                map.iter().filter(|(k, _)| !own.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            for x in &mut sub.node {
                rename_node(x, &outer);
            }
            for o in &mut sub.output {
                if let Some(m) = outer.get(&o.name) {
                    o.name = m.clone();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vi(name: &str, elem: DataType, dims: &[i64]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{dimension::Value, Dimension};
        let dim = dims
            .iter()
            .map(|&d| Dimension {
                value: Some(if d < 0 { Value::DimParam("n".into()) } else { Value::DimValue(d) }),
                ..Default::default()
            })
            .collect();
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: elem as i32,
                    shape: Some(pb::TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn fixing_an_input_makes_it_an_initializer_of_its_type() {
        let mut g = pb::GraphProto {
            input: vec![vi("sr", DataType::Int64, &[]), vi("x", DataType::Float, &[1, 4])],
            ..Default::default()
        };
        fix_input(&mut g, "sr", &FixedValue::Scalar(16000.0), None).unwrap();
        assert_eq!(g.input.len(), 1);
        assert_eq!(g.initializer[0].int64_data, vec![16000]);
        assert!(g.initializer[0].dims.is_empty());
        let e = fix_input(&mut g, "x", &FixedValue::Scalar(0.5), Some(&[2, 4])).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
        fix_input(&mut g, "x", &FixedValue::Scalar(0.5), None).unwrap();
        assert_eq!(g.initializer[1].float_data, vec![0.5; 4]);
        assert!(fix_input(&mut g, "y", &FixedValue::Scalar(1.0), None).unwrap_err().contains("no such input"));
    }

    #[test]
    fn a_fractional_value_for_an_integer_input_is_refused() {
        let mut g = pb::GraphProto { input: vec![vi("sr", DataType::Int64, &[])], ..Default::default() };
        assert!(fix_input(&mut g, "sr", &FixedValue::Scalar(0.5), None).is_err());
        let mut g = pb::GraphProto { input: vec![vi("s", DataType::Float, &[-1, 2])], ..Default::default() };
        let e = fix_input(&mut g, "s", &FixedValue::Scalar(0.5), None).unwrap_err();
        assert!(e.contains("--input-shape"), "{e}");
    }

    fn if_graph() -> pb::GraphProto {
        let branch = |op: &str| pb::GraphProto {
            node: vec![simple(op, "n".into(), vec!["x".into()], "y".into())],
            output: vec![vi("y", DataType::Float, &[1])],
            ..Default::default()
        };
        let attr =
            |name: &str, op: &str| pb::AttributeProto { name: name.into(), g: Some(branch(op)), ..Default::default() };
        pb::GraphProto {
            node: vec![pb::NodeProto {
                op_type: "If".into(),
                name: "if".into(),
                input: vec!["c".into()],
                output: vec!["out".into()],
                attribute: vec![attr("then_branch", "Relu"), attr("else_branch", "Neg")],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_known_condition_keeps_one_branch_with_its_names_prefixed() {
        let mut g = if_graph();
        remove_if(&mut g, 0, IfChoice::Take(false)).unwrap();
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Neg", "Identity"]);
        assert_eq!(g.node[0].input, ["x"]); // the outer name stays
        assert_eq!(g.node[0].output, ["out/else/y"]);
        assert_eq!(g.node[1].input, ["out/else/y"]);
        assert_eq!(g.node[1].output, ["out"]);
    }

    #[test]
    fn an_unknown_condition_runs_both_branches_and_selects() {
        let mut g = if_graph();
        remove_if(&mut g, 0, IfChoice::Select).unwrap();
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", "Neg", "Where"]);
        assert_eq!(g.node[2].input, ["c", "out/then/y", "out/else/y"]);
    }

    #[test]
    fn symbols_are_forgotten_in_outputs_not_in_inputs() {
        let mut g = pb::GraphProto {
            input: vec![vi("x", DataType::Float, &[-1, 4])],
            output: vec![vi("y", DataType::Float, &[-1, 4])],
            ..Default::default()
        };
        forget_symbols(&mut g);
        assert_eq!(declared(&g.output[0]).unwrap().1.unwrap(), vec![None, Some(4)]);
        let d = &g.input[0].r#type.as_ref().unwrap().value;
        assert!(format!("{d:?}").contains("DimParam"));
    }
}
