//! Batches of matrix transposes of 4-byte elements (an attention head's keys, `K^T`) on AVX2:
//! 8 × 8 blocks through registers (unpack, shuffle, lane permute: moves only, every bit kept),
//! the edges one element at a time. Any permutation that moves the last axis away from the end is
//! such a batch over strided planes (`generic::transpose_plane`: `[B, S, H, D] → [B, H, D, S]`,
//! the keys of all heads at once); one that keeps the last axis last copies whole runs
//! (`generic::transpose_runs`: attention's heads split and merged), eight values at a time. The
//! same bytes as `generic::transpose`.

use crate::format::MAX_RANK;
use crate::kernels::generic as g;
use crate::ops::TensorInfo;
use core::arch::x86_64::*;

/// [`g::transpose`] for 4-byte elements.
pub(crate) fn transpose32_avx2(
    perm: &[usize; MAX_RANK],
    x: &[u32],
    in_info: &TensorInfo,
    out_info: &TensorInfo,
    out: &mut [u32],
) {
    match g::swapped_last_two(perm, in_info) {
        Some((batch, rows, cols))
            if crate::kernels::Tier::Avx2.available()
                && x.len() == batch * rows * cols
                && out.len() == x.len()
                && out_info.len() == x.len() =>
        {
            for (xm, om) in x.chunks_exact((rows * cols).max(1)).zip(out.chunks_exact_mut((rows * cols).max(1))) {
                // SAFETY: AVX2 is available (checked above); xm and om hold rows·cols elements.
                unsafe { matrix(xm.as_ptr(), om.as_mut_ptr(), rows, cols) };
            }
        }
        _ if !crate::kernels::Tier::Avx2.available() || x.len() != in_info.len() || out.len() != out_info.len() => {
            g::transpose(perm, x, in_info, out_info, out)
        }
        _ => match (g::transpose_plane(perm, in_info, out_info), g::transpose_runs(perm, in_info, out_info)) {
            (Some(p), _) => planes(&p, x, out),
            (None, Some(r)) => runs(&r, x, out),
            _ => g::transpose(perm, x, in_info, out_info, out),
        },
    }
}

/// Every plane of `p`, each one strided matrix transpose.
fn planes(p: &g::Plane, x: &[u32], out: &mut [u32]) {
    each_offset(p, |xo, oo| {
        // SAFETY: AVX2 is available (the caller checked). `transpose_plane` built the strides
        // from the two shapes, whose lengths are those of `x` and `out` (checked by the caller):
        // every index (outer coordinates, row < rows, column < cols) is in range, so the plane at
        // (xo, oo) reads and writes inside both slices.
        unsafe { matrix_strided(x.as_ptr().add(xo), p.x_row, out.as_mut_ptr().add(oo), p.out_row, p.rows, p.cols) };
    });
}

/// Every run of `r` (the last axis stays last: attention's heads split and merged), copied eight
/// values at a time.
fn runs(r: &g::Plane, x: &[u32], out: &mut [u32]) {
    each_offset(r, |xo, oo| {
        // SAFETY: AVX2 is available (the caller checked); as in `planes`, every run of `cols`
        // values at (xo, oo) lies inside both slices, whose lengths are the shapes' (checked).
        unsafe { copy_run(x.as_ptr().add(xo), out.as_mut_ptr().add(oo), r.cols) };
    });
}

/// Calls `f(input offset, output offset)` for every combination of `p`'s outer axes, counted
/// like an odometer.
fn each_offset(p: &g::Plane, mut f: impl FnMut(usize, usize)) {
    let count: usize = p.outer.iter().take(p.n_outer).map(|o| o.0).product();
    let mut at = [0usize; crate::format::MAX_RANK];
    let (mut xo, mut oo) = (0usize, 0usize);
    for _ in 0..count {
        f(xo, oo);
        for ax in (0..p.n_outer).rev() {
            let (d, xs, os) = p.outer[ax];
            at[ax] += 1;
            xo += xs;
            oo += os;
            if at[ax] < d {
                break;
            }
            at[ax] = 0;
            xo -= xs * d;
            oo -= os * d;
        }
    }
}

/// `len` values from `x` to `out`.
///
/// # Safety
/// AVX2 available; `x` readable and `out` writable for `len` values.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn copy_run(x: *const u32, out: *mut u32, len: usize) {
    let full = len / 8 * 8;
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 ≤ len.
        unsafe { _mm256_storeu_si256(out.add(i) as *mut __m256i, _mm256_loadu_si256(x.add(i) as *const __m256i)) };
    }
    for i in full..len {
        // SAFETY: i < len.
        unsafe { *out.add(i) = *x.add(i) };
    }
}

/// `out[j·rows + i] = x[i·cols + j]`.
///
/// # Safety
/// AVX2 available; `x` readable and `out` writable for `rows · cols` elements.
#[target_feature(enable = "avx2")]
unsafe fn matrix(x: *const u32, out: *mut u32, rows: usize, cols: usize) {
    // SAFETY: the same elements as the caller's contract.
    unsafe { matrix_strided(x, cols, out, rows, rows, cols) }
}

/// `out[j·os + i] = x[i·xs + j]` for `i < rows`, `j < cols`.
///
/// # Safety
/// AVX2 available; those elements of `x` readable and of `out` writable.
#[target_feature(enable = "avx2")]
unsafe fn matrix_strided(x: *const u32, xs: usize, out: *mut u32, os: usize, rows: usize, cols: usize) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for i0 in (0..r8).step_by(8) {
        for j0 in (0..c8).step_by(8) {
            // SAFETY: rows i0..i0+8 and columns j0..j0+8 lie inside the matrix (both below the
            // multiples of 8), and so do the transposed ones.
            unsafe { block8(x.add(i0 * xs + j0), xs, out.add(j0 * os + i0), os) };
        }
    }
    // The edges: columns past the last block of every row, then rows past the last block.
    for i in 0..rows {
        let from = if i < r8 { c8 } else { 0 };
        for j in from..cols {
            // SAFETY: i < rows, j < cols.
            unsafe { *out.add(j * os + i) = *x.add(i * xs + j) };
        }
    }
}

/// One 8 × 8 block: rows of `x` (stride `xs`) become columns of `out` (stride `os`).
///
/// # Safety
/// AVX2 available; 8 rows of 8 readable from `x`, 8 rows of 8 writable at `out`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block8(x: *const u32, xs: usize, out: *mut u32, os: usize) {
    // SAFETY: the caller's contract (row r of the block starts at x + r·xs).
    let r: [__m256; 8] = core::array::from_fn(|k| unsafe { _mm256_loadu_ps(x.add(k * xs) as *const f32) });
    let t: [__m256; 8] = core::array::from_fn(|k| {
        let (a, b) = (r[k / 2 * 2], r[k / 2 * 2 + 1]);
        if k % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // u[0..4] from rows 0–3, u[4..8] from rows 4–7: columns (0, 1, 2, 3) of each 128-bit half.
    let u: [__m256; 8] = core::array::from_fn(|k| {
        let base = k / 4 * 4;
        let (a, b) = (t[base + (k % 4) / 2], t[base + 2 + (k % 4) / 2]);
        if k % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(a, b)
        } else {
            _mm256_shuffle_ps::<0xEE>(a, b)
        }
    });
    for c in 0..8 {
        let (lo, hi) = (u[c % 4], u[4 + c % 4]);
        let v = if c < 4 { _mm256_permute2f128_ps::<0x20>(lo, hi) } else { _mm256_permute2f128_ps::<0x31>(lo, hi) };
        // SAFETY: the caller's contract (column c of the block is row c of the output block).
        unsafe { _mm256_storeu_ps(out.add(c * os) as *mut f32, v) };
    }
}
