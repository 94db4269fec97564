//! The requantization epilogue (generic `requantize`, bit for bit) on 16 lanes (AVX-512) and 8
//! lanes (AVX2): the exact 64-bit product `acc · multiplier`, plus `2^(shift−1)`, arithmetic shift
//! right by `shift`, clamp to `[lo − zy, hi − zy]`, plus `zy`, narrowed to int8.

use core::arch::x86_64::*;

/// Per-lane requantization constants of one 16-channel block, split into the even and odd 32-bit
/// lanes the 64-bit products work on, with the rounding terms and clamp bounds precomputed (a
/// block's constants serve every row of a GEMM).
#[derive(Clone, Copy)]
pub(crate) struct Requant16 {
    mult: __m512i,
    mult_odd: __m512i,
    sh_even: __m512i,
    sh_odd: __m512i,
    rnd_even: __m512i,
    rnd_odd: __m512i,
    min: __m512i,
    max: __m512i,
    zy: __m512i,
    /// Every channel's shift is 33..=52: the 32-bit form of [`requant16`] applies.
    short: bool,
    /// `2^(t−1) + zy · 2^t` per lane, with `t = shift − 32` (`sh32`).
    rnd32: __m512i,
    sh32: __m512i,
    lo32: __m512i,
    hi32: __m512i,
    /// The bounds to apply beyond int8's own (`vpmovsdb` saturates to [−128, 127]).
    clamp_lo: bool,
    clamp_hi: bool,
}

/// Loads the `(multiplier, shift)` pairs of `cnt ≤ 16` channels starting at `pairs` (2 i32 each);
/// lanes past `cnt` get multiplier 0 and shift 1. `zy`, `lo`, `hi`: the epilogue's zero point and
/// bounds.
///
/// # Safety
/// `pairs` must be valid for reading `2 · min(cnt, 16)` i32.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn load16(pairs: *const i32, cnt: usize, zy: i32, lo: i8, hi: i8) -> Requant16 {
    let lanes = 2 * cnt.min(16);
    let m_lo = if lanes >= 16 { 0xFFFFu16 } else { ((1u32 << lanes) - 1) as u16 };
    let m_hi = if lanes > 16 { ((1u32 << (lanes - 16)) - 1) as u16 } else { 0 };
    // SAFETY: the masks cover exactly the 2·cnt valid i32 (the caller's contract); masked-off
    // lanes are not read.
    let (lo_v, hi_v) =
        unsafe { (_mm512_maskz_loadu_epi32(m_lo, pairs), _mm512_maskz_loadu_epi32(m_hi, pairs.add(16))) };
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mult = _mm512_permutex2var_epi32(lo_v, even, hi_v);
    let shift = _mm512_max_epi32(_mm512_permutex2var_epi32(lo_v, odd, hi_v), _mm512_set1_epi32(1));
    let one = _mm512_set1_epi64(1);
    // The 32-bit form needs 33 ≤ shift ≤ 52 on every channel the block holds.
    let valid = if cnt >= 16 { 0xFFFF } else { ((1u32 << cnt) - 1) as u16 };
    let in_range =
        _mm512_cmpge_epi32_mask(shift, _mm512_set1_epi32(33)) & _mm512_cmple_epi32_mask(shift, _mm512_set1_epi32(52));
    let t = _mm512_sub_epi32(shift, _mm512_set1_epi32(32));
    let one32 = _mm512_set1_epi32(1);
    let rnd32 = _mm512_add_epi32(
        _mm512_sllv_epi32(one32, _mm512_sub_epi32(t, one32)),
        _mm512_sllv_epi32(_mm512_set1_epi32(zy), t),
    );
    let sh_even = _mm512_and_si512(shift, _mm512_set1_epi64(0xFFFF_FFFF));
    let sh_odd = _mm512_srli_epi64(shift, 32);
    Requant16 {
        mult,
        mult_odd: _mm512_srli_epi64(mult, 32),
        sh_even,
        sh_odd,
        rnd_even: _mm512_sllv_epi64(one, _mm512_sub_epi64(sh_even, one)),
        rnd_odd: _mm512_sllv_epi64(one, _mm512_sub_epi64(sh_odd, one)),
        min: _mm512_set1_epi64(lo as i64 - zy as i64),
        max: _mm512_set1_epi64(hi as i64 - zy as i64),
        zy: _mm512_set1_epi32(zy),
        short: in_range & valid == valid,
        rnd32,
        sh32: t,
        lo32: _mm512_set1_epi32(lo as i32),
        hi32: _mm512_set1_epi32(hi as i32),
        clamp_lo: lo > i8::MIN,
        clamp_hi: hi < i8::MAX,
    }
}

/// Requantizes 16 accumulators to int8 (generic `requantize` on each lane): the exact 64-bit
/// product, plus `2^(shift−1)`, arithmetic shift right, clamp to `[lo − zy, hi − zy]`, plus `zy`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
pub(crate) fn requant16(acc: __m512i, r: &Requant16) -> __m128i {
    if r.short {
        // shift = 32 + t with 1 ≤ t ≤ 20: the rounding term 2^(31+t) is a multiple of 2^32, so
        // ⌊(P + 2^(31+t)) / 2^(32+t)⌋ = ⌊(H + 2^(t−1)) / 2^t⌋ with H = ⌊P / 2^32⌋, the high half
        // of the 64-bit product; adding zy·2^t inside adds zy outside. |H| < 2^30, so every step
        // fits 32 bits: the same value as the 64-bit form below, in a third fewer operations.
        let even = _mm512_srli_epi64(_mm512_mul_epi32(acc, r.mult), 32);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), r.mult_odd);
        let h = _mm512_mask_blend_epi32(0xAAAA, even, odd);
        let v = _mm512_srav_epi32(_mm512_add_epi32(h, r.rnd32), r.sh32);
        // Clamp to [lo, hi]: the saturating narrow does [−128, 127]; tighter bounds (a fused
        // ReLU's lo = zy) take one compare each.
        let v = if r.clamp_hi { _mm512_min_epi32(v, r.hi32) } else { v };
        let v = if r.clamp_lo { _mm512_max_epi32(v, r.lo32) } else { v };
        return _mm512_cvtsepi32_epi8(v);
    }
    // Even lanes: vpmuldq multiplies the low (signed) 32 bits of every 64-bit lane.
    let even = _mm512_srav_epi64(_mm512_add_epi64(_mm512_mul_epi32(acc, r.mult), r.rnd_even), r.sh_even);
    let odd = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), r.mult_odd);
    let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, r.rnd_odd), r.sh_odd);
    let even = _mm512_max_epi64(_mm512_min_epi64(even, r.max), r.min);
    let odd = _mm512_max_epi64(_mm512_min_epi64(odd, r.max), r.min);
    let both = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    _mm512_cvtepi32_epi8(_mm512_add_epi32(both, r.zy))
}

/// Per-lane requantization constants of 8 channels.
#[derive(Clone, Copy)]
pub(crate) struct Requant8 {
    pub mult: __m256i,
    pub shift: __m256i,
}

/// Loads the pairs of `cnt ≤ 8` channels starting at `pairs`; lanes past `cnt` get multiplier 0
/// and shift 1.
///
/// # Safety
/// `pairs` must be valid for reading `2 · min(cnt, 8)` i32.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn load8(pairs: *const i32, cnt: usize) -> Requant8 {
    let mut buf = [0i32, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
    // SAFETY: copies exactly the 2·cnt valid i32 (the caller's contract) into a local buffer.
    unsafe { core::ptr::copy_nonoverlapping(pairs, buf.as_mut_ptr(), 2 * cnt.min(8)) };
    // SAFETY: `buf` holds 16 i32; two unaligned 256-bit loads read exactly it.
    let (a, b) = unsafe {
        (_mm256_loadu_si256(buf.as_ptr() as *const __m256i), _mm256_loadu_si256(buf.as_ptr().add(8) as *const __m256i))
    };
    // [m0 s0 m1 s1 | m2 s2 m3 s3] and [m4 s4 .. m7 s7] → multipliers and shifts in channel order.
    let idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    let (pa, pb) = (_mm256_permutevar8x32_epi32(a, idx), _mm256_permutevar8x32_epi32(b, idx));
    let mult = _mm256_permute2x128_si256(pa, pb, 0x20);
    let shift = _mm256_max_epi32(_mm256_permute2x128_si256(pa, pb, 0x31), _mm256_set1_epi32(1));
    Requant8 { mult, shift }
}

/// `clamp((prod + 2^(sh−1)) >> sh, min, max)` on 64-bit lanes. AVX2 has no arithmetic 64-bit
/// shift: `x >> s = ((x ^ m) >>> s) ^ m` with `m` the lane's sign; nor 64-bit min/max: compare
/// and blend.
#[target_feature(enable = "avx2")]
#[inline]
fn round_shift8(prod: __m256i, sh: __m256i, min: __m256i, max: __m256i) -> __m256i {
    let one = _mm256_set1_epi64x(1);
    let x = _mm256_add_epi64(prod, _mm256_sllv_epi64(one, _mm256_sub_epi64(sh, one)));
    let m = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
    let x = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, m), sh), m);
    let x = _mm256_blendv_epi8(x, max, _mm256_cmpgt_epi64(x, max));
    _mm256_blendv_epi8(x, min, _mm256_cmpgt_epi64(min, x))
}

/// Requantizes 8 accumulators to int8, returned in the low 8 bytes.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn requant8(acc: __m256i, r: Requant8, zy: i32, lo: i8, hi: i8) -> __m128i {
    let low32 = _mm256_set1_epi64x(0xFFFF_FFFF);
    let (min, max) = (_mm256_set1_epi64x(lo as i64 - zy as i64), _mm256_set1_epi64x(hi as i64 - zy as i64));
    let even = round_shift8(_mm256_mul_epi32(acc, r.mult), _mm256_and_si256(r.shift, low32), min, max);
    let odd = round_shift8(
        _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(r.mult, 32)),
        _mm256_srli_epi64(r.shift, 32),
        min,
        max,
    );
    let both = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    let v = _mm256_add_epi32(both, _mm256_set1_epi32(zy));
    let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_packs_epi16(w, w)
}
