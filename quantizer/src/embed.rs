//! Raw text to a sentence embedding on the host: the artifact's tokenizer, one run, the first
//! output's values as they are (`ferrite embed`). For encoders without a classification head,
//! such as models/minilm (mean-pooled, L2-normalized: the dot product of two embeddings is their
//! cosine similarity).

use crate::classify::{runtime, text_notes};
use crate::error::{Error, Result};
use ferrite_runtime::preprocess::Tokenizer;
use ferrite_runtime::{Input, Model, OutputData, Preprocessing, Session};
use std::path::{Path, PathBuf};

/// One embedded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The first output's values.
    pub values: Vec<f32>,
    /// Ids the model read before the padding (special tokens included).
    pub tokens: usize,
    /// How the text was read (truncation, unknown words).
    pub notes: Vec<String>,
}

/// A text model with a session, ready to embed.
pub struct Embedder<'m, 'a> {
    tok: Tokenizer<'m>,
    session: Session<'m, 'a, 'static>,
    path: PathBuf,
}

impl<'m, 'a> Embedder<'m, 'a> {
    /// An embedder over `model` (read from `path`, named in errors): it must have a tokenizer and
    /// an f32 first output.
    pub fn new(model: &'m Model<'a>, path: &Path) -> Result<Self> {
        let Preprocessing::Text(tok) = model.preprocessing() else {
            return Err(Error::Usage(format!("{}: an embedding needs a model with a tokenizer", path.display())));
        };
        let session = Session::new(model).map_err(runtime(path))?;
        Ok(Embedder { tok, session, path: path.to_owned() })
    }

    /// The embedding of `text`.
    pub fn embed(&mut self, text: &str) -> Result<Embedding> {
        let mut ids = vec![0i32; self.tok.seq_len()];
        let enc = self.tok.encode(text, &mut ids).map_err(runtime(&self.path))?;
        let path = self.path.clone();
        let out = self.session.run(&[Input::I32(&ids)]).map_err(runtime(&path))?;
        let values = match out.get(0).map(|(_, _, d)| d) {
            Some(OutputData::F32(v)) => v.to_vec(),
            _ => return Err(Error::Usage(format!("{}: the first output is not f32 values", path.display()))),
        };
        Ok(Embedding { values, tokens: enc.tokens, notes: text_notes(&enc) })
    }
}

/// Cosine similarity of two vectors (0 when either is zero), computed in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
