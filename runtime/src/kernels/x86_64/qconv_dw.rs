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

/// [`generic::qconv_depthwise`] on AVX-512 VNNI.
pub(crate) fn qconv_dw_avx512(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) -> bool {
    if !sizes_ok(q, w, x, out) {
        return false;
    }
    if !crate::kernels::Tier::Avx512.available() || q.p.kh * q.p.kw > MAX_TAPS {
        return generic::qconv_depthwise(q, w, x, out);
    }
    let p = q.p;
    let rows_fit = p.kw <= 4 && p.kh <= MAX_ROWS && p.dilation[0] == 1 && p.kh * p.ow <= ROW_CACHE;
    // SAFETY: AVX-512 F/BW/VNNI are available (checked above); `sizes_ok` checked that x holds
    // N·H·W·C bytes, out N·OH·OW·M, w kH·kW·M, bias and requant M each: every access is inside.
    unsafe {
        if rows_fit {
            dw512_rows(q, w, x, out)
        } else {
            dw512(q, w, x, out)
        }
    };
    true
}

/// Kernel rows the row path holds.
const MAX_ROWS: usize = 8;
/// Interleaved input positions (kernel rows × output columns) the row path caches: 16 KiB.
const ROW_CACHE: usize = 64;

/// The epilogue constants of the 64 channels from `c0` (`cnt` of them) in the accumulators'
/// interleaved order (lane `4l + i` of `q` is channel `16l + 4q + i`): `bias − (128 + zx) · Σw`
/// from the interleaved weight sums, and the requantization pairs. Lanes past the block's
/// channels get bias 0 and a valid pair; their results are never stored.
///
/// # Safety
/// AVX-512 F/BW available.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn interleaved_epilogue(
    q: &QConv<'_>,
    sums: &[__m512i; 4],
    c0: usize,
    cnt: usize,
) -> ([__m512i; 4], [super::requant::Requant16; 4]) {
    let zoff = _mm512_set1_epi32(128 + q.zx);
    let mut init = [_mm512_setzero_si512(); 4];
    let rqs = core::array::from_fn(|qi| {
        let (mut bias, mut pr) = ([0i32; 16], [0i32; 32]);
        for lane in 0..16 {
            let ch = 16 * (lane / 4) + 4 * qi + lane % 4;
            let (b, r) = match (q.bias.get(c0 + ch), q.requant.get(c0 + ch)) {
                (Some(&b), Some(&r)) if ch < cnt => (b, r),
                _ => (0, crate::kernels::generic::int8::Requant { multiplier: 1 << 30, shift: 40 }),
            };
            (bias[lane], pr[2 * lane], pr[2 * lane + 1]) = (b, r.multiplier, r.shift);
        }
        // SAFETY: `bias` holds 16 i32 and `pr` 32 (16 pairs).
        unsafe {
            let b = _mm512_loadu_si512(bias.as_ptr() as *const _);
            init[qi] = _mm512_sub_epi32(b, _mm512_mullo_epi32(sums[qi], zoff));
            load16(pr.as_ptr(), 16, q.zy, q.lo, q.hi)
        }
    });
    (init, rqs)
}

/// Requantizes one output pixel's accumulators in their interleaved order (`acc[q]` lane `4l + i`
/// is channel `16l + 4q + i`, with `init` and `rqs` in the same order) and stores the 64 bytes in
/// channel order: the four 16-byte results side by side hold channels in 4-byte groups, which one
/// 32-bit permute puts in place (no 128-bit transposes of the accumulators).
///
/// # Safety
/// AVX-512 F/BW available; `dst` writable for the `mask`'s bytes; `rqs[q]` initialised.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store_interleaved(
    acc: [__m512i; 4],
    init: &[__m512i; 4],
    rqs: &[super::requant::Requant16; 4],
    mask: u64,
    dst: *mut i8,
) {
    let y = |q: usize| requant16(_mm512_add_epi32(acc[q], init[q]), &rqs[q]);
    let z = _mm512_castsi128_si512(y(0));
    let z = _mm512_inserti32x4::<1>(z, y(1));
    let z = _mm512_inserti32x4::<2>(z, y(2));
    let z = _mm512_inserti32x4::<3>(z, y(3));
    // Output group d = 4l + q (channels 4d … 4d + 3) is group 4q + l of `z`.
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    // SAFETY: the caller's contract.
    unsafe { _mm512_mask_storeu_epi8(dst, mask, _mm512_permutexvar_epi32(idx, z)) };
}

/// [`dw512`] for kernels up to 4 wide with consecutive kernel rows: each input row is interleaved
/// once per output column into a cache — the row's (up to) four taps of a channel in one 32-bit
/// lane, the layout `vpdpbusd` reads — and every output row that reads it reuses it, so an output
/// pixel costs one `vpdpbusd` per kernel row and 16 channels, with no shuffles but the final
/// channel order. Padding rows and columns read as the zero point, as in `dw512`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dw512_rows(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) {
    let p = q.p;
    let (m, kh, kw) = (p.m, p.kh, p.kw);
    let flip = _mm512_set1_epi8(-128);
    let pad = _mm512_set1_epi8((q.zx + 128) as u8 as i8);
    // Uninitialised: a slot is read only after the row it holds was built into it (`held`).
    let mut cache = [core::mem::MaybeUninit::<[__m512i; 4]>::uninit(); ROW_CACHE];
    for c0 in (0..m).step_by(64) {
        let cnt = 64.min(m - c0);
        let mask: u64 = if cnt >= 64 { u64::MAX } else { (1u64 << cnt) - 1 };
        // Each kernel row's weights interleaved (taps past kW are zero); their sums per channel.
        let mut wr = [[_mm512_setzero_si512(); 4]; MAX_ROWS];
        let mut sums = [_mm512_setzero_si512(); 4];
        for (ky, wq) in wr.iter_mut().enumerate().take(kh) {
            let taps = core::array::from_fn(|kx| (kx < kw).then_some(ky * kw + kx));
            // SAFETY: taps (ky, kx < kW) exist in w for the block's channels.
            *wq = unsafe { weight_quad(w, m, c0, mask, taps, &mut sums) };
        }
        // SAFETY: the features are available (this function's contract).
        let (init, rqs) = unsafe { interleaved_epilogue(q, &sums, c0, cnt) };
        for n in 0..p.n {
            // Which input row each cache slot holds (rows land in slot iy % kH: kH consecutive
            // rows never collide).
            let mut held = [usize::MAX; MAX_ROWS];
            for oy in 0..p.oh {
                let mut slots = [None; MAX_ROWS];
                for ky in 0..kh {
                    let Some(iy) = (oy * p.stride[0] + ky).checked_sub(p.pad[0]).filter(|&v| v < p.h) else {
                        continue;
                    };
                    let slot = iy % kh;
                    if held[slot] != iy {
                        for ox in 0..p.ow {
                            let tap_x = |kx: usize| {
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]).checked_sub(p.pad[1]);
                                match ix.filter(|&v| v < p.w && kx < kw) {
                                    Some(ix) => {
                                        let at = ((n * p.h + iy) * p.w + ix) * m + c0;
                                        // SAFETY: (iy, ix) is inside the input; channels c0..c0+cnt exist.
                                        let v = unsafe { _mm512_maskz_loadu_epi8(mask, x.as_ptr().add(at)) };
                                        _mm512_xor_si512(v, flip)
                                    }
                                    None => pad,
                                }
                            };
                            cache[slot * p.ow + ox].write(interleave4(tap_x(0), tap_x(1), tap_x(2), tap_x(3)));
                        }
                        held[slot] = iy;
                    }
                    slots[ky] = Some(slot);
                }
                for ox in 0..p.ow {
                    let mut acc = [_mm512_setzero_si512(); 4];
                    for ky in 0..kh {
                        // A padding row reads as the zero point in every tap.
                        let xs = match slots[ky] {
                            // SAFETY: `slots[ky]` is set only for a slot whose row was built above
                            // (every column written), for this image and channel block.
                            Some(slot) => unsafe { cache[slot * p.ow + ox].assume_init() },
                            None => [pad; 4],
                        };
                        for k in 0..4 {
                            acc[k] = _mm512_dpbusd_epi32(acc[k], xs[k], wr[ky][k]);
                        }
                    }
                    let at = ((n * p.oh + oy) * p.ow + ox) * m + c0;
                    // SAFETY: output pixel `at` has channels c0..c0+cnt, which `mask` selects.
                    unsafe { store_interleaved(acc, &init, &rqs, mask, out.as_mut_ptr().add(at)) };
                }
            }
        }
    }
}

/// Interleaves four 64-byte vectors so that each 32-bit lane holds one channel's byte from each:
/// result `q` lane `l` holds channels `16l + 4q … 16l + 4q + 3` (the order `vpunpck` gives).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn interleave4(a: __m512i, b: __m512i, c: __m512i, d: __m512i) -> [__m512i; 4] {
    let (ab_lo, ab_hi) = (_mm512_unpacklo_epi8(a, b), _mm512_unpackhi_epi8(a, b));
    let (cd_lo, cd_hi) = (_mm512_unpacklo_epi8(c, d), _mm512_unpackhi_epi8(c, d));
    [
        _mm512_unpacklo_epi16(ab_lo, cd_lo),
        _mm512_unpackhi_epi16(ab_lo, cd_lo),
        _mm512_unpacklo_epi16(ab_hi, cd_hi),
        _mm512_unpackhi_epi16(ab_hi, cd_hi),
    ]
}

/// The weights of four taps (`None`: a zero tap) for the 64 channels from `c0` under `mask`,
/// interleaved as [`interleave4`] does; their per-channel sums are added into `sums` (in the
/// same interleaved order).
///
/// # Safety
/// AVX-512 F/BW/VNNI available; every tap's weights for the masked channels lie inside `w`
/// (`tap · m + c0` onwards).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn weight_quad(
    w: &[i8],
    m: usize,
    c0: usize,
    mask: u64,
    taps: [Option<usize>; 4],
    sums: &mut [__m512i; 4],
) -> [__m512i; 4] {
    let tap_w = |t: Option<usize>| match t {
        // SAFETY: the caller's contract.
        Some(t) => unsafe { _mm512_maskz_loadu_epi8(mask, w.as_ptr().add(t * m + c0)) },
        None => _mm512_setzero_si512(),
    };
    let wq = interleave4(tap_w(taps[0]), tap_w(taps[1]), tap_w(taps[2]), tap_w(taps[3]));
    for k in 0..4 {
        sums[k] = _mm512_dpbusd_epi32(sums[k], _mm512_set1_epi8(1), wq[k]);
    }
    wq
}

/// Taps in groups of four (the last padded with zero weights): at most `MAX_TAPS`.
const GROUPS: usize = MAX_TAPS.div_ceil(4);

/// 64 channels per step: four taps of one channel meet four weights in one `vpdpbusd` lane
/// (activations as `x + 128`, padding as the zero point), and the sum of the channel's weights
/// takes the offset back out: `Σ_valid (x − zx)·w`, the generic sum exactly.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dw512(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) {
    let p = q.p;
    let (m, taps) = (p.m, p.kh * p.kw);
    let groups = taps.div_ceil(4);
    let flip = _mm512_set1_epi8(-128);
    let pad = _mm512_set1_epi8((q.zx + 128) as u8 as i8);
    // Tap t is (t / kW, t % kW): computed once, not per pixel.
    let (mut tky, mut tkx) = ([0usize; MAX_TAPS], [0usize; MAX_TAPS]);
    for t in 0..taps {
        (tky[t], tkx[t]) = (t / p.kw, t % p.kw);
    }
    for c0 in (0..m).step_by(64) {
        let cnt = 64.min(m - c0);
        let mask: u64 = if cnt >= 64 { u64::MAX } else { (1u64 << cnt) - 1 };
        // Weights of each group of four taps, interleaved; their sums per channel.
        let mut wg = [[_mm512_setzero_si512(); 4]; GROUPS];
        let mut sums = [_mm512_setzero_si512(); 4];
        for (gi, wq) in wg.iter_mut().enumerate().take(groups) {
            let quad = core::array::from_fn(|j| (4 * gi + j < taps).then_some(4 * gi + j));
            // SAFETY: taps t < kH·kW exist in w for the block's channels.
            *wq = unsafe { weight_quad(w, m, c0, mask, quad, &mut sums) };
        }
        // SAFETY: the features are available (this function's contract).
        let (init, rqs) = unsafe { interleaved_epilogue(q, &sums, c0, cnt) };
        for n in 0..p.n {
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let mut acc = [_mm512_setzero_si512(); 4];
                    for gi in 0..groups {
                        // Tap t of this pixel as `x + 128`; the padding reads as the zero point.
                        let tap_x = |t: usize| {
                            if t >= taps {
                                return _mm512_setzero_si512();
                            }
                            match tap(&p, oy, ox, tky[t], tkx[t]) {
                                Some((iy, ix)) => {
                                    let at = ((n * p.h + iy) * p.w + ix) * m + c0;
                                    // SAFETY: the tap is inside the input; channels c0..c0+cnt of it exist.
                                    _mm512_xor_si512(unsafe { _mm512_maskz_loadu_epi8(mask, x.as_ptr().add(at)) }, flip)
                                }
                                None => pad,
                            }
                        };
                        let xs = interleave4(tap_x(4 * gi), tap_x(4 * gi + 1), tap_x(4 * gi + 2), tap_x(4 * gi + 3));
                        for k in 0..4 {
                            acc[k] = _mm512_dpbusd_epi32(acc[k], xs[k], wg[gi][k]);
                        }
                    }
                    let at = ((n * p.oh + oy) * p.ow + ox) * m + c0;
                    // SAFETY: output pixel `at` has channels c0..c0+cnt, which `mask` selects.
                    unsafe { store_interleaved(acc, &init, &rqs, mask, out.as_mut_ptr().add(at)) };
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

/// Channels-last convolution with k4n16-hwc weights on AVX-512 VNNI: pointwise layers as one GEMM
/// over the pixels, others through patches gathered with masked byte moves (a kernel row of up to
/// 64 bytes is one load and one store) and the AVX-512 GEMM. The same bytes and the same GEMM
/// as `generic::qconv::qconv_packed`, so the same result.
pub(crate) fn qconv_packed_avx512(
    q: &QConv<'_>,
    w: &crate::kernels::generic::qgemm::PackedI8<'_>,
    x: &[i8],
    out: &mut [i8],
) -> bool {
    use crate::kernels::generic::qconv::PATCH_BYTES;
    let p = q.p;
    let taps = q.taps();
    let row_bytes = p.kw * (p.c / p.group.max(1));
    let simple = p.group == 1 && p.dilation[1] == 1 && row_bytes <= 64 && taps <= PATCH_BYTES;
    if !crate::kernels::Tier::Avx512.available() || q.is_pointwise() || !simple || w.is_lean() {
        return generic::qconv_packed(q, w, x, out, super::qgemm_avx512::qgemm);
    }
    if !q.fits(x, out) || w.rows != p.m || w.k != taps || !w.is_consistent() {
        return false;
    }
    let g = crate::kernels::generic::qgemm::QGemm {
        w: *w,
        bias: q.bias,
        requant: q.requant,
        za: q.zx,
        zy: q.zy,
        lo: q.lo,
        hi: q.hi,
    };
    let mut buf = [0i8; PATCH_BYTES];
    let per = (PATCH_BYTES / taps).max(1);
    let pixels = p.n * p.oh * p.ow;
    let mut done = 0;
    while done < pixels {
        let cnt = per.min(pixels - done);
        // SAFETY: AVX-512 BW is available (checked above); `fits` bounds x, and the buffer holds
        // cnt·taps ≤ PATCH_BYTES bytes.
        unsafe { gather_rows(q, x, done, cnt, &mut buf) };
        let (Some(a), Some(o)) = (buf.get(..cnt * taps), out.get_mut(done * p.m..(done + cnt) * p.m)) else {
            return false;
        };
        if !super::qgemm_avx512::qgemm(&g, a, cnt, o) {
            return false;
        }
        done += cnt;
    }
    true
}

/// Patches of pixels `first .. first + cnt` into `buf`, one kernel row (kW·C bytes, at most 64)
/// at a time: the zero point where the row leaves the input, the input bytes where it is inside.
///
/// # Safety
/// AVX-512 BW must be available; `x` must hold the input of `q.p`; `buf` `cnt · taps` bytes; the
/// convolution has one group, no horizontal dilation and rows of at most 64 bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn gather_rows(q: &QConv<'_>, x: &[i8], first: usize, cnt: usize, buf: &mut [i8]) {
    let p = q.p;
    let c = p.c;
    let row = p.kw * c;
    let taps = p.kh * row;
    let full: u64 = if row >= 64 { u64::MAX } else { (1u64 << row) - 1 };
    let pad = _mm512_set1_epi8(q.zx.clamp(-128, 127) as i8);
    // The pixel's coordinates, counted along (no division per pixel).
    let (mut n, mut oy, mut ox) = (first / (p.oh * p.ow), first / p.ow % p.oh, first % p.ow);
    for i in 0..cnt {
        if i > 0 {
            ox += 1;
            if ox == p.ow {
                (ox, oy) = (0, oy + 1);
                if oy == p.oh {
                    (oy, n) = (0, n + 1);
                }
            }
        }
        // Input columns x0 .. x0 + kW of every kernel row (x0 may be negative: the left padding).
        let x0 = (ox * p.stride[1]) as isize - p.pad[1] as isize;
        let cols_inside = x0 >= 0 && x0 + p.kw as isize <= p.w as isize;
        for ky in 0..p.kh {
            let dst = buf.as_mut_ptr().wrapping_add(i * taps + ky * row);
            let iy = (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0]).filter(|&v| v < p.h);
            if let (Some(iy), true) = (iy, cols_inside) {
                // The whole kernel row is inside the input: one copy, no padding.
                let src = x.as_ptr().wrapping_add(((n * p.h + iy) * p.w + x0 as usize) * c);
                // SAFETY: columns x0 .. x0 + kW of row iy exist (`row` bytes from src); the
                // destination row lies inside buf. Short rows (a stem's kW bytes of one channel)
                // move through a 16-byte register, cheaper than a 64-byte masked move.
                unsafe {
                    if row <= 16 {
                        _mm_mask_storeu_epi8(dst, full as u16, _mm_maskz_loadu_epi8(full as u16, src));
                    } else {
                        _mm512_mask_storeu_epi8(dst, full, _mm512_maskz_loadu_epi8(full, src));
                    }
                }
                continue;
            }
            // SAFETY: the row lies inside buf (i < cnt, ky < kH).
            unsafe { _mm512_mask_storeu_epi8(dst, full, pad) };
            let Some(iy) = iy else { continue };
            let lo = x0.max(0) as usize;
            let hi = ((x0 + p.kw as isize).min(p.w as isize)).max(0) as usize;
            if lo >= hi {
                continue;
            }
            let skip = ((lo as isize - x0) as usize) * c;
            let len = (hi - lo) * c;
            let m: u64 = if len >= 64 { u64::MAX } else { (1u64 << len) - 1 };
            let src = x.as_ptr().wrapping_add(((n * p.h + iy) * p.w + lo) * c);
            // SAFETY: input columns lo..hi of row iy exist (len bytes from src); the destination
            // bytes skip..skip+len lie inside the row.
            unsafe { _mm512_mask_storeu_epi8(dst.wrapping_add(skip), m, _mm512_maskz_loadu_epi8(m, src)) };
        }
    }
}

/// [`generic::qmean`] on AVX-512 for global pooling (every input row adds into the same outputs,
/// at most 256 rows): the rows summed in 16-bit lanes (|Σ x| ≤ 256 · 128 fits), widened once, the
/// zero point taken out as `rows · zx`, then the shared epilogue — the generic integers exactly.
/// Other shapes go to the generic kernel.
pub(crate) fn qmean_avx512(
    dims: &[usize],
    mask: u32,
    x: &[i8],
    zx: i32,
    r: crate::kernels::generic::int8::Requant,
    zy: i32,
    out: &mut [i8],
) -> bool {
    let (_, row, one_row) = generic::mean_rows(dims, mask);
    let rows = x.len().checked_div(row).unwrap_or(0);
    if !crate::kernels::Tier::Avx512.available()
        || !one_row
        || row == 0
        || rows == 0
        || rows > 256
        || rows * row != x.len()
        || out.len() != row
        || dims.iter().product::<usize>() != x.len()
    {
        return generic::qmean(dims, mask, x, zx, r, zy, out);
    }
    // SAFETY: AVX-512 F/BW are available (checked above); x holds rows · row bytes and out row.
    unsafe { qmean512(x, rows, row, zx, r, zy, out) };
    true
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn qmean512(
    x: &[i8],
    rows: usize,
    row: usize,
    zx: i32,
    r: crate::kernels::generic::int8::Requant,
    zy: i32,
    out: &mut [i8],
) {
    let pair = [r.multiplier, r.shift];
    let pairs: [i32; 32] = core::array::from_fn(|i| pair[i % 2]);
    // SAFETY: `pairs` holds 16 pairs.
    let rq = unsafe { load16(pairs.as_ptr(), 16, zy, i8::MIN, i8::MAX) };
    let off = _mm512_set1_epi32((rows as i32) * zx);
    for c0 in (0..row).step_by(64) {
        let cnt = 64.min(row - c0);
        let mask: u64 = if cnt == 64 { u64::MAX } else { (1u64 << cnt) - 1 };
        let (mut lo, mut hi) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for y in 0..rows {
            // SAFETY: row y's bytes c0 .. c0 + cnt lie inside x (the mask keeps the rest out).
            let v = unsafe { _mm512_maskz_loadu_epi8(mask, x.as_ptr().add(y * row + c0)) };
            lo = _mm512_add_epi16(lo, _mm512_cvtepi8_epi16(_mm512_castsi512_si256(v)));
            hi = _mm512_add_epi16(hi, _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64::<1>(v)));
        }
        for (j, half) in [lo, hi].into_iter().enumerate() {
            for k in 0..2 {
                let c = c0 + 32 * j + 16 * k;
                if c >= c0 + cnt {
                    break;
                }
                let part = if k == 0 { _mm512_castsi512_si256(half) } else { _mm512_extracti64x4_epi64::<1>(half) };
                let sums = _mm512_sub_epi32(_mm512_cvtepi16_epi32(part), off);
                let n16 = (c0 + cnt - c).min(16);
                let sm = if n16 >= 16 { 0xFFFF } else { ((1u32 << n16) - 1) as u16 };
                // SAFETY: outputs c .. c + n16 lie inside out (c + n16 ≤ c0 + cnt ≤ row).
                unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add(c), sm, requant16(sums, &rq)) };
            }
        }
    }
}
