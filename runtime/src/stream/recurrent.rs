//! Keyword streams over a recurrent *step* model (issue 11): one frame of features and the state
//! in, the logits and the new state out, run once per frame with the state carried from step to
//! step, never re-running old frames. kws-crnn's `model-step.onnx` is such a model: inputs
//! `frame` `[1, 1, F]` and `state`, outputs `logits` and `state_out`.
//!
//! The step artifact has no frontend of its own (its one-frame input does not describe a clip):
//! the frontend and the stream parameters come from the whole-clip artifact. Detection follows the
//! window stream's schedule and rule (docs/PREPROCESSING.md, "Streaming"): every `hop_frames`
//! frames once a clip's worth of frames has passed, the posteriors of the latest step, smoothed,
//! thresholded, with the window `[start, end)` of the last clip's samples. Memory is the caller's
//! buffers plus the state; nothing allocates.

use super::{
    observe, until_detection, window_at, Detection, Detector, StreamBuffers, StreamFrontend, StreamParams, Window,
};
use crate::error::{Error, Result};
use crate::preprocess::AudioFrontend;
use crate::session::Session;

/// A keyword spotter over a stream with a recurrent step model.
pub struct RecurrentStream<'m, 'a, 'b> {
    session: Session<'m, 'a, 'b>,
    frontend: StreamFrontend<'b>,
    detector: Detector<'b>,
    posteriors: &'b mut [f32],
    /// The state between steps (the step's second output, fed back as its second input).
    state: &'b mut [f32],
    hop_frames: u64,
}

impl core::fmt::Debug for RecurrentStream<'_, '_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecurrentStream").field("frontend", &self.frontend).field("detector", &self.detector).finish()
    }
}

/// Copies `src` into `dst` of the same length (checked when the stream was made).
fn copy(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

impl<'m, 'a, 'b> RecurrentStream<'m, 'a, 'b> {
    /// A stream over `session`, a step model whose first input holds one frame of `fe`'s features
    /// (f32), whose second input and second output are the state (f32, `state.len()` values), and
    /// whose first output has one logit per class (`buffers.posteriors.len()`). `fe` and `params`
    /// are the whole-clip artifact's; the state starts at zero.
    pub fn new(
        session: Session<'m, 'a, 'b>,
        fe: AudioFrontend,
        params: StreamParams,
        buffers: StreamBuffers<'b>,
        state: &'b mut [f32],
    ) -> Result<Self> {
        let model = session.model();
        let (mut ins, mut outs) = (model.inputs(), model.outputs());
        let (frame, state_in) = (ins.next(), ins.next());
        let (logits, state_out) = (outs.next(), outs.next());
        let f32_of = |d: &Option<crate::model::TensorDesc<'_>>, len: usize| {
            d.as_ref().is_some_and(|d| d.info.dtype == crate::format::DType::F32 && d.info.len() == len)
        };
        if fe.window_mean() {
            return Err(Error::BadPreprocess(rule!(
                "a step model takes one frame at a time: its frontend cannot subtract a window's mean"
            )));
        }
        if !f32_of(&frame, fe.n_features()) || ins.next().is_some() {
            return Err(Error::BadInput {
                index: 0,
                rule: rule!("a step model's first input is one frame of f32 features"),
            });
        }
        if state.is_empty() || !f32_of(&state_in, state.len()) || !f32_of(&state_out, state.len()) {
            return Err(Error::BadInput {
                index: 1,
                rule: rule!(
                    "a step model's second input and second output are its f32 state, of the state buffer's length"
                ),
            });
        }
        let classes = buffers.posteriors.len();
        if classes == 0 || !f32_of(&logits, classes) {
            return Err(Error::BufferSize { needed: logits.map_or(0, |l| l.info.len()) as u64, given: classes as u64 });
        }
        params.check()?;
        let frontend = StreamFrontend::new(fe, buffers.tables, buffers.scratch, buffers.samples, buffers.rows)?;
        let detector = Detector::new(params, classes, buffers.history)?;
        state.fill(0.0);
        Ok(RecurrentStream {
            session,
            frontend,
            detector,
            posteriors: buffers.posteriors,
            state,
            hop_frames: params.hop_frames as u64,
        })
    }

    /// Samples pushed so far.
    pub fn samples_seen(&self) -> u64 {
        self.frontend.samples_seen()
    }

    /// Starts over: a new stream, the state at zero (the buffers stay).
    pub fn reset(&mut self) {
        self.frontend.reset();
        self.detector.reset();
        self.state.fill(0.0);
    }

    /// Pushes `pcm` (mono, at the frontend's sample rate); `on_detection` hears each detection,
    /// in order.
    pub fn push(&mut self, pcm: &[i16], mut on_detection: impl FnMut(Detection)) -> Result<()> {
        self.push_windows(pcm, |w| {
            if let Some(d) = w.detection {
                on_detection(d)
            }
        })
    }

    /// Pushes samples of `pcm` until one fires a detection: how many were taken, and the
    /// detection (`None` when the chunk ended first). What the C API's push calls, so a caller
    /// gets every detection without a callback.
    pub fn push_until_detection(&mut self, pcm: &[i16]) -> Result<(usize, Option<Detection>)> {
        until_detection(pcm, |one, fired| self.push_windows(one, |w| *fired = w.detection))
    }

    /// [`RecurrentStream::push`] that reports every run the detector looked at: its window, the
    /// step's logits and posteriors, and the detection it fired, if any.
    pub fn push_windows(&mut self, pcm: &[i16], mut on_window: impl FnMut(&Window<'_>)) -> Result<()> {
        for &s in pcm {
            let Some(k) = self.frontend.push_sample(s)? else { continue };
            self.frontend.last_frame(self.session.input_f32_mut(0)?)?;
            copy(self.session.input_f32_mut(1)?, self.state);
            let out = self.session.run_in_place()?;
            let (Some(logits), Some(next)) = (out.f32(0), out.f32(1)) else {
                return Err(Error::BadInput { index: 0, rule: rule!("a step model's outputs are f32") });
            };
            copy(self.state, next);
            let Some(span) = window_at(self.frontend.frontend(), self.hop_frames, k) else { continue };
            on_window(&observe(&mut self.detector, self.posteriors, logits, span));
        }
        Ok(())
    }
}
