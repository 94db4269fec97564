//! `DynQMatMul` (generic [`dyn_qmatmul`](crate::kernels::generic::dynq::dyn_qmatmul)) on AVX-512
//! VNNI, fused: each row's largest magnitude in 16 lanes, the tier's `quantize_mul`, then int8
//! register tiles with the f32 epilogue applied in registers, so the i32 sums never go to memory
//! and back; the residual is added as a tile is stored, an activation over each row tile while
//! it is in L1. Same bits as the generic kernel: the maximum of magnitudes is exact in any order
//! (NaN ignored as `f32::max` ignores it), and the epilogue is the same f32 steps per lane
//! (convert, multiply by `s_r · s_w`, add the bias, then the activation and the residual; no
//! fused multiply-add).

// Register tiles are clearest indexed: acc[row][block].
#![allow(clippy::needless_range_loop)]

use super::elementwise::avx512::{quantize_mul, unary_in_place};
use super::qgemm_avx512::{tile_any, MR, NB};
use crate::kernels::generic::dynq::{self as generic, DynQKernels, DynQLayer};
use crate::kernels::generic::qgemm::{PackedI8, NR};
use core::arch::x86_64::*;

/// The tier's parts for the unfused path (lean weights, which the tiles do not read).
pub(super) const PARTS: DynQKernels =
    DynQKernels { quantize: quantize_mul, qgemm_i32: super::qgemm_avx512::qgemm_i32, act: unary_in_place };

/// [`generic::dyn_qmatmul`] on AVX-512 VNNI.
pub(crate) fn dyn_qmatmul(l: &DynQLayer<'_>, x: &[f32], xq: &mut [i8], scales: &mut [f32], out: &mut [f32]) -> bool {
    let w = &l.w;
    let k = w.k;
    if !crate::kernels::Tier::Avx512.available() || w.is_lean() || !w.is_consistent() || k == 0 {
        return generic::dyn_qmatmul(PARTS, l, x, xq, scales, out);
    }
    let Some((m, xq, scales)) = generic::checked(l, x, xq, scales, out) else { return false };
    // SAFETY (the closure): AVX-512 F is available (checked above); the kernel reads `row` only.
    generic::quantize_rows(x, k, xq, scales, |row| unsafe { abs_max(row) }, quantize_mul);
    // SAFETY: the features are available; `w` is consistent and full (values of Rp·Kp bytes and
    // Rp sums), `xq` holds m·k bytes, `scales` m, `out` m·n, `w_scale` and `bias` n (checked):
    // every access below stays inside those.
    unsafe { product(l, xq, m, scales, out) };
    true
}

/// The largest |v| of `row`, NaN ignored (0 for an empty row): `generic::dynq::max_abs`.
///
/// # Safety
/// AVX-512 F must be available.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn abs_max(row: &[f32]) -> f32 {
    let mut acc = _mm512_setzero_ps();
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        // SAFETY: the chunk holds 16 f32.
        let v = _mm512_abs_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) });
        // vmaxps returns its second operand when either is NaN: a NaN in `v` leaves `acc`.
        acc = _mm512_max_ps(v, acc);
    }
    let mut best = _mm512_reduce_max_ps(acc);
    for &v in chunks.remainder() {
        best = best.max(v.abs());
    }
    best
}

/// Rows of a register tile over biased bytes.
const MR8: usize = 8;
/// 16-channel blocks of that tile.
const NB8: usize = 3;

/// `R` rows × `B` blocks of `Σ (a+128)·w` over `kp/4` groups, the activations already biased
/// (`a + 128` as bytes) with rows of `k` bytes, `k` a multiple of 4: each group's four bytes are
/// broadcast straight from memory.
///
/// # Safety
/// Rows `a, a+k, …` (R) readable for `k` bytes, `k == kp`; blocks `w, w+16·kp, …` (B) readable
/// for `16·kp` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile_biased<const R: usize, const B: usize>(a: *const u8, k: usize, w: *const i8) -> [[__m512i; NB8]; MR8] {
    let mut acc = [[_mm512_setzero_si512(); NB8]; MR8];
    for g in 0..k / 4 {
        let mut wv = [_mm512_setzero_si512(); NB8];
        for j in 0..B {
            // SAFETY: block j < B is readable for 16·kp bytes; group g is 64 bytes at 64·g.
            wv[j] = unsafe { _mm512_loadu_si512(w.add(j * NR * k + g * 64) as *const _) };
        }
        for i in 0..R {
            // SAFETY: row i < R is readable for k bytes, and 4·g + 4 ≤ k.
            let x = _mm512_set1_epi32(unsafe { (a.add(i * k + 4 * g) as *const i32).read_unaligned() });
            for j in 0..B {
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], x, wv[j]);
            }
        }
    }
    acc
}

/// The product and epilogue: row tiles outside, groups of blocks inside (a row tile's
/// activations stay in L1 while the weights stream past). With `k` a multiple of 4 (every
/// transformer), the activations are biased once (`a + 128`, a byte XOR, in the scratch) and the
/// tiles are [`MR8`] × [`NB8`], broadcasting from memory; otherwise the `qgemm_avx512` tiles,
/// which bias each group as they read it.
///
/// # Safety
/// As at the call in [`dyn_qmatmul`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn product(l: &DynQLayer<'_>, xq: &mut [i8], m: usize, scales: &[f32], out: &mut [f32]) {
    let w = &l.w;
    let (k, n, kp) = (w.k, w.rows, w.kp());
    let blocks = n.div_ceil(NR);
    // Without an activation the residual is added in registers as the tile is stored; with one,
    // after it (the generic order: activation, then residual), over the whole row tile.
    let plain = l.act.func == crate::ops::UnaryFn::Identity;
    let ep = Epilogue { w, scales, w_scale: l.w_scale, bias: l.bias, residual: l.residual.filter(|_| plain), n };
    let biased = k == kp;
    if biased {
        for v in xq.iter_mut() {
            *v ^= i8::MIN;
        }
    }
    let mr_max = if biased { MR8 } else { MR };
    for r in (0..m).step_by(mr_max) {
        let mr = mr_max.min(m - r);
        if biased {
            let a = xq.as_ptr() as *const u8;
            for b in (0..blocks).step_by(NB8) {
                let nb = NB8.min(blocks - b);
                // SAFETY: rows r..r+mr of `xq` (k bytes each) and blocks b..b+nb of the weights
                // exist, and k == kp.
                let acc = unsafe { tile_biased_any(a.add(r * k), k, mr, w.data.as_ptr().add(b * NR * kp), nb) };
                // SAFETY: rows r..r+mr and channels of blocks b..b+nb exist (the caller's sizes).
                unsafe { ep.store(&acc, r, mr, b, nb, out) };
            }
        } else {
            for b in (0..blocks).step_by(NB) {
                let nb = NB.min(blocks - b);
                // SAFETY: rows r..r+mr of `xq` (k bytes each) and blocks b..b+nb of the weights
                // exist.
                let acc = unsafe { tile_any(xq.as_ptr().add(r * k), k, mr, w.data.as_ptr().add(b * NR * kp), kp, nb) };
                // SAFETY: as above.
                unsafe { ep.store(&acc, r, mr, b, nb, out) };
            }
        }
        // The tile's rows are whole: the activation and the residual while they are in L1.
        if let Some(rows) = out.get_mut(r * n..(r + mr) * n).filter(|_| !plain) {
            l.finish_rows(unary_in_place, r, rows);
        }
    }
}

/// [`tile_biased`] for run-time `mr ≤ MR8` rows and `nb ≤ NB8` blocks.
///
/// # Safety
/// As [`tile_biased`] with `R = mr`, `B = nb`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile_biased_any(a: *const u8, k: usize, mr: usize, w: *const i8, nb: usize) -> [[__m512i; NB8]; MR8] {
    macro_rules! pick {
        ($($r:literal $b:literal),*) => {
            match (mr, nb) {
                // SAFETY: forwarded contract.
                $(($r, $b) => unsafe { tile_biased::<$r, $b>(a, k, w) },)*
                _ => [[_mm512_setzero_si512(); NB8]; MR8],
            }
        };
    }
    pick!(1 1, 1 2, 1 3, 2 1, 2 2, 2 3, 3 1, 3 2, 3 3, 4 1, 4 2, 4 3, 5 1, 5 2, 5 3, 6 1, 6 2, 6 3, 7 1, 7 2, 7 3,
          8 1, 8 2, 8 3)
}

/// What the epilogue reads: `y = (sum − 128·Σw) as f32 · (s_r · s_w) + bias`, then `+ residual`
/// when there is one and no activation.
pub(super) struct Epilogue<'a, 'w> {
    pub(super) w: &'a PackedI8<'w>,
    pub(super) scales: &'a [f32],
    pub(super) w_scale: &'a [f32],
    pub(super) bias: Option<&'a [f32]>,
    pub(super) residual: Option<&'a [f32]>,
    pub(super) n: usize,
}

impl Epilogue<'_, '_> {
    /// Writes rows `r..r+mr`, blocks `b..b+nb` of a tile's sums to `out` as f32.
    ///
    /// # Safety
    /// AVX-512 F available; rows `r..r+mr` have scales and `out` rows of `n`; blocks `b..b+nb`
    /// exist in the weights (sums of padded rows), `w_scale` and `bias` hold `n`, the residual
    /// `m × n`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn store<const M: usize, const N: usize>(
        &self,
        acc: &[[__m512i; N]; M],
        r: usize,
        mr: usize,
        b: usize,
        nb: usize,
        out: &mut [f32],
    ) {
        let n = self.n;
        let zoff = _mm512_set1_epi32(128);
        for j in 0..nb {
            let c0 = (b + j) * NR;
            let cnt = NR.min(n - c0);
            let mask = if cnt >= 16 { 0xFFFF } else { ((1u32 << cnt) - 1) as u16 };
            // SAFETY: sums has the padded rows of every block; the masks read channels
            // c0..c0+cnt of w_scale and bias, which have n.
            let (init, ws, bv) = unsafe {
                let sums = _mm512_loadu_si512(self.w.sums.as_ptr().add(c0) as *const _);
                let bv = match self.bias {
                    Some(bias) => _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(c0)),
                    None => _mm512_setzero_ps(),
                };
                (_mm512_mullo_epi32(sums, zoff), _mm512_maskz_loadu_ps(mask, self.w_scale.as_ptr().add(c0)), bv)
            };
            for (i, row) in acc.iter().enumerate().take(mr) {
                // SAFETY: row r+i < m has a scale.
                let s = _mm512_set1_ps(unsafe { *self.scales.get_unchecked(r + i) });
                let sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(row[j], init));
                let mut y = _mm512_add_ps(_mm512_mul_ps(sum, _mm512_mul_ps(s, ws)), bv);
                let at = (r + i) * n + c0;
                if let Some(res) = self.residual {
                    // SAFETY: the residual has the output's m·n values (checked); the mask reads
                    // channels c0..c0+cnt of row r+i.
                    y = _mm512_add_ps(y, unsafe { _mm512_maskz_loadu_ps(mask, res.as_ptr().add(at)) });
                }
                // SAFETY: out row r+i has n values; the mask writes channels c0..c0+cnt only.
                unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(at), mask, y) };
            }
        }
    }
}
