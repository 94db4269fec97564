//! The requantization epilogue (generic `requantize`, bit for bit) on 4 lanes: the exact 64-bit
//! product (`smull`), a rounding arithmetic shift right (`srshl` by `−shift`, which adds
//! `2^(shift−1)` first, exactly the reference's rounding), the clamp to `[lo − zy, hi − zy]` in 64
//! bits, then `zy`.

use core::arch::aarch64::*;

/// Per-lane constants of 4 channels.
#[derive(Clone, Copy)]
pub(crate) struct Requant4 {
    mult: int32x4_t,
    neg_shift_lo: int64x2_t,
    neg_shift_hi: int64x2_t,
    min: int64x2_t,
    max: int64x2_t,
    zy: int32x4_t,
}

/// The constants of channels `c0 .. c0 + cnt` (`cnt ≤ 4`; lanes past it: multiplier 0, shift 1).
pub(crate) fn load4(
    pairs: &[crate::kernels::generic::int8::Requant],
    c0: usize,
    cnt: usize,
    zy: i32,
    lo: i8,
    hi: i8,
) -> Requant4 {
    let (mut m, mut s) = ([0i32; 4], [1i64; 4]);
    for i in 0..cnt.min(4) {
        if let Some(r) = pairs.get(c0 + i) {
            m[i] = r.multiplier;
            s[i] = -(r.shift.clamp(1, 62) as i64);
        }
    }
    // SAFETY: NEON is part of AArch64; the loads read the local arrays.
    unsafe {
        Requant4 {
            mult: vld1q_s32(m.as_ptr()),
            neg_shift_lo: vld1q_s64(s.as_ptr()),
            neg_shift_hi: vld1q_s64(s.as_ptr().add(2)),
            min: vdupq_n_s64(lo as i64 - zy as i64),
            max: vdupq_n_s64(hi as i64 - zy as i64),
            zy: vdupq_n_s32(zy),
        }
    }
}

#[target_feature(enable = "neon")]
#[inline]
fn clamp64(v: int64x2_t, r: &Requant4) -> int64x2_t {
    let v = vbslq_s64(vcgtq_s64(v, r.max), r.max, v);
    vbslq_s64(vcgtq_s64(r.min, v), r.min, v)
}

/// Four accumulators requantized, as i32 in `[lo, hi]`.
#[target_feature(enable = "neon")]
#[inline]
pub(crate) fn requant4(acc: int32x4_t, r: &Requant4) -> int32x4_t {
    let lo = clamp64(vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(r.mult)), r.neg_shift_lo), r);
    let hi = clamp64(vrshlq_s64(vmull_high_s32(acc, r.mult), r.neg_shift_hi), r);
    vaddq_s32(vcombine_s32(vmovn_s64(lo), vmovn_s64(hi)), r.zy)
}

/// Sixteen requantized lanes (four vectors of four, each already in `[lo, hi]`) as bytes.
#[target_feature(enable = "neon")]
#[inline]
pub(crate) fn narrow16(v: [int32x4_t; 4]) -> int8x16_t {
    let a = vcombine_s16(vmovn_s32(v[0]), vmovn_s32(v[1]));
    let b = vcombine_s16(vmovn_s32(v[2]), vmovn_s32(v[3]));
    vcombine_s8(vmovn_s16(a), vmovn_s16(b))
}
