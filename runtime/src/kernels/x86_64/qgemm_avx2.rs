//! int8 GEMM on AVX2 over k4n16 weights. AVX2 has no 8-bit dot product that is exact here
//! (`vpmaddubsw` saturates its 16-bit pair sums: 255·127·2 > 32767), so both sides are widened to
//! 16 bits and multiplied with `vpmaddwd` (exact pair sums in i32): a 16-byte weight load (4 rows ×
//! 4 bytes) against the row's four `a + 128` values repeated gives, per row, two partial sums that
//! one `vphaddd` joins at the end. Register tile: 1–2 activation rows × 1–2 blocks of 16 channels.

// Register tiles are clearest indexed: acc[row][block].
#![allow(clippy::needless_range_loop)]

use super::requant::{load8, requant8};
use crate::kernels::generic::qgemm::{self as generic, PackedI8, QGemm, NR};
use core::arch::x86_64::*;

fn available() -> bool {
    crate::kernels::Tier::Avx2.available()
}

/// [`generic::qgemm`] on AVX2.
pub(crate) fn qgemm(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) -> bool {
    if !q.fits(a, m, out) {
        return false;
    }
    // Lean weights (no sums, a short last block) take the generic kernel: this tier's reads
    // whole 16-row groups and the sums.
    if !available() || q.w.is_lean() {
        return generic::qgemm(q, a, m, out);
    }
    // SAFETY: AVX2 is available (checked above), and `fits` checked that `a` holds m·k bytes,
    // `out` m·n, the weights their packed length, and bias and requant n each.
    unsafe { qgemm_impl(q, a, m, out) };
    true
}

/// [`generic::qgemm_i32`] on AVX2.
pub(crate) fn qgemm_i32(w: &PackedI8<'_>, rows: (usize, usize), a: &[i8], m: usize, za: i32, out: &mut [i32]) -> bool {
    let (r0, r1) = rows;
    if !w.fits_i32(rows, a, m, out) {
        return false;
    }
    if !available() || w.is_lean() {
        return generic::qgemm_i32(w, rows, a, m, za, out);
    }
    // SAFETY: as in `qgemm`: the feature is available, and the checks above bound every access.
    unsafe { qgemm_i32_impl(w, r0, r1, a, m, za, out) };
    true
}

/// The four values `a + 128` of group `g` of a row of `k` bytes, as i16, repeated across the
/// register (bytes past the row read as 128: their weights are zero).
///
/// # Safety
/// `row` must be valid for reading `k` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn group_i16(row: *const i8, k: usize, g: usize) -> __m256i {
    let at = 4 * g;
    let d = if at + 4 <= k {
        // SAFETY: bytes at..at+4 lie inside the row.
        unsafe { (row.add(at) as *const u32).read_unaligned() }
    } else {
        let mut d = 0u32;
        for i in 0..k.saturating_sub(at).min(4) {
            // SAFETY: at + i < k.
            d |= (unsafe { *row.add(at + i) } as u8 as u32) << (8 * i);
        }
        d
    };
    let v = _mm_cvtepu8_epi16(_mm_cvtsi32_si128((d ^ 0x8080_8080) as i32));
    _mm256_broadcastq_epi64(v)
}

/// Per row and block, the 16 channel sums as two vectors of 8 (channels 0–7, 8–15).
type Sums = [[[__m256i; 2]; 2]; 2];

/// Accumulates `R` rows × `B` blocks (R·B ≤ 2) over every group.
///
/// # Safety
/// Rows `a, a+k, …` (R of them) readable for `k` bytes; blocks `w, w+16·kp, …` (B of them) for
/// `16·kp` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile<const R: usize, const B: usize>(a: *const i8, k: usize, w: *const i8, kp: usize) -> Sums {
    // acc[i][j][q]: row i, block j, rows 4q..4q+4 of the block, two partial sums per row.
    let mut acc = [[[_mm256_setzero_si256(); 4]; B]; R];
    for g in 0..kp / 4 {
        let mut x = [_mm256_setzero_si256(); R];
        for (i, xi) in x.iter_mut().enumerate() {
            // SAFETY: row i < R is readable for k bytes.
            *xi = unsafe { group_i16(a.add(i * k), k, g) };
        }
        for j in 0..B {
            for q in 0..4 {
                // SAFETY: block j < B is readable for 16·kp bytes; 16 bytes at 64·g + 16·q.
                let wv = unsafe { _mm_loadu_si128(w.add(j * NR * kp + g * 64 + 16 * q) as *const __m128i) };
                let w16 = _mm256_cvtepi8_epi16(wv);
                for i in 0..R {
                    acc[i][j][q] = _mm256_add_epi32(acc[i][j][q], _mm256_madd_epi16(w16, x[i]));
                }
            }
        }
    }
    let mut out: Sums = [[[_mm256_setzero_si256(); 2]; 2]; 2];
    for i in 0..R {
        for j in 0..B {
            // hadd within 128-bit lanes gives rows [0 1 4 5 | 2 3 6 7]: reorder the 64-bit pairs.
            let lo = _mm256_hadd_epi32(acc[i][j][0], acc[i][j][1]);
            let hi = _mm256_hadd_epi32(acc[i][j][2], acc[i][j][3]);
            out[i][j] = [_mm256_permute4x64_epi64(lo, 0b11_01_10_00), _mm256_permute4x64_epi64(hi, 0b11_01_10_00)];
        }
    }
    out
}

/// [`tile`] for run-time `mr`, `nb` with `mr · nb ≤ 2`.
///
/// # Safety
/// As [`tile`] with `R = mr`, `B = nb`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_any(a: *const i8, k: usize, mr: usize, w: *const i8, kp: usize, nb: usize) -> Sums {
    // SAFETY: forwarded contract.
    unsafe {
        match (mr, nb) {
            (1, 1) => tile::<1, 1>(a, k, w, kp),
            (1, 2) => tile::<1, 2>(a, k, w, kp),
            (2, 1) => tile::<2, 1>(a, k, w, kp),
            _ => [[[_mm256_setzero_si256(); 2]; 2]; 2],
        }
    }
}

/// Rows and blocks of the next tile: two rows of one block, or one row of two blocks.
fn tile_shape(rows_left: usize, blocks_left: usize) -> (usize, usize) {
    if rows_left >= 2 {
        (2, 1)
    } else {
        (1, blocks_left.min(2))
    }
}

/// `bias − (128 + za) · sums` for 8 channels from `c0` (`cnt ≤ 8` of them in the matrix).
///
/// # Safety
/// `bias` readable for `cnt` i32 from `c0`; `sums` for 8 i32 from `c0`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn init8(bias: *const i32, sums: *const i32, c0: usize, cnt: usize, za: i32) -> __m256i {
    let mut b = [0i32; 8];
    // SAFETY: the caller's contract.
    let s = unsafe {
        core::ptr::copy_nonoverlapping(bias.add(c0), b.as_mut_ptr(), cnt.min(8));
        _mm256_loadu_si256(sums.add(c0) as *const __m256i)
    };
    // SAFETY: `b` holds 8 i32.
    let b = unsafe { _mm256_loadu_si256(b.as_ptr() as *const __m256i) };
    _mm256_sub_epi32(b, _mm256_mullo_epi32(s, _mm256_set1_epi32(128 + za)))
}

#[target_feature(enable = "avx2")]
unsafe fn qgemm_impl(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) {
    let (k, n, kp) = (q.w.k, q.w.rows, q.w.kp());
    let blocks = n.div_ceil(NR);
    let pairs = q.requant.as_ptr() as *const i32;
    let mut r = 0;
    while r < m {
        let mut b = 0;
        let mut mr = 1;
        while b < blocks {
            let (tr, nb) = tile_shape(m - r, blocks - b);
            mr = tr;
            // SAFETY: rows r..r+mr of `a` and blocks b..b+nb of the weights exist (fits).
            let acc = unsafe { tile_any(a.as_ptr().add(r * k), k, mr, q.w.data.as_ptr().add(b * NR * kp), kp, nb) };
            for (j, col) in (b..b + nb).enumerate() {
                for half in 0..2 {
                    let c0 = col * NR + 8 * half;
                    if c0 >= n {
                        continue;
                    }
                    let cnt = 8.min(n - c0);
                    // SAFETY: channels c0..c0+cnt exist in bias and requant; sums has padded rows.
                    let (init, rq) = unsafe {
                        (init8(q.bias.as_ptr(), q.w.sums.as_ptr(), c0, cnt, q.za), load8(pairs.add(2 * c0), cnt))
                    };
                    for (i, row) in acc.iter().enumerate().take(mr) {
                        let y = requant8(_mm256_add_epi32(row[j][half], init), rq, q.zy, q.lo, q.hi);
                        let mut tmp = [0i8; 16];
                        // SAFETY: tmp holds 16 bytes; out row r+i has n bytes from c0 on, cnt of
                        // them ours.
                        unsafe {
                            _mm_storeu_si128(tmp.as_mut_ptr() as *mut __m128i, y);
                            core::ptr::copy_nonoverlapping(tmp.as_ptr(), out.as_mut_ptr().add((r + i) * n + c0), cnt);
                        }
                    }
                }
            }
            b += nb;
        }
        r += mr;
    }
}

#[target_feature(enable = "avx2")]
unsafe fn qgemm_i32_impl(w: &PackedI8<'_>, r0: usize, r1: usize, a: &[i8], m: usize, za: i32, out: &mut [i32]) {
    let (k, kp) = (w.k, w.kp());
    let (b_first, b_end) = (r0 / NR, r1.div_ceil(NR));
    let width = r1 - r0;
    let zoff = _mm256_set1_epi32(128 + za);
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut r = 0;
    while r < m {
        let mut b = b_first;
        let mut mr = 1;
        while b < b_end {
            let (tr, nb) = tile_shape(m - r, b_end - b);
            mr = tr;
            // SAFETY: rows r..r+mr of `a` and blocks b..b+nb of the weights exist (checked sizes).
            let acc = unsafe { tile_any(a.as_ptr().add(r * k), k, mr, w.data.as_ptr().add(b * NR * kp), kp, nb) };
            for (j, col) in (b..b + nb).enumerate() {
                for half in 0..2 {
                    let c0 = col * NR + 8 * half;
                    let (lo, hi) = (r0.max(c0), r1.min(c0 + 8));
                    if lo >= hi {
                        continue;
                    }
                    // SAFETY: sums has the padded rows of every block.
                    let sums = unsafe { _mm256_loadu_si256(w.sums.as_ptr().add(c0) as *const __m256i) };
                    let init = _mm256_mullo_epi32(sums, zoff);
                    // Lanes c − c0 in [lo − c0, hi − c0) are written.
                    let ge = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32((lo - c0) as i32 - 1));
                    let lt = _mm256_cmpgt_epi32(_mm256_set1_epi32((hi - c0) as i32), lane);
                    let mask = _mm256_and_si256(ge, lt);
                    for (i, row) in acc.iter().enumerate().take(mr) {
                        let v = _mm256_sub_epi32(row[j][half], init);
                        let base = ((r + i) * width) as isize + c0 as isize - r0 as isize;
                        // SAFETY: written lanes c in [lo, hi) land at (r+i)·width + c − r0, inside
                        // out; masked-off lanes are not accessed (the base may point before out).
                        unsafe { _mm256_maskstore_epi32(out.as_mut_ptr().wrapping_offset(base), mask, v) };
                    }
                }
            }
            b += nb;
        }
        r += mr;
    }
}
