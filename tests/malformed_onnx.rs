//! Untrusted ONNX files: every malformed or hostile model gives a typed error, never a panic.
//! The importer contains panics inside tract (`Error::Contained`); these tests replay the fuzzer's
//! committed corpus (quantizer/fuzz/corpus/import), mutate small models deterministically, and
//! check hand-made malformed cases. `FERRITE_FUZZ_SEEDS=1` rewrites the corpus's seeds.

use ferrite_e2e::{Attr, OnnxBuilder, Rng};
use ferrite_quantizer::import::{import_bytes, ImportOptions};
use ferrite_quantizer::Error;
use prost::Message;
use std::path::{Path, PathBuf};
use tract_onnx::pb;

fn corpus() -> PathBuf {
    ferrite_e2e::repo_root().join("quantizer/fuzz/corpus/import")
}

/// Imports `bytes` as f32 conversion reads a model, then as int8 conversion does (ONNX Runtime's
/// dynamic quantization read as its weights); the first error, if any.
fn import(bytes: &[u8]) -> ferrite_quantizer::Result<()> {
    for dynamic_as_weights in [false, true] {
        let opts = ImportOptions { dynamic_as_weights, ..Default::default() };
        import_bytes(Path::new("/nonexistent/model.onnx"), bytes, &opts)?;
    }
    Ok(())
}

/// Small models that reach the importer's paths: convolution, padding, recurrences, gathers,
/// shape arithmetic, `If` (known and data-dependent).
fn seeds() -> Vec<(&'static str, pb::ModelProto)> {
    let mut r = Rng::new(1);
    let mut out = Vec::new();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 2, 8, 8]).init("w", &[4, 2, 3, 3], r.vec(72, -1.0, 1.0)).init_i64(
        "p",
        &[8],
        vec![0, 0, 1, 1, 0, 0, 1, 1],
    );
    b.node("Pad", &["x", "p"], &["xp"], vec![("mode", Attr::S("reflect"))]);
    b.node("Conv", &["xp", "w"], &["c"], vec![("strides", Attr::Is(vec![2, 2]))]).node("Relu", &["c"], &["y"], vec![]);
    b.output("y");
    out.push(("conv_pad", b.build()));
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[2, 6]).init("w", &[6, 3], r.vec(18, -1.0, 1.0)).init("b", &[3], vec![0.1, 0.2, 0.3]);
    b.node("Gemm", &["x", "w", "b"], &["g"], vec![]).node("Softmax", &["g"], &["y"], vec![("axis", Attr::I(-1))]);
    b.output("y");
    out.push(("gemm_softmax", b.build()));
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[5, 1, 3]).init("w", &[1, 8, 3], r.vec(24, -0.5, 0.5)).init("rw", &[1, 8, 2], r.vec(16, -0.5, 0.5));
    b.node("LSTM", &["x", "w", "rw"], &["y", "h", "c"], vec![("hidden_size", Attr::I(2))]).output("y").output("h");
    out.push(("lstm", b.build()));
    let mut b = OnnxBuilder::new(13);
    b.input_i64("ids", &[1, 4]).init("emb", &[10, 3], r.vec(30, -1.0, 1.0)).init_i64("s", &[2], vec![1, -1]);
    b.node("Gather", &["emb", "ids"], &["e"], vec![]).node("Shape", &["e"], &["sh"], vec![]);
    b.node("Reshape", &["e", "s"], &["y"], vec![]).output("y");
    out.push(("gather_reshape", b.build()));
    let branch = OnnxBuilder::branch;
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 4]).input_i64("sr", &[]).init_i64("k", &[], vec![16000]);
    b.node("Equal", &["sr", "k"], &["c"], vec![]).if_node("c", "y", branch("Relu", "x", "t"), branch("Neg", "x", "e"));
    b.output("y");
    out.push(("if_on_input", b.build()));
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 4]).init_i64("k", &[], vec![1]);
    b.node("Equal", &["k", "k"], &["c"], vec![]).if_node(
        "c",
        "y",
        branch("Sigmoid", "x", "t"),
        branch("Neg", "x", "e"),
    );
    b.output("y");
    out.push(("if_constant", b.build()));
    let mut b = OnnxBuilder::new(13);
    let ints = |r: &mut Rng, n: usize| (0..n).map(|_| r.below(255) as i32 - 127).collect::<Vec<i32>>();
    b.input("x", &[2, 1, 3]).init_q("w", &[1, 3, 8], ints(&mut r, 24), true).init_q(
        "r",
        &[1, 2, 8],
        ints(&mut r, 16),
        true,
    );
    b.init("ws", &[1], vec![0.01]).init("rs", &[1], vec![0.02]).init_q("z", &[1], vec![0], true);
    let ins = ["x", "w", "r", "", "", "", "", "", "ws", "z", "rs", "z"];
    b.node("DynamicQuantizeLSTM", &ins, &["y", "h"], vec![("hidden_size", Attr::I(2))]).output("y");
    b.graph_mut().node.last_mut().unwrap().domain = "com.microsoft".into();
    out.push(("dynamic_lstm", b.build()));
    let mut body = OnnxBuilder::new(13);
    body.input("prev", &[1, 3]).input("curr", &[1, 2]).init_i64("from", &[1], vec![2]).init_i64("to", &[1], vec![5]);
    body.init_i64("axis", &[1], vec![1]).node("Concat", &["prev", "curr"], &["frame"], vec![("axis", Attr::I(1))]);
    body.node("Slice", &["frame", "from", "to", "axis"], &["next"], vec![]).output("next").output("frame");
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 6, 2]).init("s0", &[1, 3], vec![0.0; 3]);
    let attrs = vec![
        ("num_scan_inputs", Attr::I(1)),
        ("scan_input_axes", Attr::Is(vec![1])),
        ("scan_output_axes", Attr::Is(vec![1])),
        ("body", Attr::G(body.graph())),
    ];
    b.node("Scan", &["s0", "x"], &["last", "frames"], attrs).output("frames");
    out.push(("scan_framing", b.build()));
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[2, 3]).init_q("wq", &[3, 2], vec![5, -7, 12, 0, -60, 33], true).init("ws", &[], vec![0.01]);
    b.init_q("wz", &[], vec![0], true).node("DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"], vec![]);
    b.node("MatMulInteger", &["xq", "wq", "xz", "wz"], &["yi"], vec![]).node(
        "Cast",
        &["yi"],
        &["yf"],
        vec![("to", Attr::I(1))],
    );
    b.node("Mul", &["xs", "ws"], &["s"], vec![]).node("Mul", &["yf", "s"], &["y"], vec![]).output("y");
    out.push(("dynamic_matmul", b.build()));
    out
}

#[test]
fn the_committed_corpus_replays_without_a_panic() {
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(corpus()).unwrap();
        for (name, m) in seeds() {
            std::fs::write(corpus().join(format!("{name}.onnx")), m.encode_to_vec()).unwrap();
        }
    }
    let mut n = 0;
    for e in std::fs::read_dir(corpus()).expect("quantizer/fuzz/corpus/import") {
        let p = e.unwrap().path();
        let _ = import(&std::fs::read(&p).unwrap()); // Ok or Err; a panic fails the test
        n += 1;
    }
    assert!(n >= seeds().len(), "the corpus holds the seeds ({n} files)");
}

#[test]
fn every_seed_imports() {
    for (name, m) in seeds() {
        let r = import(&m.encode_to_vec());
        // The If on a run-time sample rate selects between branches of equal shapes: it imports.
        assert!(r.is_ok(), "{name}: {:?}", r.err());
    }
}

#[test]
fn mutated_models_give_errors_not_panics() {
    let mut r = Rng::new(12);
    for (_, m) in seeds() {
        let bytes = m.encode_to_vec();
        for _ in 0..150 {
            let mut b = bytes.clone();
            match r.below(4) {
                0 => b.truncate(r.below(b.len() as u64) as usize),
                1 => {
                    for _ in 0..1 + r.below(4) {
                        let i = r.below(b.len() as u64) as usize;
                        b[i] ^= 1 << r.below(8);
                    }
                }
                2 => {
                    let i = r.below(b.len() as u64) as usize;
                    b[i] = [0x00, 0x7f, 0x80, 0xff][r.below(4) as usize];
                }
                _ => {
                    let i = r.below(b.len() as u64) as usize;
                    let j = r.below(b.len() as u64) as usize;
                    b.swap(i, j);
                }
            }
            let _ = import(&b);
        }
    }
}

fn graph_of(m: &mut pb::ModelProto) -> &mut pb::GraphProto {
    m.graph.as_mut().unwrap()
}

#[test]
fn malformed_models_are_typed_errors() {
    let base = || seeds().remove(1).1; // gemm_softmax
    let mut cases: Vec<(&str, Vec<u8>)> =
        vec![("empty file", vec![]), ("not protobuf", b"\xff\xff\xff\xff garbage".to_vec())];
    let mut m = base();
    graph_of(&mut m).node[0].input[0] = "nowhere".into();
    cases.push(("an undefined input", m.encode_to_vec()));
    let mut m = base();
    graph_of(&mut m).initializer[0].dims = vec![1 << 20, 1 << 20];
    cases.push(("an initializer claiming 2^40 values", m.encode_to_vec()));
    let mut m = base();
    graph_of(&mut m).node[0].op_type = "NoSuchOp".into();
    cases.push(("an unknown op", m.encode_to_vec()));
    let mut m = base();
    graph_of(&mut m).node.reverse();
    cases.push(("nodes out of order", m.encode_to_vec()));
    let mut m = base();
    graph_of(&mut m).output[0].name = "never_computed".into();
    cases.push(("an output no node computes", m.encode_to_vec()));
    let mut m = seeds().remove(5).1; // if_constant
    graph_of(&mut m).node[1].attribute[0].g.as_mut().unwrap().output.clear();
    cases.push(("an If branch without outputs", m.encode_to_vec()));
    let lstm = || seeds().remove(6).1;
    let mut m = lstm();
    graph_of(&mut m).node[0].attribute[0].i = -3;
    cases.push(("a DynamicQuantizeLSTM of hidden size -3", m.encode_to_vec()));
    let mut m = lstm();
    graph_of(&mut m).initializer[0].dims = vec![1, 1 << 40, 1 << 40];
    cases.push(("DynamicQuantizeLSTM weights of 2^80 values", m.encode_to_vec()));
    let mut m = lstm();
    graph_of(&mut m).initializer[2].float_data.clear();
    cases.push(("a DynamicQuantizeLSTM weight scale without a value", m.encode_to_vec()));
    let scan = || seeds().remove(7).1;
    let mut m = scan();
    graph_of(&mut m).node[0].attribute[0].i = 5;
    cases.push(("a Scan with more scan inputs than inputs", m.encode_to_vec()));
    let mut m = scan();
    graph_of(&mut m).node[0].attribute[1].ints = vec![1, 0, 2];
    cases.push(("a Scan with three input axes for one input", m.encode_to_vec()));
    let mut m = scan();
    graph_of(&mut m).node[0].attribute[1].ints = vec![7];
    cases.push(("a Scan along an axis the input lacks", m.encode_to_vec()));
    let mut m = scan();
    graph_of(&mut m).input[0].r#type.as_mut().unwrap().value =
        Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: 1,
            shape: Some(pb::TensorShapeProto {
                dim: [1i64, 5000, 2]
                    .iter()
                    .map(|&d| pb::tensor_shape_proto::Dimension {
                        value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)),
                        ..Default::default()
                    })
                    .collect(),
            }),
        }));
    cases.push(("a Scan over 5000 steps", m.encode_to_vec()));
    for (what, bytes) in cases {
        match import(&bytes) {
            Err(
                e @ (Error::Onnx { .. } | Error::Graph { .. } | Error::Unsupported { .. } | Error::Contained { .. }),
            ) => {
                assert!(!e.to_string().is_empty(), "{what}");
            }
            other => panic!("{what}: expected a typed error, got {other:?}"),
        }
    }
}
