//! Sample-rate conversion by windowed sinc: for output sample `m` at input time
//! `t = m * in_rate / out_rate` (exact rational arithmetic),
//! `y[m] = Σ_k x[k] · 2·fc · sinc(2·fc·(t − k)) · ½(1 + cos(π(t − k)/W))` over the `2W` input samples
//! nearest `t`, with cut-off `fc = ½·min(1, out_rate/in_rate)` cycles per input sample and half-width
//! `W = 16·⌈in_rate/out_rate⌉` when downsampling, 16 otherwise. Samples outside the input read as 0.
//! models/common/ferrite_audio.py `resample` is the same formula.

use crate::error::{Error, Result};

/// Zero crossings of the narrower band on each side of the kernel centre.
pub const HALF_WIDTH: u64 = 16;
/// Highest rate accepted (bounds the kernel width and the work per sample).
pub const MAX_RATE: u32 = 192_000;

/// Number of output samples for `n` input samples: `⌈n · out_rate / in_rate⌉`.
pub fn output_len(n: usize, in_rate: u32, out_rate: u32) -> usize {
    if in_rate == 0 {
        return 0;
    }
    let num = (n as u128) * out_rate as u128;
    usize::try_from(num.div_ceil(in_rate as u128)).unwrap_or(usize::MAX)
}

/// Half-width `W` of the kernel in input samples: how far past the last output's input time the
/// resampler reads.
pub fn half_width(in_rate: u32, out_rate: u32) -> u64 {
    if in_rate > out_rate {
        HALF_WIDTH * (in_rate as u64).div_ceil(out_rate as u64)
    } else {
        HALF_WIDTH
    }
}

/// Resamples `input` (at `in_rate`) into `out` (at `out_rate`); `out` must be exactly
/// [`output_len`] long.
pub fn resample(input: &[f32], in_rate: u32, out_rate: u32, out: &mut [f32]) -> Result<()> {
    if in_rate == 0 || out_rate == 0 || in_rate > MAX_RATE || out_rate > MAX_RATE {
        return Err(Error::UnsupportedWav { what: rule!("sample rate for resampling"), value: in_rate.max(out_rate) });
    }
    let needed = output_len(input.len(), in_rate, out_rate);
    if out.len() != needed {
        return Err(Error::BufferSize { needed: needed as u64, given: out.len() as u64 });
    }
    if in_rate == out_rate {
        out.copy_from_slice(input);
        return Ok(());
    }
    let fc = 0.5 * f64::min(1.0, out_rate as f64 / in_rate as f64);
    let w = half_width(in_rate, out_rate);
    let pi = core::f64::consts::PI;
    // Kernel weight at distance d = t - k. Every output with the same phase (m·in_rate mod out_rate)
    // uses the same weights, so for kernels of at most CACHE taps (8 <-> 16 kHz: 32 or 64) they are
    // computed once per phase change into a stack buffer; the values are the same bits either way.
    let weight = |d: f64| {
        let x = 2.0 * fc * d;
        let sinc = if x == 0.0 { 1.0 } else { libm::sin(pi * x) / (pi * x) };
        2.0 * fc * sinc * 0.5 * (1.0 + libm::cos(pi * d / w as f64))
    };
    const CACHE: usize = 64;
    let taps = 2 * w as usize;
    let mut cache = [0.0f64; CACHE];
    let mut cached_phase: Option<u64> = None;
    for (m, y) in out.iter_mut().enumerate() {
        let num = m as u64 * in_rate as u64;
        let base = num / out_rate as u64;
        let phase = num % out_rate as u64;
        let frac = phase as f64 / out_rate as f64;
        // k runs over base - w + 1 ..= base + w (j = 0 .. 2w); d = t - k = (base - k) + frac.
        let d_of = |j: usize| (w as f64 - 1.0 - j as f64) + frac;
        if taps <= CACHE && cached_phase != Some(phase) {
            for (j, c) in cache.iter_mut().enumerate().take(taps) {
                *c = weight(d_of(j));
            }
            cached_phase = Some(phase);
        }
        let mut acc = 0.0f64;
        for j in 0..taps {
            let Some(k) = (base + j as u64 + 1).checked_sub(w) else { continue };
            let Some(&x) = input.get(k as usize) else { break };
            let h = if taps <= CACHE { cache.get(j).copied().unwrap_or(0.0) } else { weight(d_of(j)) };
            acc += x as f64 * h;
        }
        *y = acc as f32;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn lengths_round_up() {
        assert_eq!(output_len(8000, 8000, 16000), 16000);
        assert_eq!(output_len(3, 16000, 8000), 2);
        assert_eq!(output_len(0, 16000, 8000), 0);
    }

    #[test]
    fn a_tone_survives_up_and_down() {
        // 440 Hz at 8 kHz -> 16 kHz -> 8 kHz comes back within the kernel's ripple.
        let n = 4000;
        let x: std::vec::Vec<f32> =
            (0..n).map(|i| (2.0 * core::f64::consts::PI * 440.0 * i as f64 / 8000.0).sin() as f32 * 0.5).collect();
        let mut up = vec![0.0; output_len(n, 8000, 16000)];
        resample(&x, 8000, 16000, &mut up).unwrap();
        let mut down = vec![0.0; output_len(up.len(), 16000, 8000)];
        resample(&up, 16000, 8000, &mut down).unwrap();
        assert_eq!(down.len(), n);
        // Away from the edges (where the kernel runs off the signal) the error is small.
        let err = x[100..n - 100].iter().zip(&down[100..n - 100]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 5e-3, "round trip error {err}");
        // Even samples of the upsampled signal are the original ones, up to the kernel ripple.
        let err_up = (100..n - 100).map(|i| (up[2 * i] - x[i]).abs()).fold(0.0f32, f32::max);
        assert!(err_up < 5e-3, "upsampling error {err_up}");
    }

    #[test]
    fn bad_rates_and_buffers_are_errors() {
        let mut out = [0.0; 2];
        assert!(resample(&[0.0; 4], 0, 8000, &mut out).is_err());
        assert!(resample(&[0.0; 4], 16000, 8000, &mut [0.0; 3]).is_err());
        assert!(resample(&[0.0; 4], 16000, 8000, &mut out).is_ok());
    }
}
