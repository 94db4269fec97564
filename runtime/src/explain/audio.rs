//! Occlusion of audio: time segments and bands of mel filters, each set to silence.

use super::{Scorer, Target};
use crate::error::{Error, Result};
use crate::preprocess::Preprocessing;
use crate::session::{Input, Session};

/// How the log-mel spectrogram is cut into parts: segments of `segment_frames` frames and bands
/// of `band_mels` mel filters (the last of each may be shorter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioGrid {
    /// Frames per time segment (at least 1).
    pub segment_frames: usize,
    /// Mel filters per band (at least 1).
    pub band_mels: usize,
}

impl AudioGrid {
    /// Segments a clip of `n_frames` frames has.
    pub fn segments(&self, n_frames: usize) -> usize {
        n_frames.div_ceil(self.segment_frames.max(1))
    }

    /// Bands `n_mels` filters make.
    pub fn bands(&self, n_mels: usize) -> usize {
        n_mels.div_ceil(self.band_mels.max(1))
    }
}

/// The caller's buffers for [`explain_audio`], sized by the model's frontend.
pub struct AudioScratch<'s> {
    /// The frontend's tables ([`crate::preprocess::AudioFrontend::tables`]).
    pub tables: &'s [f32],
    /// The model's input features ([`crate::preprocess::AudioFrontend::feature_len`]).
    pub features: &'s mut [f32],
    /// One frame of mel energies (`n_mels`).
    pub mel_row: &'s mut [f32],
}

/// What [`explain_audio`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioExplanation {
    /// The class explained.
    pub label: usize,
    /// The class the model predicts for the whole clip.
    pub predicted: usize,
    /// The explained class's probability for the whole clip.
    pub score: f32,
    /// Time segments explained.
    pub segments: usize,
    /// Mel bands explained.
    pub bands: usize,
}

/// Explains the model of `session` (an audio model) on a clip given as its log-mel energies
/// ([`crate::preprocess::AudioFrontend::log_mel`]): `segments[s]` becomes the drop of the label's
/// probability when segment `s` is silent (every mel energy of its frames at the log floor),
/// `bands[b]` the drop when band `b` is silent over the whole clip. Silence is what the frontend
/// gives zero samples (and clips shorter than the model's window), so a masked part reads as
/// "nothing there" rather than as a value the model never saw.
pub fn explain_audio(
    session: &mut Session<'_, '_, '_>,
    log_mel: &[f32],
    grid: AudioGrid,
    target: Target,
    scratch: AudioScratch<'_>,
    segments: &mut [f32],
    bands: &mut [f32],
) -> Result<AudioExplanation> {
    let Preprocessing::Audio(fe) = session.model().preprocessing() else {
        return Err(Error::BadExplain(rule!("the model has no audio frontend")));
    };
    if grid.segment_frames == 0 || grid.band_mels == 0 {
        return Err(Error::BadExplain(rule!("segments and bands need at least one frame and one filter")));
    }
    let (n_seg, n_band) = (grid.segments(fe.n_frames()), grid.bands(fe.n_mels()));
    for (buf, n) in [(&*segments, n_seg), (&*bands, n_band)] {
        if buf.len() != n {
            return Err(Error::BufferSize { needed: n as u64, given: buf.len() as u64 });
        }
    }
    let AudioScratch { tables, features, mel_row } = scratch;
    fe.features_from_log_mel(log_mel, |_, _| false, tables, features, mel_row)?;
    let scorer = Scorer::of(session);
    let (predicted, base, label) = scorer.score(session, Input::F32(features), target)?;
    for (s, imp) in segments.iter_mut().enumerate() {
        let span = s * grid.segment_frames..(s + 1) * grid.segment_frames;
        fe.features_from_log_mel(log_mel, |t, _| span.contains(&t), tables, features, mel_row)?;
        *imp = base - scorer.score(session, Input::F32(features), Target::Label(label))?.1;
    }
    for (b, imp) in bands.iter_mut().enumerate() {
        let span = b * grid.band_mels..(b + 1) * grid.band_mels;
        fe.features_from_log_mel(log_mel, |_, j| span.contains(&j), tables, features, mel_row)?;
        *imp = base - scorer.score(session, Input::F32(features), Target::Label(label))?.1;
    }
    Ok(AudioExplanation { label, predicted, score: base, segments: n_seg, bands: n_band })
}
