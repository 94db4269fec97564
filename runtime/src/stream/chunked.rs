//! Models that read raw samples in overlapping chunks and carry a state from run to run (issue
//! 12): voice activity detectors such as Silero VAD, whose input is 64 samples of context and 512
//! new ones and whose LSTM state goes out of one run and into the next. A [`ChunkStream`] keeps the
//! last chunk's samples, runs the model every `hop` new samples on the newest `window` (the
//! model's audio input; zeros before the stream's start), and copies each state output into its
//! state input before the next run, so the caller pushes audio of any length and reads one set
//! of outputs per run. Nothing allocates: the window and the states are the caller's buffers.

use crate::error::{Error, Result};
use crate::format::DType;
use crate::session::{Outputs, Session};

/// Which input is audio, how many new samples each run takes, and which outputs feed which
/// inputs from one run to the next.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSpec<'s> {
    /// Index of the f32 input that reads the samples (its length is the window).
    pub audio: usize,
    /// New samples per run, at most the window.
    pub hop: usize,
    /// State pairs `(input index, output index)`: the output of one run is the input of the next.
    /// Both f32, of one length; they start at zero.
    pub states: &'s [(usize, usize)],
}

/// A stateful model over a stream of samples (see the module docs).
pub struct ChunkStream<'m, 'a, 'b, 's> {
    session: Session<'m, 'a, 'b>,
    spec: ChunkSpec<'s>,
    /// The newest `window` samples, oldest first.
    window: &'b mut [f32],
    /// Each state pair's values, one after the other.
    states: &'b mut [f32],
    /// New samples since the last run.
    pending: usize,
    runs: u64,
}

impl core::fmt::Debug for ChunkStream<'_, '_, '_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkStream").field("spec", &self.spec).field("runs", &self.runs).finish()
    }
}

/// Values each state pair holds: both ends f32 and of one length.
fn state_len(session: &Session<'_, '_, '_>, (i, o): (usize, usize)) -> Result<usize> {
    let model = session.model();
    let input = model.inputs().nth(i).map(|d| d.info);
    let output = model.outputs().nth(o).map(|d| d.info);
    match (input, output) {
        (Some(a), Some(b)) if a.dtype == DType::F32 && b.dtype == DType::F32 && a.len() == b.len() => Ok(a.len()),
        _ => Err(Error::BadInput {
            index: i as u32,
            rule: rule!("a state pair is an f32 input and an f32 output of the same length"),
        }),
    }
}

impl<'m, 'a, 'b, 's> ChunkStream<'m, 'a, 'b, 's> {
    /// Buffer sizes for `spec` on `session`'s model: the window (the audio input's length) and
    /// the states (their lengths summed).
    pub fn lens(session: &Session<'_, '_, '_>, spec: &ChunkSpec<'_>) -> Result<(usize, usize)> {
        let audio = session.model().inputs().nth(spec.audio).map(|d| d.info);
        let Some(audio) = audio.filter(|a| a.dtype == DType::F32 && !a.is_empty()) else {
            return Err(Error::BadInput { index: spec.audio as u32, rule: rule!("the audio input is an f32 input") });
        };
        if spec.hop == 0 || spec.hop > audio.len() {
            return Err(Error::BadInput {
                index: spec.audio as u32,
                rule: rule!("a chunk's new samples (hop) are between 1 and the audio input's length"),
            });
        }
        let mut total = 0;
        for (k, &pair) in spec.states.iter().enumerate() {
            if pair.0 == spec.audio || spec.states[..k].iter().any(|p| p.0 == pair.0 || p.1 == pair.1) {
                return Err(Error::BadInput {
                    index: pair.0 as u32,
                    rule: rule!("each state input and output appears once, and is not the audio input"),
                });
            }
            total += state_len(session, pair)?;
        }
        Ok((audio.len(), total))
    }

    /// A stream over `session`, with `window` and `states` of the lengths [`ChunkStream::lens`]
    /// gives. The model's inputs other than audio and states are left as the session holds them.
    pub fn new(
        session: Session<'m, 'a, 'b>,
        spec: ChunkSpec<'s>,
        window: &'b mut [f32],
        states: &'b mut [f32],
    ) -> Result<Self> {
        let (w, s) = Self::lens(&session, &spec)?;
        if window.len() != w || states.len() != s {
            return Err(Error::BufferSize { needed: (w + s) as u64, given: (window.len() + states.len()) as u64 });
        }
        let mut stream = ChunkStream { session, spec, window, states, pending: 0, runs: 0 };
        stream.reset();
        Ok(stream)
    }

    /// Starts over: silence before the next sample, every state at zero.
    pub fn reset(&mut self) {
        self.window.fill(0.0);
        self.states.fill(0.0);
        self.pending = 0;
        self.runs = 0;
    }

    /// Runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The session (to read its model).
    pub fn session(&self) -> &Session<'m, 'a, 'b> {
        &self.session
    }

    /// Pushes `samples` (the model's scale, e.g. [-1, 1]); `on_run` hears every run: its number
    /// (from 0) and its outputs. Samples after the last full hop wait for the next push.
    pub fn push(&mut self, samples: &[f32], mut on_run: impl FnMut(u64, &Outputs<'_>)) -> Result<()> {
        let w = self.window.len();
        let mut rest = samples;
        while !rest.is_empty() {
            // Slide the window by the samples that fit before the next run and append them.
            let n = (self.spec.hop - self.pending).min(rest.len());
            self.window.copy_within(n.., 0);
            self.window[w - n..].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            self.pending += n;
            if self.pending < self.spec.hop {
                continue;
            }
            self.pending = 0;
            self.session.input_f32_mut(self.spec.audio)?.copy_from_slice(self.window);
            let mut at = 0;
            for &(i, _) in self.spec.states {
                let dst = self.session.input_f32_mut(i)?;
                dst.copy_from_slice(&self.states[at..at + dst.len()]);
                at += dst.len();
            }
            let out = self.session.run_in_place()?;
            let mut at = 0;
            for &(_, o) in self.spec.states {
                let src = out.f32(o).ok_or(Error::BadInput { index: o as u32, rule: rule!("state output is f32") })?;
                self.states[at..at + src.len()].copy_from_slice(src);
                at += src.len();
            }
            on_run(self.runs, &out);
            self.runs += 1;
        }
        Ok(())
    }
}
