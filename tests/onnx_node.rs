//! Conformance with the ONNX backend node tests (onnx 1.22.0's `onnx/backend/test/data/node`,
//! fetched by `python3 tests/onnx_node/fetch.py` into target/onnx-node; `.ci/run` does it).
//!
//! Every case whose nodes are all ops Ferrite imports goes through the importer, the writer and a
//! session, and its outputs are compared with the case's expected ones as ONNX's own backend test
//! runner does (`|got - want| <= 1e-7 + 1e-3 |want|`, integers and booleans exactly). A case that
//! does not import as it is (a Reshape's shape, a Pad's pads or a quantization scale given as a
//! graph input) is retried with every input but the first fixed to its value, as `ferrite
//! quantize --fix` would. Every case that does not
//! pass must be listed with its reason in tests/onnx_node/skips.txt, and every listed case must
//! still fail. docs/ONNX_CONFORMANCE.md is the report this test writes
//! (`FERRITE_BLESS=1 cargo test --test onnx_node` rewrites it; otherwise it must match).

use ferrite_quantizer::import::{import_bytes, FixedValue, ImportOptions};
use ferrite_runtime::{AlignedBytes, Input, Model, OutputData, Session};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// ONNX ops the importer lowers (or folds: Shape, Size, Constant, If with a known condition).
const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "DFT",
    "Conv",
    "ConvInteger",
    "DequantizeLinear",
    "Div",
    "Dropout",
    "DynamicQuantizeLinear",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "GRU",
    "Gather",
    "GatherElements",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "Identity",
    "If",
    "LSTM",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MatMulInteger",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "OneHot",
    "Or",
    "Pad",
    "Pow",
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Round",
    "Reshape",
    "STFT",
    "Scan",
    "ScatterElements",
    "Shape",
    "Sigmoid",
    "Size",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Where",
    "Xor",
];

fn cases_dir() -> Option<PathBuf> {
    let d = ferrite_e2e::repo_root().join("target/onnx-node");
    d.join("FETCHED").exists().then_some(d)
}

/// A case's input or expected output, as read from its `.pb` file.
struct Tensor_ {
    shape: Vec<usize>,
    dt: DatumType,
    values: Vec<f64>,
}

fn read_tensor(path: &Path) -> Result<Tensor_, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let proto = pb::TensorProto::decode(&*bytes).map_err(|e| format!("not a tensor: {e}"))?;
    let t = tract_onnx::tensor::load_tensor(&*tract_onnx::onnx().provider, &proto, None).map_err(|e| format!("{e}"))?;
    let dt = t.datum_type();
    let values = match dt {
        DatumType::F32 | DatumType::I64 | DatumType::I32 | DatumType::Bool | DatumType::U8 | DatumType::I8 => t
            .cast_to::<f64>()
            .map_err(|e| e.to_string())?
            .try_as_plain_ram()
            .map_err(|e| e.to_string())?
            .as_slice::<f64>()
            .map_err(|e| e.to_string())?
            .to_vec(),
        other => return Err(format!("tensors of {other:?}")),
    };
    Ok(Tensor_ { shape: t.shape().to_vec(), dt, values })
}

enum Outcome {
    Pass,
    Fail(String),
}

fn run_case(dir: &Path, model: &pb::ModelProto) -> Outcome {
    let data = dir.join("test_data_set_0");
    let g = model.graph.as_ref().expect("graph");
    let inits: Vec<&str> = g.initializer.iter().map(|i| i.name.as_str()).collect();
    let names: Vec<&str> = g.input.iter().map(|i| i.name.as_str()).filter(|n| !inits.contains(n)).collect();
    let mut inputs = Vec::new();
    for i in 0..names.len() {
        match read_tensor(&data.join(format!("input_{i}.pb"))) {
            Ok(t) => inputs.push(t),
            Err(e) => return Outcome::Fail(format!("input: {e}")),
        }
    }
    let shapes: Vec<(String, Vec<usize>)> =
        names.iter().zip(&inputs).map(|(n, t)| (n.to_string(), t.shape.clone())).collect();
    let bytes = model.encode_to_vec();
    let path = Path::new("/nonexistent/model.onnx");
    let mut opts = ImportOptions { input_shapes: shapes, ..Default::default() };
    let mut fixed = vec![false; names.len()];
    let imported = match import_bytes(path, &bytes, &opts) {
        Err(_) if inputs.len() > 1 => {
            // Freeze the parameters (every input but the data: shapes, pads, axes, scales, zero
            // points, windows) to the case's values, as --fix does.
            for (k, (n, t)) in names.iter().zip(&inputs).enumerate().skip(1) {
                {
                    fixed[k] = true;
                    opts.fixed
                        .push((n.to_string(), FixedValue::Array { shape: t.shape.clone(), values: t.values.clone() }));
                }
            }
            import_bytes(path, &bytes, &opts)
        }
        r => r,
    };
    let mut graph = match imported {
        Ok(i) => i.graph,
        Err(e) => return Outcome::Fail(e.to_string().replace("/nonexistent/model.onnx: ", "")),
    };
    ferrite_quantizer::passes::optimize(&mut graph);
    let art = AlignedBytes::copy_from(&ferrite_quantizer::writer::write(&graph, "{}", Default::default()).bytes);
    let model = match Model::from_bytes(&art) {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("artifact: {e}")),
    };
    let mut session = match Session::new(&model) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("session: {e}")),
    };
    // Typed copies that outlive the borrowed inputs.
    enum Owned {
        F32(Vec<f32>),
        I64(Vec<i64>),
        U8(Vec<u8>),
    }
    let owned: Vec<Owned> = inputs
        .iter()
        .zip(&fixed)
        .filter(|(_, f)| !**f)
        .map(|(t, _)| match t.dt {
            DatumType::F32 => Owned::F32(t.values.iter().map(|&v| v as f32).collect()),
            DatumType::I64 | DatumType::I32 => Owned::I64(t.values.iter().map(|&v| v as i64).collect()),
            _ => Owned::U8(t.values.iter().map(|&v| v as u8).collect()),
        })
        .collect();
    let feed: Vec<Input<'_>> = owned
        .iter()
        .map(|o| match o {
            Owned::F32(v) => Input::F32(v),
            Owned::I64(v) => Input::I64(v),
            Owned::U8(v) => Input::U8(v),
        })
        .collect();
    let out = match session.run(&feed) {
        Ok(o) => o,
        Err(e) => return Outcome::Fail(format!("run: {e}")),
    };
    for k in 0..g.output.len() {
        let want = match read_tensor(&data.join(format!("output_{k}.pb"))) {
            Ok(t) => t,
            Err(e) => return Outcome::Fail(format!("expected output: {e}")),
        };
        let Some((_, info, got)) = out.get(k) else { return Outcome::Fail(format!("output {k} missing")) };
        let got: Vec<f64> = match got {
            OutputData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            OutputData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            OutputData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            // Ferrite holds uint8 quantized values as int8 shifted by 128 (zero point too).
            OutputData::I8(v) if want.dt == DatumType::U8 => v.iter().map(|&x| x as f64 + 128.0).collect(),
            OutputData::I8(v) => v.iter().map(|&x| x as f64).collect(),
        };
        if got.len() != want.values.len() || info.len() != want.shape.iter().product::<usize>() {
            return Outcome::Fail(format!("output {k}: shape {:?}, expected {:?}", info.shape(), want.shape));
        }
        let exact = want.dt != DatumType::F32;
        for (j, (a, b)) in got.iter().zip(&want.values).enumerate() {
            let ok = a == b || (!exact && ((a - b).abs() <= 1e-7 + 1e-3 * b.abs() || (a.is_nan() && b.is_nan())));
            if !ok {
                return Outcome::Fail(format!("output {k}[{j}] = {a}, expected {b}"));
            }
        }
    }
    Outcome::Pass
}

fn skips() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(ferrite_e2e::repo_root().join("tests/onnx_node/skips.txt")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (case, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (case.to_string(), why.trim().to_string())
        })
        .collect()
}

#[test]
fn onnx_backend_node_tests() {
    let Some(root) = cases_dir() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs the node tests: python3 tests/onnx_node/fetch.py"
        );
        eprintln!("skipped: no ONNX node tests (python3 tests/onnx_node/fetch.py fetches them)");
        return;
    };
    ferrite_quantizer::import::quiet_contained_panics();
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().filter_map(|e| Some(e.ok()?.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let skips = skips();
    // op -> (passed, [(case, reason)])
    let mut per_op = PerOp::new();
    let mut problems = Vec::new();
    for dir in dirs {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(bytes) = std::fs::read(dir.join("model.onnx")) else { continue };
        let Ok(model) = pb::ModelProto::decode(&*bytes) else { continue };
        let Some(g) = model.graph.as_ref() else { continue };
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        let default_domain = g.node.iter().all(|n| n.domain.is_empty() || n.domain == "ai.onnx");
        if ops.is_empty() || !default_domain || !ops.iter().all(|o| SUPPORTED.contains(o)) {
            continue;
        }
        // A case belongs to the op it is named after; an expanded function body to its last node's op.
        let op =
            ops.iter().find(|o| case.starts_with(&format!("test_{}", o.to_lowercase()))).unwrap_or(ops.last().unwrap());
        let entry = per_op.entry(op.to_string()).or_default();
        match run_case(&dir, &model) {
            Outcome::Pass => {
                entry.0 += 1;
                if skips.contains_key(&case) {
                    problems.push(format!("{case} passes: remove it from tests/onnx_node/skips.txt"));
                }
            }
            Outcome::Fail(why) => {
                let why = why.lines().next().unwrap_or("").chars().take(160).collect::<String>();
                match skips.get(&case) {
                    Some(reason) => entry.1.push((case, reason.clone())),
                    None => problems.push(format!("{case}: {why}")),
                }
            }
        }
    }
    let report = report(&per_op);
    let doc = ferrite_e2e::repo_root().join("docs/ONNX_CONFORMANCE.md");
    if std::env::var_os("FERRITE_BLESS").is_some() {
        std::fs::write(&doc, &report).unwrap();
    }
    assert!(problems.is_empty(), "{} case(s) fail without a listed reason:\n{}", problems.len(), problems.join("\n"));
    let committed = std::fs::read_to_string(&doc).unwrap_or_default();
    assert_eq!(committed, report, "docs/ONNX_CONFORMANCE.md is stale: FERRITE_BLESS=1 cargo test --test onnx_node");
}

/// Per op: cases passed, and each skipped case with its reason.
type PerOp = BTreeMap<String, (usize, Vec<(String, String)>)>;

fn report(per_op: &PerOp) -> String {
    let (pass, skip): (usize, usize) = per_op.values().fold((0, 0), |(p, s), (a, b)| (p + a, s + b.len()));
    let mut s = String::from(
        "# ONNX conformance: the backend node tests\n\n\
         Written by `tests/onnx_node.rs` (`FERRITE_BLESS=1 cargo test --test onnx_node`; `.ci/run` checks it).\n\
         The cases are onnx 1.22.0's `onnx/backend/test/data/node` (`python3 tests/onnx_node/fetch.py`); a case\n\
         counts for an op when every node in it is an op Ferrite imports. Each goes through the importer,\n\
         the writer and a session (f32), and its outputs must satisfy `|got - want| <= 1e-7 + 1e-3 |want|`\n\
         (integers and booleans exactly), as ONNX's runner asks. Where a case passes parameters as graph\n\
         inputs that Ferrite needs constant (shapes, pads, axes, scales, zero points, windows), every input\n\
         but the first is fixed to the case's value, as `ferrite quantize --fix` does.\n\n",
    );
    s += &format!("**{pass} cases pass; {skip} are skipped, each with its reason below.**\n\n");
    s += "| op | pass | skipped |\n|---|---:|---:|\n";
    for (op, (p, sk)) in per_op {
        s += &format!("| {op} | {p} | {} |\n", sk.len());
    }
    s += "\n## Skipped cases\n\n| case | reason |\n|---|---|\n";
    for (_, sk) in per_op.values() {
        for (case, why) in sk {
            s += &format!("| `{case}` | {why} |\n");
        }
    }
    s
}
