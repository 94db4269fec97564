//! Channels-last depthwise int8 convolution on AVX-512 BW (32 channels per step) and AVX2 (16):
//! `(x − zx)·w` is exact in 16 bits (|255 · 128| < 2^15), so each tap is one `vpmullw` whose
//! product is widened and added to i32 accumulators; the requantization epilogue is the generic
//! one per lane. The 16-bit weights of every tap stay in registers across the pixels of a channel
//! block. Bit-exact with `generic::qconv::qconv_depthwise`.

// Register tiles are clearest indexed.
#![allow(clippy::needless_range_loop)]

use super::requant::{load16, load8, requant16, requant8};
use crate::kernels::generic::qconv::{self as generic, QConv};
use crate::ops::ConvParams;
use core::arch::x86_64::*;

/// Most taps kept in registers (3×3 and 5×5 kernels; 1-D kernels up to 25).
const MAX_TAPS: usize = 25;

fn sizes_ok(q: &QConv<'_>, w: &[i8], x: &[i8], out: &[i8]) -> bool {
    let p = &q.p;
    q.fits(x, out) && p.group == p.c && p.m == p.c && w.len() == p.kh * p.kw * p.m
}

/// Input coordinates of tap `(ky, kx)` for output `(oy, ox)`, if inside the input.
#[inline(always)]
fn tap(p: &ConvParams, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0])?;
    let ix = (ox * p.stride[1] + kx * p.dilation[1]).checked_sub(p.pad[1])?;
    (iy < p.h && ix < p.w).then_some((iy, ix))
}

/// [`generic::qconv_depthwise`] on AVX-512 BW.
pub(crate) fn qconv_dw_avx512(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) -> bool {
    if !sizes_ok(q, w, x, out) {
        return false;
    }
    if !crate::kernels::Tier::Avx512.available() || q.p.kh * q.p.kw > MAX_TAPS {
        return generic::qconv_depthwise(q, w, x, out);
    }
    // SAFETY: AVX-512 F/BW are available (checked above); `sizes_ok` checked that x holds
    // N·H·W·C bytes, out N·OH·OW·M, w kH·kW·M, bias and requant M each: every access is inside.
    unsafe { dw512(q, w, x, out) };
    true
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dw512(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) {
    let p = q.p;
    let (m, taps) = (p.m, p.kh * p.kw);
    let zx = _mm512_set1_epi16(q.zx as i16);
    let pairs = q.requant.as_ptr() as *const i32;
    for c0 in (0..m).step_by(32) {
        let cnt = 32.min(m - c0);
        let mask = if cnt >= 32 { u32::MAX } else { (1u32 << cnt) - 1 };
        let mut wv = [_mm512_setzero_si512(); MAX_TAPS];
        for t in 0..taps {
            // SAFETY: tap t's weights for channels c0..c0+cnt lie inside w (kH·kW·M bytes).
            wv[t] = _mm512_cvtepi8_epi16(unsafe { _mm256_maskz_loadu_epi8(mask, w.as_ptr().add(t * m + c0)) });
        }
        let (n_lo, n_hi) = (cnt.min(16), cnt.saturating_sub(16));
        // SAFETY: channels c0..c0+cnt exist in bias and requant.
        let (b_lo, b_hi, r_lo, r_hi) = unsafe {
            (
                _mm512_maskz_loadu_epi32(((1u32 << n_lo) - 1) as u16, q.bias.as_ptr().add(c0)),
                _mm512_maskz_loadu_epi32(((1u32 << n_hi) - 1) as u16, q.bias.as_ptr().add(c0 + 16)),
                load16(pairs.add(2 * c0), n_lo),
                load16(pairs.add(2 * (c0 + 16)), n_hi),
            )
        };
        for n in 0..p.n {
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let (mut lo, mut hi) = (b_lo, b_hi);
                    for ky in 0..p.kh {
                        for kx in 0..p.kw {
                            let Some((iy, ix)) = tap(&p, oy, ox, ky, kx) else { continue };
                            let at = ((n * p.h + iy) * p.w + ix) * m + c0;
                            // SAFETY: the tap is inside the input; channels c0..c0+cnt of it exist.
                            let xv = _mm512_cvtepi8_epi16(unsafe { _mm256_maskz_loadu_epi8(mask, x.as_ptr().add(at)) });
                            let prod = _mm512_mullo_epi16(_mm512_sub_epi16(xv, zx), wv[ky * p.kw + kx]);
                            lo = _mm512_add_epi32(lo, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(prod)));
                            hi = _mm512_add_epi32(hi, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(prod, 1)));
                        }
                    }
                    let at = ((n * p.oh + oy) * p.ow + ox) * m + c0;
                    let (y_lo, y_hi) = (requant16(lo, r_lo, q.zy, q.lo, q.hi), requant16(hi, r_hi, q.zy, q.lo, q.hi));
                    // SAFETY: output pixel `at` has channels c0..c0+cnt; the masks write only those.
                    unsafe {
                        _mm_mask_storeu_epi8(out.as_mut_ptr().add(at), ((1u32 << n_lo) - 1) as u16, y_lo);
                        if n_hi > 0 {
                            _mm_mask_storeu_epi8(out.as_mut_ptr().add(at + 16), ((1u32 << n_hi) - 1) as u16, y_hi);
                        }
                    }
                }
            }
        }
    }
}

/// [`generic::qconv_depthwise`] on AVX2.
pub(crate) fn qconv_dw_avx2(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) -> bool {
    if !sizes_ok(q, w, x, out) {
        return false;
    }
    if !crate::kernels::Tier::Avx2.available() || q.p.kh * q.p.kw > MAX_TAPS {
        return generic::qconv_depthwise(q, w, x, out);
    }
    // SAFETY: AVX2 is available (checked above); `sizes_ok` bounds every access as in the AVX-512
    // version.
    unsafe { dw256(q, w, x, out) };
    true
}

/// Loads `cnt ≤ 16` bytes from `src` widened to i16 (missing lanes 0).
///
/// # Safety
/// `src` must be readable for `cnt` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_i16(src: *const i8, cnt: usize) -> __m256i {
    if cnt >= 16 {
        // SAFETY: 16 readable bytes.
        return _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(src as *const __m128i) });
    }
    let mut b = [0i8; 16];
    // SAFETY: cnt readable bytes into a 16-byte buffer.
    unsafe { core::ptr::copy_nonoverlapping(src, b.as_mut_ptr(), cnt) };
    // SAFETY: b holds 16 bytes.
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(b.as_ptr() as *const __m128i) })
}

#[target_feature(enable = "avx2")]
unsafe fn dw256(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) {
    let p = q.p;
    let (m, taps) = (p.m, p.kh * p.kw);
    let zx = _mm256_set1_epi16(q.zx as i16);
    let pairs = q.requant.as_ptr() as *const i32;
    for c0 in (0..m).step_by(16) {
        let cnt = 16.min(m - c0);
        let mut wv = [_mm256_setzero_si256(); MAX_TAPS];
        for t in 0..taps {
            // SAFETY: tap t's weights for channels c0..c0+cnt lie inside w.
            wv[t] = unsafe { load_i16(w.as_ptr().add(t * m + c0), cnt) };
        }
        let (n_lo, n_hi) = (cnt.min(8), cnt.saturating_sub(8));
        let mut bias = [0i32; 16];
        bias[..cnt].copy_from_slice(&q.bias[c0..c0 + cnt]);
        // SAFETY: bias is a 16-entry buffer; channels c0..c0+cnt exist in requant.
        let (b_lo, b_hi, r_lo, r_hi) = unsafe {
            (
                _mm256_loadu_si256(bias.as_ptr() as *const __m256i),
                _mm256_loadu_si256(bias.as_ptr().add(8) as *const __m256i),
                load8(pairs.add(2 * c0), n_lo),
                load8(pairs.add(2 * (c0 + 8)), n_hi),
            )
        };
        for n in 0..p.n {
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let (mut lo, mut hi) = (b_lo, b_hi);
                    for ky in 0..p.kh {
                        for kx in 0..p.kw {
                            let Some((iy, ix)) = tap(&p, oy, ox, ky, kx) else { continue };
                            let at = ((n * p.h + iy) * p.w + ix) * m + c0;
                            // SAFETY: the tap is inside the input; channels c0..c0+cnt of it exist.
                            let xv = unsafe { load_i16(x.as_ptr().add(at), cnt) };
                            let prod = _mm256_mullo_epi16(_mm256_sub_epi16(xv, zx), wv[ky * p.kw + kx]);
                            lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(prod)));
                            hi = _mm256_add_epi32(hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(prod, 1)));
                        }
                    }
                    let at = ((n * p.oh + oy) * p.ow + ox) * m + c0;
                    let mut y = [0i8; 32];
                    // SAFETY: y holds 32 bytes; output pixel `at` has channels c0..c0+cnt.
                    unsafe {
                        _mm_storeu_si128(y.as_mut_ptr() as *mut __m128i, requant8(lo, r_lo, q.zy, q.lo, q.hi));
                        _mm_storeu_si128(y.as_mut_ptr().add(8) as *mut __m128i, requant8(hi, r_hi, q.zy, q.lo, q.hi));
                        core::ptr::copy_nonoverlapping(y.as_ptr(), out.as_mut_ptr().add(at), cnt);
                    }
                }
            }
        }
    }
}
