//! Batches of matrix transposes of 4-byte elements (an attention head's keys, `K^T`) on AVX2:
//! 8 × 8 blocks through registers (unpack, shuffle, lane permute: moves only, every bit kept),
//! the edges one element at a time. Other permutations take the generic kernel. The same bytes
//! as `generic::transpose`.

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
        _ => g::transpose(perm, x, in_info, out_info, out),
    }
}

/// `out[j·rows + i] = x[i·cols + j]`.
///
/// # Safety
/// AVX2 available; `x` readable and `out` writable for `rows · cols` elements.
#[target_feature(enable = "avx2")]
unsafe fn matrix(x: *const u32, out: *mut u32, rows: usize, cols: usize) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for i0 in (0..r8).step_by(8) {
        for j0 in (0..c8).step_by(8) {
            // SAFETY: rows i0..i0+8 and columns j0..j0+8 lie inside the matrix (both below the
            // multiples of 8), and so do the transposed ones.
            unsafe { block8(x.add(i0 * cols + j0), cols, out.add(j0 * rows + i0), rows) };
        }
    }
    // The edges: columns past the last block of every row, then rows past the last block.
    for i in 0..rows {
        let from = if i < r8 { c8 } else { 0 };
        for j in from..cols {
            // SAFETY: i < rows, j < cols.
            unsafe { *out.add(j * rows + i) = *x.add(i * cols + j) };
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
