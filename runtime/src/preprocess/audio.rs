//! Audio frontend `logmel-v1`: keep the first `clip_samples` samples (zero-padded), cut frames of
//! `frame_len` every `hop`, multiply by a periodic Hann window, zero-pad to `n_fft`, take the power
//! spectrum of the real FFT, apply `n_mels` HTK-mel triangular filters between `fmin` and `fmax`
//! (peak 1), take `ln(energy + log_floor)`, and optionally an orthonormal DCT-II keeping `n_mfcc`
//! coefficients. Output: `[n_frames][n_features]`, row-major. docs/PREPROCESSING.md is normative;
//! models/common/ferrite_audio.py is the same specification in numpy.
//!
//! Arithmetic is f32 except the tables (window, filter edges, DCT), which are computed in f64 and
//! rounded once; the real FFT is microfft's (no_std, no allocation).

use crate::error::{Error, Result};
use crate::format::{AudioParams, NORMALIZE_NONE, NORMALIZE_WINDOW_MEAN, WINDOW_HANN};

/// Smallest and largest FFT sizes (microfft's sizes compiled in).
pub const FFT_SIZES: core::ops::RangeInclusive<usize> = 16..=2048;

/// Whether this build has the FFT of size `n` (features `fft-16` … `fft-2048`, all in `all-ops`):
/// firmware links only the size its model uses (microfft's code is per size).
// Each arm is a build-time constant: with every size on, all read `true` (hence the allow).
#[allow(clippy::match_like_matches_macro)]
pub fn fft_built(n: usize) -> bool {
    match n {
        16 => cfg!(feature = "fft-16"),
        32 => cfg!(feature = "fft-32"),
        64 => cfg!(feature = "fft-64"),
        128 => cfg!(feature = "fft-128"),
        256 => cfg!(feature = "fft-256"),
        512 => cfg!(feature = "fft-512"),
        1024 => cfg!(feature = "fft-1024"),
        2048 => cfg!(feature = "fft-2048"),
        _ => false,
    }
}
/// Input sample rates the host and device accept; audio at one of them is resampled to the model's.
pub const SUPPORTED_RATES: [u32; 2] = [8000, 16000];

/// The frontend of an artifact (parameters copied out; validated at load).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioFrontend {
    sample_rate: u32,
    clip_samples: usize,
    frame_len: usize,
    hop: usize,
    n_fft: usize,
    n_mels: usize,
    n_mfcc: usize,
    fmin: f32,
    fmax: f32,
    log_floor: f32,
    /// Subtract each feature's mean over the window ([`NORMALIZE_WINDOW_MEAN`]).
    window_mean: bool,
}

fn bad(rule: &'static str) -> Error {
    Error::BadPreprocess(rule)
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * libm::log10(1.0 + f / 700.0)
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (libm::pow(10.0, m / 2595.0) - 1.0)
}

impl AudioFrontend {
    /// Checks `p` and builds the frontend (the quantizer validates configs with it).
    pub fn from_params(p: &AudioParams) -> Result<Self> {
        let a = AudioFrontend {
            sample_rate: p.sample_rate.get(),
            clip_samples: p.clip_samples.get() as usize,
            frame_len: p.frame_len.get() as usize,
            hop: p.hop.get() as usize,
            n_fft: p.n_fft.get() as usize,
            n_mels: p.n_mels.get() as usize,
            n_mfcc: p.n_mfcc.get() as usize,
            fmin: p.fmin.get(),
            fmax: p.fmax.get(),
            log_floor: p.log_floor.get(),
            window_mean: p.normalize.get() == NORMALIZE_WINDOW_MEAN,
        };
        if p.window.get() != WINDOW_HANN {
            return Err(bad(rule!("window must be 1 (periodic Hann)")));
        }
        if ![NORMALIZE_NONE, NORMALIZE_WINDOW_MEAN].contains(&p.normalize.get()) {
            return Err(bad(rule!("normalize must be 0 (none) or 1 (window mean)")));
        }
        if !(1000..=crate::preprocess::resample::MAX_RATE).contains(&a.sample_rate) {
            return Err(bad(rule!("sample_rate must be 1000 to 192000")));
        }
        if !FFT_SIZES.contains(&a.n_fft) || !a.n_fft.is_power_of_two() {
            return Err(bad(rule!("n_fft must be a power of two from 16 to 2048")));
        }
        if !fft_built(a.n_fft) {
            return Err(bad(rule!("this n_fft is not built into this runtime (enable its feature fft-N)")));
        }
        if a.frame_len == 0 || a.frame_len > a.n_fft || a.hop == 0 {
            return Err(bad(rule!("frame_len must be 1 to n_fft and hop at least 1")));
        }
        if a.clip_samples < a.frame_len || a.clip_samples > 1 << 24 {
            return Err(bad(rule!("clip_samples must be frame_len to 2^24")));
        }
        if a.n_mels == 0 || a.n_mels > 512 || a.n_mfcc > a.n_mels {
            return Err(bad(rule!("n_mels must be 1 to 512 and n_mfcc at most n_mels")));
        }
        let nyquist = a.sample_rate as f32 / 2.0;
        if !(a.fmin >= 0.0 && a.fmin < a.fmax && a.fmax <= nyquist) {
            return Err(bad(rule!("filter edges must satisfy 0 <= fmin < fmax <= sample_rate / 2")));
        }
        if !(a.log_floor > 0.0 && a.log_floor.is_finite()) {
            return Err(bad(rule!("log_floor must be positive and finite")));
        }
        Ok(a)
    }

    /// Sample rate the features are computed at.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Samples one clip holds (longer input is cut, shorter is zero-padded).
    pub fn clip_samples(&self) -> usize {
        self.clip_samples
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Samples between the starts of two frames.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Frames per clip: `1 + (clip_samples - frame_len) / hop`.
    pub fn n_frames(&self) -> usize {
        1 + (self.clip_samples - self.frame_len) / self.hop
    }

    /// FFT size (its `fft-N` feature must be built).
    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    /// Features per frame: `n_mfcc`, or `n_mels` when no DCT is applied.
    pub fn n_features(&self) -> usize {
        if self.n_mfcc > 0 {
            self.n_mfcc
        } else {
            self.n_mels
        }
    }

    /// Length of the feature buffer `features` fills.
    pub fn feature_len(&self) -> usize {
        self.n_frames() * self.n_features()
    }

    /// Length of the scratch buffer `features` needs: the tables ([`AudioFrontend::tables_len`])
    /// and the per-frame buffers ([`AudioFrontend::frame_scratch_len`]).
    pub fn scratch_len(&self) -> usize {
        self.tables_len() + self.frame_scratch_len()
    }

    /// Length of the constant tables the features are computed with: the window, the mel filter
    /// edges and the DCT matrix ([`AudioFrontend::tables`] fills them).
    pub fn tables_len(&self) -> usize {
        self.frame_len + (self.n_mels + 2) + self.n_mfcc * self.n_mels
    }

    /// Length of the per-frame buffers (FFT, power spectrum, mel energies) of
    /// [`AudioFrontend::features_with_tables`].
    pub fn frame_scratch_len(&self) -> usize {
        self.n_fft + (self.n_fft / 2 + 1) + self.n_mels
    }

    /// Whether audio at `rate` can be fed: the model's own rate, or another supported rate
    /// (resampled with [`crate::preprocess::resample`]).
    pub fn check_rate(&self, rate: u32) -> Result<()> {
        if rate == self.sample_rate || (SUPPORTED_RATES.contains(&rate) && SUPPORTED_RATES.contains(&self.sample_rate))
        {
            Ok(())
        } else {
            Err(Error::UnsupportedWav { what: rule!("sample rate (8000 or 16000 Hz)"), value: rate })
        }
    }

    /// Computes the features of `samples` (at [`AudioFrontend::sample_rate`], in [-1, 1)) into `out`
    /// ([`AudioFrontend::feature_len`] long), using `scratch` ([`AudioFrontend::scratch_len`] long).
    pub fn features(&self, samples: &[f32], out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        self.features_of(|i| samples.get(i).copied(), out, scratch)
    }

    /// [`AudioFrontend::features`] of 16-bit PCM samples, each read as `s / 32768` (what the WAV
    /// reader gives for 16-bit files, so the features are the same): firmware and the C API keep
    /// audio as `i16` and need no f32 copy of it.
    pub fn features_i16(&self, pcm: &[i16], out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        self.features_of(|i| pcm.get(i).map(|&s| s as f32 / 32768.0), out, scratch)
    }

    /// Fills `tables` ([`AudioFrontend::tables_len`] long) with the window, the mel filter edges
    /// and the DCT matrix, computed in f64 as docs/PREPROCESSING.md says. Firmware can compute
    /// them once at build time on a host (the same code, so the same bits) and keep them in flash:
    /// [`AudioFrontend::features_with_tables`] then needs no trigonometry on the device.
    pub fn tables(&self, tables: &mut [f32]) -> Result<()> {
        if tables.len() != self.tables_len() {
            return Err(Error::BufferSize { needed: self.tables_len() as u64, given: tables.len() as u64 });
        }
        let (window, rest) = tables.split_at_mut(self.frame_len);
        let (edges, dct) = rest.split_at_mut(self.n_mels + 2);
        let pi = core::f64::consts::PI;
        for (n, w) in window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * libm::cos(2.0 * pi * n as f64 / self.frame_len as f64)) as f32;
        }
        let (mel_lo, mel_hi) = (hz_to_mel(self.fmin as f64), hz_to_mel(self.fmax as f64));
        let steps = (self.n_mels + 1) as f64;
        for (j, e) in edges.iter_mut().enumerate() {
            *e = mel_to_hz(mel_lo + (mel_hi - mel_lo) * j as f64 / steps) as f32;
        }
        let m = self.n_mels as f64;
        for (i, row) in dct.chunks_exact_mut(self.n_mels).enumerate() {
            let scale = libm::sqrt(2.0 / m) * if i == 0 { core::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
            for (j, d) in row.iter_mut().enumerate() {
                *d = (libm::cos(pi * i as f64 * (2 * j + 1) as f64 / (2.0 * m)) * scale) as f32;
            }
        }
        Ok(())
    }

    /// [`AudioFrontend::features_i16`] with the tables given (from [`AudioFrontend::tables`]) and
    /// `scratch` of [`AudioFrontend::frame_scratch_len`]: the same features, bit for bit.
    pub fn features_with_tables(
        &self,
        pcm: &[i16],
        tables: &[f32],
        out: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<()> {
        self.frames(|i| pcm.get(i).map(|&s| s as f32 / 32768.0), tables, out, scratch)
    }

    fn features_of(&self, sample: impl Fn(usize) -> Option<f32>, out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        if scratch.len() < self.scratch_len() {
            return Err(Error::BufferSize { needed: self.scratch_len() as u64, given: scratch.len() as u64 });
        }
        let (tables, frame) = scratch.split_at_mut(self.tables_len());
        self.tables(tables)?;
        self.frames(sample, tables, out, frame)
    }

    /// The features of every frame, with the tables computed.
    fn frames(
        &self,
        sample: impl Fn(usize) -> Option<f32>,
        tables: &[f32],
        out: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<()> {
        if out.len() != self.feature_len() {
            return Err(Error::BufferSize { needed: self.feature_len() as u64, given: out.len() as u64 });
        }
        for (t, row) in out.chunks_exact_mut(self.n_features()).enumerate() {
            self.frame_features(|i| self.frame_sample(&sample, t, i), tables, row, scratch)?;
        }
        self.normalize_window(out);
        Ok(())
    }

    /// Sample `i` of frame `t`: the clip's samples, zero past their end or past `clip_samples`.
    fn frame_sample(&self, sample: &impl Fn(usize) -> Option<f32>, t: usize, i: usize) -> f32 {
        let pos = t * self.hop + i;
        if pos < self.clip_samples {
            sample(pos).unwrap_or(0.0)
        } else {
            0.0
        }
    }

    /// Whether each feature's mean over the window is subtracted ([`NORMALIZE_WINDOW_MEAN`]):
    /// the features of a window then depend on all its frames, so a model cannot take them one
    /// frame at a time.
    pub fn window_mean(&self) -> bool {
        self.window_mean
    }

    /// The window normalisation on a whole window of features (`n_frames` rows): with
    /// [`NORMALIZE_WINDOW_MEAN`], each column's mean (summed in frame order in f32, divided by
    /// `n_frames`) subtracted from it; otherwise nothing. The one definition the whole-clip and the
    /// streaming frontend share.
    pub(crate) fn normalize_window(&self, window: &mut [f32]) {
        let nf = self.n_features();
        if !self.window_mean || nf == 0 {
            return;
        }
        let rows = (window.len() / nf) as f32;
        for j in 0..nf {
            let sum: f32 = window.iter().skip(j).step_by(nf).sum();
            let mean = sum / rows;
            for v in window.iter_mut().skip(j).step_by(nf) {
                *v -= mean;
            }
        }
    }

    /// The features of one frame into `row` ([`AudioFrontend::n_features`] long): `sample(i)` is
    /// the frame's sample `i` (`0 ≤ i < frame_len`). The one definition both the whole-clip and
    /// the streaming frontend ([`crate::stream::StreamFrontend`]) run, so their features are
    /// the same bits.
    pub(crate) fn frame_features(
        &self,
        sample: impl Fn(usize) -> f32,
        tables: &[f32],
        row: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<()> {
        if scratch.len() < self.frame_scratch_len() {
            return Err(Error::BufferSize { needed: self.frame_scratch_len() as u64, given: scratch.len() as u64 });
        }
        let (spectrum, mel) = scratch.split_at_mut(self.n_fft + self.n_fft / 2 + 1);
        let mel = mel.get_mut(..self.n_mels).unwrap_or(&mut []);
        self.frame_log_mel(sample, tables, mel, spectrum)?;
        self.project(mel, tables, row);
        Ok(())
    }

    /// The log-mel energies of one frame into `mel` (`n_mels` long), with `scratch` of
    /// `n_fft + n_fft / 2 + 1` floats: the stage before the DCT, where explanations mask bands.
    fn frame_log_mel(
        &self,
        sample: impl Fn(usize) -> f32,
        tables: &[f32],
        mel: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<()> {
        let size = |needed: usize, given: usize| Error::BufferSize { needed: needed as u64, given: given as u64 };
        if scratch.len() < self.n_fft + self.n_fft / 2 + 1 {
            return Err(size(self.n_fft + self.n_fft / 2 + 1, scratch.len()));
        }
        if tables.len() != self.tables_len() {
            return Err(size(self.tables_len(), tables.len()));
        }
        let (window, rest) = tables.split_at(self.frame_len);
        let edges = rest.get(..self.n_mels + 2).unwrap_or(&[]);
        let (fft, rest) = scratch.split_at_mut(self.n_fft);
        let power = rest.get_mut(..self.n_fft / 2 + 1).unwrap_or(&mut []);
        let bin_hz = self.sample_rate as f32 / self.n_fft as f32;
        let n_bins = self.n_fft / 2 + 1;

        fft.fill(0.0);
        for (i, (f, w)) in fft.iter_mut().zip(window.iter()).enumerate() {
            *f = sample(i) * *w;
        }
        rfft_power(fft, power)?;
        for (j, e) in mel.iter_mut().enumerate() {
            let (lo, mid, hi) = match edges.get(j..j + 3) {
                Some(&[lo, mid, hi]) => (lo, mid, hi),
                _ => (0.0, 0.0, 0.0),
            };
            let first = ((lo / bin_hz) as usize).min(n_bins);
            let last = (libm::ceilf(hi / bin_hz) as usize).min(n_bins - 1);
            let mut acc = 0.0f32;
            for k in first..=last {
                let f = k as f32 * bin_hz;
                let w = f32::min((f - lo) / (mid - lo), (hi - f) / (hi - mid));
                if w > 0.0 {
                    acc += w * power.get(k).copied().unwrap_or(0.0);
                }
            }
            *e = libm::logf(acc + self.log_floor);
        }
        Ok(())
    }

    /// One frame's features from its log-mel energies: the DCT's first `n_mfcc` coefficients, or
    /// the energies themselves.
    fn project(&self, mel: &[f32], tables: &[f32], row: &mut [f32]) {
        if self.n_mfcc > 0 {
            let dct = tables.get(self.frame_len + self.n_mels + 2..).unwrap_or(&[]);
            for (o, drow) in row.iter_mut().zip(dct.chunks_exact(self.n_mels)) {
                *o = drow.iter().zip(mel.iter()).map(|(d, v)| d * v).sum();
            }
        } else {
            // Element-wise: equal lengths, and no length-mismatch panic path in firmware.
            for (o, v) in row.iter_mut().zip(mel.iter()) {
                *o = *v;
            }
        }
    }

    /// The log value of silence, `ln(log_floor)`: what every mel energy of a zero-padded frame is.
    pub fn silence(&self) -> f32 {
        libm::logf(self.log_floor)
    }

    /// Length of the log-mel buffer of [`AudioFrontend::log_mel`]: `n_frames * n_mels`.
    pub fn log_mel_len(&self) -> usize {
        self.n_frames() * self.n_mels
    }

    /// Number of mel filters.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// The log-mel energies of a clip (`[n_frames][n_mels]`, row-major) into `out`
    /// ([`AudioFrontend::log_mel_len`] long), with `tables` from [`AudioFrontend::tables`] and
    /// `scratch` of [`AudioFrontend::frame_scratch_len`]: the features before the DCT and the
    /// window normalisation, which [`AudioFrontend::features_from_log_mel`] applies.
    pub fn log_mel(&self, samples: &[f32], tables: &[f32], out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        if out.len() != self.log_mel_len() {
            return Err(Error::BufferSize { needed: self.log_mel_len() as u64, given: out.len() as u64 });
        }
        let sample = |pos: usize| samples.get(pos).copied();
        for (t, mel) in out.chunks_exact_mut(self.n_mels).enumerate() {
            self.frame_log_mel(|i| self.frame_sample(&sample, t, i), tables, mel, scratch)?;
        }
        Ok(())
    }

    /// The features of a clip from its log-mel energies (from [`AudioFrontend::log_mel`]), with
    /// every cell `(frame, mel)` for which `masked` holds read as [`AudioFrontend::silence`]: the
    /// same bits as [`AudioFrontend::features`] when nothing is masked. `mel_row` is scratch of
    /// `n_mels` floats.
    pub fn features_from_log_mel(
        &self,
        log_mel: &[f32],
        masked: impl Fn(usize, usize) -> bool,
        tables: &[f32],
        out: &mut [f32],
        mel_row: &mut [f32],
    ) -> Result<()> {
        let size = |needed: usize, given: usize| Error::BufferSize { needed: needed as u64, given: given as u64 };
        if log_mel.len() != self.log_mel_len() {
            return Err(size(self.log_mel_len(), log_mel.len()));
        }
        if out.len() != self.feature_len() {
            return Err(size(self.feature_len(), out.len()));
        }
        if mel_row.len() != self.n_mels {
            return Err(size(self.n_mels, mel_row.len()));
        }
        if tables.len() != self.tables_len() {
            return Err(size(self.tables_len(), tables.len()));
        }
        let silence = self.silence();
        for (t, (mel, row)) in
            log_mel.chunks_exact(self.n_mels).zip(out.chunks_exact_mut(self.n_features())).enumerate()
        {
            for (j, (m, v)) in mel_row.iter_mut().zip(mel.iter()).enumerate() {
                *m = if masked(t, j) { silence } else { *v };
            }
            self.project(mel_row, tables, row);
        }
        self.normalize_window(out);
        Ok(())
    }

    /// Features of samples at any supported rate: resamples when needed (allocates).
    #[cfg(feature = "alloc")]
    pub fn features_at(&self, samples: &[f32], rate: u32) -> Result<alloc::vec::Vec<f32>> {
        use alloc::vec;
        let x = self.at_model_rate(samples, rate)?;
        let mut out = vec![0.0f32; self.feature_len()];
        let mut scratch = vec![0.0f32; self.scratch_len()];
        self.features(&x, &mut out, &mut scratch)?;
        Ok(out)
    }

    /// The log-mel energies ([`AudioFrontend::log_mel`]) and the tables of samples at any
    /// supported rate (allocates).
    #[cfg(feature = "alloc")]
    pub fn log_mel_at(&self, samples: &[f32], rate: u32) -> Result<(alloc::vec::Vec<f32>, alloc::vec::Vec<f32>)> {
        use alloc::vec;
        let x = self.at_model_rate(samples, rate)?;
        let mut tables = vec![0.0f32; self.tables_len()];
        self.tables(&mut tables)?;
        let mut out = vec![0.0f32; self.log_mel_len()];
        let mut scratch = vec![0.0f32; self.frame_scratch_len()];
        self.log_mel(&x, &tables, &mut out, &mut scratch)?;
        Ok((out, tables))
    }

    /// `samples` at the model's rate: borrowed when they are, resampled otherwise (only the span
    /// the clip reads, plus the kernel's reach).
    #[cfg(feature = "alloc")]
    fn at_model_rate<'x>(&self, samples: &'x [f32], rate: u32) -> Result<alloc::borrow::Cow<'x, [f32]>> {
        self.check_rate(rate)?;
        if rate == self.sample_rate {
            return Ok(alloc::borrow::Cow::Borrowed(samples));
        }
        let reach = super::resample::half_width(rate, self.sample_rate) as usize + 1;
        let keep = super::resample::output_len(self.clip_samples, self.sample_rate, rate) + reach;
        let src = samples.get(..keep.min(samples.len())).unwrap_or(samples);
        let mut y = alloc::vec![0.0f32; super::resample::output_len(src.len(), rate, self.sample_rate)];
        super::resample::resample(src, rate, self.sample_rate, &mut y)?;
        Ok(alloc::borrow::Cow::Owned(y))
    }

    /// The centre frequencies' neighbours: filter `j` rises from `edges[j]` to `edges[j + 1]` and
    /// falls to `edges[j + 2]` (Hz), read from `tables` ([`AudioFrontend::tables`]).
    pub fn filter_edges<'t>(&self, tables: &'t [f32]) -> &'t [f32] {
        tables.get(self.frame_len..self.frame_len + self.n_mels + 2).unwrap_or(&[])
    }

    /// Features of a WAV file in memory (allocates).
    #[cfg(feature = "alloc")]
    pub fn features_from_wav(&self, bytes: &[u8]) -> Result<alloc::vec::Vec<f32>> {
        let wav = super::wav::parse(bytes)?;
        self.check_rate(wav.sample_rate)?;
        let samples: alloc::vec::Vec<f32> = wav.samples().collect();
        self.features_at(&samples, wav.sample_rate)
    }
}

/// `power[k] = |X[k]|²` for k = 0..=N/2, where X is the real FFT of `buf` (length N, a power of
/// two in [`FFT_SIZES`] whose feature is on; overwritten).
fn rfft_power(buf: &mut [f32], power: &mut [f32]) -> Result<()> {
    macro_rules! sizes {
        ($($n:literal => $f:ident $feature:literal),*) => {
            match buf.len() {
                $(#[cfg(feature = $feature)]
                $n => {
                    let arr: &mut [f32; $n] = buf.try_into().map_err(|_| bad(rule!("fft size")))?;
                    let spec = microfft::real::$f(arr);
                    // microfft packs the real Nyquist term into the imaginary part of bin 0.
                    let (dc, nyquist) = (spec[0].re, spec[0].im);
                    for (p, c) in power.iter_mut().zip(spec.iter()) {
                        *p = c.re * c.re + c.im * c.im;
                    }
                    if let Some(p) = power.first_mut() {
                        *p = dc * dc;
                    }
                    if let Some(p) = power.get_mut($n / 2) {
                        *p = nyquist * nyquist;
                    }
                }),*
                _ => return Err(bad(rule!("fft size"))),
            }
        };
    }
    sizes!(16 => rfft_16 "fft-16", 32 => rfft_32 "fft-32", 64 => rfft_64 "fft-64", 128 => rfft_128 "fft-128",
           256 => rfft_256 "fft-256", 512 => rfft_512 "fft-512", 1024 => rfft_1024 "fft-1024",
           2048 => rfft_2048 "fft-2048");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use std::{vec, vec::Vec};

    /// Every built FFT size gives the power spectrum of a direct DFT (in f64): each size must
    /// have the twiddle table it reads (a 2048-point FFT once read past a 1024-point one).
    #[test]
    fn every_fft_size_matches_a_direct_dft() {
        for n in super::FFT_SIZES.filter(|n| n.is_power_of_two() && super::fft_built(*n)) {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 251) as f32 / 125.0 - 1.0).collect();
            let (mut buf, mut power) = (x.clone(), vec![0f32; n / 2 + 1]);
            super::rfft_power(&mut buf, &mut power).unwrap();
            let energy: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
            for (k, &p) in power.iter().enumerate() {
                let (mut re, mut im) = (0f64, 0f64);
                for (i, &v) in x.iter().enumerate() {
                    let a = -2.0 * core::f64::consts::PI * (k * i % n) as f64 / n as f64;
                    re += v as f64 * a.cos();
                    im += v as f64 * a.sin();
                }
                let want = re * re + im * im;
                // f32 rounding against the spectrum's total energy (Parseval: n · Σx²).
                let tol = 1e-6 * n as f64 * energy;
                assert!((p as f64 - want).abs() <= tol, "n {n}, bin {k}: {p} vs {want}");
            }
        }
    }
}
