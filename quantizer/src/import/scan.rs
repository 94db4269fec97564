//! ONNX `Scan` (opset 9 on), unrolled into its steps once the scanned length is known: each step
//! takes its slice of every scan input (`Gather` of one index on the scan axis), runs a copy of the
//! body (its names prefixed `<scan>/t<k>/`) on the state the step before left, and the scan
//! outputs are the steps' results stacked on their axis (`Unsqueeze`, then one `Concat`); the
//! final states are the last step's. Reverse directions take the slices, or stack the results,
//! from the end. The body's initializers are hoisted once. Ferrite's runtime has no loop op: a
//! short scan (a framing loop in a feature extractor) costs one copy of its body per step, and
//! longer ones are refused.

use super::prepare::{rename_node, simple};
use super::Attrs;
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Most steps unrolled.
pub(crate) const MAX_SCAN_STEPS: usize = 2048;

fn body(node: &pb::NodeProto) -> Result<pb::GraphProto, String> {
    node.attribute.iter().find(|a| a.name == "body").and_then(|a| a.g.clone()).ok_or_else(|| "no body".into())
}

/// Counts of a Scan's state inputs and of its scanned inputs.
fn counts(node: &pb::NodeProto, body: &pb::GraphProto) -> Result<(usize, usize), String> {
    let m = Attrs(node).int("num_scan_inputs").and_then(|m| usize::try_from(m).ok()).ok_or("num_scan_inputs")?;
    let n = node.input.len().checked_sub(m).ok_or("fewer inputs than num_scan_inputs")?;
    if body.input.len() != n + m || body.output.len() < n || node.output.len() > body.output.len() {
        return Err("the body's inputs and outputs do not match the node's".into());
    }
    Ok((n, m))
}

/// Gives every scan output of every top-level Scan body a value of its own (an Identity of it):
/// tract 0.23.9 re-shapes a scan output's value for all its readers, so one that the body also
/// reads (a framing loop's state is a slice of its frame) fails analysis. Returns how many.
pub(crate) fn separate_scan_outputs(graph: &mut pb::GraphProto) -> usize {
    let mut added = 0;
    for node in graph.node.iter_mut().filter(|n| n.op_type == "Scan") {
        let Ok(b) = body(node) else { continue };
        let Ok((n, _)) = counts(node, &b) else { continue };
        let Some(attr) = node.attribute.iter_mut().find(|a| a.name == "body") else { continue };
        let Some(g) = attr.g.as_mut() else { continue };
        for o in g.output.iter_mut().skip(n) {
            let own = format!("{}/scan_out", o.name);
            g.node.push(simple("Identity", format!("{own}/identity"), vec![o.name.clone()], own.clone()));
            o.name = own;
            added += 1;
        }
    }
    added
}

/// The scan inputs' names and axes of the Scan node at `at`: the length along the first one's
/// axis is how many steps it runs (the caller reads it from the analysed shapes). Axes may be
/// negative (from the end of the scanned tensor's rank).
pub(crate) fn scanned(graph: &pb::GraphProto, at: usize) -> Result<(String, i64), String> {
    let node = &graph.node[at];
    let (n, _) = counts(node, &body(node)?)?;
    let axis = Attrs(node).ints("scan_input_axes").and_then(|v| v.first().copied()).unwrap_or(0);
    Ok((node.input.get(n).cloned().ok_or("no scan input")?, axis))
}

/// Replaces the Scan node at `at` by `steps` copies of its body (see the module docs).
pub(crate) fn unroll_scan(graph: &mut pb::GraphProto, at: usize, steps: usize, opset: i64) -> Result<(), String> {
    let node = graph.node[at].clone();
    let b = body(&node)?;
    let (n, m) = counts(&node, &b)?;
    let k = b.output.len() - n;
    if steps == 0 || steps > MAX_SCAN_STEPS {
        return Err(format!("a Scan over {steps} steps (Ferrite unrolls 1 to {MAX_SCAN_STEPS})"));
    }
    let a = Attrs(&node);
    let list = |name: &str, len: usize| a.ints(name).unwrap_or_else(|| vec![0; len]);
    let (in_axes, in_dirs) = (list("scan_input_axes", m), list("scan_input_directions", m));
    let (out_axes, out_dirs) = (list("scan_output_axes", k), list("scan_output_directions", k));
    if in_axes.len() != m || in_dirs.len() != m || out_axes.len() != k || out_dirs.len() != k {
        return Err("scan axes or directions of the wrong length".into());
    }
    let base = format!("{}/scan/", node.output.iter().find(|o| !o.is_empty()).unwrap_or(&node.name));
    let int64 = |name: String, dims: Vec<i64>, v: Vec<i64>| pb::TensorProto {
        name,
        dims,
        data_type: DataType::Int64 as i32,
        int64_data: v,
        ..Default::default()
    };
    let hoisted: HashMap<String, String> =
        b.initializer.iter().map(|i| (i.name.clone(), format!("{base}{}", i.name))).collect();
    let mut inits: Vec<pb::TensorProto> =
        b.initializer.iter().map(|i| pb::TensorProto { name: hoisted[&i.name].clone(), ..i.clone() }).collect();
    let (mut nodes, mut state) = (Vec::new(), node.input[..n].to_vec());
    let mut results: Vec<Vec<String>> = vec![Vec::new(); k];
    for t in 0..steps {
        let p = format!("{base}t{t}/");
        let mut map = hoisted.clone();
        for (input, s) in b.input.iter().zip(&state) {
            map.insert(input.name.clone(), s.clone());
        }
        for j in 0..m {
            let (slice, index) = (format!("{p}in{j}"), format!("{p}in{j}/index"));
            let i = if in_dirs[j] == 1 { steps - 1 - t } else { t };
            inits.push(int64(index.clone(), vec![], vec![i as i64]));
            let mut g =
                simple("Gather", format!("{slice}/gather"), vec![node.input[n + j].clone(), index], slice.clone());
            g.attribute.push(pb::AttributeProto {
                name: "axis".into(),
                r#type: 2,
                i: in_axes[j],
                ..Default::default()
            });
            nodes.push(g);
            map.insert(b.input[n + j].name.clone(), slice);
        }
        for x in b.node.iter().flat_map(|x| x.output.iter()).filter(|o| !o.is_empty()) {
            map.insert(x.clone(), format!("{p}{x}"));
        }
        for x in &b.node {
            let mut x = x.clone();
            rename_node(&mut x, &map);
            x.name = format!("{p}{}", x.name);
            nodes.push(x);
        }
        let out = |o: &pb::ValueInfoProto| map.get(&o.name).cloned().unwrap_or_else(|| o.name.clone());
        state = b.output[..n].iter().map(out).collect();
        for (r, o) in results.iter_mut().zip(&b.output[n..]) {
            r.push(out(o));
        }
    }
    for (o, s) in node.output.iter().zip(&state).filter(|(o, _)| !o.is_empty()) {
        nodes.push(simple("Identity", format!("{o}/last"), vec![s.clone()], o.clone()));
    }
    for (j, mut r) in results.into_iter().enumerate() {
        let Some(o) = node.output.get(n + j).filter(|o| !o.is_empty()) else { continue };
        if out_dirs[j] == 1 {
            r.reverse();
        }
        let axes = format!("{base}out{j}/axes");
        inits.push(int64(axes.clone(), vec![1], vec![out_axes[j]]));
        let mut parts = Vec::new();
        for (t, v) in r.into_iter().enumerate() {
            let u = format!("{base}out{j}/t{t}");
            let mut node_u = if opset >= 13 {
                simple("Unsqueeze", format!("{u}/unsqueeze"), vec![v, axes.clone()], u.clone())
            } else {
                simple("Unsqueeze", format!("{u}/unsqueeze"), vec![v], u.clone())
            };
            if opset < 13 {
                node_u.attribute.push(pb::AttributeProto {
                    name: "axes".into(),
                    r#type: 7,
                    ints: vec![out_axes[j]],
                    ..Default::default()
                });
            }
            nodes.push(node_u);
            parts.push(u);
        }
        let mut c = simple("Concat", format!("{o}/stack"), parts, o.clone());
        c.attribute.push(pb::AttributeProto { name: "axis".into(), r#type: 2, i: out_axes[j], ..Default::default() });
        nodes.push(c);
    }
    graph.initializer.extend(inits);
    graph.node.splice(at..=at, nodes);
    Ok(())
}
