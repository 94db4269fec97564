//! `qgemm` and `qgemm_i32` of the `dsp` tier. Per output channel, each group of 4 packed weights
//! (one 32-bit word) is split into its even and odd bytes, sign-extended to halfwords (`sxtb16`,
//! `sxtb16 ror #8`), and multiplied against the activations minus their zero point, packed the
//! same way: `Σ (a − za) · w`, the exact integer the generic kernel's `acc` equals (module docs of
//! `generic::qgemm`). Each `smlad` adds two products of at most 255 · 128 to a wrapping i32, as
//! the generic sums wrap, so the results are the same bits. It never reads the row sums, so full
//! and lean weights (docs/FORMAT.md) run the same loop.

use crate::kernels::generic::int8::{scale_round, Requant};
use crate::kernels::generic::qgemm::{qgemm_i32_with, qgemm_with, PackedI8, QGemm, NR};
use core::arch::asm;
use zerocopy::IntoBytes;

/// Groups of 4 activations packed per pass (two words each: 128 bytes of stack; a DS-CNN's
/// pointwise layers, K = 64, take one pass).
const CHUNK: usize = 16;

/// The even bytes of `x` (0 and 2), sign-extended into its two halfwords.
#[inline(always)]
fn sxtb16(x: u32) -> u32 {
    let r;
    // SAFETY: a register-only instruction of the DSP extension, which this build's target has
    // (cfg ferrite_dsp, set by build.rs for such targets only).
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// The odd bytes of `x` (1 and 3), sign-extended into its two halfwords.
#[inline(always)]
fn sxtb16_odd(x: u32) -> u32 {
    let r;
    // SAFETY: as in `sxtb16`.
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// `acc + lo(a)·lo(b) + hi(a)·hi(b)` on signed halfwords, wrapping.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r;
    // SAFETY: as in `sxtb16` (smlad sets the Q flag on overflow, which nothing reads; the sum
    // itself wraps).
    unsafe {
        asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
             b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

/// Two halfwords in one word: `lo` in bits 0..16, `hi` in 16..32.
#[inline(always)]
fn pair(lo: i32, hi: i32) -> u32 {
    (lo as u16 as u32) | ((hi as u16 as u32) << 16)
}

/// The packed weight word of channel `c` of a group (16 channels × 4 bytes).
#[inline(always)]
fn word(group: &[u8; NR * 4], c: usize) -> u32 {
    let w = |i: usize| group.get(c * 4 + i).copied().unwrap_or(0);
    // One (unaligned-capable) word load on Cortex-M; the bounds are known from the array type.
    u32::from_le_bytes([w(0), w(1), w(2), w(3)])
}

/// `Σ (a − za) · w` of row `a` for the 16 channels of block `b`: four channels at a time, each
/// group's two activation pairs loaded once for the four, so 16 products take 4 word loads,
/// 2 pair loads, 8 `sxtb16` and 8 `smlad`.
fn acc_block(w: &PackedI8<'_>, a: &[i8], za: i32, b: usize) -> [i32; NR] {
    if w.block_rows(b) < NR {
        // A lean weight's short last block (a classifier's few rows): the generic loop.
        return crate::kernels::generic::qgemm::acc_block(w, a, za, b);
    }
    let kp = w.kp();
    let groups = kp / 4;
    let mut acc = [0i32; NR];
    let block: &[u8] = w.data.get(b * NR * kp..(b + 1) * NR * kp).unwrap_or(&[]).as_bytes();
    let mut xs = [0u32; 2 * CHUNK];
    for g0 in (0..groups).step_by(CHUNK) {
        let gn = CHUNK.min(groups - g0);
        for (g, x) in xs.chunks_exact_mut(2).take(gn).enumerate() {
            // Past the row the weights are zero: 0 will do.
            let v = |t: usize| a.get(4 * (g0 + g) + t).map_or(0, |&v| v as i32 - za);
            x[0] = pair(v(0), v(2));
            x[1] = pair(v(1), v(3));
        }
        for (c4, s) in acc.chunks_exact_mut(4).enumerate() {
            let (mut s0, mut s1, mut s2, mut s3) = (s[0], s[1], s[2], s[3]);
            let c = c4 * 4;
            let groups_here = block.chunks_exact(NR * 4).skip(g0).take(gn);
            for (grp, x) in groups_here.zip(xs.chunks_exact(2)) {
                let Ok(grp) = <&[u8; NR * 4]>::try_from(grp) else { continue };
                let (xe, xo) = (x[0], x[1]);
                let (w0, w1, w2, w3) = (word(grp, c), word(grp, c + 1), word(grp, c + 2), word(grp, c + 3));
                s0 = smlad(sxtb16_odd(w0), xo, smlad(sxtb16(w0), xe, s0));
                s1 = smlad(sxtb16_odd(w1), xo, smlad(sxtb16(w1), xe, s1));
                s2 = smlad(sxtb16_odd(w2), xo, smlad(sxtb16(w2), xe, s2));
                s3 = smlad(sxtb16_odd(w3), xo, smlad(sxtb16(w3), xe, s3));
            }
            s.copy_from_slice(&[s0, s1, s2, s3]);
        }
    }
    acc
}

/// [`crate::kernels::generic::qgemm::qgemm`] with `smlad` products.
pub(crate) fn qgemm(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) -> bool {
    qgemm_with(q, a, m, out, acc_block, requantize_block)
}

/// `scale_round` saturated into i32 (a value past it is past [lo, hi] and clamps the same), never
/// truncated: shifts below 32 (scales of 1/2 and more, rare in int8 layers) scale up to 2^61. Out
/// of line, so that the common path's loop stays tight.
#[cold]
#[inline(never)]
fn scale_round_i32(v: i32, r: Requant) -> i32 {
    scale_round(v, r).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// [`crate::kernels::generic::qgemm::requantize_block`] in 32-bit steps. For shifts of 32 and
/// more (every multiplier below 1/2, which is what int8 layers have) the rounded
/// `(acc·m + 2^(s−1)) >> s` is the high word of the 64-bit product plus the rounding bit, shifted
/// by `s − 32`: one `smull`, an add and a shift, the same integer as the 64-bit form; smaller
/// shifts take the generic 64-bit path.
fn requantize_block(q: &QGemm<'_>, b: usize, acc: &[i32; NR], yb: &mut [i8]) {
    let base = b * NR;
    let (bias, rq) = (q.bias.get(base..).unwrap_or(&[]), q.requant.get(base..).unwrap_or(&[]));
    for (((y, &s), &bi), r) in yb.iter_mut().zip(acc).zip(bias).zip(rq) {
        let v = bi.wrapping_add(s);
        let shift = r.shift.clamp(1, 62);
        let scaled = if shift >= 32 {
            let prod = v as i64 * r.multiplier as i64;
            let (hi, lo) = ((prod >> 32) as i32, prod as u32);
            let t = (shift - 32) as u32;
            if t == 0 {
                // + 2^31 on the low word: its carry into the high word.
                hi.wrapping_add((lo >> 31) as i32)
            } else {
                // + 2^(t−1) on the high word (the low word is shifted out whole).
                hi.wrapping_add(1 << (t - 1)) >> t
            }
        } else {
            scale_round_i32(v, *r)
        };
        // In 32 bits, saturating: a sum past the i32 range is past [lo, hi] too, so it clamps the
        // same as the generic 64-bit form. max/min, not clamp: the bounds are checked lo ≤ hi at
        // load, and clamp's own check would link core's formatting into firmware for its message.
        *y = scaled.saturating_add(q.zy).max(q.lo as i32).min(q.hi as i32) as i8;
    }
}

/// [`crate::kernels::generic::qgemm::qgemm_i32`] with `smlad` products.
pub(crate) fn qgemm_i32(w: &PackedI8<'_>, rows: (usize, usize), a: &[i8], m: usize, za: i32, out: &mut [i32]) -> bool {
    qgemm_i32_with(w, rows, a, m, za, out, acc_block)
}
