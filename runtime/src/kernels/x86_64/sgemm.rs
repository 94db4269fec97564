//! f32 GEMM and dot product on AVX-512 and AVX2, bit-exact with the scalar reference: every output
//! of `sgemm` starts at its current value and adds `a[i, kk] · b[kk, j]` in order of `kk` (a multiply then an
//! add, never fused), which vectorizes across `j` unchanged; `dot` keeps the reference's eight
//! lanes (`i % 8`) and their pairwise sum, which is exactly one `ymm` accumulator.

// Register tiles are clearest indexed.
#![allow(clippy::needless_range_loop)]

use super::vmath::hsum8;
use crate::kernels::generic;
use core::arch::x86_64::*;

/// Values of B up to which [`sgemm_avx512`] uses 8-row tiles (256 KB of f32).
const SMALL_B: usize = 64 * 1024;

/// [`generic::sgemm`] on AVX-512: tiles of up to 8 rows (small B, [`SMALL_B`]) or 4 rows × 32
/// columns, masked at the edges.
///
/// (Until December 2026 products with fewer than 16 Ki values of `B` ran the 8-lane kernel: on
/// Zen 4, whose AVX-512 is double-pumped, that was 12–15 % faster on attention-sized products.
/// On Zen 5, whose 512-bit units are whole, the 16-lane kernel is 1.7× faster at 32×32×32, so
/// every shape runs it.)
pub(crate) fn sgemm_avx512(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], out: &mut [f32], acc: bool) {
    if a.len() < m * k || b.len() < k * n || out.len() < m * n || !crate::kernels::Tier::Avx512.available() {
        return generic::sgemm(m, k, n, a, b, out, acc);
    }
    // SAFETY: AVX-512 F is available (checked above) and a, b, out hold m·k, k·n and m·n values.
    unsafe { sgemm512(m, k, n, a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), acc) }
}

#[target_feature(enable = "avx512f")]
unsafe fn sgemm512(m: usize, k: usize, n: usize, a: *const f32, b: *const f32, out: *mut f32, acc: bool) {
    // 8-row tiles when B fits in L2 (attention's products: 1.7x the 4-row tiles at 32x32x32);
    // 4-row tiles for a B streamed from memory (a linear layer's weights, 2.4 MB in MiniLM's FFN):
    // there the 8-row tiles ran the whole f32 encoder 40% slower, though faster on the same
    // shape once B is in cache.
    let tall = if k * n <= SMALL_B { 8 } else { 4 };
    let mut j0 = 0;
    while j0 < n {
        let cols = 32.min(n - j0);
        let mask = |c: usize| -> u16 {
            let w = cols.saturating_sub(16 * c).min(16);
            if w >= 16 {
                0xFFFF
            } else {
                ((1u32 << w) - 1) as u16
            }
        };
        let masks = (mask(0), mask(1));
        let mut i0 = 0;
        while i0 < m {
            let rows = tall.min(m - i0);
            // SAFETY: rows i0..i0+rows and columns j0..j0+cols (the masks) lie inside a, b, out.
            unsafe {
                match rows {
                    8 => tile512::<8>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    7 => tile512::<7>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    6 => tile512::<6>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    5 => tile512::<5>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    4 => tile512::<4>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    3 => tile512::<3>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    2 => tile512::<2>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                    _ => tile512::<1>(k, n, a.add(i0 * k), b.add(j0), out.add(i0 * n + j0), masks, acc),
                }
            }
            i0 += rows;
        }
        j0 += cols;
    }
}

/// `R` rows × 32 columns (two masked vectors): the accumulators start from `out` (`from_out`) or
/// +0.0, take every `k` in order, and go back. Const `R` keeps them in registers.
///
/// # Safety
/// `a` readable for `R` rows of `k`; `b` for `k` rows of stride `n` under the masks; `out` for `R`
/// rows of stride `n` under the masks.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile512<const R: usize>(
    k: usize,
    n: usize,
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    (m0, m1): (u16, u16),
    from_out: bool,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for r in 0..R {
        if from_out {
            // SAFETY: the caller's contract.
            unsafe {
                let o = out.add(r * n);
                acc[r] = [_mm512_maskz_loadu_ps(m0, o), _mm512_maskz_loadu_ps(m1, o.wrapping_add(16))];
            }
        }
    }
    for kk in 0..k {
        // SAFETY: the caller's contract.
        let (b0, b1) = unsafe {
            let row = b.add(kk * n);
            (_mm512_maskz_loadu_ps(m0, row), _mm512_maskz_loadu_ps(m1, row.wrapping_add(16)))
        };
        for r in 0..R {
            // SAFETY: the caller's contract.
            let av = _mm512_set1_ps(unsafe { *a.add(r * k + kk) });
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_mul_ps(av, b0));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_mul_ps(av, b1));
        }
    }
    for r in 0..R {
        // SAFETY: the caller's contract.
        unsafe {
            let o = out.add(r * n);
            _mm512_mask_storeu_ps(o, m0, acc[r][0]);
            _mm512_mask_storeu_ps(o.wrapping_add(16), m1, acc[r][1]);
        }
    }
}

/// [`generic::sgemm`] on AVX2: tiles of up to 4 rows × 16 columns; columns past the last full
/// group of 8 in the same order, one at a time.
pub(crate) fn sgemm_avx2(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], out: &mut [f32], from_out: bool) {
    if a.len() < m * k || b.len() < k * n || out.len() < m * n || !crate::kernels::Tier::Avx2.available() {
        return generic::sgemm(m, k, n, a, b, out, from_out);
    }
    let full = n / 8 * 8;
    // SAFETY: AVX2 is available (checked above); a, b, out hold m·k, k·n and m·n values and the
    // kernel touches columns below `full` ≤ n only.
    unsafe { sgemm256((m, k, n), full, a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), from_out) };
    for i in 0..m {
        for j in full..n {
            let mut acc = if from_out { out[i * n + j] } else { 0.0 };
            for kk in 0..k {
                acc += a[i * k + kk] * b[kk * n + j];
            }
            out[i * n + j] = acc;
        }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn sgemm256(
    (m, k, n): (usize, usize, usize),
    full: usize,
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    from_out: bool,
) {
    let mut j0 = 0;
    while j0 < full {
        let wide = full - j0 >= 16;
        let mut i0 = 0;
        while i0 < m {
            let rows = 4.min(m - i0);
            // SAFETY: rows i0..i0+rows, columns j0..j0+8 (+16 when wide) below full ≤ n.
            unsafe {
                let (a, b, o) = (a.add(i0 * k), b.add(j0), out.add(i0 * n + j0));
                match (rows, wide) {
                    (4, true) => tile256::<4, 2>(k, n, a, b, o, from_out),
                    (3, true) => tile256::<3, 2>(k, n, a, b, o, from_out),
                    (2, true) => tile256::<2, 2>(k, n, a, b, o, from_out),
                    (_, true) => tile256::<1, 2>(k, n, a, b, o, from_out),
                    (4, false) => tile256::<4, 1>(k, n, a, b, o, from_out),
                    (3, false) => tile256::<3, 1>(k, n, a, b, o, from_out),
                    (2, false) => tile256::<2, 1>(k, n, a, b, o, from_out),
                    (_, false) => tile256::<1, 1>(k, n, a, b, o, from_out),
                }
            }
            i0 += rows;
        }
        j0 += if wide { 16 } else { 8 };
    }
}

/// `R` rows × `8·C` columns, accumulated from `out` (`from_out`) or +0.0 in order of `k`.
///
/// # Safety
/// `a` readable for `R` rows of `k`; `b` for `k` rows of stride `n`, `8·C` columns; `out` for `R`
/// rows of stride `n`, `8·C` columns.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile256<const R: usize, const C: usize>(
    k: usize,
    n: usize,
    a: *const f32,
    b: *const f32,
    out: *mut f32,
    from_out: bool,
) {
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    for r in 0..R {
        for c in 0..C {
            if from_out {
                // SAFETY: the caller's contract.
                acc[r][c] = unsafe { _mm256_loadu_ps(out.add(r * n + 8 * c)) };
            }
        }
    }
    for kk in 0..k {
        let mut bv = [_mm256_setzero_ps(); C];
        for c in 0..C {
            // SAFETY: the caller's contract.
            bv[c] = unsafe { _mm256_loadu_ps(b.add(kk * n + 8 * c)) };
        }
        for r in 0..R {
            // SAFETY: the caller's contract.
            let av = _mm256_set1_ps(unsafe { *a.add(r * k + kk) });
            for c in 0..C {
                acc[r][c] = _mm256_add_ps(acc[r][c], _mm256_mul_ps(av, bv[c]));
            }
        }
    }
    for r in 0..R {
        for c in 0..C {
            // SAFETY: the caller's contract.
            unsafe { _mm256_storeu_ps(out.add(r * n + 8 * c), acc[r][c]) };
        }
    }
}

/// `dot_gemm` for one tier: register tiles of rows of `a` × rows of `w`, one `ymm` accumulator
/// per output, so each output keeps [`generic::dot_f32`]'s eight lanes while the tile's
/// independent chains hide the add latency that bounds a single dot product. The tile sizes fit
/// the tier's register file (16 `ymm` on AVX2, 32 with AVX-512 VL) with no spill.
macro_rules! dot_gemm_tier {
    ($name:ident, $mod:ident, $tier:expr, $feat:literal, ($mr:literal, $nr:literal)) => {
        pub(crate) fn $name(m: usize, k: usize, n: usize, a: &[f32], w: &[f32], out: &mut [f32]) {
            if a.len() < m * k || w.len() < n * k || out.len() < m * n || !$tier.available() {
                return generic::dot_gemm(m, k, n, a, w, out);
            }
            // SAFETY: the tier is available (checked above) and the slices hold m·k, n·k and m·n values.
            unsafe { $mod::run(m, k, n, a.as_ptr(), w.as_ptr(), out.as_mut_ptr()) }
        }

        mod $mod {
            use super::*;

            /// # Safety
            /// The tier available; `a`, `w`, `out` readable/writable for m·k, n·k, m·n values.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn run(m: usize, k: usize, n: usize, a: *const f32, w: *const f32, out: *mut f32) {
                // One row of `a` (a GEMV: recurrent steps) takes 8 weight rows at a time (16 measured slower). Weight
                // rows outermost: a block of them stays in L1 while every row of `a` passes.
                let (mr, nr) = if m == 1 { (1, 8) } else { ($mr, $nr) };
                let mut j0 = 0;
                while j0 < n {
                    let cols = nr.min(n - j0);
                    let mut i0 = 0;
                    while i0 < m {
                        let rows = mr.min(m - i0);
                        // SAFETY: rows i0..i0+rows of `a`, j0..j0+cols of `w` and the outputs
                        // between lie inside the caller's ranges.
                        unsafe {
                            let (ap, wp, op) = (a.add(i0 * k), w.add(j0 * k), out.add(i0 * n + j0));
                            if (rows, cols) == (1, 8) {
                                tile::<1, 8>(k, n, ap, wp, op);
                            } else if (rows, cols) == ($mr, $nr) {
                                tile::<$mr, $nr>(k, n, ap, wp, op);
                            } else {
                                // Edges: one output at a time.
                                for r in 0..rows {
                                    for c in 0..cols {
                                        tile::<1, 1>(k, n, ap.add(r * k), wp.add(c * k), op.add(r * n + c));
                                    }
                                }
                            }
                        }
                        i0 += rows;
                    }
                    j0 += cols;
                }
            }

            /// `MR` rows of `a` × `NR` rows of `w` (both `k` long), written to `out` (row stride `n`).
            ///
            /// # Safety
            /// The tier available; `a` readable for `MR·k` values, `w` for `NR·k`, `out` writable
            /// at `r·n + c` for r < MR, c < NR.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn tile<const MR: usize, const NR: usize>(
                k: usize,
                n: usize,
                a: *const f32,
                w: *const f32,
                out: *mut f32,
            ) {
                let full = k / 8 * 8;
                let mut acc = [[_mm256_setzero_ps(); NR]; MR];
                let mut i = 0;
                while i < full {
                    let mut wv = [_mm256_setzero_ps(); NR];
                    for c in 0..NR {
                        // SAFETY: i + 8 ≤ k within row c of `w`.
                        wv[c] = unsafe { _mm256_loadu_ps(w.add(c * k + i)) };
                    }
                    for r in 0..MR {
                        // SAFETY: i + 8 ≤ k within row r of `a`.
                        let av = unsafe { _mm256_loadu_ps(a.add(r * k + i)) };
                        for c in 0..NR {
                            acc[r][c] = _mm256_add_ps(acc[r][c], _mm256_mul_ps(av, wv[c]));
                        }
                    }
                    i += 8;
                }
                for r in 0..MR {
                    for c in 0..NR {
                        let mut total = hsum8(acc[r][c]);
                        for t in full..k {
                            // SAFETY: t < k within rows r of `a` and c of `w`.
                            total += unsafe { *a.add(r * k + t) * *w.add(c * k + t) };
                        }
                        // SAFETY: the caller's contract.
                        unsafe { *out.add(r * n + c) = total };
                    }
                }
            }
        }
    };
}

dot_gemm_tier!(dot_gemm_avx2, dot_avx2, crate::kernels::Tier::Avx2, "avx2", (3, 3));
dot_gemm_tier!(dot_gemm_avx512, dot_avx512, crate::kernels::Tier::Avx512, "avx2,avx512f,avx512vl", (4, 5));
