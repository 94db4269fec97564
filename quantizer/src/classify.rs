//! Raw input to ranked labels on the host: text or WAV bytes go through the artifact's own
//! preprocessing (the runtime's tokenizer or audio frontend), the model runs, and the first output
//! becomes probabilities. `ferrite run --text/--wav` and `ferrite eval` are thin layers over this.

use crate::error::{Error, Result};
use ferrite_runtime::{Input, Model, Preprocessing, Session};
use std::path::{Path, PathBuf};

/// One ranked answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Class index.
    pub class: usize,
    /// Label (the class index as text when the artifact has no labels).
    pub label: String,
    /// Probability.
    pub score: f32,
}

/// What one classification gives.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Probabilities of every class, in class order.
    pub probs: Vec<f32>,
    /// Things the user should know about how the input was read (truncation, resampling, ...).
    pub notes: Vec<String>,
    /// Text input: (words, words not in the vocabulary among those read).
    pub words: Option<(usize, usize)>,
}

impl Prediction {
    /// Index of the most probable class (the first on ties).
    pub fn best(&self) -> usize {
        let mut best = 0;
        for (i, p) in self.probs.iter().enumerate() {
            if *p > self.probs[best] {
                best = i;
            }
        }
        best
    }
}

/// A model with a session, ready to classify raw input.
pub struct Classifier<'m, 'a> {
    model: &'m Model<'a>,
    session: Session<'m, 'a, 'static>,
    path: PathBuf,
    labels: Vec<String>,
    /// Whether the first output is already a Softmax (else it is treated as logits).
    probabilities: bool,
}

/// The runtime's error on the artifact at `path`, as this crate's.
pub(crate) fn runtime(path: &Path) -> impl Fn(ferrite_runtime::Error) -> Error + '_ {
    move |source| Error::Artifact { path: path.to_owned(), source }
}

/// What the user should know about how a text was read: truncation and unknown words.
pub fn text_notes(enc: &ferrite_runtime::preprocess::Encoded) -> Vec<String> {
    let mut notes = Vec::new();
    if enc.truncated {
        notes.push(format!("the text has {} words; the model reads the first {}", enc.words, enc.kept));
    }
    if enc.unknown > 0 {
        notes.push(format!("{} of the words are not in the model's vocabulary", enc.unknown));
    }
    notes
}

/// Softmax in f64 (stable: subtracts the maximum).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

impl<'m, 'a> Classifier<'m, 'a> {
    /// A classifier over `model` (read from `path`, named in errors).
    pub fn new(model: &'m Model<'a>, path: &Path) -> Result<Self> {
        let session = Session::new(model).map_err(runtime(path))?;
        let probabilities = model.first_output_is_probabilities();
        let labels = model.labels().map(String::from).collect();
        Ok(Classifier { model, session, path: path.to_owned(), labels, probabilities })
    }

    /// The labels (empty when the artifact has none).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Label of class `i` (its number when there are no labels).
    pub fn label(&self, i: usize) -> String {
        self.labels.get(i).cloned().unwrap_or_else(|| i.to_string())
    }

    /// The `k` best classes, best first.
    pub fn top(&self, p: &Prediction, k: usize) -> Vec<Scored> {
        let mut order: Vec<usize> = (0..p.probs.len()).collect();
        order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]).then(a.cmp(&b)));
        order.into_iter().take(k).map(|c| Scored { class: c, label: self.label(c), score: p.probs[c] }).collect()
    }

    fn run(&mut self, input: Input<'_>, notes: Vec<String>) -> Result<Prediction> {
        let path = self.path.clone();
        let out = self.session.run(&[input]).map_err(runtime(&path))?;
        let values: Vec<f32> = match out.get(0).map(|(_, _, d)| d) {
            Some(ferrite_runtime::OutputData::F32(v)) => v.to_vec(),
            _ => return Err(Error::Usage(format!("{}: the first output is not f32 scores", path.display()))),
        };
        let probs = if self.probabilities { values } else { softmax(&values) };
        Ok(Prediction { probs, notes, words: None })
    }

    /// Classifies text with the artifact's tokenizer.
    pub fn classify_text(&mut self, text: &str) -> Result<Prediction> {
        let Preprocessing::Text(tok) = self.model.preprocessing() else {
            return Err(Error::Usage(format!("{}: this model has no text preprocessing", self.path.display())));
        };
        let mut ids = vec![0i32; tok.seq_len()];
        let enc = tok.encode(text, &mut ids).map_err(runtime(&self.path))?;
        let mut p = self.run(Input::I32(&ids), text_notes(&enc))?;
        p.words = Some((enc.words, enc.unknown));
        Ok(p)
    }

    /// Classifies a WAV file's bytes with the artifact's audio frontend.
    pub fn classify_wav(&mut self, bytes: &[u8]) -> Result<Prediction> {
        let Preprocessing::Audio(fe) = self.model.preprocessing() else {
            return Err(Error::Usage(format!("{}: this model has no audio preprocessing", self.path.display())));
        };
        let wav = ferrite_runtime::preprocess::wav::parse(bytes).map_err(runtime(&self.path))?;
        let mut notes = Vec::new();
        if wav.sample_rate != fe.sample_rate() {
            notes.push(format!("resampled from {} Hz to {} Hz", wav.sample_rate, fe.sample_rate()));
        }
        let seconds = wav.len() as f64 / wav.sample_rate as f64;
        let clip = fe.clip_samples() as f64 / fe.sample_rate() as f64;
        if seconds > clip {
            notes.push(format!("the clip lasts {seconds:.2} s; the model hears the first {clip:.2} s"));
        }
        let samples: Vec<f32> = wav.samples().collect();
        let features = fe.features_at(&samples, wav.sample_rate).map_err(runtime(&self.path))?;
        self.run(Input::F32(&features), notes)
    }
}
