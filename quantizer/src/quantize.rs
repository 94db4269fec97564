//! The `quantize` job as a library call: import, optimise, convert precision, write, and verify
//! the written bytes with the runtime's own loader before anything reaches the disk.

use crate::config::Preprocess;
use crate::error::{Error, Result};
use crate::import::{import_onnx, ImportOptions};
use crate::ir::Graph;
use crate::{passes, writer};
use ferrite_runtime::{AlignedBytes, Model};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Weight precision of an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// f32 weights (the reference).
    F32,
    /// IEEE half weights for MatMul/Gemm, Conv, embeddings and recurrent matrices; f32 compute.
    Fp16,
}

impl Precision {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Fp16 => "fp16",
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
    /// Preprocessing carried into the artifact (from `ferrite.toml`).
    pub preprocess: Option<Preprocess>,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            precision: Precision::F32,
            import: ImportOptions::default(),
            labels: Vec::new(),
            name: None,
            task: None,
            card: None,
            preprocess: None,
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
}

fn dtype_name(d: ferrite_runtime::format::DType) -> &'static str {
    d.name()
}

/// Imports `model` and builds an artifact in memory.
pub fn quantize(model: &Path, opts: &QuantizeOptions) -> Result<Quantized> {
    let imported = import_onnx(model, &opts.import)?;
    let mut graph = imported.graph;
    passes::optimize(&mut graph);
    let f16_tensors = if opts.precision == Precision::Fp16 { passes::to_fp16(&mut graph) } else { 0 };
    let io = |ids: &[usize]| -> Vec<serde_json::Value> {
        ids.iter().map(|&t| json!({"name": graph.tensors[t].name, "dtype": dtype_name(graph.tensors[t].dtype), "shape": graph.tensors[t].shape})).collect()
    };
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    let mut preprocess = opts.preprocess.clone();
    let first_input = graph.inputs.first().map(|&t| &graph.tensors[t]);
    let shape_err = |message: String| Error::Graph { path: model.to_owned(), message };
    let preprocessing_json = match &mut preprocess {
        None => serde_json::Value::Null,
        Some(Preprocess::Text { seq_len, pad_side, vocab }) => {
            let input = first_input.ok_or_else(|| shape_err("a tokenizer needs a model input".into()))?;
            let n: usize = input.shape.iter().product();
            if input.dtype != ferrite_runtime::format::DType::I32 {
                return Err(shape_err(format!("[text]: input {} must hold integer token ids", input.name)));
            }
            if *seq_len == 0 {
                *seq_len = n;
            } else if *seq_len != n {
                return Err(shape_err(format!("[text] seq_len {seq_len} but input {} holds {n} ids", input.name)));
            }
            json!({"kind": "text", "tokenizer": "words-v1", "seq_len": *seq_len,
                   "pad": if *pad_side == ferrite_runtime::format::PAD_LEFT { "left" } else { "right" },
                   "vocab_size": vocab.len() + 2, "pad_id": 0, "unk_id": 1})
        }
        Some(Preprocess::Audio(a)) => {
            let input = first_input.ok_or_else(|| shape_err("an audio frontend needs a model input".into()))?;
            let n: usize = input.shape.iter().product();
            let fe = ferrite_runtime::preprocess::AudioFrontend::from_params(a)
                .map_err(|e| shape_err(format!("[audio]: {e}")))?;
            if input.dtype != ferrite_runtime::format::DType::F32 || n != fe.feature_len() {
                return Err(shape_err(format!(
                    "[audio] gives {} frames x {} features = {} values, but input {} is {:?} {}",
                    fe.n_frames(),
                    fe.n_features(),
                    fe.feature_len(),
                    input.name,
                    input.shape,
                    input.dtype.name()
                )));
            }
            json!({"kind": "audio", "frontend": "logmel-v1", "sample_rate": a.sample_rate.get(),
                   "clip_samples": a.clip_samples.get(), "frame_len": a.frame_len.get(), "hop": a.hop.get(),
                   "n_fft": a.n_fft.get(), "n_mels": a.n_mels.get(), "n_mfcc": a.n_mfcc.get(),
                   "fmin": a.fmin.get(), "fmax": a.fmax.get(), "log_floor": a.log_floor.get(),
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
    let meta = json!({
        "name": name,
        "task": opts.task.clone().unwrap_or_default(),
        "precision": opts.precision.name(),
        "inputs": io(&graph.inputs),
        "outputs": io(&graph.outputs),
        "labels": opts.labels,
        "preprocessing": preprocessing_json,
        "model_card": {
            "source": {
                "file": model.file_name().map(|s| s.to_string_lossy().into_owned()),
                "bytes": imported.source_bytes,
                "crc32": format!("{:08x}", imported.source_crc32),
                "producer": imported.producer,
                "opset": imported.opset,
            },
            "tool": format!("ferrite-quantizer {}", env!("CARGO_PKG_VERSION")),
            "text": opts.card,
        },
    });
    let extras = writer::Extras { labels: &opts.labels, preprocess: preprocess.as_ref() };
    let written = writer::write(&graph, &serde_json::to_string_pretty(&meta).unwrap_or_default(), extras);
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
    })
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
