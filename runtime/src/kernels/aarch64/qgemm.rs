//! int8 GEMM over k4n16 weights on the three AArch64 tiers. Each computes, for up to four rows of
//! activations and one block of 16 weight rows, the exact sums `Σ x·w` (signed × signed), then
//! `acc = bias + Σ x·w − za · s[c]` with the stored row sums (a session has checked they are the
//! true sums, so this is the generic formula's integer), then the shared epilogue:
//!
//! - NEON: `smull` (exact 16-bit products) and `sadalp` (pairwise widening accumulate), two rows;
//! - dotprod: one `sdot` per 16 weight bytes (4 rows × 4 bytes, the layout's group), four rows;
//! - i8mm: `smmla` on 2 activation rows × 2 weight rows × 8 bytes, the weights of two consecutive
//!   groups zipped in registers (`zip1`/`zip2` of 32-bit lanes); `sdot` for a last odd group and
//!   for single rows.

// Register tiles are clearest indexed.
#![allow(clippy::needless_range_loop)]

use super::requant::{load4, narrow16, requant4};
use crate::kernels::generic::qgemm::{self as generic, PackedI8, QGemm, NR};
use core::arch::aarch64::*;
use core::arch::asm;

/// Raw sums of up to 4 rows × one block: `t[i][q]` holds rows `4q … 4q+3` of the block for
/// activation row `i`.
type Tile = [[int32x4_t; 4]; 4];

/// The four activation bytes of group `g` of a row of `k` (0 past the row: its weights are zero),
/// repeated in every 32-bit lane.
///
/// # Safety
/// `row` must be readable for `k` bytes.
#[inline(always)]
unsafe fn group_x(row: *const i8, k: usize, g: usize) -> u32 {
    let at = 4 * g;
    if at + 4 <= k {
        // SAFETY: at..at+4 lies inside the row.
        unsafe { (row.add(at) as *const u32).read_unaligned() }
    } else {
        let mut d = 0u32;
        for i in 0..k.saturating_sub(at).min(4) {
            // SAFETY: at + i < k.
            d |= (unsafe { *row.add(at + i) } as u8 as u32) << (8 * i);
        }
        d
    }
}

#[target_feature(enable = "neon")]
#[inline]
fn zero_tile() -> Tile {
    [[vdupq_n_s32(0); 4]; 4]
}

/// NEON (ARMv8.0): two rows at a time.
///
/// # Safety
/// Rows `a, a+k` (mr ≤ 2) readable for `k` bytes; `w` (one block) for `16·kp` bytes.
#[target_feature(enable = "neon")]
unsafe fn tile_neon(a: *const i8, k: usize, mr: usize, w: *const i8, kp: usize) -> Tile {
    let mut lo = [[vdupq_n_s32(0); 4]; 2];
    let mut hi = [[vdupq_n_s32(0); 4]; 2];
    for g in 0..kp / 4 {
        let mut x = [vdupq_n_s8(0); 2];
        for i in 0..mr.min(2) {
            // SAFETY: row i < mr is readable for k bytes.
            x[i] = vreinterpretq_s8_u32(vdupq_n_u32(unsafe { group_x(a.add(i * k), k, g) }));
        }
        for q in 0..4 {
            // SAFETY: the block is readable for 16·kp bytes; this is 16 bytes of group g.
            let wq = unsafe { vld1q_s8(w.add(g * 64 + 16 * q)) };
            for i in 0..mr.min(2) {
                lo[i][q] = vpadalq_s16(lo[i][q], vmull_s8(vget_low_s8(wq), vget_low_s8(x[i])));
                hi[i][q] = vpadalq_s16(hi[i][q], vmull_high_s8(wq, x[i]));
            }
        }
    }
    let mut t = zero_tile();
    for i in 0..mr.min(2) {
        for q in 0..4 {
            // [r(4q): k01, k23, r(4q+1): k01, k23] and the same for rows 4q+2, 4q+3.
            t[i][q] = vpaddq_s32(lo[i][q], hi[i][q]);
        }
    }
    t
}

/// `acc += Σ_4 w·x` per 32-bit lane (`sdot`).
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn sdot(acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction of the dotprod extension, available (target feature).
    unsafe {
        asm!("sdot {0:v}.4s, {1:v}.16b, {2:v}.16b", inout(vreg) acc, in(vreg) w, in(vreg) x, options(pure, nomem, nostack))
    };
    acc
}

/// dotprod: four rows at a time.
///
/// # Safety
/// Rows `a, a+k, …` (mr ≤ 4) readable for `k` bytes; `w` (one block) for `16·kp` bytes.
#[target_feature(enable = "neon,dotprod")]
unsafe fn tile_dot(a: *const i8, k: usize, mr: usize, w: *const i8, kp: usize) -> Tile {
    let mut t = zero_tile();
    for g in 0..kp / 4 {
        let mut x = [vdupq_n_s8(0); 4];
        for i in 0..mr.min(4) {
            // SAFETY: row i < mr is readable for k bytes.
            x[i] = vreinterpretq_s8_u32(vdupq_n_u32(unsafe { group_x(a.add(i * k), k, g) }));
        }
        for q in 0..4 {
            // SAFETY: 16 bytes of group g of the block.
            let wq = unsafe { vld1q_s8(w.add(g * 64 + 16 * q)) };
            for i in 0..mr.min(4) {
                t[i][q] = sdot(t[i][q], wq, x[i]);
            }
        }
    }
    t
}

/// `acc += A (2×8) · Bᵀ (8×2)` (`smmla`): lanes `[a0·b0, a0·b1, a1·b0, a1·b1]`.
#[target_feature(enable = "neon,i8mm")]
#[inline]
fn smmla(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction of the i8mm extension, available (target feature).
    unsafe {
        asm!("smmla {0:v}.4s, {1:v}.16b, {2:v}.16b", inout(vreg) acc, in(vreg) a, in(vreg) b, options(pure, nomem, nostack))
    };
    acc
}

/// i8mm: pairs of rows through `smmla`, a single row (or a last odd group) through `sdot`.
///
/// # Safety
/// Rows `a, a+k, …` (mr ≤ 4) readable for `k` bytes; `w` (one block) for `16·kp` bytes.
#[target_feature(enable = "neon,dotprod,i8mm")]
unsafe fn tile_mm(a: *const i8, k: usize, mr: usize, w: *const i8, kp: usize) -> Tile {
    let groups = kp / 4;
    let pairs = mr.min(4) / 2;
    let mut t = zero_tile();
    for p in 0..pairs {
        let (r0, r1) = (a.wrapping_add(2 * p * k), a.wrapping_add((2 * p + 1) * k));
        let mut m = [[vdupq_n_s32(0); 2]; 4];
        let mut g = 0;
        while g + 1 < groups {
            // SAFETY: both rows are readable for k bytes.
            let d = unsafe { [group_x(r0, k, g), group_x(r0, k, g + 1), group_x(r1, k, g), group_x(r1, k, g + 1)] };
            // SAFETY: `d` holds 16 bytes.
            let av = vreinterpretq_s8_u32(unsafe { vld1q_u32(d.as_ptr()) });
            for q in 0..4 {
                // SAFETY: 16 bytes of groups g and g+1 of the block.
                let (w0, w1) = unsafe { (vld1q_s8(w.add(g * 64 + 16 * q)), vld1q_s8(w.add((g + 1) * 64 + 16 * q))) };
                let (w0, w1) = (vreinterpretq_s32_s8(w0), vreinterpretq_s32_s8(w1));
                m[q][0] = smmla(m[q][0], av, vreinterpretq_s8_s32(vzip1q_s32(w0, w1)));
                m[q][1] = smmla(m[q][1], av, vreinterpretq_s8_s32(vzip2q_s32(w0, w1)));
            }
            g += 2;
        }
        for q in 0..4 {
            let (m0, m1) = (vreinterpretq_s64_s32(m[q][0]), vreinterpretq_s64_s32(m[q][1]));
            t[2 * p][q] = vreinterpretq_s32_s64(vzip1q_s64(m0, m1));
            t[2 * p + 1][q] = vreinterpretq_s32_s64(vzip2q_s64(m0, m1));
        }
        if g < groups {
            for (i, row) in [(2 * p, r0), (2 * p + 1, r1)] {
                // SAFETY: the row is readable for k bytes.
                let x = vreinterpretq_s8_u32(vdupq_n_u32(unsafe { group_x(row, k, g) }));
                for q in 0..4 {
                    // SAFETY: 16 bytes of the last group of the block.
                    t[i][q] = sdot(t[i][q], unsafe { vld1q_s8(w.add(g * 64 + 16 * q)) }, x);
                }
            }
        }
    }
    if mr % 2 == 1 {
        let i = mr - 1;
        // SAFETY: row i < mr, and the block, as the caller guarantees.
        let one = unsafe { tile_dot(a.wrapping_add(i * k), k, 1, w, kp) };
        t[i] = one[0];
    }
    t
}

/// `acc − za · s` for the 16 channels of one block (sums cover padded rows).
fn sums_term(w: &PackedI8<'_>, c0: usize, za: i32) -> [i32; 16] {
    core::array::from_fn(|i| w.sums.get(c0 + i).copied().unwrap_or(0).wrapping_mul(za))
}

macro_rules! tier {
    ($qgemm:ident, $qgemm_i32:ident, $tier:expr, $tile:ident, $feat:literal, $mr:literal) => {
        /// [`generic::qgemm`] on this tier.
        pub(crate) fn $qgemm(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) -> bool {
            if !q.fits(a, m, out) {
                return false;
            }
            // Lean weights (no sums, a short last block): the generic kernel.
            if !$tier.available() || q.w.is_lean() {
                return generic::qgemm(q, a, m, out);
            }
            let (k, n, kp) = (q.w.k, q.w.rows, q.w.kp());
            for b in 0..n.div_ceil(NR) {
                let c0 = b * NR;
                let cnt = NR.min(n - c0);
                let zs = sums_term(&q.w, c0, q.za);
                let init: [i32; 16] =
                    core::array::from_fn(|i| if i < cnt { q.bias[c0 + i].wrapping_sub(zs[i]) } else { 0 });
                let rq: [_; 4] = core::array::from_fn(|j| {
                    load4(q.requant, c0 + 4 * j, cnt.saturating_sub(4 * j).min(4), q.zy, q.lo, q.hi)
                });
                let mut r = 0;
                while r < m {
                    let mr = $mr.min(m - r);
                    // SAFETY: the tier is available (checked above); rows r..r+mr of `a` and block
                    // b of the weights exist (`fits`).
                    let t = unsafe { $tile(a.as_ptr().add(r * k), k, mr, q.w.data.as_ptr().add(b * NR * kp), kp) };
                    for i in 0..mr {
                        // SAFETY: NEON is part of AArch64; `init` holds 16 values.
                        let y = unsafe {
                            narrow16(core::array::from_fn(|j| {
                                requant4(vaddq_s32(t[i][j], vld1q_s32(init.as_ptr().add(4 * j))), &rq[j])
                            }))
                        };
                        let mut bytes = [0i8; 16];
                        // SAFETY: `bytes` holds 16 bytes.
                        unsafe { vst1q_s8(bytes.as_mut_ptr(), y) };
                        out[(r + i) * n + c0..(r + i) * n + c0 + cnt].copy_from_slice(&bytes[..cnt]);
                    }
                    r += mr;
                }
            }
            true
        }

        /// [`generic::qgemm_i32`] on this tier.
        pub(crate) fn $qgemm_i32(
            w: &PackedI8<'_>,
            rows: (usize, usize),
            a: &[i8],
            m: usize,
            za: i32,
            out: &mut [i32],
        ) -> bool {
            if !w.fits_i32(rows, a, m, out) {
                return false;
            }
            if !$tier.available() || w.is_lean() {
                return generic::qgemm_i32(w, rows, a, m, za, out);
            }
            let (r0, r1) = rows;
            let (k, kp, width) = (w.k, w.kp(), r1 - r0);
            for b in r0 / NR..r1.div_ceil(NR) {
                let c0 = b * NR;
                let zs = sums_term(w, c0, za);
                let mut r = 0;
                while r < m {
                    let mr = $mr.min(m - r);
                    // SAFETY: as in the requantizing form.
                    let t = unsafe { $tile(a.as_ptr().add(r * k), k, mr, w.data.as_ptr().add(b * NR * kp), kp) };
                    for i in 0..mr {
                        let mut v = [0i32; 16];
                        for j in 0..4 {
                            // SAFETY: `v` holds 16 values.
                            unsafe { vst1q_s32(v.as_mut_ptr().add(4 * j), t[i][j]) };
                        }
                        for c in r0.max(c0)..r1.min(c0 + NR) {
                            out[(r + i) * width + c - r0] = v[c - c0].wrapping_sub(zs[c - c0]);
                        }
                    }
                    r += mr;
                }
            }
            true
        }
    };
}

tier!(qgemm_neon, qgemm_i32_neon, crate::kernels::Tier::Neon, tile_neon, "neon", 2);
tier!(qgemm_dot, qgemm_i32_dot, crate::kernels::Tier::Dotprod, tile_dot, "dotprod", 4);
tier!(qgemm_mm, qgemm_i32_mm, crate::kernels::Tier::I8mm, tile_mm, "i8mm", 4);

/// Channels-last depthwise int8 convolution on NEON (every AArch64 tier): 8 channels per step,
/// `(x − zx)` widened to 16 bits and multiplied into 32-bit accumulators with `smlal` (exact),
/// then the shared epilogue. Bit-exact with `generic::qconv::qconv_depthwise`.
pub(crate) fn qconv_dw_neon(q: &crate::kernels::generic::qconv::QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) -> bool {
    let p = q.p;
    if !q.fits(x, out) || p.group != p.c || p.m != p.c || w.len() != p.kh * p.kw * p.m {
        return false;
    }
    let m = p.m;
    let full = m / 8 * 8;
    // SAFETY: NEON is part of AArch64; the sizes were checked above and the kernel touches
    // channels below `full` ≤ M only.
    unsafe { dw_neon(q, w, x, out, full) };
    // The last channels (fewer than 8) one at a time, by the reference's arithmetic.
    for (pix, chunk) in out.chunks_exact_mut(m).enumerate() {
        for (c, y) in chunk.iter_mut().enumerate().skip(full) {
            *y = dw_channel(q, w, x, pix, c);
        }
    }
    true
}

/// Output `pix`, channel `c` of a channels-last depthwise convolution, as the reference computes it.
fn dw_channel(q: &crate::kernels::generic::qconv::QConv<'_>, w: &[i8], x: &[i8], pix: usize, c: usize) -> i8 {
    let p = q.p;
    let (n, oy, ox) = (pix / (p.oh * p.ow), pix / p.ow % p.oh, pix % p.ow);
    let mut acc = 0i32;
    for ky in 0..p.kh {
        for kx in 0..p.kw {
            let iy = (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0]).filter(|&v| v < p.h);
            let ix = (ox * p.stride[1] + kx * p.dilation[1]).checked_sub(p.pad[1]).filter(|&v| v < p.w);
            if let (Some(iy), Some(ix)) = (iy, ix) {
                let xv = x[((n * p.h + iy) * p.w + ix) * p.m + c] as i32;
                acc = acc.wrapping_add((xv - q.zx) * w[(ky * p.kw + kx) * p.m + c] as i32);
            }
        }
    }
    crate::kernels::generic::int8::requantize(q.bias[c].wrapping_add(acc), q.requant[c], q.zy, q.lo, q.hi)
}

#[target_feature(enable = "neon")]
unsafe fn dw_neon(q: &crate::kernels::generic::qconv::QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8], full: usize) {
    let p = q.p;
    let m = p.m;
    let zx = vdupq_n_s16(q.zx as i16);
    for c0 in (0..full).step_by(8) {
        let rq = [load4(q.requant, c0, 4, q.zy, q.lo, q.hi), load4(q.requant, c0 + 4, 4, q.zy, q.lo, q.hi)];
        // SAFETY: channels c0..c0+8 exist (c0 + 8 ≤ full ≤ M).
        let bias = unsafe { [vld1q_s32(q.bias.as_ptr().add(c0)), vld1q_s32(q.bias.as_ptr().add(c0 + 4))] };
        for n in 0..p.n {
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let (mut lo, mut hi) = (bias[0], bias[1]);
                    for ky in 0..p.kh {
                        let Some(iy) =
                            (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0]).filter(|&v| v < p.h)
                        else {
                            continue;
                        };
                        for kx in 0..p.kw {
                            let Some(ix) =
                                (ox * p.stride[1] + kx * p.dilation[1]).checked_sub(p.pad[1]).filter(|&v| v < p.w)
                            else {
                                continue;
                            };
                            // SAFETY: the tap is inside the input and the weights; 8 channels from c0.
                            let (xv, wv) = unsafe {
                                (
                                    vld1_s8(x.as_ptr().add(((n * p.h + iy) * p.w + ix) * m + c0)),
                                    vld1_s8(w.as_ptr().add((ky * p.kw + kx) * m + c0)),
                                )
                            };
                            let xz = vsubq_s16(vmovl_s8(xv), zx);
                            let w16 = vmovl_s8(wv);
                            lo = vmlal_s16(lo, vget_low_s16(xz), vget_low_s16(w16));
                            hi = vmlal_high_s16(hi, xz, w16);
                        }
                    }
                    let y = narrow16([requant4(lo, &rq[0]), requant4(hi, &rq[1]), vdupq_n_s32(0), vdupq_n_s32(0)]);
                    // SAFETY: output pixel has channels c0..c0+8.
                    unsafe { vst1_s8(out.as_mut_ptr().add(((n * p.oh + oy) * p.ow + ox) * m + c0), vget_low_s8(y)) };
                }
            }
        }
    }
}
