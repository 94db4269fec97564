//! The `quantize` job as a library call: import, optimise, convert precision, write, and verify
//! the written bytes with the runtime's own loader before anything reaches the disk.

use crate::calibrate::{self, CalibInput, Method};
use crate::config::Preprocess;
use crate::error::{Error, Result};
use crate::import::{import_onnx, ImportOptions};
use crate::int8::{self, Layer};
use crate::ir::{Graph, TensorId};
use crate::{passes, writer};
use ferrite_runtime::format::DType;
use ferrite_runtime::{AlignedBytes, Model, OutputData, Session};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Weight precision of an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32 weights (the reference).
    F32,
    /// IEEE half weights for MatMul/Gemm, Conv, embeddings and recurrent matrices; f32 compute.
    Fp16,
    /// Calibrated int8 (docs/QUANTIZATION.md); needs [`QuantizeOptions::int8`].
    Int8,
}

impl Precision {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

/// What to quantize and how.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// Weight precision.
    pub precision: Precision,
    /// Import options (input shapes).
    pub import: ImportOptions,
    /// Label names, one per class of the first output.
    pub labels: Vec<String>,
    /// Model name for the metadata (default: the file stem).
    pub name: Option<String>,
    /// Task for the metadata (e.g. `keyword-spotting`).
    pub task: Option<String>,
    /// Model card (Markdown) stored in the metadata.
    pub card: Option<String>,
    /// SPDX license expression of the weights (model card `license`).
    pub license: Option<String>,
    /// Intended use (model card `intended_use`).
    pub intended_use: Option<String>,
    /// Preprocessing carried into the artifact (from `ferrite.toml`).
    pub preprocess: Option<Preprocess>,
    /// Calibration and mixed precision (required for [`Precision::Int8`]).
    pub int8: Option<Int8Options>,
    /// Firmware profile (`--strip`): no tensor or op names but the graph's inputs' and outputs',
    /// the model card replaced by its SHA-256, the vocabulary front-coded.
    pub strip: bool,
    /// Default streaming parameters (the Stream section; `[stream]` in `ferrite.toml`).
    pub stream: Option<ferrite_runtime::format::StreamRecord>,
    /// How a stateful model runs over a stream of samples (`--stream-hop`, `--stream-state`):
    /// recorded in the metadata as `chunk_stream`, read by `ferrite stream`.
    pub chunks: Option<ChunkOptions>,
}

/// A stateful chunk model's stream (runtime `ChunkStream`): new samples per run and the state
/// pairs, by name.
#[derive(Debug, Clone, Default)]
pub struct ChunkOptions {
    /// New samples per run (the audio input's length when 0).
    pub hop: usize,
    /// `(input, output)` names: each run's output is the next run's input.
    pub states: Vec<(String, String)>,
    /// The samples' rate, when known (the stream resamples other rates to it).
    pub sample_rate: Option<u32>,
}

/// How an int8 artifact is calibrated.
#[derive(Debug, Clone)]
pub struct Int8Options {
    /// The calibration set: a `.npy` folder, or data the model's preprocessing reads. Optional for
    /// a pre-quantized (QDQ) model, whose own scales are used (and win over calibrated ranges).
    pub calib: Option<PathBuf>,
    /// How activation ranges are chosen.
    pub method: Method,
    /// At most this many calibration examples (evenly spread over the set).
    pub samples: usize,
    /// Layers whose own SQNR (only that layer in int8) is below this many dB stay fp16.
    pub accuracy_budget_db: Option<f64>,
    /// Linear layers quantize their input per row at run time (`DynQMatMul`, f32 in and out)
    /// instead of with a calibrated range: for transformer encoders (docs/QUANTIZATION.md).
    pub dynamic: bool,
}

impl Default for Int8Options {
    /// No calibration set yet, MinMax ranges, 200 samples, no accuracy budget, static activations.
    fn default() -> Self {
        Int8Options { calib: None, method: Method::MinMax, samples: 200, accuracy_budget_db: None, dynamic: false }
    }
}

/// Where a long quantization is (for progress bars): a stage name, steps done, steps in total.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            precision: Precision::F32,
            import: ImportOptions::default(),
            labels: Vec::new(),
            name: None,
            task: None,
            card: None,
            license: None,
            intended_use: None,
            preprocess: None,
            int8: None,
            strip: false,
            stream: None,
            chunks: None,
        }
    }
}

/// The result of a quantization.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// Artifact bytes (validated by the runtime).
    pub bytes: Vec<u8>,
    /// The final graph.
    pub graph: Graph,
    /// Arena size in bytes.
    pub arena_len: u64,
    /// Bytes of weight data.
    pub weight_bytes: u64,
    /// Number of weight tensors stored as f16.
    pub f16_tensors: usize,
    /// Int8 artifacts: every weighted layer, its precision and output SQNR.
    pub layers: Vec<Layer>,
    /// The metadata written into the artifact (model card and quantization report included).
    pub metadata: serde_json::Value,
}

fn dtype_name(d: ferrite_runtime::format::DType) -> &'static str {
    d.name()
}

/// Imports `model` and builds an artifact in memory.
pub fn quantize(model: &Path, opts: &QuantizeOptions) -> Result<Quantized> {
    quantize_with(model, opts, &mut |_, _, _| {})
}

/// [`quantize`], reporting progress of the long stages (calibration, SQNR measurement).
pub fn quantize_with(model: &Path, opts: &QuantizeOptions, progress: Progress<'_>) -> Result<Quantized> {
    // int8 reads ONNX Runtime's dynamic quantization as int8 weights (kept) and float
    // activations (calibrated); other precisions run it as ONNX Runtime does.
    let import = ImportOptions { dynamic_as_weights: opts.precision == Precision::Int8, ..opts.import.clone() };
    let imported = import_onnx(model, &import)?;
    let import_changes = import_summary(&imported);
    let (model_ranges, model_weight_scales) = (imported.model_ranges, imported.model_weight_scales);
    let mut graph = imported.graph;
    passes::optimize(&mut graph);
    let f16_tensors = if opts.precision == Precision::Fp16 { passes::to_fp16(&mut graph) } else { 0 };
    if opts.precision == Precision::Int8 && opts.int8.is_none() {
        return Err(Error::Graph {
            path: model.to_owned(),
            message: "int8 needs its options (a calibration set, --calib, or a QDQ model)".into(),
        });
    }
    let io = |ids: &[usize]| -> Vec<serde_json::Value> {
        ids.iter().map(|&t| json!({"name": graph.tensors[t].name, "dtype": dtype_name(graph.tensors[t].dtype), "shape": graph.tensors[t].shape})).collect()
    };
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let mut preprocess = opts.preprocess.clone();
    let first_input = graph.inputs.first().map(|&t| &graph.tensors[t]);
    let batch = opts.import.batch.max(1);
    let shape_err = |message: String| Error::Graph { path: model.to_owned(), message };
    let preprocessing_json = match &mut preprocess {
        None => serde_json::Value::Null,
        Some(Preprocess::Text { seq_len, pad_side, vocab, wordpiece }) => {
            let input = first_input.ok_or_else(|| shape_err("a tokenizer needs a model input".into()))?;
            let n: usize = input.shape.iter().product();
            if input.dtype != ferrite_runtime::format::DType::I32 {
                return Err(shape_err(format!("[text]: input {} must hold integer token ids", input.name)));
            }
            // Each of a batch's examples is one text.
            let n = n / batch;
            if *seq_len == 0 {
                *seq_len = n;
            } else if *seq_len != n {
                return Err(shape_err(format!("[text] seq_len {seq_len} but input {} holds {n} ids", input.name)));
            }
            match wordpiece {
                None => json!({"kind": "text", "tokenizer": "words-v1", "seq_len": *seq_len,
                   "pad": if *pad_side == ferrite_runtime::format::PAD_LEFT { "left" } else { "right" },
                   "vocab_size": vocab.len() + 2, "pad_id": 0, "unk_id": 1}),
                Some(w) => json!({"kind": "text", "tokenizer": "wordpiece-v1", "seq_len": *seq_len,
                   "pad": "right", "vocab_size": vocab.len(), "pad_id": w.pad_id, "unk_id": w.unk_id,
                   "cls_id": w.cls_id, "sep_id": w.sep_id, "max_chars": w.max_chars}),
            }
        }
        Some(Preprocess::Audio(a)) => {
            let input = first_input.ok_or_else(|| shape_err("an audio frontend needs a model input".into()))?;
            let n: usize = input.shape.iter().product();
            let fe = ferrite_runtime::preprocess::AudioFrontend::from_params(a)
                .map_err(|e| shape_err(format!("[audio]: {e}")))?;
            if input.dtype != ferrite_runtime::format::DType::F32 || n != batch * fe.feature_len() {
                return Err(shape_err(format!(
                    "[audio] gives {} frames x {} features = {} values{}, but input {} is {:?} {}",
                    fe.n_frames(),
                    fe.n_features(),
                    fe.feature_len(),
                    if batch > 1 { format!(" (x{batch}, the batch)") } else { String::new() },
                    input.name,
                    input.shape,
                    input.dtype.name()
                )));
            }
            json!({"kind": "audio", "frontend": "logmel-v1", "sample_rate": a.sample_rate.get(),
                   "clip_samples": a.clip_samples.get(), "frame_len": a.frame_len.get(), "hop": a.hop.get(),
                   "n_fft": a.n_fft.get(), "n_mels": a.n_mels.get(), "n_mfcc": a.n_mfcc.get(),
                   "fmin": a.fmin.get(), "fmax": a.fmax.get(), "log_floor": a.log_floor.get(),
                   "normalize": if a.normalize.get() == ferrite_runtime::format::NORMALIZE_WINDOW_MEAN { "window-mean" } else { "none" },
                   "frames": fe.n_frames(), "features": fe.n_features()})
        }
    };
    if !opts.labels.is_empty() {
        let classes = graph.outputs.first().and_then(|&t| graph.tensors[t].shape.last().copied()).unwrap_or(0);
        if classes != opts.labels.len() {
            return Err(shape_err(format!(
                "{} labels given but the first output has {classes} classes",
                opts.labels.len()
            )));
        }
    }
    if batch > 1 && opts.chunks.is_some() {
        return Err(Error::Usage("--batch and a chunk stream (--stream-state) do not go together".into()));
    }
    let chunk_stream = match &opts.chunks {
        Some(c) => chunk_stream_json(&graph, c).map_err(shape_err)?,
        None => serde_json::Value::Null,
    };
    let mut meta = json!({
        "name": name,
        "task": opts.task.clone().unwrap_or_default(),
        "precision": opts.precision.name(),
        "inputs": io(&graph.inputs),
        "outputs": io(&graph.outputs),
        "labels": opts.labels,
        "preprocessing": preprocessing_json,
        "batch": batch,
        "chunk_stream": chunk_stream,
        "model_card": {
            "source": {
                "file": model.file_name().map(|s| s.to_string_lossy().into_owned()),
                "bytes": imported.source_bytes,
                "crc32": format!("{:08x}", imported.source_crc32),
                "sha256": imported.source_sha256,
                "producer": imported.producer,
                "opset": imported.opset,
            },
            "tool": format!("ferrite-quantizer {}", env!("CARGO_PKG_VERSION")),
            "tool_commit": option_env!("FERRITE_GIT_COMMIT").unwrap_or("unknown"),
            "license": opts.license,
            "intended_use": opts.intended_use,
            "import": import_changes,
            "text": opts.card,
        },
    });
    let extras = writer::Extras {
        labels: &opts.labels,
        preprocess: preprocess.as_ref(),
        front_coded_vocab: opts.strip,
        compact_records: opts.strip,
        // A batch is many independent examples, not a stream: the config's [stream] is not for it.
        stream: opts.stream.as_ref().filter(|_| batch == 1),
    };
    let mut layers = Vec::new();
    let mut f16_tensors = f16_tensors;
    if let (Precision::Int8, Some(q)) = (opts.precision, &opts.int8) {
        // A QDQ model: its own quantize-dequantize pairs go, and its scales become the ranges.
        if !model_ranges.is_empty() {
            passes::strip_fake_quant(&mut graph);
        }
        let reference = writer::write(&graph, "{}", extras);
        let reference = AlignedBytes::copy_from(&reference.bytes);
        let reference = Model::from_bytes(&reference)
            .map_err(|source| Error::Artifact { path: PathBuf::from("<f32 reference>"), source })?;
        let (calib, mut ranges) = match &q.calib {
            Some(path) => {
                progress("loading calibration data", 0, 1);
                let calib = calibrate::load_calibration_batched(&reference, path, q.samples, batch)?;
                let ranges =
                    calibrate::observe_ranges(&reference, &calib, q.method, |d, t| progress("calibrating", d, t))?;
                (calib, ranges)
            }
            None if !model_ranges.is_empty() => (Vec::new(), BTreeMap::new()),
            None => {
                return Err(Error::Graph {
                    path: model.to_owned(),
                    message: "int8 needs --calib DATA (a calibration set), unless the model is pre-quantized with \
                              its activation scales (QDQ); a dynamically quantized model computes them at run time"
                        .into(),
                })
            }
        };
        if calib.is_empty() && q.accuracy_budget_db.is_some() {
            return Err(Error::Usage("--accuracy-budget measures layers on a calibration set: give --calib".into()));
        }
        // The model's own scales win over calibrated ranges.
        ranges.extend(model_ranges.iter().map(|(k, v)| (k.clone(), *v)));
        // Artifacts for measurement only: the caller's Model::from_bytes validates them.
        let bytes_of = |g: &Graph| AlignedBytes::copy_from(&writer::write(g, "{}", extras).bytes);
        // Each layer's own error: the model with only that layer in int8 (everything before it is
        // f32, so its input is the reference's), on an evenly spread subset of the calibration set.
        let probe: Vec<CalibInput> =
            calibrate::spread(calib.len(), ISOLATED_SAMPLES).into_iter().map(|i| calib[i].clone()).collect();
        let all = int8::to_int8(&mut graph.clone(), (&ranges, &model_weight_scales), &BTreeMap::new(), q.dynamic);
        let names: Vec<String> = all.iter().map(|l| l.name.clone()).collect();
        let mut isolated = HashMap::new();
        for (k, l) in all.iter().enumerate().filter(|(_, l)| l.precision == "int8" && !calib.is_empty()) {
            let others: BTreeMap<String, &str> =
                names.iter().filter(|n| **n != l.name).map(|n| (n.clone(), "")).collect();
            let mut g1 = graph.clone();
            let mut l1 = int8::to_int8(&mut g1, (&ranges, &model_weight_scales), &others, q.dynamic);
            let bytes = bytes_of(&g1);
            let m1 = Model::from_bytes(&bytes)
                .map_err(|source| Error::Artifact { path: "<one-layer int8 artifact>".into(), source })?;
            measure_sqnr(&reference, &m1, &probe, &mut l1, &mut |_, _, _| {})?;
            if let Some(v) = l1.get(k).and_then(|x| x.sqnr_db) {
                isolated.insert(l.name.clone(), v);
            }
            progress("measuring each layer's own SQNR", k + 1, all.len());
        }
        // Mixed precision: layers whose own error is above the budget stay float (fp16 weights).
        let mut keep: BTreeMap<String, &str> =
            int8::log_sensitive(&graph).into_iter().map(|n| (n, int8::LOG_REASON)).collect();
        if let Some(db) = q.accuracy_budget_db {
            for (n, _) in isolated.iter().filter(|(_, &v)| v < db) {
                keep.entry(n.clone()).or_insert(int8::BUDGET_REASON);
            }
        }
        let mut g8 = graph.clone();
        let mut l8 = int8::to_int8(&mut g8, (&ranges, &model_weight_scales), &keep, q.dynamic);
        f16_tensors = passes::to_fp16(&mut g8);
        int8::settle_float_sizes(&g8, &mut l8);
        let bytes = bytes_of(&g8);
        let m8 =
            Model::from_bytes(&bytes).map_err(|source| Error::Artifact { path: "<int8 artifact>".into(), source })?;
        if !calib.is_empty() {
            measure_sqnr(&reference, &m8, &calib, &mut l8, progress)?;
        }
        for l in &mut l8 {
            l.sqnr_isolated_db = isolated.get(&l.name).copied();
        }
        // Exact (the same f32 operations), so measured above on the unfused graph.
        crate::fuse_norm::fuse_normalization(&mut g8);
        graph = g8;
        layers = l8;
        let (f32_bytes, bytes): (usize, usize) = layers.iter().fold((0, 0), |a, l| (a.0 + l.bytes_f32, a.1 + l.bytes));
        meta["precision"] = json!("int8");
        meta["model_card"]["quantization"] = json!({
            "scheme": "int8 v2: weights symmetric per output channel, activations asymmetric per tensor, int32 bias, fixed-point requantization (docs/QUANTIZATION.md)",
            "calibration": match &q.calib {
                Some(path) => json!({
                    "data": data_set_name(path),
                    "method": method_name(q.method),
                    "samples": calib.len(),
                    "fingerprint": fingerprint(&calib),
                }),
                None => json!({"data": "none", "method": "the model's own quantization (QDQ)", "samples": 0}),
            },
            "model_scales": model_ranges.len(),
            "accuracy_budget_db": q.accuracy_budget_db,
            "layer_weight_bytes_f32": f32_bytes,
            "layer_weight_bytes": bytes,
            "layers": layers.iter().map(|l| json!({
                "name": l.name, "op": l.kind, "precision": l.precision, "reason": l.reason,
                "sqnr_db": l.sqnr_db.map(db2),
                "sqnr_own_db": l.sqnr_isolated_db.map(db2),
                "bytes_f32": l.bytes_f32, "bytes": l.bytes,
                "changes": if l.changes.is_empty() { serde_json::Value::Null } else { json!(l.changes) },
            })).collect::<Vec<_>>(),
        });
    }
    // Compact JSON: the metadata is read by tools, and every byte counts on a microcontroller.
    let written = if opts.strip {
        writer::write(
            &stripped_graph(&graph),
            &serde_json::to_string(&stripped_metadata(&meta)).unwrap_or_default(),
            extras,
        )
    } else {
        writer::write(&graph, &serde_json::to_string(&meta).unwrap_or_default(), extras)
    };
    // The runtime's loader is the judge of what we wrote.
    let aligned = AlignedBytes::copy_from(&written.bytes);
    Model::from_bytes(&aligned)
        .map_err(|source| Error::Artifact { path: PathBuf::from("<written artifact>"), source })?;
    Ok(Quantized {
        bytes: written.bytes,
        graph,
        arena_len: written.plan.arena_len,
        weight_bytes: written.weight_bytes,
        f16_tensors,
        layers,
        metadata: meta,
    })
}

/// `g` without names, but for the graph's inputs and outputs (callers feed and read them by name).
fn stripped_graph(g: &Graph) -> Graph {
    let mut g = g.clone();
    let io: BTreeSet<usize> = g.inputs.iter().chain(&g.outputs).copied().collect();
    for (i, t) in g.tensors.iter_mut().enumerate() {
        if !io.contains(&i) {
            t.name.clear();
        }
    }
    for op in &mut g.ops {
        op.name.clear();
    }
    g
}

/// The metadata a stripped artifact keeps: name, task, precision, and what was stripped, with the
/// What the import changed in the source graph: inputs fixed, `If`s removed (null when nothing).
fn import_summary(imported: &crate::import::Imported) -> serde_json::Value {
    use crate::import::FixedValue;
    if imported.fixed.is_empty() && imported.ifs_taken + imported.ifs_selected + imported.scans_unrolled == 0 {
        return serde_json::Value::Null;
    }
    let fixed: serde_json::Map<String, serde_json::Value> = imported
        .fixed
        .iter()
        .map(|(n, v)| {
            let v = match v {
                FixedValue::Scalar(x) if x.fract() == 0.0 && x.abs() < 1e15 => json!(*x as i64),
                FixedValue::Scalar(x) => json!(x),
                FixedValue::Array { shape, .. } => json!(format!("array of shape {shape:?}")),
            };
            (n.clone(), v)
        })
        .collect();
    json!({"fixed_inputs": fixed, "if_branches_taken": imported.ifs_taken, "if_both_branches_selected": imported.ifs_selected,
           "scans_unrolled": imported.scans_unrolled})
}

/// SHA-256 of the model card (its compact JSON, as an unstripped artifact stores it) so that the
/// artifact can be matched to its full report. Labels, shapes and preprocessing live in their own
/// sections and stay.
/// The `chunk_stream` metadata for `c`, checked against the graph: every state input and output
/// exists, f32 and of one length; the audio input is the one f32 input left; the hop fits it.
fn chunk_stream_json(graph: &Graph, c: &ChunkOptions) -> std::result::Result<serde_json::Value, String> {
    let find = |ids: &[TensorId], name: &str, what: &str| {
        ids.iter()
            .copied()
            .find(|&t| graph.tensors[t].name == name)
            .ok_or_else(|| format!("--stream-state: the model has no {what} named {name}"))
    };
    for (i, o) in &c.states {
        let (ti, to) =
            (&graph.tensors[find(&graph.inputs, i, "input")?], &graph.tensors[find(&graph.outputs, o, "output")?]);
        let len = |t: &crate::ir::Tensor| t.shape.iter().product::<usize>();
        if ti.dtype != DType::F32 || to.dtype != DType::F32 || len(ti) != len(to) {
            return Err(format!(
                "--stream-state {i}={o}: a state is f32 and of one length in and out ({:?} {:?} vs {:?} {:?})",
                ti.dtype, ti.shape, to.dtype, to.shape
            ));
        }
    }
    let audio: Vec<&crate::ir::Tensor> = graph
        .inputs
        .iter()
        .map(|&t| &graph.tensors[t])
        .filter(|t| t.dtype == DType::F32 && !c.states.iter().any(|(i, _)| *i == t.name))
        .collect();
    let [audio] = audio[..] else {
        return Err(format!(
            "--stream-hop: the model needs exactly one f32 input besides its states (it has {})",
            audio.len()
        ));
    };
    let window: usize = audio.shape.iter().product();
    let hop = if c.hop == 0 { window } else { c.hop };
    if hop > window {
        return Err(format!("--stream-hop {hop}: more than the {window} samples of input {}", audio.name));
    }
    Ok(json!({"audio": audio.name, "window": window, "hop": hop, "sample_rate": c.sample_rate,
              "states": c.states.iter().map(|(i, o)| json!([i, o])).collect::<Vec<_>>()}))
}

fn stripped_metadata(meta: &serde_json::Value) -> serde_json::Value {
    use sha2::Digest;
    let card = serde_json::to_string(&meta["model_card"]).unwrap_or_default();
    let digest: String = sha2::Sha256::digest(card.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "name": meta["name"],
        "task": meta["task"],
        "precision": meta["precision"],
        "chunk_stream": meta["chunk_stream"],
        "stripped": {
            "what": ["tensor and op names", "model card", "vocabulary front-coded"],
            "model_card_sha256": digest,
            "model_card_bytes": card.len(),
        },
    })
}

/// Calibration examples used to measure each layer's own SQNR (one run per layer).
pub const ISOLATED_SAMPLES: usize = 50;

/// dB with two decimals; 999 stands for an exact match.
fn db2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        999.0
    }
}

/// Name of a calibration method as the CLI spells it.
pub fn method_name(m: Method) -> String {
    match m {
        Method::MinMax => "minmax".into(),
        Method::Percentile(p) => format!("percentile {p}"),
        Method::Mse => "mse".into(),
    }
}

/// SHA-256 of the calibration inputs as the model reads them (values in order, little-endian; the
/// first 16 bytes, in hex), with their count: the same data and preprocessing give the same
/// fingerprint, wherever the data sits on the machine that built the artifact.
pub fn fingerprint(inputs: &[CalibInput]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for x in inputs {
        x.hash_into(&mut h);
    }
    let hex: String = h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}/{}", inputs.len())
}

/// A data set's name for the model card: its file or folder name, never the path that leads to it
/// on the machine that built the artifact (the fingerprint identifies the contents).
pub fn data_set_name(path: &Path) -> String {
    let clean: PathBuf = path.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
    clean.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "(unnamed)".into())
}

/// Output SQNR of every layer: the converted model's result for the layer (dequantized) against
/// the f32 model's, accumulated over the calibration inputs (`10·log10(Σ ref² / Σ err²)`).
fn measure_sqnr(
    reference: &Model<'_>,
    quant: &Model<'_>,
    inputs: &[CalibInput],
    layers: &mut [Layer],
    progress: Progress<'_>,
) -> Result<()> {
    let art = |source| Error::Artifact { path: PathBuf::from("<sqnr>"), source };
    let mut s_ref = Session::new(reference).map_err(art)?;
    let mut s_q = Session::new(quant).map_err(art)?;
    let wanted: BTreeSet<&str> = layers.iter().map(|l| l.output.as_str()).collect();
    let mut by_probe: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, l) in layers.iter().enumerate() {
        by_probe.entry(l.probe.clone()).or_default().push(i);
    }
    let mut acc = vec![(0f64, 0f64); layers.len()];
    let outputs: Vec<String> = layers.iter().map(|l| l.output.clone()).collect();
    let layers_perm: Vec<Option<Vec<usize>>> = layers.iter().map(|l| l.probe_perm.clone()).collect();
    for (n, x) in inputs.iter().enumerate() {
        let mut refs: HashMap<String, Vec<f32>> = HashMap::new();
        s_ref
            .run_observed(&x.as_inputs(), |o| {
                if let (true, OutputData::F32(v)) = (wanted.contains(o.name), o.data) {
                    refs.insert(o.name.to_owned(), v.to_vec());
                }
            })
            .map_err(art)?;
        s_q.run_observed(&x.as_inputs(), |o| {
            let Some(ls) = by_probe.get(o.name) else { return };
            let got: Vec<f32> = match o.data {
                OutputData::F32(v) => v.to_vec(),
                OutputData::I8(v) => v
                    .iter()
                    .map(|&q| {
                        ferrite_runtime::kernels::generic::int8::dequantize(
                            q,
                            o.info.quant.scale(),
                            o.info.quant.zero_point,
                        )
                    })
                    .collect(),
                _ => return,
            };
            for &i in ls {
                let Some(r) = refs.get(&outputs[i]) else { continue };
                if r.len() != got.len() {
                    continue;
                }
                let got = match &layers_perm[i] {
                    Some(perm) => transposed(&got, o.info.shape(), perm),
                    None => got.clone(),
                };
                for (a, b) in r.iter().zip(&got) {
                    acc[i].0 += (*a as f64) * (*a as f64);
                    acc[i].1 += (*a as f64 - *b as f64).powi(2);
                }
            }
        })
        .map_err(art)?;
        progress("measuring per-layer SQNR", n + 1, inputs.len());
    }
    for (l, (sig, noise)) in layers.iter_mut().zip(acc) {
        l.sqnr_db = Some(if noise == 0.0 { f64::INFINITY } else { 10.0 * (sig / noise).log10() });
    }
    Ok(())
}

/// `x` (dims `shape`, row-major) transposed by `perm` (output axis i is input axis perm[i]).
fn transposed(x: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let mut out = Vec::with_capacity(x.len());
    let mut idx = vec![0usize; out_shape.len()];
    for _ in 0..x.len() {
        let src: usize = idx.iter().zip(perm).map(|(&i, &p)| i * strides[p]).sum();
        out.push(x[src]);
        for a in (0..idx.len()).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a failed or interrupted
/// write never leaves a truncated artifact where a good one was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
