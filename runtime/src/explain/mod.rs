//! Occlusion attribution: why a model decided what it did, computed on the device.
//!
//! A part of the input (a word, a time segment, a band of mel filters) is hidden, the model runs
//! again, and the part's importance is how much the score of the explained label drops:
//! `importance = score(input) - score(input with the part hidden)`. Positive parts argued for the
//! label, negative ones against it. The score is the label's probability (the first output, with a
//! softmax applied when the model does not end in one). docs/EXPLAIN.md is the normative text.
//!
//! Everything here runs in the `no_std` core on the caller's buffers, with one session reused for
//! every run: a device answers "why" with the arena it already has.

mod audio;
mod rank;
mod text;

pub use audio::{explain_audio, AudioExplanation, AudioGrid, AudioScratch};
pub use rank::spearman;
pub use text::{explain_text, TextExplanation};

use crate::error::{Error, Result};
use crate::session::{Input, Session};

/// Which label an explanation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The label the model predicts for the whole input.
    Predicted,
    /// This class index.
    Label(usize),
}

/// How a run's first output becomes the explained label's score: read as probabilities when the
/// model ends in a Softmax, else through [`softmax_at`]. Decided once per explanation, not per run.
#[derive(Clone, Copy)]
struct Scorer {
    probabilities: bool,
}

impl Scorer {
    fn of(session: &Session<'_, '_, '_>) -> Self {
        Scorer { probabilities: session.model().first_output_is_probabilities() }
    }

    /// Runs `session` on `input` and returns (predicted class, score of `target`'s class, that
    /// class). `Target::Predicted` resolves to the argmax of this run.
    fn score(self, session: &mut Session<'_, '_, '_>, input: Input<'_>, target: Target) -> Result<(usize, f32, usize)> {
        let out = session.run(&[input])?;
        let values = out.f32(0).ok_or(Error::BadExplain(rule!("the first output is not f32 scores")))?;
        if values.is_empty() {
            return Err(Error::BadExplain(rule!("the first output is empty")));
        }
        let mut best = 0;
        for (i, v) in values.iter().enumerate() {
            if *v > values[best] {
                best = i;
            }
        }
        let class = match target {
            Target::Predicted => best,
            Target::Label(l) if l < values.len() => l,
            Target::Label(_) => return Err(Error::BadExplain(rule!("the label is out of range"))),
        };
        let s = if self.probabilities { values[class] } else { softmax_at(values, class) };
        Ok((best, s, class))
    }
}

/// `softmax(values)[class]`, in f64 (stable: subtracts the maximum), rounded once to f32.
fn softmax_at(values: &[f32], class: usize) -> f32 {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = values.iter().map(|&v| libm::exp(v as f64 - max)).sum();
    let own = values.get(class).map_or(0.0, |&v| libm::exp(v as f64 - max));
    (own / sum) as f32
}
