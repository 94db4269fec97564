//! f32 convolution on AVX-512 and AVX2: stride-1 depthwise layers in registers (the reference's
//! flat padded-plane walk, `generic::depthwise_flat_geometry`, with a block of the run held in
//! vector accumulators across every tap instead of going through memory per tap), every other
//! layer as `generic::conv_gemm` on the tier's GEMM, then the activation with the tier's
//! element-wise kernel. Each output takes the bias, then every tap in order (a multiply, then an
//! add): the reference's sums, bit for bit.

// Register tiles are clearest indexed.
#![allow(clippy::needless_range_loop)]

use super::{elementwise, sgemm};
use crate::kernels::generic::{self, FloatSrc, DW_PLANE};
use crate::ops::ConvParams;
use core::arch::x86_64::*;

/// [`generic::conv`] on AVX-512.
pub(crate) fn conv_avx512(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    if !(depthwise(p, x, w, bias, out, true)
        || generic::conv_gemm(p, x, w, bias, out, (sgemm::sgemm_avx512, elementwise::widen_f16c)))
    {
        generic::conv_linear(p, x, w, bias, out);
    }
    elementwise::avx512::unary_in_place(p.act.func, p.act.a, p.act.b, out);
}

/// [`generic::conv`] on AVX2.
pub(crate) fn conv_avx2(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    if !(depthwise(p, x, w, bias, out, false)
        || generic::conv_gemm(p, x, w, bias, out, (sgemm::sgemm_avx2, elementwise::widen_f16c)))
    {
        generic::conv_linear(p, x, w, bias, out);
    }
    elementwise::avx2::unary_in_place(p.act.func, p.act.a, p.act.b, out);
}

/// The depthwise path, without the activation; `false` (nothing written) when it does not apply.
fn depthwise(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32], wide: bool) -> bool {
    let Some((hp, wp, run)) = generic::depthwise_flat_geometry(p) else { return false };
    let (taps, plane_out) = (p.kh * p.kw, p.oh * p.ow);
    let tier = if wide { crate::kernels::Tier::Avx512 } else { crate::kernels::Tier::Avx2 };
    if !tier.available()
        || w.len() != p.c * taps
        || x.len() != p.n * p.c * p.h * p.w
        || out.len() != p.n * p.c * plane_out
        || bias.is_some_and(|b| b.len() < p.c)
    {
        return false;
    }
    // Stack planes no larger than the layer needs (DS-CNN: 189 floats, not 4096).
    if hp * wp <= SMALL_PLANE {
        depthwise_in::<SMALL_PLANE>(p, x, w, bias, out, wide, (hp, wp, run))
    } else {
        depthwise_in::<DW_PLANE>(p, x, w, bias, out, wide, (hp, wp, run))
    }
}

/// The plane size class for small layers.
const SMALL_PLANE: usize = 512;

/// [`depthwise`]'s work with planes of `N ≥ hp·wp` floats (sizes checked by the caller).
fn depthwise_in<const N: usize>(
    p: &ConvParams,
    x: &[f32],
    w: &FloatSrc<'_>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    wide: bool,
    (hp, wp, run): (usize, usize, usize),
) -> bool {
    let (taps, plane_out) = (p.kh * p.kw, p.oh * p.ow);
    let mut padded = [0f32; N];
    let mut acc = [0f32; N];
    // Tap t reads the padded plane from offs[t] (≤ hp·wp − run, so every read stays inside).
    let offs: [usize; 64] = core::array::from_fn(|t| if t < taps { (t / p.kw) * wp + t % p.kw } else { 0 });
    if taps > offs.len() {
        return false;
    }
    let plane_in = p.h * p.w;
    for n in 0..p.n {
        for c in 0..p.c {
            let Some(xc) = x.get((n * p.c + c) * plane_in..(n * p.c + c + 1) * plane_in) else { return false };
            // SAFETY: the tier is available (checked by the caller); `pad` bounds its own accesses.
            unsafe {
                if wide {
                    pad512(p, xc, (hp, wp), &mut padded);
                } else {
                    generic::pad_plane(p, x, n, c, (hp, wp), &mut padded);
                }
            }
            let b = bias.and_then(|b| b.get(c)).copied().unwrap_or(0.0);
            // f16 weights widened per channel (exactly: the same products as f32 weights).
            let mut widened = [0f32; 64];
            let wc: &[f32] = match w {
                FloatSrc::F32(s) => s.get(c * taps..(c + 1) * taps).unwrap_or(&[]),
                FloatSrc::F16(_) => {
                    let dst = widened.get_mut(..taps).unwrap_or(&mut []);
                    w.widen_into(c * taps, dst, elementwise::widen_f16c);
                    dst
                }
            };
            if wc.len() != taps {
                return false;
            }
            // SAFETY: the tier is available (checked by the caller); `padded` holds N ≥ hp·wp ≥
            // offs[t] + run values for every tap, `acc` N ≥ run, and `wc` `taps` weights.
            unsafe {
                if wide {
                    dw_run512(&padded, &offs[..taps], wc, b, &mut acc, run);
                } else {
                    dw_run256(&padded, &offs[..taps], wc, b, &mut acc, run);
                }
            }
            let Some(oplane) = out.get_mut((n * p.c + c) * plane_out..(n * p.c + c + 1) * plane_out) else {
                return false;
            };
            for (orow, arow) in oplane.chunks_exact_mut(p.ow.max(1)).zip(acc.chunks(wp.max(1))) {
                if let Some(src) = arow.get(..p.ow) {
                    orow.copy_from_slice(src);
                }
            }
        }
    }
    true
}

/// [`generic::pad_plane`] for one channel plane `xc` with masked vector moves (its rows are
/// often only a few values long, too short for a copy call to pay).
///
/// # Safety
/// AVX-512 F available.
#[target_feature(enable = "avx512f")]
unsafe fn pad512(p: &ConvParams, xc: &[f32], (hp, wp): (usize, usize), plane: &mut [f32]) {
    let total = (hp * wp).min(plane.len());
    let dst = plane.as_mut_ptr();
    let m16 = |k: usize| -> u16 {
        if k >= 16 {
            0xFFFF
        } else {
            ((1u32 << k) - 1) as u16
        }
    };
    for i in (0..total).step_by(16) {
        // SAFETY: the mask keeps the lanes below `total` ≤ plane.len().
        unsafe { _mm512_mask_storeu_ps(dst.add(i), m16(total - i), _mm512_setzero_ps()) };
    }
    let cols = p.w.min(wp.saturating_sub(p.pad[1]));
    let rows = p.h.min(hp.saturating_sub(p.pad[0])).min(xc.len() / p.w.max(1));
    for iy in 0..rows {
        let at = (iy + p.pad[0]) * wp + p.pad[1];
        for j in (0..cols).step_by(16) {
            let k = (cols - j).min(16).min(total.saturating_sub(at + j));
            // SAFETY: row iy < rows of `xc` holds `p.w ≥ cols` values; the store's lanes stay
            // below `total` (k is clipped to it).
            unsafe {
                let v = _mm512_maskz_loadu_ps(m16(k), xc.as_ptr().add(iy * p.w + j));
                _mm512_mask_storeu_ps(dst.add(at + j), m16(k), v);
            }
        }
    }
}

/// Vectors of a block held in registers.
const BLOCK: usize = 8;

/// `acc[i] = b + Σ_t w[t] · plane[offs[t] + i]` for i < run, taps in order, 16 lanes at a time.
///
/// # Safety
/// AVX-512 F available; `plane.len() ≥ offs[t] + run` for every t; `acc.len() ≥ run`;
/// `w.len() ≥ offs.len()`.
#[target_feature(enable = "avx512f")]
unsafe fn dw_run512(plane: &[f32], offs: &[usize], w: &[f32], b: f32, acc: &mut [f32], run: usize) {
    let (src, dst) = (plane.as_ptr(), acc.as_mut_ptr());
    let mut s = 0;
    while s < run {
        let len = (16 * BLOCK).min(run - s);
        let nv = len.div_ceil(16);
        let mask = |i: usize| -> u16 {
            let k = len.saturating_sub(16 * i).min(16);
            if k >= 16 {
                0xFFFF
            } else {
                ((1u32 << k) - 1) as u16
            }
        };
        let mut a = [_mm512_set1_ps(b); BLOCK];
        for (t, &off) in offs.iter().enumerate() {
            // SAFETY: t < offs.len() ≤ w.len().
            let wv = _mm512_set1_ps(unsafe { *w.get_unchecked(t) });
            for i in 0..BLOCK {
                if i < nv {
                    // SAFETY: lanes under the mask lie below off + s + len ≤ off + run ≤ plane.len().
                    let v = unsafe { _mm512_maskz_loadu_ps(mask(i), src.add(off + s + 16 * i)) };
                    a[i] = _mm512_add_ps(a[i], _mm512_mul_ps(wv, v));
                }
            }
        }
        for i in 0..nv {
            // SAFETY: lanes under the mask lie below s + len ≤ run ≤ acc.len().
            unsafe { _mm512_mask_storeu_ps(dst.add(s + 16 * i), mask(i), a[i]) };
        }
        s += len;
    }
}

/// [`dw_run512`] with 8 lanes.
///
/// # Safety
/// As [`dw_run512`], with AVX2 available.
#[target_feature(enable = "avx2")]
unsafe fn dw_run256(plane: &[f32], offs: &[usize], w: &[f32], b: f32, acc: &mut [f32], run: usize) {
    let (src, dst) = (plane.as_ptr(), acc.as_mut_ptr());
    let mut s = 0;
    while s < run {
        let len = (8 * BLOCK).min(run - s);
        let nv = len.div_ceil(8);
        let mask = |i: usize| -> __m256i {
            let k = len.saturating_sub(8 * i).min(8) as i32;
            // Lane j is on when j < k (the sign bit of each mask lane selects it).
            _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
        };
        let mut a = [_mm256_set1_ps(b); BLOCK];
        for (t, &off) in offs.iter().enumerate() {
            // SAFETY: t < offs.len() ≤ w.len().
            let wv = _mm256_set1_ps(unsafe { *w.get_unchecked(t) });
            for i in 0..BLOCK {
                if i < nv {
                    // SAFETY: lanes under the mask lie below off + s + len ≤ plane.len().
                    let v = unsafe { _mm256_maskload_ps(src.add(off + s + 8 * i), mask(i)) };
                    a[i] = _mm256_add_ps(a[i], _mm256_mul_ps(wv, v));
                }
            }
        }
        for i in 0..nv {
            // SAFETY: lanes under the mask lie below s + len ≤ run ≤ acc.len().
            unsafe { _mm256_maskstore_ps(dst.add(s + 8 * i), mask(i), a[i]) };
        }
        s += len;
    }
}
