//! int8 convolution over channels-last activations (quantization version 2, container version 2):
//! the scalar specification of every tier's channels-last `QConv` and of `QMean`.
//!
//! - Packed weights (k4n16-hwc): output pixel `p`, channel `c` of group `g` accumulates the k4n16
//!   formula (docs/QUANTIZATION.md) over the pixel's patch, whose element
//!   `(ky·kW + kx)·cpg + ci` is `x[n, iy, ix, g·cpg + ci]`, or the zero point `zx` where the tap
//!   falls in the padding (a real 0): `acc = Σ (patch + 128)·w − (128 + zx)·s[c]`.
//! - Depthwise weights (depthwise-hwc): `acc = Σ_taps (x − zx) · w[ky, kx, c]` over the taps inside
//!   the input (the padding adds nothing).
//!
//! then `requantize(bias[c] + acc)`. A pointwise convolution (1×1, stride 1, no padding, one group)
//! is exactly the GEMM of the pixels (rows of `C` bytes) with the weights, which is how every tier
//! runs it; other packed convolutions gather patches into a bounded buffer and run the same GEMM.

use super::int8::{requantize, Requant};
use super::qgemm::{PackedI8, QGemm};
use crate::kernels::QGemmFn;
use crate::ops::ConvParams;

/// The constant side of a channels-last int8 convolution.
#[derive(Debug, Clone, Copy)]
pub struct QConv<'a> {
    /// Geometry (its `act` is ignored: the activation is in `lo`/`hi`).
    pub p: ConvParams,
    /// One int32 bias per output channel.
    pub bias: &'a [i32],
    /// Valid requantization pairs, one per output channel.
    pub requant: &'a [Requant],
    /// Input zero point.
    pub zx: i32,
    /// Output zero point.
    pub zy: i32,
    /// Output bounds.
    pub lo: i8,
    /// Output bounds.
    pub hi: i8,
}

impl QConv<'_> {
    /// True when `x`, `out` and the per-channel constants have the geometry's sizes.
    pub fn fits(&self, x: &[i8], out: &[i8]) -> bool {
        let p = &self.p;
        p.group > 0
            && p.c.is_multiple_of(p.group)
            && p.m.is_multiple_of(p.group)
            && x.len() == p.n * p.h * p.w * p.c
            && out.len() == p.n * p.oh * p.ow * p.m
            && self.bias.len() == p.m
            && self.requant.len() == p.m
    }
    /// Reduction length of one output channel (`kh · kw · C/group`).
    pub fn taps(&self) -> usize {
        self.p.kh * self.p.kw * (self.p.c / self.p.group.max(1))
    }
    /// True for the 1×1, stride-1, unpadded, single-group convolutions that are a plain GEMM.
    pub fn is_pointwise(&self) -> bool {
        let p = &self.p;
        p.kh == 1 && p.kw == 1 && p.stride == [1, 1] && p.pad == [0, 0] && p.group == 1 && p.oh == p.h && p.ow == p.w
    }
}

/// Input coordinates of tap `(ky, kx)` for output `(oy, ox)`, if inside the input.
#[inline]
fn tap(p: &ConvParams, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0])?;
    let ix = (ox * p.stride[1] + kx * p.dilation[1]).checked_sub(p.pad[1])?;
    (iy < p.h && ix < p.w).then_some((iy, ix))
}

/// Writes the patch of output pixel `(n, oy, ox)` for group `g` into `patch` (`taps` bytes).
pub fn gather_patch(q: &QConv<'_>, x: &[i8], (n, oy, ox): (usize, usize, usize), g: usize, patch: &mut [i8]) {
    let p = &q.p;
    let cpg = p.c / p.group.max(1);
    let pad = q.zx.clamp(-128, 127) as i8;
    let row_bytes = p.kw * cpg;
    for ky in 0..p.kh {
        let Some(dst) = patch.get_mut(ky * row_bytes..(ky + 1) * row_bytes) else { return };
        let iy = (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0]).filter(|&iy| iy < p.h);
        let Some(iy) = iy else {
            dst.fill(pad);
            continue;
        };
        let x0 = ox * p.stride[1];
        if p.dilation[1] == 1 && p.group == 1 && x0 >= p.pad[1] && x0 - p.pad[1] + p.kw <= p.w {
            // Every tap of the row inside, and their channels contiguous: one copy.
            let base = ((n * p.h + iy) * p.w + x0 - p.pad[1]) * p.c;
            if let Some(src) = x.get(base..base + dst.len()) {
                dst.copy_from_slice(src);
            }
            continue;
        }
        for (kx, d) in dst.chunks_exact_mut(cpg.max(1)).enumerate() {
            match (x0 + kx * p.dilation[1]).checked_sub(p.pad[1]).filter(|&ix| ix < p.w) {
                Some(ix) => {
                    let base = ((n * p.h + iy) * p.w + ix) * p.c + g * cpg;
                    if let Some(src) = x.get(base..base + d.len()) {
                        d.copy_from_slice(src);
                    }
                }
                None => d.fill(pad),
            }
        }
    }
}

/// Patch bytes gathered per GEMM call: bounds the stack buffer of the patch path. Bare-metal
/// targets (small stacks, no cache to fill) take 1 KiB; the sums, and so the results, are the same.
pub const PATCH_BYTES: usize = if cfg!(target_os = "none") { 1024 } else { 4096 };

/// Channels-last convolution with k4n16-hwc weights `w` (rows `M`, reduction `taps`), computing
/// every product with `gemm` (the session's tier; the generic one is the specification): pointwise
/// layers as one GEMM over the pixels, others patch by patch through a stack buffer. Returns
/// `false` (writing nothing past what it checked) when the sizes do not fit.
pub fn qconv_packed(q: &QConv<'_>, w: &PackedI8<'_>, x: &[i8], out: &mut [i8], gemm: QGemmFn) -> bool {
    let p = q.p;
    let taps = q.taps();
    if !q.fits(x, out) || w.rows != p.m || w.k != taps || !w.is_consistent() {
        return false;
    }
    let g = QGemm { w: *w, bias: q.bias, requant: q.requant, za: q.zx, zy: q.zy, lo: q.lo, hi: q.hi };
    if q.is_pointwise() {
        return gemm(&g, x, p.n * p.h * p.w, out);
    }
    if p.group == 1 {
        // Patches of as many pixels as fit the buffer, one GEMM per batch of pixels.
        let mut buf = [0i8; PATCH_BYTES];
        let per = (PATCH_BYTES / taps.max(1)).max(1);
        let pixels = p.n * p.oh * p.ow;
        let mut done = 0;
        while done < pixels {
            let cnt = per.min(pixels - done);
            if taps > PATCH_BYTES {
                return grouped(q, w, x, out);
            }
            for i in 0..cnt {
                let px = done + i;
                let (n, oy, ox) = (px / (p.oh * p.ow), px / p.ow % p.oh, px % p.ow);
                if let Some(dst) = buf.get_mut(i * taps..(i + 1) * taps) {
                    gather_patch(q, x, (n, oy, ox), 0, dst);
                }
            }
            let (Some(a), Some(o)) = (buf.get(..cnt * taps), out.get_mut(done * p.m..(done + cnt) * p.m)) else {
                return false;
            };
            if !gemm(&g, a, cnt, o) {
                return false;
            }
            done += cnt;
        }
        return true;
    }
    grouped(q, w, x, out)
}

/// The packed formula output by output (groups, or patches longer than the buffer): the plain
/// definition, used where no GEMM applies.
fn grouped(q: &QConv<'_>, w: &PackedI8<'_>, x: &[i8], out: &mut [i8]) -> bool {
    let p = q.p;
    let (cpg, mpg) = (p.c / p.group, p.m / p.group);
    // Lean weights (no sums): `(x − zx) · w` directly, the same integer.
    let offset = if w.is_lean() { q.zx.wrapping_neg() } else { 128 };
    let mut o = 0usize;
    for n in 0..p.n {
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                for c in 0..p.m {
                    let g = c / mpg.max(1);
                    let mut acc = 0i32;
                    let mut kk = 0;
                    for ky in 0..p.kh {
                        for kx in 0..p.kw {
                            let at = tap(&p, oy, ox, ky, kx);
                            for ci in 0..cpg {
                                let xv = match at {
                                    Some((iy, ix)) => {
                                        x.get(((n * p.h + iy) * p.w + ix) * p.c + g * cpg + ci).copied().unwrap_or(0)
                                            as i32
                                    }
                                    None => q.zx,
                                };
                                acc = acc.wrapping_add((xv + offset) * w.get(c, kk) as i32);
                                kk += 1;
                            }
                        }
                    }
                    if !w.is_lean() {
                        let s = w.sums.get(c).copied().unwrap_or(0);
                        acc = acc.wrapping_sub((128 + q.zx).wrapping_mul(s));
                    }
                    let (b, r) = (q.bias.get(c).copied().unwrap_or(0), q.requant.get(c).copied());
                    let Some(y) = out.get_mut(o) else { return false };
                    *y = requantize(
                        b.wrapping_add(acc),
                        r.unwrap_or(Requant { multiplier: 1 << 30, shift: 31 }),
                        q.zy,
                        q.lo,
                        q.hi,
                    );
                    o += 1;
                }
            }
        }
    }
    true
}

/// Channels-last depthwise convolution (`group = C = M`) with weights `[kH, kW, M]`. Returns
/// `false` when the sizes do not fit.
pub fn qconv_depthwise(q: &QConv<'_>, w: &[i8], x: &[i8], out: &mut [i8]) -> bool {
    let p = q.p;
    if !q.fits(x, out) || p.group != p.c || p.m != p.c || w.len() != p.kh * p.kw * p.m {
        return false;
    }
    let m = p.m;
    let mut acc = [0i32; 64];
    for n in 0..p.n {
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                let base = ((n * p.oh + oy) * p.ow + ox) * m;
                for c0 in (0..m).step_by(64) {
                    let cnt = 64.min(m - c0);
                    let Some(acc) = acc.get_mut(..cnt) else { return false };
                    acc.fill(0);
                    for ky in 0..p.kh {
                        for kx in 0..p.kw {
                            let Some((iy, ix)) = tap(&p, oy, ox, ky, kx) else { continue };
                            let xb = ((n * p.h + iy) * p.w + ix) * m + c0;
                            let wb = (ky * p.kw + kx) * m + c0;
                            let (Some(xs), Some(ws)) = (x.get(xb..xb + cnt), w.get(wb..wb + cnt)) else { return false };
                            for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                                *a = a.wrapping_add((xv as i32 - q.zx) * wv as i32);
                            }
                        }
                    }
                    let Some(ys) = out.get_mut(base + c0..base + c0 + cnt) else { return false };
                    for (i, (y, &a)) in ys.iter_mut().zip(acc.iter()).enumerate() {
                        let c = c0 + i;
                        let (b, r) = (q.bias.get(c).copied().unwrap_or(0), q.requant.get(c).copied());
                        *y = requantize(
                            b.wrapping_add(a),
                            r.unwrap_or(Requant { multiplier: 1 << 30, shift: 31 }),
                            q.zy,
                            q.lo,
                            q.hi,
                        );
                    }
                }
            }
        }
    }
    true
}

/// The reduced layout of a mean over `mask`'s axes of `dims`: `(outer, row, one_row)` — the axes
/// before the trailing kept ones, the length of the row every input row adds into, and whether
/// every input row adds into the same outputs (global pooling, channels last).
pub fn mean_rows(dims: &[usize], mask: u32) -> (usize, usize, bool) {
    let tail = dims.iter().enumerate().rev().take_while(|(i, _)| mask & (1 << i) == 0).count();
    let outer = dims.len() - tail;
    let row: usize = dims.get(outer..).unwrap_or(&[]).iter().product();
    let one_row = (0..outer).all(|i| mask & (1 << i) != 0 || dims.get(i) == Some(&1));
    (outer, row, one_row)
}

/// `QMean`: `out = requant(Σ_reduced (x − zx))` for every output element, where the reduced axes
/// are those of `mask` over `dims` (the input's). Returns `false` when the sizes do not fit.
///
/// The trailing kept axes form contiguous rows (the channels of a channels-last tensor): each row
/// of the input is added to its output row, found by counting over the outer axes.
pub fn qmean(dims: &[usize], mask: u32, x: &[i8], zx: i32, r: Requant, zy: i32, out: &mut [i8]) -> bool {
    let total: usize = dims.iter().product();
    let kept_len: usize = dims.iter().enumerate().filter(|(i, _)| mask & (1 << i) == 0).map(|(_, &d)| d).product();
    if x.len() != total || out.len() != kept_len || dims.len() > crate::format::MAX_RANK {
        return false;
    }
    let (outer, row, one_row) = mean_rows(dims, mask);
    // Output stride of each outer axis (0 for reduced ones).
    let mut ostride = [0usize; crate::format::MAX_RANK];
    let mut s = row;
    for i in (0..outer).rev() {
        if mask & (1 << i) == 0 {
            if let Some(o) = ostride.get_mut(i) {
                *o = s;
            }
            s *= dims.get(i).copied().unwrap_or(1);
        }
    }
    let mut acc = [0i32; 256];
    for chunk in (0..kept_len).step_by(acc.len()) {
        let cnt = acc.len().min(kept_len - chunk);
        let Some(acc) = acc.get_mut(..cnt) else { return false };
        acc.fill(0);
        // Every input row adds into the same outputs: no odometer.
        if one_row {
            for xr in x.chunks_exact(row.max(1)) {
                for (a, &v) in acc.iter_mut().zip(xr.get(chunk..chunk + cnt).unwrap_or(&[])) {
                    *a = a.wrapping_add(v as i32 - zx);
                }
            }
            let Some(ys) = out.get_mut(chunk..chunk + cnt) else { return false };
            for (y, &a) in ys.iter_mut().zip(acc.iter()) {
                *y = requantize(a, r, zy, -128, 127);
            }
            continue;
        }
        let mut coord = [0usize; crate::format::MAX_RANK];
        let mut o = 0usize;
        for xr in x.chunks_exact(row.max(1)) {
            // Output positions o..o+row of this input row, clipped to the chunk.
            let (lo, hi) = (o.max(chunk), (o + row).min(chunk + cnt));
            if lo < hi {
                if let (Some(a), Some(xs)) = (acc.get_mut(lo - chunk..hi - chunk), xr.get(lo - o..hi - o)) {
                    for (a, &v) in a.iter_mut().zip(xs) {
                        *a = a.wrapping_add(v as i32 - zx);
                    }
                }
            }
            // Next outer coordinate (an odometer), keeping `o` in step.
            for i in (0..outer).rev() {
                let (Some(c), Some(&d), Some(&st)) = (coord.get_mut(i), dims.get(i), ostride.get(i)) else { break };
                *c += 1;
                o += st;
                if *c < d {
                    break;
                }
                o -= st * d;
                *c = 0;
            }
        }
        let Some(ys) = out.get_mut(chunk..chunk + cnt) else { return false };
        for (y, &a) in ys.iter_mut().zip(acc.iter()) {
            *y = requantize(a, r, zy, -128, 127);
        }
    }
    true
}

/// Convolution weights `[M, cpg, kH, kW]` (row-major) in layout k4n16-hwc, as bytes.
#[cfg(feature = "alloc")]
pub fn pack_k4n16_hwc(w: &[i8], m: usize, cpg: usize, kh: usize, kw: usize) -> alloc::vec::Vec<u8> {
    let taps = cpg * kh * kw;
    let mut rows = alloc::vec![0i8; m * taps];
    for o in 0..m {
        for ci in 0..cpg {
            for ky in 0..kh {
                for kx in 0..kw {
                    let src = ((o * cpg + ci) * kh + ky) * kw + kx;
                    let dst = o * taps + (ky * kw + kx) * cpg + ci;
                    if let (Some(d), Some(&v)) = (rows.get_mut(dst), w.get(src)) {
                        *d = v;
                    }
                }
            }
        }
    }
    super::qgemm::pack_k4n16(&rows, m, taps)
}

/// Depthwise weights `[M, 1, kH, kW]` (row-major) in layout depthwise-hwc (`[kH, kW, M]`).
#[cfg(feature = "alloc")]
pub fn pack_depthwise_hwc(w: &[i8], m: usize, kh: usize, kw: usize) -> alloc::vec::Vec<i8> {
    let mut out = alloc::vec![0i8; m * kh * kw];
    for o in 0..m {
        for t in 0..kh * kw {
            if let (Some(d), Some(&v)) = (out.get_mut(t * m + o), w.get(o * kh * kw + t)) {
                *d = v;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::super::int8::{conv_i8, quantize_multiplier, Int8Product};
    use super::*;
    use crate::kernels::tier_checks::{conv_geometry as geometry, Gen};
    use std::vec::Vec;

    fn nchw_to_nhwc(x: &[i8], n: usize, c: usize, hw: usize) -> Vec<i8> {
        (0..n * hw * c).map(|i| x[(i / (hw * c)) * c * hw + (i % c) * hw + (i / c) % hw]).collect()
    }

    /// The channels-last kernels equal issue 4's NCHW kernel on the same tensors, transposed: packed
    /// (pointwise, patches, groups) and depthwise, on random geometries.
    #[test]
    fn channels_last_equals_nchw() {
        let mut g = Gen::new(41);
        for case in 0..300 {
            let depthwise = case % 3 == 0;
            let p = geometry(&mut g, depthwise);
            let cpg = p.c / p.group;
            let x = g.i8s(p.n * p.c * p.h * p.w);
            let w = g.i8s(p.m * cpg * p.kh * p.kw);
            let bias: Vec<i32> = (0..p.m).map(|_| g.range(-5000, 5000) as i32).collect();
            let rq: Vec<Requant> =
                (0..p.m).map(|_| quantize_multiplier(0.002 + g.range(0, 50) as f64 * 1e-4).unwrap()).collect();
            let (zx, zy) = (g.range(-128, 127) as i32, g.range(-20, 20) as i32);
            let mut want = std::vec![0i8; p.n * p.m * p.oh * p.ow];
            let prod = Int8Product { w: &w, bias: &bias, requant: &rq, zy, lo: -128, hi: 127 };
            assert!(conv_i8(&p, &x, zx, &prod, &mut want));
            let want = nchw_to_nhwc(&want, p.n, p.m, p.oh * p.ow);
            let xl = nchw_to_nhwc(&x, p.n, p.c, p.h * p.w);
            let q = QConv { p, bias: &bias, requant: &rq, zx, zy, lo: -128, hi: 127 };
            let mut got = std::vec![0i8; want.len()];
            let packed = pack_k4n16_hwc(&w, p.m, cpg, p.kh, p.kw);
            let pw = PackedI8::from_bytes(&packed, p.m, q.taps()).unwrap();
            assert!(qconv_packed(&q, &pw, &xl, &mut got, super::super::qgemm::qgemm), "case {case}");
            assert_eq!(got, want, "packed, case {case}: {p:?}");
            if depthwise {
                let dw = pack_depthwise_hwc(&w, p.m, p.kh, p.kw);
                got.fill(0);
                assert!(qconv_depthwise(&q, &dw, &xl, &mut got));
                assert_eq!(got, want, "depthwise, case {case}: {p:?}");
            }
        }
    }

    /// The row-wise mean equals the definition (every element's kept coordinates give its output)
    /// for random shapes and axis sets.
    #[test]
    fn qmean_matches_the_definition() {
        let mut g = Gen::new(77);
        for _ in 0..300 {
            let rank = 1 + g.range(0, 4) as usize;
            let dims: Vec<usize> = (0..rank).map(|_| 1 + g.range(0, 5) as usize).collect();
            let mask = (g.next() as u32) & ((1 << rank) - 1);
            let x = g.i8s(dims.iter().product());
            let kept: Vec<usize> = (0..rank).filter(|i| mask & (1 << i) == 0).collect();
            let n_out: usize = kept.iter().map(|&i| dims[i]).product();
            let mut sums = std::vec![0i32; n_out];
            for (i, &v) in x.iter().enumerate() {
                let mut rem = i;
                let mut coords = std::vec![0; rank];
                for a in (0..rank).rev() {
                    coords[a] = rem % dims[a];
                    rem /= dims[a];
                }
                let o = kept.iter().fold(0, |o, &a| o * dims[a] + coords[a]);
                sums[o] += v as i32 + 7;
            }
            let r = quantize_multiplier(0.03).unwrap();
            let want: Vec<i8> = sums.iter().map(|&a| requantize(a, r, 2, -128, 127)).collect();
            let mut got = std::vec![0i8; n_out];
            assert!(qmean(&dims, mask, &x, -7, r, 2, &mut got));
            assert_eq!(got, want, "{dims:?} mask {mask:b}");
        }
    }

    #[test]
    fn qmean_is_the_rounded_mean() {
        // [1, 2, 3, 2] channels last, mean over axes 1 and 2: 6 values per channel.
        let x: Vec<i8> = (0..12).map(|i| (i * 10 - 50) as i8).collect();
        let r = quantize_multiplier(1.0 / 6.0).unwrap();
        let mut out = [0i8; 2];
        assert!(qmean(&[1, 2, 3, 2], 0b0110, &x, -10, r, 3, &mut out));
        // Channel 0: x = -50, -30, ..., 50 → Σ(x + 10) = 60 → 10; channel 1: Σ = 120 → 20.
        assert_eq!(out, [13, 23]);
        assert!(!qmean(&[1, 2, 3, 2], 0b0110, &x[1..], -10, r, 3, &mut out));
    }
}
