//! The quantizer's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while importing, converting, writing or reading files.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// tract could not parse or analyse the ONNX model.
    #[error("{path}: cannot load ONNX model: {message}")]
    Onnx {
        /// The file.
        path: PathBuf,
        /// tract's message (with its causes).
        message: String,
    },
    /// tract panicked on this model (contained: the import stops with this error instead).
    #[error("{path}: {what}: {message}")]
    Contained {
        /// The file.
        path: PathBuf,
        /// What the importer was doing: the stage, or the node (name and op type).
        what: String,
        /// The panic's message.
        message: String,
    },
    /// The graph holds ops Ferrite does not implement; every one is listed.
    #[error("{path}: {}", unsupported_text(.nodes))]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// (node name, op type, reason) for each unsupported node.
        nodes: Vec<(String, String, String)>,
    },
    /// An input shape is missing, symbolic, or contradicts `--input-shape`.
    #[error("{path}: input shape: {message}")]
    InputShape {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The graph is valid ONNX but cannot be lowered (e.g. a constant graph output).
    #[error("{path}: {message}")]
    Graph {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `.npy` file is malformed or of an unsupported type.
    #[error("{path}: bad .npy file: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The runtime rejected an artifact (or the one just written: a writer bug).
    #[error("{path}: {source}")]
    Artifact {
        /// The file.
        path: PathBuf,
        /// The runtime's error.
        source: ferrite_runtime::Error,
    },
    /// A bad command-line argument value.
    #[error("{0}")]
    Usage(String),
    /// A signing key file is malformed (its contents are never shown).
    #[error("{path}: {message}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `ferrite.toml` (or a file it names) is malformed or contradicts the model.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An evaluation data set is malformed or does not fit the model.
    #[error("{path}: {message}")]
    Data {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Every node when there are a few; past a dozen, each op type once with its count and first
/// node (a pre-quantized model can have hundreds of one kind).
fn unsupported_text(nodes: &[(String, String, String)]) -> String {
    let one = |(n, o, why): &(String, String, String)| {
        if why.is_empty() {
            format!("{n} ({o})")
        } else {
            format!("{n} ({o}: {why})")
        }
    };
    if nodes.len() <= 12 {
        return format!(
            "{} unsupported node(s): {}",
            nodes.len(),
            nodes.iter().map(one).collect::<Vec<_>>().join(", ")
        );
    }
    let mut kinds: Vec<(&str, usize, &(String, String, String))> = Vec::new();
    for n in nodes {
        match kinds.iter_mut().find(|(o, _, _)| *o == n.1) {
            Some(k) => k.1 += 1,
            None => kinds.push((&n.1, 1, n)),
        }
    }
    let listed: Vec<String> = kinds.iter().map(|(o, c, first)| format!("{o} x{c} (first: {})", one(first))).collect();
    format!("{} unsupported node(s) of {} op type(s): {}", nodes.len(), kinds.len(), listed.join(", "))
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
