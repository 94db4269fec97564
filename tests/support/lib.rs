//! Helpers shared by Ferrite's end-to-end tests and benches: an ONNX graph builder (tract's
//! prost structs, so no Python is needed to make test models), tract reference runs, Ferrite
//! runs, error metrics and a deterministic random source.

use ferrite_quantizer::calibrate::Method;
use ferrite_quantizer::quantize::{quantize, Int8Options, Precision, QuantizeOptions, Quantized};
use ferrite_runtime::{AlignedBytes, Input, Model, Preprocessing, Session};
use prost::Message;
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Deterministic xorshift random numbers (tests must not depend on a crate's RNG stream).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }
    /// `n` values uniform in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
    /// Integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// An input value for a test graph.
#[derive(Debug, Clone)]
pub enum Value {
    /// float32 tensor.
    F32(Vec<usize>, Vec<f32>),
    /// int64 tensor.
    I64(Vec<usize>, Vec<i64>),
}

impl Value {
    fn to_tract(&self) -> Tensor {
        match self {
            Value::F32(s, v) => {
                tract_ndarray::ArrayD::from_shape_vec(s.clone(), v.clone()).expect("shape").into_tensor()
            }
            Value::I64(s, v) => {
                tract_ndarray::ArrayD::from_shape_vec(s.clone(), v.clone()).expect("shape").into_tensor()
            }
        }
    }
    fn as_input(&self) -> Input<'_> {
        match self {
            Value::F32(_, v) => Input::F32(v),
            Value::I64(_, v) => Input::I64(v),
        }
    }
}

/// Builds ONNX models node by node.
#[derive(Default)]
pub struct OnnxBuilder {
    graph: pb::GraphProto,
    opset: i64,
}

/// An ONNX attribute value.
pub enum Attr {
    /// Integer.
    I(i64),
    /// Float.
    F(f32),
    /// Integers.
    Is(Vec<i64>),
    /// String.
    S(&'static str),
    /// Strings.
    Ss(Vec<&'static str>),
    /// A subgraph (an `If`'s branch).
    G(pb::GraphProto),
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;

fn dims_proto(dims: &[i64]) -> pb::TensorShapeProto {
    pb::TensorShapeProto {
        dim: dims
            .iter()
            .enumerate()
            .map(|(i, &d)| pb::tensor_shape_proto::Dimension {
                denotation: String::new(),
                value: Some(if d < 0 {
                    pb::tensor_shape_proto::dimension::Value::DimParam(format!("d{i}"))
                } else {
                    pb::tensor_shape_proto::dimension::Value::DimValue(d)
                }),
            })
            .collect(),
    }
}

fn value_info(name: &str, elem: i32, dims: Option<&[i64]>) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem,
                shape: dims.map(dims_proto),
            })),
        }),
        doc_string: String::new(),
    }
}

impl OnnxBuilder {
    /// A builder for a model of the given opset.
    pub fn new(opset: i64) -> Self {
        OnnxBuilder { graph: pb::GraphProto { name: "test".into(), ..Default::default() }, opset }
    }
    /// Declares a float input (negative dims are symbolic).
    pub fn input(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, FLOAT, Some(dims)));
        self
    }
    /// Declares a bool input.
    pub fn input_bool(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, 9, Some(dims)));
        self
    }
    /// `out = If(cond, then_g, else_g)`.
    pub fn if_node(&mut self, cond: &str, out: &str, then_g: pb::GraphProto, else_g: pb::GraphProto) -> &mut Self {
        self.node("If", &[cond], &[out], vec![("then_branch", Attr::G(then_g)), ("else_branch", Attr::G(else_g))])
    }
    /// A one-node `If` branch: `out = op(input)`, `input` read from the enclosing graph.
    pub fn branch(op: &str, input: &str, out: &str) -> pb::GraphProto {
        let mut g = OnnxBuilder::new(13);
        g.node(op, &[input], &[out], vec![]).output(out);
        g.graph()
    }
    /// The graph being built, to add what the helpers do not (an int32 initializer).
    pub fn graph_mut(&mut self) -> &mut pb::GraphProto {
        &mut self.graph
    }
    /// The graph so far (a branch for an `If`).
    pub fn graph(&self) -> pb::GraphProto {
        self.graph.clone()
    }
    /// Declares an int64 input.
    pub fn input_i64(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.graph.input.push(value_info(name, INT64, Some(dims)));
        self
    }
    /// Declares an output (type and shape left to inference).
    pub fn output(&mut self, name: &str) -> &mut Self {
        self.graph.output.push(value_info(name, FLOAT, None));
        self
    }
    /// Adds a float initializer.
    pub fn init(&mut self, name: &str, dims: &[usize], data: Vec<f32>) -> &mut Self {
        assert_eq!(dims.iter().product::<usize>(), data.len(), "initializer {name}");
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            float_data: data,
            ..Default::default()
        });
        self
    }
    /// Adds a uint8 (`signed` false) or int8 initializer (zero points, quantized weights).
    pub fn init_q(&mut self, name: &str, dims: &[usize], data: Vec<i32>, signed: bool) -> &mut Self {
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: if signed { 3 } else { 2 },
            int32_data: data,
            ..Default::default()
        });
        self
    }
    /// Adds an int64 initializer.
    pub fn init_i64(&mut self, name: &str, dims: &[usize], data: Vec<i64>) -> &mut Self {
        self.graph.initializer.push(pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: INT64,
            int64_data: data,
            ..Default::default()
        });
        self
    }
    /// Adds a node.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, Attr)>) -> &mut Self {
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = pb::AttributeProto { name: n.into(), ..Default::default() };
                match a {
                    Attr::I(v) => {
                        p.r#type = 2;
                        p.i = v
                    }
                    Attr::F(v) => {
                        p.r#type = 1;
                        p.f = v
                    }
                    Attr::Is(v) => {
                        p.r#type = 7;
                        p.ints = v
                    }
                    Attr::S(v) => {
                        p.r#type = 3;
                        p.s = v.as_bytes().to_vec()
                    }
                    Attr::Ss(v) => {
                        p.r#type = 8;
                        p.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect()
                    }
                    Attr::G(g) => {
                        p.r#type = 5;
                        p.g = Some(g)
                    }
                }
                p
            })
            .collect();
        let n = self.graph.node.len();
        self.graph.node.push(pb::NodeProto {
            name: format!("{op}_{n}"),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        });
        self
    }
    /// The model proto.
    pub fn build(&self) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            producer_name: "ferrite-tests".into(),
            opset_import: std::iter::once(pb::OperatorSetIdProto { domain: String::new(), version: self.opset })
                // ONNX Runtime's contrib ops (DynamicQuantizeLSTM) need their domain imported.
                .chain(
                    self.graph
                        .node
                        .iter()
                        .any(|n| n.domain == "com.microsoft")
                        .then(|| pb::OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 }),
                )
                .collect(),
            graph: Some(self.graph.clone()),
            ..Default::default()
        }
    }
    /// Writes the model to `dir/name.onnx`.
    pub fn save(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(format!("{name}.onnx"));
        std::fs::write(&p, self.build().encode_to_vec()).expect("write onnx");
        p
    }
}

/// tract's f32 outputs for `model` on `inputs` (the reference every test compares with).
pub fn tract_run(model: &Path, inputs: &[Value]) -> Vec<Vec<f32>> {
    let mut m = tract_onnx::onnx().model_for_path(model).expect("tract load");
    for (i, v) in inputs.iter().enumerate() {
        let t = v.to_tract();
        m.set_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape())).expect("fact");
    }
    let plan = m.into_typed().expect("typed").into_decluttered().expect("declutter").into_runnable().expect("runnable");
    let out = plan.run(inputs.iter().map(|v| v.to_tract().into_tvalue()).collect()).expect("tract run");
    out.iter()
        .map(|t| {
            let c = t.cast_to::<f32>().expect("cast");
            c.try_as_plain_ram().expect("plain").as_slice::<f32>().expect("f32").to_vec()
        })
        .collect()
}

/// Quantizes `model` in memory with `precision` and input shapes from `inputs`.
pub fn ferrite_artifact(model: &Path, precision: Precision, shapes: &[(&str, Vec<usize>)]) -> AlignedBytes {
    let mut opts = QuantizeOptions { precision, ..Default::default() };
    opts.import.input_shapes = shapes.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
    let q = quantize(model, &opts).unwrap_or_else(|e| panic!("quantize {}: {e}", model.display()));
    AlignedBytes::copy_from(&q.bytes)
}

/// Ferrite's f32 outputs for an artifact on `inputs`.
pub fn ferrite_run(artifact: &[u8], inputs: &[Value]) -> Vec<Vec<f32>> {
    let model = Model::from_bytes(artifact).expect("load");
    let mut s = Session::new(&model).expect("session");
    let feeds: Vec<Input<'_>> = inputs.iter().map(Value::as_input).collect();
    let out = s.run(&feeds).expect("run");
    (0..out.len()).map(|i| out.f32(i).expect("f32 output").to_vec()).collect()
}

/// Relative L2 error ‖a − b‖ / max(‖b‖, 1e-12).
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "output lengths differ");
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((*x as f64) - (*y as f64)).powi(2)).sum::<f64>().sqrt();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
    num / den.max(1e-12)
}

/// Reads a float32 or int64 `.npy` as a test value.
pub fn npy_value(path: &Path) -> Value {
    let a = ferrite_quantizer::npy::read(path).expect("npy");
    match a.data {
        ferrite_quantizer::npy::NpyData::F32(v) => Value::F32(a.shape, v),
        ferrite_quantizer::npy::NpyData::I64(v) => Value::I64(a.shape, v),
        _ => panic!("unsupported npy"),
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The options `ferrite quantize models/<name>/model.onnx --precision P` uses (its ferrite.toml),
/// and the model's path.
pub fn trained_options(name: &str, precision: Precision) -> (PathBuf, QuantizeOptions) {
    let dir = repo_root().join("models").join(name);
    let mut opts = QuantizeOptions { precision, ..Default::default() };
    ferrite_quantizer::config::load(&dir.join("ferrite.toml")).expect("ferrite.toml").apply_to(&mut opts);
    (dir.join("model.onnx"), opts)
}

/// Quantizes a trained model folder (models/<name>/model.onnx) with its ferrite.toml, as
/// `ferrite quantize models/<name>/model.onnx` does.
pub fn trained_artifact(name: &str, precision: Precision) -> AlignedBytes {
    let (model, opts) = trained_options(name, precision);
    let q = quantize(&model, &opts).unwrap_or_else(|e| panic!("quantize {name}: {e}"));
    AlignedBytes::copy_from(&q.bytes)
}

/// kws-crnn's step model (`models/kws-crnn/model-step.onnx`: one frame and the GRU state in, the
/// logits and the new state out) as an f32 artifact, converted without its folder's ferrite.toml
/// (which describes the whole-clip input), as `ferrite quantize ... --no-config` does.
pub fn crnn_step_artifact() -> AlignedBytes {
    let path = repo_root().join("models/kws-crnn/model-step.onnx");
    let q = quantize(&path, &Default::default()).unwrap_or_else(|e| panic!("quantize the step model: {e}"));
    AlignedBytes::copy_from(&q.bytes)
}

/// Every Snips utterance (train and test splits) of `../shared/data/snips-intents`.
pub fn snips_texts() -> Vec<String> {
    use ferrite_quantizer::eval::data::{self, Payload, Split};
    let set = data::load(&shared_data().join("snips-intents"), Split::All).expect("Snips");
    set.examples
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The shared data folder (`../shared/data` beside the repository).
pub fn shared_data() -> PathBuf {
    repo_root().join("..").join("shared").join("data")
}

/// Whether the full data sets (`../shared/data`) are beside the repository, for the tests that need
/// them: without them a test says so on stderr and returns (a fresh clone on its own still runs the
/// rest), except in CI (`CI=true`), where their absence is an error.
pub fn have_shared_data() -> bool {
    let here = shared_data().join("fsdd/recordings").is_dir() && shared_data().join("snips-intents").is_dir();
    if !here {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true: the full data sets must be at {} (see README)",
            shared_data().display()
        );
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| eprintln!("skipped: the tests that need the full data sets at {}", shared_data().display()));
    }
    here
}

/// One graph input of the models in `models/`: features or token ids (the quantizer's own
/// owned-input type, with `as_input`).
pub type Feed = ferrite_quantizer::calibrate::CalibInput;

/// A real input for a trained model: a clip through its audio frontend, or a sentence through its
/// tokenizer.
pub fn real_input(model: &Model<'_>) -> Feed {
    match model.preprocessing() {
        Preprocessing::Audio(fe) => {
            let wav = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).expect("FSDD clip");
            Feed::F32(fe.features_from_wav(&wav).expect("features"))
        }
        Preprocessing::Text(t) => {
            let mut ids = vec![0i32; t.seq_len()];
            t.encode("will it rain in paris tomorrow", &mut ids).expect("encode");
            Feed::I32(ids)
        }
        Preprocessing::None => panic!("trained models carry their preprocessing"),
    }
}

/// The options `ferrite quantize models/<name>/model.onnx --precision int8 --calib
/// ../shared/data/<data>` uses (MinMax on `samples` examples, an optional accuracy budget in dB),
/// and the model's path.
pub fn int8_options(name: &str, data: &str, samples: usize, budget: Option<f64>) -> (PathBuf, QuantizeOptions) {
    let dir = repo_root().join("models").join(name);
    let mut opts = QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options {
            calib: Some(shared_data().join(data)),
            method: Method::MinMax,
            samples,
            accuracy_budget_db: budget,
            dynamic: false,
        }),
        ..Default::default()
    };
    ferrite_quantizer::config::load(&dir.join("ferrite.toml")).expect("ferrite.toml").apply_to(&mut opts);
    (dir.join("model.onnx"), opts)
}

/// A trained model quantized to int8 with its ferrite.toml, calibrated (MinMax) on `samples`
/// examples of `../shared/data/<data>`, with an optional accuracy budget (dB).
pub fn int8_quantized(name: &str, data: &str, samples: usize, budget: Option<f64>) -> Quantized {
    let (model, opts) = int8_options(name, data, samples, budget);
    quantize(&model, &opts).unwrap_or_else(|e| panic!("quantize {name}: {e}"))
}

/// [`int8_quantized`] with 12 calibration samples, as aligned bytes.
pub fn int8_artifact(name: &str, data: &str) -> AlignedBytes {
    AlignedBytes::copy_from(&int8_quantized(name, data, 12, None).bytes)
}

/// A random-weight `models/ref-*` model at `precision` (int8: calibrated on four perturbed copies
/// of its committed input), and that input.
pub fn ref_artifact(name: &str, precision: Precision) -> (AlignedBytes, Feed) {
    let dir = repo_root().join("models").join(name);
    let x = ferrite_quantizer::npy::read(&dir.join("input.npy")).expect("input.npy");
    let calib = tempfile::tempdir().expect("temporary folder");
    let mut opts = QuantizeOptions { precision, ..Default::default() };
    if precision == Precision::Int8 {
        let mut r = Rng::new(11);
        for i in 0..4 {
            let bytes = match &x.data {
                ferrite_quantizer::npy::NpyData::F32(v) => {
                    let v: Vec<f32> = v.iter().map(|a| a + r.uniform(-0.5, 0.5)).collect();
                    ferrite_quantizer::npy::encode_f32(&x.shape, &v)
                }
                _ => std::fs::read(dir.join("input.npy")).expect("input.npy"),
            };
            std::fs::write(calib.path().join(format!("{i}.npy")), bytes).expect("calibration file");
        }
        opts.int8 = Some(Int8Options {
            calib: Some(calib.path().to_path_buf()),
            method: Method::MinMax,
            samples: 4,
            accuracy_budget_db: None,
            dynamic: false,
        });
    }
    let bytes = AlignedBytes::copy_from(&quantize(&dir.join("model.onnx"), &opts).expect("quantize").bytes);
    let input = match x.data {
        ferrite_quantizer::npy::NpyData::F32(v) => Feed::F32(v),
        ferrite_quantizer::npy::NpyData::I64(v) => Feed::I32(v.iter().map(|&i| i as i32).collect()),
        _ => panic!("unexpected input type"),
    };
    (bytes, input)
}

/// A valid artifact holding a chain of `n` Relu ops over `n + 1` activations of 4 floats (at most
/// 16,383: the loader's cap is 16,384 arena tensors).
pub fn relu_chain(n: usize) -> Vec<u8> {
    use ferrite_quantizer::ir::Graph;
    use ferrite_runtime::format::DType;
    use ferrite_runtime::ops::{OpCode, UnaryFn};
    let mut g = Graph::default();
    let mut x = g.activation("x0", DType::F32, vec![1, 4]);
    g.inputs.push(x);
    for i in 0..n {
        let y = g.activation(format!("x{}", i + 1), DType::F32, vec![1, 4]);
        g.push(OpCode::Unary, format!("relu{i}"), vec![Some(x)], vec![Some(y)], vec![UnaryFn::Relu as u32, 0, 0]);
        x = y;
    }
    g.outputs.push(x);
    ferrite_quantizer::writer::write(&g, "{}", Default::default()).bytes
}

/// Breaks a rule in the last op record of `bytes` (its flags, which MUST be 0, set to 1) and
/// forges the checksum to match: a hostile file the loader has to walk to its end.
pub fn spoil_last_op(bytes: &mut [u8]) {
    use ferrite_runtime::format::{checksum, OpRecord, SectionKind};
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let entry = (0..word(40) as usize)
        .map(|i| 64 + i * 32)
        .find(|&e| word(e) == SectionKind::Ops as u32)
        .expect("an Ops section");
    let (at, len) = (
        u64::from_le_bytes(bytes[entry + 8..entry + 16].try_into().unwrap()) as usize,
        u64::from_le_bytes(bytes[entry + 16..entry + 24].try_into().unwrap()) as usize,
    );
    let last = at + len - std::mem::size_of::<OpRecord>();
    bytes[last + 4..last + 8].copy_from_slice(&1u32.to_le_bytes());
    bytes[48..52].fill(0);
    let c = checksum(bytes);
    bytes[48..52].copy_from_slice(&c.to_le_bytes());
}

/// The ONNX file models/minilm/prepare.py built for `name` (`minilm`: the encoder,
/// `intent-minilm`: the intent model), or `None` (said on stderr) when it is not there outside
/// CI; in CI (`CI=true`) its absence is an error.
pub fn minilm_onnx(name: &str) -> Option<PathBuf> {
    let file = if name == "minilm" { "minilm/encoder.onnx" } else { "intent-minilm/model.onnx" };
    let path = repo_root().join("target").join(file);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true: run python3 models/minilm/prepare.py first ({} is missing)",
        path.display()
    );
    eprintln!("skipped: {} is not built (python3 models/minilm/prepare.py)", path.display());
    None
}

/// A MiniLM model's artifact with its ferrite.toml, as the README quantizes it (int8: dynamic
/// activations, calibrated for the report on 40 Snips examples).
pub fn minilm_artifact(name: &str, onnx: &Path, precision: Precision) -> AlignedBytes {
    let mut opts = QuantizeOptions { precision, ..Default::default() };
    let config = repo_root().join("models").join(name).join("ferrite.toml");
    ferrite_quantizer::config::load(&config).expect("ferrite.toml").apply_to(&mut opts);
    if precision == Precision::Int8 {
        let calib = Some(shared_data().join("snips-intents"));
        opts.int8 = Some(Int8Options { calib, samples: 40, dynamic: true, ..Default::default() });
    }
    AlignedBytes::copy_from(&quantize(onnx, &opts).unwrap_or_else(|e| panic!("quantize {name}: {e}")).bytes)
}

/// Every output of a run as raw 32-bit patterns (f32 bits, integers widened), for comparing two
/// executors bit for bit.
pub fn output_bits(o: &ferrite_runtime::Outputs<'_>) -> Vec<Vec<u32>> {
    use ferrite_runtime::OutputData;
    (0..o.len())
        .filter_map(|i| o.get(i))
        .map(|(_, _, data)| match data {
            OutputData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            OutputData::I32(v) => v.iter().map(|&x| x as u32).collect(),
            OutputData::I8(v) => v.iter().map(|&x| x as u8 as u32).collect(),
            OutputData::U8(v) => v.iter().map(|&x| x as u32).collect(),
        })
        .collect()
}

/// For each arena byte, whether its last writer in a run was an op's output (not an op's
/// scratch, whose layout is each executor's own): the bytes two executors must agree on.
pub fn arena_bytes_written_by_outputs(session: &ferrite_runtime::Session<'_, '_, '_>) -> Vec<bool> {
    let mut by_output = vec![false; session.model().arena_len()];
    for (i, op) in session.ops().iter().enumerate() {
        let regs = session.op_regions(i);
        let (ni, no) = (op.n_inputs(), op.n_outputs());
        for (j, r) in regs.iter().enumerate().skip(ni) {
            if r.place() == ferrite_runtime::Place::Arena {
                by_output[r.offset()..r.offset() + r.len()].fill(j < ni + no);
            }
        }
    }
    by_output
}
