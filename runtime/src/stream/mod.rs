//! Keyword spotting over an endless audio stream, without allocation after creation: 16-bit PCM
//! pushed in chunks of any size ([`KeywordStream::push`]), features computed frame by frame
//! ([`StreamFrontend`]), the model run on a sliding window of its clip length every
//! [`StreamParams::hop_frames`] frames, its posteriors (softmax of the first output) smoothed
//! over the last runs, and a [`Detection`] when a keyword's smoothed posterior reaches the
//! threshold outside the refractory period ([`Detector`]). Memory is the caller's buffers and the
//! session's arena, however long the stream (docs/PREPROCESSING.md, "Streaming").

mod chunked;
mod detect;
mod frontend;
mod recurrent;

pub use chunked::{ChunkSpec, ChunkStream};
pub use detect::Detector;
pub use frontend::{FrontendLens, StreamFrontend};
pub use recurrent::RecurrentStream;

use crate::error::{Error, Result};
use crate::preprocess::{AudioFrontend, Preprocessing};
use crate::session::Session;

/// How a stream runs its model and decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamParams {
    /// Frames between two runs of the model on the sliding window (≥ 1).
    pub hop_frames: u32,
    /// Runs whose posteriors are averaged (≥ 1).
    pub smooth: u32,
    /// Smoothed posterior a keyword must reach, in (0, 1].
    pub threshold: f32,
    /// Samples after a detection's window end before another may fire.
    pub refractory: u32,
    /// A class that means "no keyword" and never fires, if the model has one.
    pub background: Option<u32>,
}

impl StreamParams {
    /// Defaults for `fe`: a run every 100 ms (at least one frame), 3 runs smoothed, threshold
    /// 0.8, refractory one clip, no background class.
    pub fn defaults_for(fe: &AudioFrontend) -> Self {
        let frame_ms = (fe.hop() as u64 * 1000 / fe.sample_rate().max(1) as u64).max(1);
        StreamParams {
            hop_frames: (100 / frame_ms).max(1) as u32,
            smooth: 3,
            threshold: 0.8,
            refractory: fe.clip_samples() as u32,
            background: None,
        }
    }

    /// The parameters' own rules (each a typed error).
    pub fn check(&self) -> Result<()> {
        let bad = |rule| Err(Error::BadInput { index: 0, rule });
        if self.hop_frames == 0 || self.hop_frames > 1 << 16 {
            return bad(rule!("hop_frames must be 1 to 65536"));
        }
        if self.smooth == 0 || self.smooth > 256 {
            return bad(rule!("smooth must be 1 to 256 runs"));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return bad(rule!("threshold must be in (0, 1]"));
        }
        Ok(())
    }
}

/// A keyword heard in the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Class index (its label: [`crate::Model::label`]).
    pub class: usize,
    /// Its smoothed posterior.
    pub score: f32,
    /// First sample of the window that fired (samples since the stream began).
    pub start: u64,
    /// One past its last sample.
    pub end: u64,
}

/// Buffer lengths (in f32) a [`KeywordStream`] needs beside its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLens {
    /// The frontend's buffers.
    pub frontend: FrontendLens,
    /// Posterior history: `smooth × classes`.
    pub history: usize,
    /// One run's posteriors: `classes`.
    pub posteriors: usize,
}

impl StreamLens {
    /// The lengths for `fe`, `classes` classes and `params`.
    pub fn of(fe: &AudioFrontend, classes: usize, params: &StreamParams) -> Self {
        StreamLens { frontend: FrontendLens::of(fe), history: params.smooth as usize * classes, posteriors: classes }
    }
}

/// Caller buffers of a [`KeywordStream`] ([`StreamLens`] gives their lengths).
#[derive(Debug)]
pub struct StreamBuffers<'b> {
    /// The frontend's tables ([`AudioFrontend::tables`] fills them; firmware may keep them in flash).
    pub tables: &'b [f32],
    /// Per-frame scratch.
    pub scratch: &'b mut [f32],
    /// One frame of samples.
    pub samples: &'b mut [f32],
    /// One window of feature rows.
    pub rows: &'b mut [f32],
    /// Posterior history.
    pub history: &'b mut [f32],
    /// One run's posteriors.
    pub posteriors: &'b mut [f32],
}

/// Owned [`StreamBuffers`] for hosts (allocated once, at creation; nothing allocates after).
#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
pub struct OwnedStreamBuffers {
    tables: alloc::vec::Vec<f32>,
    scratch: alloc::vec::Vec<f32>,
    samples: alloc::vec::Vec<f32>,
    rows: alloc::vec::Vec<f32>,
    history: alloc::vec::Vec<f32>,
    posteriors: alloc::vec::Vec<f32>,
}

#[cfg(feature = "alloc")]
impl OwnedStreamBuffers {
    /// Buffers for `fe`, `classes` classes and `params`, the frontend's tables computed.
    pub fn new(fe: &AudioFrontend, classes: usize, params: &StreamParams) -> Result<Self> {
        let lens = StreamLens::of(fe, classes, params);
        let mut tables = alloc::vec![0.0; lens.frontend.tables];
        fe.tables(&mut tables)?;
        Ok(OwnedStreamBuffers {
            tables,
            scratch: alloc::vec![0.0; lens.frontend.scratch],
            samples: alloc::vec![0.0; lens.frontend.samples],
            rows: alloc::vec![0.0; lens.frontend.rows],
            history: alloc::vec![0.0; lens.history],
            posteriors: alloc::vec![0.0; lens.posteriors],
        })
    }

    /// The buffers, borrowed.
    pub fn borrow(&mut self) -> StreamBuffers<'_> {
        StreamBuffers {
            tables: &self.tables,
            scratch: &mut self.scratch,
            samples: &mut self.samples,
            rows: &mut self.rows,
            history: &mut self.history,
            posteriors: &mut self.posteriors,
        }
    }
}

/// A keyword spotter over a stream: a session of a window model with an audio frontend, and the
/// stream's frontend and detector.
pub struct KeywordStream<'m, 'a, 'b> {
    session: Session<'m, 'a, 'b>,
    frontend: StreamFrontend<'b>,
    detector: Detector<'b>,
    posteriors: &'b mut [f32],
    /// Frames between runs, and the window's length in samples.
    hop_frames: u64,
}

impl core::fmt::Debug for KeywordStream<'_, '_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeywordStream").field("frontend", &self.frontend).field("detector", &self.detector).finish()
    }
}

impl<'m, 'a, 'b> KeywordStream<'m, 'a, 'b> {
    /// A stream over `session`, whose model must have an audio frontend, one f32 input of its
    /// features and a first output of one logit per class.
    pub fn new(session: Session<'m, 'a, 'b>, params: StreamParams, buffers: StreamBuffers<'b>) -> Result<Self> {
        let model = session.model();
        let Preprocessing::Audio(fe) = model.preprocessing() else {
            return Err(Error::BadInput { index: 0, rule: rule!("a stream needs a model with an audio frontend") });
        };
        let classes = model.outputs().next().map_or(0, |o| o.info.len());
        if buffers.posteriors.len() != classes || classes == 0 {
            return Err(Error::BufferSize { needed: classes as u64, given: buffers.posteriors.len() as u64 });
        }
        let frontend = StreamFrontend::new(fe, buffers.tables, buffers.scratch, buffers.samples, buffers.rows)?;
        let detector = Detector::new(params, classes, buffers.history)?;
        Ok(KeywordStream {
            session,
            frontend,
            detector,
            posteriors: buffers.posteriors,
            hop_frames: params.hop_frames as u64,
        })
    }

    /// The session (its model, labels, outputs).
    pub fn session(&self) -> &Session<'m, 'a, 'b> {
        &self.session
    }

    /// Samples pushed so far.
    pub fn samples_seen(&self) -> u64 {
        self.frontend.samples_seen()
    }

    /// Starts over (a new stream; the buffers stay).
    pub fn reset(&mut self) {
        self.frontend.reset();
        self.detector.reset();
        self.session.reset();
    }

    /// Pushes `pcm` (mono, at the frontend's sample rate); `on_detection` hears each detection,
    /// in order, as soon as the sample that completes its window has been pushed.
    pub fn push(&mut self, pcm: &[i16], mut on_detection: impl FnMut(Detection)) -> Result<()> {
        self.push_windows(pcm, |w| {
            if let Some(d) = w.detection {
                on_detection(d)
            }
        })
    }

    /// Pushes samples of `pcm` until one completes a window that fires (or `pcm` ends): how many
    /// were taken, and the detection. For callers that take detections one at a time (the C
    /// API): loop until every sample is taken.
    pub fn push_until_detection(&mut self, pcm: &[i16]) -> Result<(usize, Option<Detection>)> {
        until_detection(pcm, |one, fired| self.push_windows(one, |w| *fired = w.detection))
    }

    /// [`KeywordStream::push`] that reports every window the model ran on: its span, its
    /// posteriors and the detection it fired, if any (for evaluation and tests).
    pub fn push_windows(&mut self, pcm: &[i16], mut on_window: impl FnMut(&Window<'_>)) -> Result<()> {
        for &s in pcm {
            let Some(k) = self.frontend.push_sample(s)? else { continue };
            let Some(span) = window_at(self.frontend.frontend(), self.hop_frames, k) else { continue };
            self.frontend.window(self.session.input_f32_mut(0)?)?;
            let out = self.session.run_in_place()?;
            let logits = out.f32(0).ok_or(Error::BadInput { index: 0, rule: rule!("the first output must be f32") })?;
            on_window(&observe(&mut self.detector, self.posteriors, logits, span));
        }
        Ok(())
    }
}

/// Feeds `pcm` to `push` one sample at a time until one fires a detection (`push` sets it): how
/// many samples were taken, and the detection. Both streams' `push_until_detection`.
fn until_detection(
    pcm: &[i16],
    mut push: impl FnMut(&[i16], &mut Option<Detection>) -> Result<()>,
) -> Result<(usize, Option<Detection>)> {
    for (i, s) in pcm.iter().enumerate() {
        let mut fired = None;
        push(core::slice::from_ref(s), &mut fired)?;
        if fired.is_some() {
            return Ok((i + 1, fired));
        }
    }
    Ok((pcm.len(), None))
}

/// The samples `[start, end)` of the window a stream runs its detector on when frame `k`
/// completes: windows end on frames `n_frames − 1`, `n_frames − 1 + hop_frames`, …; `None` on
/// the frames between.
fn window_at(fe: &AudioFrontend, hop_frames: u64, k: u64) -> Option<(u64, u64)> {
    let rows = fe.n_frames() as u64;
    if k + 1 < rows || !(k + 1 - rows).is_multiple_of(hop_frames) {
        return None;
    }
    let start = (k + 1 - rows) * fe.hop() as u64;
    Some((start, start + fe.clip_samples() as u64))
}

/// One run's report: the posteriors of `logits` (into `posteriors`) and what `detector` fires
/// on them for the window `span`.
fn observe<'p>(
    detector: &mut Detector<'_>,
    posteriors: &'p mut [f32],
    logits: &'p [f32],
    span: (u64, u64),
) -> Window<'p> {
    softmax(logits, posteriors);
    let (start, end) = span;
    let detection = detector.observe(posteriors, start, end);
    Window { start, end, logits, posteriors, detection }
}

/// One run of the model on the stream.
#[derive(Debug, Clone, Copy)]
pub struct Window<'p> {
    /// First sample of the window.
    pub start: u64,
    /// One past its last sample.
    pub end: u64,
    /// The model's first output.
    pub logits: &'p [f32],
    /// Their softmax ([`softmax`]).
    pub posteriors: &'p [f32],
    /// The detection this run fired, if any.
    pub detection: Option<Detection>,
}

/// Softmax of `logits` into `out` (`logits.len()` long): the posteriors a stream smooths. The
/// runtime's Softmax kernel ([`crate::kernels::generic::softmax_rows`]), one row.
pub fn softmax(logits: &[f32], out: &mut [f32]) {
    crate::kernels::generic::softmax_rows(1, logits.len(), false, logits, out);
}
