//! The int8 matrix product over packed weights (layout k4n16, docs/FORMAT.md): the scalar
//! specification of every tier's `qgemm` and `qgemm_i32`.
//!
//! For activations `a` (int8, zero point `za`) and weights `w` (int8, symmetric) with stored row
//! sums `s[c]`, output column `c` of row `r` accumulates, in wrapping i32,
//!
//! `acc = Σ_k (a[r,k] + 128) · w[c,k] − (128 + za) · s[c]`
//!
//! which equals `Σ_k (a[r,k] − za) · w[c,k]`: a session checks, when it prepares the op, that every
//! stored sum `s[c]` is `Σ_k w[c,k]` (and refuses the file otherwise), so each tier may take the
//! form that suits its instructions — x86 multiplies unsigned `a + 128` and subtracts the stored
//! sums, Arm's `sdot` multiplies signed values and subtracts `za · s[c]` — and all compute the same
//! exact integer. Integer sums are exact, so the order of the additions is free.
//!
//! A *lean* packed weight (compact artifacts, docs/FORMAT.md) stores no row sums and no padding
//! rows: its last block holds only the rows that remain, interleaved in groups of that many rows.
//! The generic and `dsp` kernels read it directly (`Σ (a − za) · w`, the same integer); the x86
//! and AArch64 tiers, whose kernels read whole 16-row groups and the sums, hand it to the generic
//! kernels.

use super::int8::{requantize, Requant};
use zerocopy::FromBytes;

/// Rows per block of the packed layout.
pub const NR: usize = 16;

/// A k4n16 weight, viewed in place: `rows × k` int8 values in 16-row blocks, reduction groups of
/// 4, then one i32 sum per padded row; or lean (no sums, the last block only as tall as its rows).
#[derive(Debug, Clone, Copy)]
pub struct PackedI8<'a> {
    /// The packed values: `rows_padded × k_padded` bytes.
    pub data: &'a [i8],
    /// The row sums: `rows_padded` values (none when lean).
    pub sums: &'a [i32],
    /// Rows (output channels).
    pub rows: usize,
    /// Reduction length.
    pub k: usize,
}

impl<'a> PackedI8<'a> {
    /// Views the bytes of a k4n16 weight of `rows × k`, full (`Rp·Kp` values then `Rp` sums) or
    /// lean (`rows·Kp` values) by its length (`None` when the length is neither, or the sums are
    /// not 4-byte aligned).
    pub fn from_bytes(bytes: &'a [u8], rows: usize, k: usize) -> Option<Self> {
        let (rp, kp) = (Self::padded_rows(rows), Self::padded_k(k));
        if rows == 0 || k == 0 {
            return None;
        }
        if bytes.len() == rows.checked_mul(kp)? {
            let data = <[i8]>::ref_from_bytes(bytes).ok()?;
            return Some(PackedI8 { data, sums: &[], rows, k });
        }
        let n = rp.checked_mul(kp)?;
        if bytes.len() != n.checked_add(rp.checked_mul(4)?)? {
            return None;
        }
        let (data, sums) = bytes.split_at(n);
        let data = <[i8]>::ref_from_bytes(data).ok()?;
        let sums = <[i32]>::ref_from_bytes(sums).ok()?;
        Some(PackedI8 { data, sums, rows, k })
    }
    /// Rows rounded up to a whole block.
    pub fn padded_rows(rows: usize) -> usize {
        rows.div_ceil(NR) * NR
    }
    /// Reduction length rounded up to a whole group of 4.
    pub fn padded_k(k: usize) -> usize {
        k.div_ceil(4) * 4
    }
    /// `k` rounded up to a group of 4.
    pub fn kp(&self) -> usize {
        Self::padded_k(self.k)
    }
    /// True for the lean form: no row sums, no padding rows.
    #[inline]
    pub fn is_lean(&self) -> bool {
        self.sums.is_empty()
    }
    /// Rows held by block `b`: 16, but for a lean weight's last block.
    #[inline]
    pub fn block_rows(&self, b: usize) -> usize {
        if self.is_lean() {
            self.rows.saturating_sub(b * NR).min(NR)
        } else {
            NR
        }
    }
    /// Weight `w[row, kk]` (0 outside the matrix).
    #[inline]
    pub fn get(&self, row: usize, kk: usize) -> i8 {
        let (kp, b) = (self.kp(), row / NR);
        let at = b * NR * kp + (kk / 4) * self.block_rows(b) * 4 + (row % NR) * 4 + kk % 4;
        if row >= self.rows && self.is_lean() {
            return 0;
        }
        self.data.get(at).copied().unwrap_or(0)
    }
    /// True when `qgemm_i32` over rows `[r0, r1)` may read `m` rows of `a` and write `out`.
    pub fn fits_i32(&self, (r0, r1): (usize, usize), a: &[i8], m: usize, out: &[i32]) -> bool {
        self.is_consistent() && r0 <= r1 && r1 <= self.rows && a.len() == m * self.k && out.len() == m * (r1 - r0)
    }
    /// True when every stored row sum is the sum of its row (padding rows: 0); a lean weight has
    /// none to check.
    pub fn sums_are_true(&self) -> bool {
        if self.is_lean() {
            return true;
        }
        let kp = self.kp();
        let mut sums = [0i32; NR];
        // One running total per byte position of a group (lane-wise, so compilers vectorize it),
        // folded into the row sums at the end of the block: the same integers.
        let mut lanes = [0i32; NR * 4];
        for (b, block) in self.data.chunks_exact(NR * kp.max(1)).enumerate() {
            lanes.fill(0);
            for group in block.chunks_exact(NR * 4) {
                for (l, &v) in lanes.iter_mut().zip(group) {
                    *l += v as i32;
                }
            }
            for (s, row) in sums.iter_mut().zip(lanes.chunks_exact(4)) {
                *s = row.iter().sum();
            }
            if self.sums.get(b * NR..(b + 1) * NR) != Some(&sums[..]) {
                return false;
            }
        }
        true
    }
    /// True when the views hold what `rows × k` needs (full or lean).
    pub fn is_consistent(&self) -> bool {
        let (rp, kp) = (Self::padded_rows(self.rows), self.kp());
        let full = self.data.len() == rp * kp && self.sums.len() == rp;
        let lean = self.data.len() == self.rows * kp && self.sums.is_empty();
        self.rows > 0 && self.k > 0 && (full || lean)
    }
}

/// Packs `w` (`rows × k`, row-major) into the k4n16 layout: values then row sums, as bytes.
#[cfg(feature = "alloc")]
pub fn pack_k4n16(w: &[i8], rows: usize, k: usize) -> alloc::vec::Vec<u8> {
    let (rp, kp) = (PackedI8::padded_rows(rows), PackedI8::padded_k(k));
    let mut out = alloc::vec![0u8; rp * kp + 4 * rp];
    for r in 0..rows {
        let mut sum = 0i32;
        for kk in 0..k {
            let v = w.get(r * k + kk).copied().unwrap_or(0);
            sum += v as i32;
            if let Some(b) = out.get_mut((r / NR) * NR * kp + (kk / 4) * NR * 4 + (r % NR) * 4 + kk % 4) {
                *b = v as u8;
            }
        }
        if let Some(s) = out.get_mut(rp * kp + 4 * r..rp * kp + 4 * r + 4) {
            s.copy_from_slice(&sum.to_le_bytes());
        }
    }
    out
}

/// The lean form of a full k4n16 weight (`bytes`, values then sums): the values of its rows only,
/// the last block interleaved as tall as its rows. `None` when `bytes` is not a full k4n16 weight
/// of `rows × k`.
#[cfg(feature = "alloc")]
pub fn lean_k4n16(bytes: &[u8], rows: usize, k: usize) -> Option<alloc::vec::Vec<u8>> {
    let w = PackedI8::from_bytes(bytes, rows, k).filter(|w| !w.is_lean())?;
    let kp = w.kp();
    let mut out = alloc::vec![0u8; rows * kp];
    for r in 0..rows {
        let (b, nb) = (r / NR, rows.saturating_sub(r / NR * NR).min(NR));
        for kk in 0..k {
            if let Some(o) = out.get_mut(b * NR * kp + (kk / 4) * nb * 4 + (r % NR) * 4 + kk % 4) {
                *o = w.get(r, kk) as u8;
            }
        }
    }
    Some(out)
}

/// The constant side of a packed int8 product and where its result goes.
#[derive(Debug, Clone, Copy)]
pub struct QGemm<'a> {
    /// Weights: one row per output channel.
    pub w: PackedI8<'a>,
    /// One int32 bias per output channel.
    pub bias: &'a [i32],
    /// Per output channel, the fixed-point form of `s_a · s_w[c] / s_y` (valid pairs).
    pub requant: &'a [Requant],
    /// Activation zero point.
    pub za: i32,
    /// Output zero point.
    pub zy: i32,
    /// Lowest output value (−128, or the quantized floor of a fused ReLU).
    pub lo: i8,
    /// Highest output value.
    pub hi: i8,
}

impl QGemm<'_> {
    /// True when `a` holds `m` rows of `k` and `out` `m` rows of all the channels.
    pub fn fits(&self, a: &[i8], m: usize, out: &[i8]) -> bool {
        let n = self.w.rows;
        self.w.is_consistent()
            && self.bias.len() == n
            && self.requant.len() == n
            && a.len() == m * self.w.k
            && out.len() == m * n
    }
}

/// `acc` (see the module docs) of row `a` for the 16 channels of block `b`, group by group over
/// the packed bytes (fixed-size inner loops that compilers vectorize). A lean weight has no sums:
/// its products are `(a − za) · w` directly, the same integer.
#[inline]
pub(crate) fn acc_block(w: &PackedI8<'_>, a: &[i8], za: i32, b: usize) -> [i32; NR] {
    let (kp, nb) = (w.kp(), w.block_rows(b).max(1));
    let mut acc = [0i32; NR];
    let block = w.data.get(b * NR * kp..b * NR * kp + nb * kp).unwrap_or(&[]);
    let offset = if w.is_lean() { za.wrapping_neg() } else { 128 };
    for (g, wg) in block.chunks_exact(nb * 4).enumerate() {
        let mut a4 = [0i32; 4];
        for (t, v) in a4.iter_mut().enumerate() {
            // Past the row the weights are zero: any value will do.
            *v = a.get(4 * g + t).map_or(0, |&x| (x as i32).wrapping_add(offset));
        }
        for (s, wr) in acc.iter_mut().zip(wg.chunks_exact(4)) {
            let d = a4[0] * wr[0] as i32 + a4[1] * wr[1] as i32 + a4[2] * wr[2] as i32 + a4[3] * wr[3] as i32;
            *s = s.wrapping_add(d);
        }
    }
    if !w.is_lean() {
        for (i, s) in acc.iter_mut().enumerate() {
            let sum = w.sums.get(b * NR + i).copied().unwrap_or(0);
            *s = s.wrapping_sub((128 + za).wrapping_mul(sum));
        }
    }
    acc
}

/// `out[r, c] = requant(bias[c] + acc(r, c))` over `m` rows of `a` (`m × k`, row-major) and every
/// channel. Returns `false` (writing nothing) when the sizes do not fit ([`QGemm::fits`]).
pub fn qgemm(q: &QGemm<'_>, a: &[i8], m: usize, out: &mut [i8]) -> bool {
    qgemm_with(q, a, m, out, acc_block, requantize_block)
}

/// [`qgemm`] with the block sums of `acc` (a tier's `acc_block`, `(w, row, za, block)`) and the
/// epilogue `epi` (a tier's, or [`requantize_block`]).
pub fn qgemm_with(
    q: &QGemm<'_>,
    a: &[i8],
    m: usize,
    out: &mut [i8],
    acc: impl Fn(&PackedI8<'_>, &[i8], i32, usize) -> [i32; NR],
    epi: impl Fn(&QGemm<'_>, usize, &[i32; NR], &mut [i8]),
) -> bool {
    if !q.fits(a, m, out) {
        return false;
    }
    let (k, n) = (q.w.k, q.w.rows);
    for (ar, yr) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for (b, yb) in yr.chunks_mut(NR).enumerate() {
            epi(q, b, &acc(&q.w, ar, q.za, b), yb);
        }
    }
    true
}

/// The epilogue of channel block `b`: `yb[i] = requant(bias[c] + acc[i])` for its channels
/// `c = 16·b + i` (every tier without its own vector epilogue shares it).
pub fn requantize_block(q: &QGemm<'_>, b: usize, acc: &[i32; NR], yb: &mut [i8]) {
    for (i, (y, &s)) in yb.iter_mut().zip(acc).enumerate() {
        let c = b * NR + i;
        let (bias, r) = (q.bias.get(c).copied().unwrap_or(0), q.requant.get(c).copied());
        let r = r.unwrap_or(Requant { multiplier: 1 << 30, shift: 31 });
        *y = requantize(bias.wrapping_add(s), r, q.zy, q.lo, q.hi);
    }
}

/// Raw sums for rows `[r0, r1)` of the weights: `out[r, c − r0] = acc(r, c)` over `m` rows of `a`
/// (`out` is `m × (r1 − r0)`). How the recurrent ops get their int8 gate products. Returns `false`
/// (writing nothing) when the sizes do not fit.
pub fn qgemm_i32(w: &PackedI8<'_>, rows: (usize, usize), a: &[i8], m: usize, za: i32, out: &mut [i32]) -> bool {
    qgemm_i32_with(w, rows, a, m, za, out, acc_block)
}

/// [`qgemm_i32`] with the block sums of `acc` (a tier's `acc_block`, `(w, row, za, block)`):
/// the row-range bookkeeping every tier without its own shares.
pub fn qgemm_i32_with(
    w: &PackedI8<'_>,
    rows: (usize, usize),
    a: &[i8],
    m: usize,
    za: i32,
    out: &mut [i32],
    acc: impl Fn(&PackedI8<'_>, &[i8], i32, usize) -> [i32; NR],
) -> bool {
    let (r0, r1) = rows;
    if !w.fits_i32(rows, a, m, out) {
        return false;
    }
    if r0 == r1 {
        return true;
    }
    for (ar, yr) in a.chunks_exact(w.k).zip(out.chunks_exact_mut(r1 - r0)) {
        for b in r0 / NR..r1.div_ceil(NR) {
            for (i, &s) in acc(w, ar, za, b).iter().enumerate() {
                let c = b * NR + i;
                if let Some(y) = c.checked_sub(r0).filter(|_| c < r1).and_then(|j| yr.get_mut(j)) {
                    *y = s;
                }
            }
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::super::int8::{matmul_i8, quantize_multiplier, Int8Product};
    use super::*;
    use std::vec::Vec;

    /// The packed product equals the row-major int8 product (issue 4's kernel) bit for bit.
    #[test]
    fn packed_equals_row_major() {
        for &(m, k, n) in &[(1usize, 1usize, 1usize), (3, 5, 17), (2, 64, 16), (4, 33, 40), (1, 127, 3)] {
            let a: Vec<i8> = (0..m * k).map(|i| ((i * 37 + 11) % 256) as u8 as i8).collect();
            let w: Vec<i8> = (0..n * k).map(|i| ((i * 53 + 7) % 256) as u8 as i8).collect();
            let bias: Vec<i32> = (0..n as i32).map(|c| c * 301 - 700).collect();
            let rq: Vec<Requant> = (0..n).map(|c| quantize_multiplier(0.001 * (c + 1) as f64).unwrap()).collect();
            let packed = pack_k4n16(&w, n, k);
            let pw = PackedI8::from_bytes(&packed, n, k).unwrap();
            let q = QGemm { w: pw, bias: &bias, requant: &rq, za: 5, zy: -9, lo: -128, hi: 127 };
            let mut got = std::vec![0i8; m * n];
            assert!(qgemm(&q, &a, m, &mut got));
            let p = Int8Product { w: &w, bias: &bias, requant: &rq, zy: -9, lo: -128, hi: 127 };
            let mut want = std::vec![0i8; m * n];
            assert!(matmul_i8(&a, 5, k, &p, &mut want));
            assert_eq!(got, want, "{m}x{k}x{n}");
            let mut sums = std::vec![0i32; m * n];
            assert!(qgemm_i32(&pw, (0, n), &a, m, 5, &mut sums));
            for r in 0..m {
                for c in 0..n {
                    let exact: i32 = (0..k).map(|i| (a[r * k + i] as i32 - 5) * w[c * k + i] as i32).sum();
                    assert_eq!(sums[r * n + c], exact);
                }
            }
        }
    }

    #[test]
    fn layout_bytes_and_bad_sizes() {
        // Rows 0..2 of k = 5: group 0 holds rows' first four bytes, group 1 the fifth, padded.
        let w: Vec<i8> = (1..=10).collect();
        let p = pack_k4n16(&w, 2, 5);
        assert_eq!(p.len(), 16 * 8 + 64);
        assert_eq!(&p[..8], &[1, 2, 3, 4, 6, 7, 8, 9]);
        assert_eq!(&p[64..72], &[5, 0, 0, 0, 10, 0, 0, 0]);
        assert_eq!(&p[128..136], &[15, 0, 0, 0, 40, 0, 0, 0]);
        assert!(PackedI8::from_bytes(&p[..p.len() - 1], 2, 5).is_none());
        assert!(PackedI8::from_bytes(&p, 2, 9).is_none());
        let pw = PackedI8::from_bytes(&p, 2, 5).unwrap();
        let mut out = [0i32; 2];
        assert!(!qgemm_i32(&pw, (0, 3), &[0; 5], 1, 0, &mut out), "rows past the matrix");
        assert!(!qgemm_i32(&pw, (0, 2), &[0; 4], 1, 0, &mut out), "short activations");
        assert!(qgemm_i32(&pw, (1, 2), &[1; 5], 1, 1, &mut out[..1]));
        assert_eq!(out[0], 0);
    }
}
