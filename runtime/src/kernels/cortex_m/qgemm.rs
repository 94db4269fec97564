//! `qgemm` and `qgemm_i32` of the `dsp` tier. Per output channel, each group of 4 packed weights
//! (one 32-bit word) is split into its even and odd bytes, sign-extended to halfwords (`sxtb16`,
//! `sxtb16 ror #8`), and multiplied against the activations minus their zero point, packed the
//! same way: `Σ (a − za) · w`, the exact integer the generic kernel's `acc` equals (module docs of
//! `generic::qgemm`). Each `smlad` adds two products of at most 255 · 128 to a wrapping i32, as
//! the generic sums wrap, so the results are the same bits.

use crate::kernels::generic::qgemm::{qgemm_i32_with, qgemm_with, PackedI8, QGemm, NR};
use core::arch::asm;

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

/// `Σ (a − za) · w` of row `a` for the 16 channels of block `b`.
fn acc_block(w: &PackedI8<'_>, a: &[i8], za: i32, b: usize) -> [i32; NR] {
    let kp = w.kp();
    let groups = kp / 4;
    let mut acc = [0i32; NR];
    let block = w.data.get(b * NR * kp..(b + 1) * NR * kp).unwrap_or(&[]);
    let mut xs = [0u32; 2 * CHUNK];
    for g0 in (0..groups).step_by(CHUNK) {
        let gn = CHUNK.min(groups - g0);
        for (g, x) in xs.chunks_exact_mut(2).take(gn).enumerate() {
            // Past the row the weights are zero: 0 will do.
            let v = |t: usize| a.get(4 * (g0 + g) + t).map_or(0, |&v| v as i32 - za);
            x[0] = pair(v(0), v(2));
            x[1] = pair(v(1), v(3));
        }
        for (c, s) in acc.iter_mut().enumerate() {
            let mut sum = *s;
            for (g, x) in xs.chunks_exact(2).take(gn).enumerate() {
                let at = (g0 + g) * NR * 4 + c * 4;
                let Some(&[w0, w1, w2, w3]) = block.get(at..at + 4) else { continue };
                let word = u32::from_le_bytes([w0 as u8, w1 as u8, w2 as u8, w3 as u8]);
                sum = smlad(sxtb16(word), x[0], sum);
                sum = smlad(sxtb16_odd(word), x[1], sum);
            }
            *s = sum;
        }
    }
    acc
}

/// [`crate::kernels::generic::qgemm::qgemm`] with `smlad` products.
pub(crate) fn qgemm(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) -> bool {
    qgemm_with(q, a, m, out, acc_block)
}

/// [`crate::kernels::generic::qgemm::qgemm_i32`] with `smlad` products.
pub(crate) fn qgemm_i32(w: &PackedI8<'_>, rows: (usize, usize), a: &[i8], m: usize, za: i32, out: &mut [i32]) -> bool {
    qgemm_i32_with(w, rows, a, m, za, out, acc_block)
}
