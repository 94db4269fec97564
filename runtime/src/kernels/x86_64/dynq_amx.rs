//! `DynQMatMul` (generic [`dyn_qmatmul`](crate::kernels::generic::dynq::dyn_qmatmul)) on AMX-INT8
//! (Intel Xeon from Sapphire Rapids on, Xeon 6 SoCs for the edge among them): the rows are
//! quantized and biased as in `dynq_avx512`, the product runs on tiles, and the sums go through
//! that tier's epilogue. One `tdpbusd` multiplies a tile of 16 rows × 64 biased activation bytes
//! by a tile of 64 × 16 weights (16 384 products); the k4n16 weight layout is the one AMX reads,
//! a 16-channel block's 64-byte groups being the rows of a B tile, so the weights load in place.
//!
//! Same bits as the generic kernel: the i32 sums are exact (and wrap like `vpdpbusd`'s), so after
//! the same epilogue the outputs are equal bit for bit.

use super::dynq_avx512::{self as vnni, abs_max, Epilogue};
use super::elementwise::avx512::{quantize_mul, unary_in_place};
use crate::kernels::generic::dynq::{self as generic, DynQLayer};
use crate::kernels::generic::qgemm::NR;
use core::arch::asm;
use core::arch::x86_64::*;

/// Rows of an A (and C) tile.
const TR: usize = 16;
/// Bytes of `k` an A tile row holds (16 groups of 4).
const TK: usize = 64;

/// [`generic::dyn_qmatmul`] on AMX-INT8; shapes the tiles do not cover (`k` not a multiple of 64,
/// lean weights) run on the AVX-512 tier's kernel.
pub(crate) fn dyn_qmatmul(l: &DynQLayer<'_>, x: &[f32], xq: &mut [i8], scales: &mut [f32], out: &mut [f32]) -> bool {
    let w = &l.w;
    let k = w.k;
    if !crate::kernels::Tier::Amx.available() || w.is_lean() || !w.is_consistent() || k == 0 || !k.is_multiple_of(TK) {
        return vnni::dyn_qmatmul(l, x, xq, scales, out);
    }
    let Some((m, xq, scales)) = generic::checked(l, x, xq, scales, out) else { return false };
    // SAFETY (the closure): AVX-512 F is available (the AMX tier includes it); it reads `row`.
    generic::quantize_rows(x, k, xq, scales, |row| unsafe { abs_max(row) }, quantize_mul);
    for v in xq.iter_mut() {
        *v ^= i8::MIN;
    }
    // SAFETY: AMX (with the OS's permission) and AVX-512 are available; `w` is consistent and
    // full, `k` a multiple of 64 (so `k == kp`: blocks of 16·k bytes, Rp/16 of them), `xq`
    // holds m·k bytes, `scales` m, `out` m·n, `w_scale` and `bias` n (checked).
    unsafe { product(l, xq, m, scales, out) };
    true
}

/// The 64-byte operand of `ldtilecfg` (palette 1).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

impl TileConfig {
    /// tmm0/tmm1: A tiles of `r0`/`r1` rows; tmm2/tmm3: B tiles (16 groups); tmm4, tmm5: C tiles
    /// of `r0` rows (blocks 0 and 1), tmm6, tmm7: of `r1` rows. Every row is 64 bytes.
    fn new(r0: usize, r1: usize) -> Self {
        let mut rows = [0u8; 16];
        rows[..8].copy_from_slice(&[r0 as u8, r1 as u8, TR as u8, TR as u8, r0 as u8, r0 as u8, r1 as u8, r1 as u8]);
        let mut colsb = [0u16; 16];
        colsb[..8].fill(TK as u16);
        TileConfig { palette: 1, start_row: 0, reserved: [0; 14], colsb, rows }
    }
}

/// Sums of 32 rows × 32 channels, row-major (a row of 128 bytes).
#[repr(C, align(64))]
struct Sums([i32; 2 * TR * 2 * NR]);

/// Row tiles of up to 32 outside (their bytes stay in L1 while the weights stream past), pairs of
/// 16-channel blocks inside: four C tiles accumulate over `k`, go to [`Sums`], and through the
/// AVX-512 epilogue to `out`. A row tile of 16 or fewer points both A tiles at the same rows, and
/// an odd last block both B tiles at the same block: the duplicate sums are dropped.
///
/// # Safety
/// As at the call in [`dyn_qmatmul`]; `xq` already biased.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn product(l: &DynQLayer<'_>, xq: &[i8], m: usize, scales: &[f32], out: &mut [f32]) {
    let w = &l.w;
    let (k, n) = (w.k, w.rows);
    let blocks = n.div_ceil(NR);
    let plain = l.act.func == crate::ops::UnaryFn::Identity;
    let ep = Epilogue { w, scales, w_scale: l.w_scale, bias: l.bias, residual: l.residual.filter(|_| plain), n };
    let mut sums = Sums([0; 2 * TR * 2 * NR]);
    let a = xq.as_ptr() as *const u8;
    for r in (0..m).step_by(2 * TR) {
        let mr = (2 * TR).min(m - r);
        let (r0, r1) = if mr > TR { (TR, mr - TR) } else { (mr, mr) };
        let cfg = TileConfig::new(r0, r1);
        // SAFETY: `cfg` is a valid palette-1 configuration (rows ≤ 16, 64-byte rows), read only.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &cfg, options(nostack, readonly)) };
        // SAFETY: rows r..r+mr of `xq` exist (k bytes each).
        let a0 = unsafe { a.add(r * k) };
        let a1 = if mr > TR { unsafe { a0.add(TR * k) } } else { a0 };
        for b in (0..blocks).step_by(2) {
            let nb = 2.min(blocks - b);
            // SAFETY: block b (and b+1 when nb is 2) exists: 16·k bytes each.
            let b0 = unsafe { w.data.as_ptr().add(b * NR * k) };
            let b1 = if nb == 2 { unsafe { b0.add(NR * k) } } else { b0 };
            // SAFETY: A tiles read r0 (r1) rows of k bytes from a0 (a1), B tiles k/4 groups of 64
            // bytes from b0 and b1; the stores write r0 + r1 ≤ 32 rows of 128 bytes to `sums`.
            unsafe { tiles(a0, a1, b0, b1, k, sums.0.as_mut_ptr()) };
            for (h, rows) in [(0, r0), (1, if mr > TR { r1 } else { 0 })] {
                let mut acc = [[_mm512_setzero_si512(); 2]; TR];
                for (i, row) in acc.iter_mut().enumerate().take(rows) {
                    for (j, v) in row.iter_mut().enumerate().take(nb) {
                        // SAFETY: row h·16 + i < 32 of `sums`, channels 16·j..16·j + 16 < 32.
                        *v = unsafe {
                            _mm512_loadu_si512(sums.0.as_ptr().add((h * TR + i) * 2 * NR + j * NR) as *const _)
                        };
                    }
                }
                // SAFETY: rows r + 16·h.. (rows of them) and blocks b..b+nb exist.
                unsafe { ep.store(&acc, r + h * TR, rows, b, nb, out) };
            }
        }
        if let Some(rows) = out.get_mut(r * n..(r + mr) * n).filter(|_| !plain) {
            l.finish_rows(unary_in_place, r, rows);
        }
    }
    // SAFETY: returns the tiles to their initial state (no operands).
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// `sums[0..r0, 0..32] = a0 · [b0 b1]`, `sums[16..16+r1, 0..32] = a1 · [b0 b1]` over `k` (a
/// multiple of 64) with the configured tiles.
///
/// # Safety
/// AMX-INT8 usable, tiles configured by [`TileConfig::new`]`(r0, r1)`; `a0`, `a1` readable for
/// r0 (r1) rows of `k` bytes, `b0`, `b1` for `16·k` bytes; `c` writable for 32 rows of 128 bytes.
#[inline]
unsafe fn tiles(a0: *const u8, a1: *const u8, b0: *const i8, b1: *const i8, k: usize, c: *mut i32) {
    // SAFETY: the contract above; tiles are not registers Rust allocates, so nothing else holds
    // them between `ldtilecfg` and `tilerelease`.
    unsafe {
        asm!(
            "tilezero tmm4",
            "tilezero tmm5",
            "tilezero tmm6",
            "tilezero tmm7",
            "2:",
            "tileloadd tmm0, [{a0} + {lda}*1]",
            "tileloadd tmm1, [{a1} + {lda}*1]",
            "tileloadd tmm2, [{b0} + {ldb}*1]",
            "tileloadd tmm3, [{b1} + {ldb}*1]",
            "tdpbusd tmm4, tmm0, tmm2",
            "tdpbusd tmm5, tmm0, tmm3",
            "tdpbusd tmm6, tmm1, tmm2",
            "tdpbusd tmm7, tmm1, tmm3",
            "add {a0}, 64",
            "add {a1}, 64",
            "add {b0}, 1024",
            "add {b1}, 1024",
            "dec {cnt}",
            "jnz 2b",
            "tilestored [{c} + {ldc}*1], tmm4",
            "tilestored [{c} + {ldc}*1 + 64], tmm5",
            "tilestored [{c1} + {ldc}*1], tmm6",
            "tilestored [{c1} + {ldc}*1 + 64], tmm7",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b0 = inout(reg) b0 => _,
            b1 = inout(reg) b1 => _,
            cnt = inout(reg) k / TK => _,
            lda = in(reg) k,
            ldb = in(reg) TK,
            c = in(reg) c,
            c1 = in(reg) c.add(TR * 2 * NR),
            ldc = in(reg) 2 * NR * 4,
            options(nostack),
        );
    }
}
