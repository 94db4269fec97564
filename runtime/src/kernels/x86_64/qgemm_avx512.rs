//! int8 GEMM on AVX-512 VNNI over k4n16 weights: `vpdpbusd` multiplies four unsigned activation
//! bytes (`a + 128`, broadcast) with the 16 rows × 4 bytes of one weight group and adds into 16
//! i32 lanes, so one 64-byte group is one instruction. Register tile: up to 4 activation rows ×
//! 4 blocks of 16 channels (16 accumulators). The result is the generic `qgemm` formula exactly:
//! integer sums are exact, and the requantization epilogue is the same arithmetic per lane.

// Register tiles are clearest indexed: acc[row][block].
#![allow(clippy::needless_range_loop)]

use super::requant::{load16, requant16};
use crate::kernels::generic::qgemm::{self as generic, PackedI8, QGemm, NR};
use core::arch::x86_64::*;

/// Activation rows of a register tile.
pub(super) const MR: usize = 4;
/// 16-channel weight blocks of a register tile.
pub(super) const NB: usize = 4;

fn available() -> bool {
    crate::kernels::Tier::Avx512.available()
}

/// [`generic::qgemm`] on AVX-512 VNNI.
pub(crate) fn qgemm(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) -> bool {
    if !q.fits(a, m, out) {
        return false;
    }
    // Lean weights (no sums, a short last block) take the generic kernel: this tier's reads
    // whole 16-row groups and the sums.
    if !available() || q.w.is_lean() {
        return generic::qgemm(q, a, m, out);
    }
    // SAFETY: AVX-512 F/BW/VL/VNNI are available (checked above), and `fits` checked that `a`
    // holds m·k bytes, `out` m·n, the weights their packed length, and bias and requant n each:
    // every access below stays inside those.
    unsafe { qgemm_impl(q, a, m, out) };
    true
}

/// [`generic::qgemm_i32`] on AVX-512 VNNI.
pub(crate) fn qgemm_i32(w: &PackedI8<'_>, rows: (usize, usize), a: &[i8], m: usize, za: i32, out: &mut [i32]) -> bool {
    let (r0, r1) = rows;
    if !w.fits_i32(rows, a, m, out) {
        return false;
    }
    if !available() || w.is_lean() {
        return generic::qgemm_i32(w, rows, a, m, za, out);
    }
    // SAFETY: as in `qgemm`: the features are available, and the checks above bound every access.
    unsafe { qgemm_i32_impl(w, r0, r1, a, m, za, out) };
    true
}

/// The four activation bytes of group `g` of a row of `k` bytes, as `a + 128` in a u32 (bytes
/// past the row read as 0: their weights are zero).
///
/// # Safety
/// `row` must be valid for reading `k` bytes.
#[inline(always)]
unsafe fn group_bytes(row: *const i8, k: usize, g: usize) -> i32 {
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
    (d ^ 0x8080_8080) as i32
}

/// Accumulates `R` rows × `B` blocks over every group: `acc[i][j]` gets Σ (a+128)·w for row `i`,
/// block `j`. Const sizes keep the accumulators in registers.
///
/// # Safety
/// Rows `a, a+k, …` (R of them) must be readable for `k` bytes; blocks `w, w+16·kp, …` (B of
/// them) for `16·kp` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile<const R: usize, const B: usize>(a: *const i8, k: usize, w: *const i8, kp: usize) -> [[__m512i; NB]; MR] {
    let mut acc = [[_mm512_setzero_si512(); B]; R];
    for g in 0..kp / 4 {
        let mut x = [_mm512_setzero_si512(); R];
        for (i, xi) in x.iter_mut().enumerate() {
            // SAFETY: row i < R is readable for k bytes (the caller's contract).
            *xi = _mm512_set1_epi32(unsafe { group_bytes(a.add(i * k), k, g) });
        }
        for j in 0..B {
            // SAFETY: block j < B is readable for 16·kp bytes; group g is 64 bytes at 64·g.
            let wv = unsafe { _mm512_loadu_si512(w.add(j * NR * kp + g * 64) as *const _) };
            for i in 0..R {
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], x[i], wv);
            }
        }
    }
    let mut out = [[_mm512_setzero_si512(); NB]; MR];
    for i in 0..R {
        for j in 0..B {
            out[i][j] = acc[i][j];
        }
    }
    out
}

/// [`tile`] for run-time `mr ≤ MR` rows and `nb ≤ NB` blocks.
///
/// # Safety
/// As [`tile`] with `R = mr`, `B = nb`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
pub(super) unsafe fn tile_any(
    a: *const i8,
    k: usize,
    mr: usize,
    w: *const i8,
    kp: usize,
    nb: usize,
) -> [[__m512i; NB]; MR] {
    macro_rules! pick {
        ($($r:literal $b:literal),*) => {
            match (mr, nb) {
                // SAFETY: forwarded contract.
                $(($r, $b) => unsafe { tile::<$r, $b>(a, k, w, kp) },)*
                _ => [[_mm512_setzero_si512(); NB]; MR],
            }
        };
    }
    pick!(1 1, 1 2, 1 3, 1 4, 2 1, 2 2, 2 3, 2 4, 3 1, 3 2, 3 3, 3 4, 4 1, 4 2, 4 3, 4 4)
}

/// One activation row against up to 8 blocks (128 rows of weights): the GEMV of a recurrent step.
/// Eight independent accumulators keep `vpdpbusd` busy where four would wait on its latency.
///
/// # Safety
/// `a` readable for `k` bytes; blocks `w, w+16·kp, …` (nb ≤ 8 of them) for `16·kp` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn gemv8(a: *const i8, k: usize, w: *const i8, kp: usize, nb: usize) -> [__m512i; 8] {
    let mut acc = [_mm512_setzero_si512(); 8];
    for g in 0..kp / 4 {
        // SAFETY: the row is readable for k bytes (the caller's contract).
        let x = _mm512_set1_epi32(unsafe { group_bytes(a, k, g) });
        for j in 0..8 {
            if j < nb {
                // SAFETY: block j < nb is readable for 16·kp bytes.
                let wv = unsafe { _mm512_loadu_si512(w.add(j * NR * kp + g * 64) as *const _) };
                acc[j] = _mm512_dpbusd_epi32(acc[j], x, wv);
            }
        }
    }
    acc
}

/// `bias − (128 + za) · sums` for the 16 channels from `c0` (`cnt` of them in the matrix).
///
/// # Safety
/// `bias` must be readable for `cnt` i32 from `c0` and `sums` for 16 i32 from `c0` (sums cover
/// padded rows).
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn init16(bias: *const i32, sums: *const i32, c0: usize, cnt: usize, za: i32) -> __m512i {
    let mask = if cnt >= 16 { 0xFFFF } else { ((1u32 << cnt) - 1) as u16 };
    // SAFETY: the caller's contract.
    let (b, s) =
        unsafe { (_mm512_maskz_loadu_epi32(mask, bias.add(c0)), _mm512_loadu_si512(sums.add(c0) as *const _)) };
    _mm512_sub_epi32(b, _mm512_mullo_epi32(s, _mm512_set1_epi32(128 + za)))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn qgemm_impl(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) {
    let (k, n, kp) = (q.w.k, q.w.rows, q.w.kp());
    let blocks = n.div_ceil(NR);
    let pairs = q.requant.as_ptr() as *const i32;
    // Block groups outside, row tiles inside: a group's weights (16·kp bytes per block) and its
    // epilogue constants are loaded once and serve every row.
    let mut b = 0;
    while b < blocks {
        let nb = NB.min(blocks - b);
        let mut consts = [(_mm512_setzero_si512(), 0u16); NB];
        let mut rqs = [core::mem::MaybeUninit::<super::requant::Requant16>::uninit(); NB];
        for j in 0..nb {
            let c0 = (b + j) * NR;
            let cnt = NR.min(n - c0);
            let mask = if cnt >= 16 { 0xFFFF } else { ((1u32 << cnt) - 1) as u16 };
            // SAFETY: channels c0..c0+cnt exist in bias and requant; sums has padded rows.
            unsafe {
                consts[j] = (init16(q.bias.as_ptr(), q.w.sums.as_ptr(), c0, cnt, q.za), mask);
                rqs[j].write(load16(pairs.add(2 * c0), cnt, q.zy, q.lo, q.hi));
            }
        }
        let mut r = 0;
        while r < m {
            let mr = MR.min(m - r);
            // SAFETY: rows r..r+mr of `a` and blocks b..b+nb of the weights exist (fits).
            let acc = unsafe { tile_any(a.as_ptr().add(r * k), k, mr, q.w.data.as_ptr().add(b * NR * kp), kp, nb) };
            for j in 0..nb {
                let (init, mask) = consts[j];
                // SAFETY: rqs[j] was written above for every j < nb.
                let rq = unsafe { rqs[j].assume_init_ref() };
                let c0 = (b + j) * NR;
                for (i, row) in acc.iter().enumerate().take(mr) {
                    let y = requant16(_mm512_add_epi32(row[j], init), rq);
                    // SAFETY: out row r+i has n bytes; the mask writes channels c0..c0+cnt only.
                    unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add((r + i) * n + c0), mask, y) };
                }
            }
            r += mr;
        }
        b += nb;
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn qgemm_i32_impl(w: &PackedI8<'_>, r0: usize, r1: usize, a: &[i8], m: usize, za: i32, out: &mut [i32]) {
    let (k, kp) = (w.k, w.kp());
    let (b_first, b_end) = (r0 / NR, r1.div_ceil(NR));
    let width = r1 - r0;
    let zoff = _mm512_set1_epi32(128 + za);
    if m == 1 {
        let mut b = b_first;
        while b < b_end {
            let nb = 8.min(b_end - b);
            // SAFETY: the one row of `a` and blocks b..b+nb exist (checked sizes).
            let acc = unsafe { gemv8(a.as_ptr(), k, w.data.as_ptr().add(b * NR * kp), kp, nb) };
            for (j, col) in (b..b + nb).enumerate() {
                let c0 = col * NR;
                // SAFETY: sums has the padded rows of every block.
                let sums = unsafe { _mm512_loadu_si512(w.sums.as_ptr().add(c0) as *const _) };
                let v = _mm512_sub_epi32(acc[j], _mm512_mullo_epi32(sums, zoff));
                let (lo, hi) = (r0.max(c0), r1.min(c0 + NR));
                let mask = (((1u32 << (hi - c0)) - 1) & !((1u32 << (lo - c0)) - 1)) as u16;
                let base = c0 as isize - r0 as isize;
                // SAFETY: written lanes c in [lo, hi) land at c − r0, inside out; masked-off lanes
                // are not accessed (the base may point before out).
                unsafe { _mm512_mask_storeu_epi32(out.as_mut_ptr().wrapping_offset(base), mask, v) };
            }
            b += nb;
        }
        return;
    }
    let mut r = 0;
    while r < m {
        let mr = MR.min(m - r);
        let mut b = b_first;
        while b < b_end {
            let nb = NB.min(b_end - b);
            // SAFETY: rows r..r+mr of `a` and blocks b..b+nb of the weights exist (checked sizes).
            let acc = unsafe { tile_any(a.as_ptr().add(r * k), k, mr, w.data.as_ptr().add(b * NR * kp), kp, nb) };
            for (j, col) in (b..b + nb).enumerate() {
                let c0 = col * NR;
                // SAFETY: sums has the padded rows of every block.
                let sums = unsafe { _mm512_loadu_si512(w.sums.as_ptr().add(c0) as *const _) };
                let init = _mm512_mullo_epi32(sums, zoff);
                // Lanes of this block inside [r0, r1), and where they go.
                let lo = r0.max(c0);
                let hi = r1.min(c0 + NR);
                let mask = (((1u32 << (hi - c0)) - 1) & !((1u32 << (lo - c0)) - 1)) as u16;
                for (i, row) in acc.iter().enumerate().take(mr) {
                    let v = _mm512_sub_epi32(row[j], init);
                    // Lane c − c0 goes to out[(r+i)·width + c − r0]: the store starts at c0 − r0,
                    // which may lie before the row (c0 < r0), but only lanes ≥ lo − c0 are written.
                    let base = ((r + i) * width) as isize + c0 as isize - r0 as isize;
                    // SAFETY: written lanes c in [lo, hi) land at (r+i)·width + c − r0, inside out;
                    // masked-off lanes are not accessed (the base itself may point before out).
                    unsafe { _mm512_mask_storeu_epi32(out.as_mut_ptr().wrapping_offset(base), mask, v) };
                }
            }
            b += nb;
        }
        r += mr;
    }
}
