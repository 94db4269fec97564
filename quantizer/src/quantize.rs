//! The `quantize` job as a library call: import, optimise, convert precision, write, and verify
//! the written bytes with the runtime's own loader before anything reaches the disk.

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
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            precision: Precision::F32,
            import: ImportOptions::default(),
            labels: Vec::new(),
            name: None,
            task: None,
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
    let meta = json!({
        "name": name,
        "task": opts.task.clone().unwrap_or_default(),
        "precision": opts.precision.name(),
        "inputs": io(&graph.inputs),
        "outputs": io(&graph.outputs),
        "labels": opts.labels,
        "preprocessing": serde_json::Value::Null,
        "model_card": {
            "source": {
                "file": model.file_name().map(|s| s.to_string_lossy().into_owned()),
                "bytes": imported.source_bytes,
                "crc32": format!("{:08x}", imported.source_crc32),
                "producer": imported.producer,
                "opset": imported.opset,
            },
            "tool": format!("ferrite-quantizer {}", env!("CARGO_PKG_VERSION")),
        },
    });
    let written = writer::write(&graph, &serde_json::to_string_pretty(&meta).unwrap_or_default());
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
