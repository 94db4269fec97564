//! The audio frontend over an endless stream: 16-bit PCM pushed in chunks of any size, one frame
//! of features computed as soon as its last sample arrives, the last `n_frames` frames kept in a
//! ring. Memory is the caller's buffers, whatever the stream's length.

use crate::error::{Error, Result};
use crate::preprocess::AudioFrontend;

/// Incremental features of a stream: frame `k` covers samples `[k·hop, k·hop + frame_len)` of
/// the stream, and its features are exactly those the whole-clip frontend computes for a clip
/// that starts on a frame boundary (the same per-frame code, [`AudioFrontend`]).
#[derive(Debug)]
pub struct StreamFrontend<'b> {
    fe: AudioFrontend,
    tables: &'b [f32],
    scratch: &'b mut [f32],
    /// The last `frame_len` samples, as `s / 32768` (what the WAV reader gives).
    samples: &'b mut [f32],
    /// The last `n_frames` frames of features, row `k % n_frames` for frame `k`.
    rows: &'b mut [f32],
    /// Samples pushed so far.
    seen: u64,
    /// Frames computed so far.
    frames: u64,
}

/// Buffer lengths (in f32) a [`StreamFrontend`] of `fe` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontendLens {
    /// [`AudioFrontend::tables_len`].
    pub tables: usize,
    /// [`AudioFrontend::frame_scratch_len`].
    pub scratch: usize,
    /// One frame of samples.
    pub samples: usize,
    /// `n_frames × n_features`: one model window of features.
    pub rows: usize,
}

impl FrontendLens {
    /// The lengths for `fe`.
    pub fn of(fe: &AudioFrontend) -> Self {
        FrontendLens {
            tables: fe.tables_len(),
            scratch: fe.frame_scratch_len(),
            samples: fe.frame_len(),
            rows: fe.feature_len(),
        }
    }
}

impl<'b> StreamFrontend<'b> {
    /// A stream over caller buffers of [`FrontendLens`] (`tables` filled by
    /// [`AudioFrontend::tables`], on the device or at build time).
    pub fn new(
        fe: AudioFrontend,
        tables: &'b [f32],
        scratch: &'b mut [f32],
        samples: &'b mut [f32],
        rows: &'b mut [f32],
    ) -> Result<Self> {
        let lens = FrontendLens::of(&fe);
        for (needed, given) in [
            (lens.tables, tables.len()),
            (lens.scratch, scratch.len()),
            (lens.samples, samples.len()),
            (lens.rows, rows.len()),
        ] {
            if given != needed {
                return Err(Error::BufferSize { needed: needed as u64, given: given as u64 });
            }
        }
        Ok(StreamFrontend { fe, tables, scratch, samples, rows, seen: 0, frames: 0 })
    }

    /// The frontend.
    pub fn frontend(&self) -> &AudioFrontend {
        &self.fe
    }

    /// Samples pushed so far.
    pub fn samples_seen(&self) -> u64 {
        self.seen
    }

    /// Frames computed so far.
    pub fn frames_done(&self) -> u64 {
        self.frames
    }

    /// Forgets the stream (the buffers keep their lengths).
    pub fn reset(&mut self) {
        self.seen = 0;
        self.frames = 0;
        self.samples.fill(0.0);
        self.rows.fill(0.0);
    }

    /// Takes one sample; `Some(k)` when it completes frame `k` (whose features are then in the
    /// ring).
    pub fn push_sample(&mut self, s: i16) -> Result<Option<u64>> {
        let n = self.samples.len() as u64;
        if let Some(slot) = self.samples.get_mut((self.seen % n) as usize) {
            *slot = s as f32 / 32768.0;
        }
        self.seen += 1;
        let hop = self.fe.hop() as u64;
        if self.seen < n || !(self.seen - n).is_multiple_of(hop) {
            return Ok(None);
        }
        let k = (self.seen - n) / hop;
        self.compute_frame(k)?;
        self.frames = k + 1;
        Ok(Some(k))
    }

    /// Features of frame `k`, whose samples are the ring's `frame_len` (oldest first).
    fn compute_frame(&mut self, k: u64) -> Result<()> {
        let n = self.samples.len();
        let nf = self.fe.n_features();
        let rows = self.rows.len() / nf.max(1);
        let oldest = (self.seen % n as u64) as usize;
        let samples = &*self.samples;
        let row_at = (k % rows.max(1) as u64) as usize * nf;
        let given = self.rows.len() as u64;
        let row =
            self.rows.get_mut(row_at..row_at + nf).ok_or(Error::BufferSize { needed: (row_at + nf) as u64, given })?;
        let sample = |i: usize| samples.get((oldest + i) % n).copied().unwrap_or(0.0);
        self.fe.frame_features(sample, self.tables, row, self.scratch)
    }

    /// The features of the last frame computed into `out` (`n_features` long): what a recurrent
    /// step model takes. An error before the first frame.
    pub fn last_frame(&self, out: &mut [f32]) -> Result<()> {
        let nf = self.fe.n_features();
        if out.len() != nf {
            return Err(Error::BufferSize { needed: nf as u64, given: out.len() as u64 });
        }
        let Some(k) = self.frames.checked_sub(1) else {
            return Err(Error::BadInput { index: 0, rule: rule!("no frame yet") });
        };
        let at = (k % self.fe.n_frames().max(1) as u64) as usize * nf;
        let src = self
            .rows
            .get(at..at + nf)
            .ok_or(Error::BufferSize { needed: (at + nf) as u64, given: self.rows.len() as u64 })?;
        out.copy_from_slice(src);
        Ok(())
    }

    /// The window of the last `n_frames` frames, oldest first, into `out` (`feature_len` long):
    /// the whole-clip features of the clip that starts at sample
    /// `(frames_done − n_frames) · hop`. An error until `n_frames` frames are done.
    pub fn window(&self, out: &mut [f32]) -> Result<()> {
        let nf = self.fe.n_features();
        let rows = self.fe.n_frames();
        if out.len() != self.rows.len() {
            return Err(Error::BufferSize { needed: self.rows.len() as u64, given: out.len() as u64 });
        }
        if self.frames < rows as u64 {
            return Err(Error::BadInput { index: 0, rule: rule!("fewer frames than one window") });
        }
        let first = (self.frames % rows as u64) as usize;
        for (r, dst) in out.chunks_exact_mut(nf).enumerate() {
            let at = (first + r) % rows * nf;
            if let Some(src) = self.rows.get(at..at + nf) {
                dst.copy_from_slice(src);
            }
        }
        self.fe.normalize_window(out);
        Ok(())
    }
}
