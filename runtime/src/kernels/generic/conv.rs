//! Direct convolution (1-D as 2-D with height 1), grouped and depthwise included.
//!
//! Loop order: for each output plane, for each (input channel, ky, kx) tap, add `w · x-row` to the
//! output rows the tap reaches. The inner loop is a contiguous multiply-add (an axpy when the
//! stride is 1), weights are read once per tap, and padding is handled by clipping the output
//! range instead of testing every element. Each output sums `bias + Σ_c Σ_ky Σ_kx` in that order.

use super::FloatSrc;
use crate::ops::ConvParams;

/// First and one-past-last output index whose input index `o·stride + off` lies in `[0, len)`.
pub(super) fn valid_range(out_len: usize, stride: usize, off: isize, len: usize) -> (usize, usize) {
    let s = stride as isize;
    // o·s + off ≥ 0  ⇔  o ≥ ceil(-off / s)
    let lo = if off >= 0 { 0 } else { ((-off) + s - 1) / s };
    // o·s + off ≤ len − 1  ⇔  o ≤ floor((len − 1 − off) / s)
    let hi_incl = (len as isize - 1 - off).div_euclid(s);
    let hi = (hi_incl + 1).clamp(0, out_len as isize);
    (lo.clamp(0, out_len as isize) as usize, hi.max(lo.clamp(0, out_len as isize)) as usize)
}

/// `out[n, m, oy, ox] = bias[m] + Σ x[n, g·cpg + c, iy, ix] · w[m, c, ky, kx]`, then the activation.
///
/// Every output takes every tap, in `(c, ky, kx)` order: a tap in the padding adds `w · 0.0`
/// (which changes nothing but the sign of a zero sum or a non-finite weight's NaN, and makes the
/// result exactly what an im2col patch with zeros gives, as the SIMD tiers compute it).
pub fn conv(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    conv_linear(p, x, w, bias, out);
    super::activation::unary_in_place(p.act.func, p.act.a, p.act.b, out);
}

/// Adds `z` to the outputs of `plane` (`oh × ow`) outside rows `[oy0, oy1)` × columns `[ox0, ox1)`.
fn add_outside(plane: &mut [f32], ow: usize, (oy0, oy1): (usize, usize), (ox0, ox1): (usize, usize), z: f32) {
    for (oy, row) in plane.chunks_exact_mut(ow.max(1)).enumerate() {
        if oy < oy0 || oy >= oy1 || ox0 >= ox1 {
            row.iter_mut().for_each(|o| *o += z);
        } else {
            row.iter_mut().take(ox0).for_each(|o| *o += z);
            row.iter_mut().skip(ox1).for_each(|o| *o += z);
        }
    }
}

/// Floats of the padded plane the depthwise path stages on the stack.
pub const DW_PLANE: usize = 4096;

/// The geometry of [`depthwise_flat`]: `(padded rows, padded columns, run)`, where the outputs of
/// a channel live at `oy·columns + ox` of a run of `run` values and tap `(ky, kx)` reads the
/// padded plane from `ky·columns + kx`; `None` when the layer is not a stride-1 depthwise one
/// whose padded plane fits [`DW_PLANE`].
pub fn depthwise_flat_geometry(p: &ConvParams) -> Option<(usize, usize, usize)> {
    // The padded plane holds exactly the rows and columns the outputs reach (stride 1).
    let (hp, wp) = (p.oh + p.kh.saturating_sub(1), p.ow + p.kw.saturating_sub(1));
    if p.group != p.c || p.m != p.c || p.stride != [1, 1] || p.dilation != [1, 1] || hp * wp > DW_PLANE {
        return None;
    }
    // The last row needs only `ow` of its `wp` columns, which keeps the last tap's run inside.
    Some((hp, wp, p.oh.saturating_sub(1) * wp + p.ow))
}

/// Channel `c` of image `n`, zero-padded into `plane` (`hp × wp`, see [`depthwise_flat_geometry`]).
pub fn pad_plane(p: &ConvParams, x: &[f32], n: usize, c: usize, (hp, wp): (usize, usize), plane: &mut [f32]) -> bool {
    let plane_in = p.h * p.w;
    let (Some(xplane), Some(pad_plane)) =
        (x.get((n * p.c + c) * plane_in..(n * p.c + c + 1) * plane_in), plane.get_mut(..hp * wp))
    else {
        return false;
    };
    pad_plane.fill(0.0);
    let cols = p.w.min(wp.saturating_sub(p.pad[1]));
    for (iy, row) in xplane.chunks_exact(p.w.max(1)).enumerate().take(hp.saturating_sub(p.pad[0])) {
        let at = (iy + p.pad[0]) * wp + p.pad[1];
        if let (Some(d), Some(src)) = (pad_plane.get_mut(at..at + cols), row.get(..cols)) {
            d.copy_from_slice(src);
        }
    }
    true
}

/// Depthwise (one input channel per output) with stride 1 and no dilation: each input plane,
/// zero-padded once, is a flat array in which every tap is a constant offset, so each tap is one
/// contiguous multiply-add over `oh` padded rows (columns past `ow` are computed and dropped).
/// The same sums in the same tap order as [`conv_body`]; `false` when it does not apply.
fn depthwise_flat(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) -> bool {
    let Some((hp, wp, run)) = depthwise_flat_geometry(p) else { return false };
    let plane_out = p.oh * p.ow;
    let mut padded = [0f32; DW_PLANE];
    let mut acc = [0f32; DW_PLANE];
    for n in 0..p.n {
        for c in 0..p.c {
            let Some(oplane) = out.get_mut((n * p.c + c) * plane_out..(n * p.c + c + 1) * plane_out) else {
                return false;
            };
            if !pad_plane(p, x, n, c, (hp, wp), &mut padded) {
                return false;
            }
            let pad_plane = padded.get(..hp * wp).unwrap_or(&[]);
            let acc = acc.get_mut(..run).unwrap_or(&mut []);
            acc.fill(bias.and_then(|b| b.get(c)).copied().unwrap_or(0.0));
            for ky in 0..p.kh {
                for kx in 0..p.kw {
                    let wv = w.get((c * p.kh + ky) * p.kw + kx);
                    let off = ky * wp + kx;
                    for (a, &v) in acc.iter_mut().zip(pad_plane.get(off..off + run).unwrap_or(&[])) {
                        *a += wv * v;
                    }
                }
            }
            for (orow, arow) in oplane.chunks_exact_mut(p.ow.max(1)).zip(acc.chunks(wp.max(1))) {
                if let Some(src) = arow.get(..p.ow) {
                    orow.copy_from_slice(src);
                }
            }
        }
    }
    true
}

/// [`conv`] without its activation (which tiers apply with their own element-wise kernel).
pub fn conv_linear(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    if depthwise_flat(p, x, w, bias, out) {
        return;
    }
    let cpg = p.c / p.group; // input channels per group
    let mpg = p.m / p.group; // output channels per group
    let plane_out = p.oh * p.ow;
    let plane_in = p.h * p.w;
    for n in 0..p.n {
        for m in 0..p.m {
            let g = m / mpg;
            let base = (n * p.m + m) * plane_out;
            let Some(oplane) = out.get_mut(base..base + plane_out) else { return };
            oplane.fill(bias.and_then(|b| b.get(m)).copied().unwrap_or(0.0));
            for c in 0..cpg {
                let ci = g * cpg + c;
                let xbase = (n * p.c + ci) * plane_in;
                let Some(xplane) = x.get(xbase..xbase + plane_in) else { return };
                for ky in 0..p.kh {
                    let offy = (ky * p.dilation[0]) as isize - p.pad[0] as isize;
                    let (oy0, oy1) = valid_range(p.oh, p.stride[0], offy, p.h);
                    for kx in 0..p.kw {
                        let wv = w.get(((m * cpg + c) * p.kh + ky) * p.kw + kx);
                        let offx = (kx * p.dilation[1]) as isize - p.pad[1] as isize;
                        let (ox0, ox1) = valid_range(p.ow, p.stride[1], offx, p.w);
                        if !(oy0 == 0 && oy1 == p.oh && ox0 == 0 && ox1 == p.ow) {
                            add_outside(oplane, p.ow, (oy0, oy1), (ox0, ox1), wv * 0.0);
                        }
                        if ox0 >= ox1 || oy0 >= oy1 {
                            continue;
                        }
                        // Whole rows that map onto whole, consecutive input rows (1x1 kernels, the
                        // centre column of 'same' kernels): one multiply-add over the block.
                        if ox0 == 0 && ox1 == p.ow && p.ow == p.w && offx == 0 && p.stride == [1, 1] {
                            let iy0 = (oy0 as isize + offy) as usize;
                            let rows = oy1 - oy0;
                            let src = xplane.get(iy0 * p.w..(iy0 + rows) * p.w).unwrap_or(&[]);
                            for (o, &v) in oplane.get_mut(oy0 * p.ow..oy1 * p.ow).unwrap_or(&mut []).iter_mut().zip(src)
                            {
                                *o += wv * v;
                            }
                            continue;
                        }
                        for oy in oy0..oy1 {
                            let iy = (oy * p.stride[0]) as isize + offy;
                            let Some(xrow) = xplane.get(iy as usize * p.w..(iy as usize + 1) * p.w) else { continue };
                            let Some(orow) = oplane.get_mut(oy * p.ow..(oy + 1) * p.ow) else { continue };
                            let ix0 = (ox0 * p.stride[1]) as isize + offx;
                            if p.stride[1] == 1 {
                                let src = xrow.get(ix0 as usize..ix0 as usize + (ox1 - ox0)).unwrap_or(&[]);
                                for (o, &v) in orow.get_mut(ox0..ox1).unwrap_or(&mut []).iter_mut().zip(src) {
                                    *o += wv * v;
                                }
                            } else {
                                for (k, o) in orow.get_mut(ox0..ox1).unwrap_or(&mut []).iter_mut().enumerate() {
                                    *o += wv * xrow.get(ix0 as usize + k * p.stride[1]).copied().unwrap_or(0.0);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn p_pointwise(p: &ConvParams) -> bool {
    p.kh == 1 && p.kw == 1 && p.stride == [1, 1] && p.pad == [0, 0]
}

/// f32 values the patch path of [`conv_gemm`] may stage on the stack.
pub const GEMM_PATCH: usize = 32 * 1024;

/// [`conv_linear`] as one GEMM per image and group: `out[M_g × P] = bias + W_g[M_g × K] ·
/// patches[K × P]` with `K = (c, ky, kx)` of the group's channels in the reference's order and
/// padded taps as 0.0 — exactly the reference's sums when `sgemm` keeps its order (every tier's
/// does). Needs f32 weights and patches that fit [`GEMM_PATCH`] (pointwise layers need none: the
/// input plane is the patch matrix). Leaves the activation to the caller; returns `false` without
/// writing when it does not apply.
pub fn conv_gemm(
    p: &ConvParams,
    x: &[f32],
    w: &FloatSrc<'_>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    (sgemm, widen): (crate::kernels::SgemmFn, crate::kernels::WidenFn),
) -> bool {
    if p.group == 0
        || !p.c.is_multiple_of(p.group)
        || !p.m.is_multiple_of(p.group)
        || (p.group == p.c && p.m == p.c && !p_pointwise(p))
    {
        // Depthwise layers go through the reference's flat path: a GEMM of one row per channel
        // would cost more than it saves.
        return false;
    }
    let cpg = p.c / p.group;
    let (k, plane, iplane) = (cpg * p.kh * p.kw, p.oh * p.ow, p.h * p.w);
    let pointwise = p.kh == 1 && p.kw == 1 && p.stride == [1, 1] && p.pad == [0, 0] && p.oh == p.h && p.ow == p.w;
    // f16 weights are widened a few rows at a time (exactly: the same products as f32 weights).
    let f16 = matches!(w, FloatSrc::F16(_));
    if (!pointwise && k * plane > GEMM_PATCH) || w.len() != p.m * k || (f16 && k > super::WIDEN_BUF) {
        return false;
    }
    if x.len() != p.n * p.c * iplane || out.len() != p.n * p.m * plane {
        return false;
    }
    // Stack buffers no larger than the layer needs (zeroing 128 KiB for a pointwise layer cost
    // more than some layers' arithmetic): none for pointwise f32 layers.
    let (patch, kern) = (if pointwise { 0 } else { k * plane }, (sgemm, widen));
    match (patch, f16) {
        (0, false) => conv_gemm_in::<0, 0>(p, x, w, bias, out, kern),
        (0, true) => conv_gemm_in::<0, { super::WIDEN_BUF }>(p, x, w, bias, out, kern),
        (..=SMALL_PATCH, false) => conv_gemm_in::<SMALL_PATCH, 0>(p, x, w, bias, out, kern),
        (..=SMALL_PATCH, true) => conv_gemm_in::<SMALL_PATCH, { super::WIDEN_BUF }>(p, x, w, bias, out, kern),
        (_, false) => conv_gemm_in::<GEMM_PATCH, 0>(p, x, w, bias, out, kern),
        (_, true) => conv_gemm_in::<GEMM_PATCH, { super::WIDEN_BUF }>(p, x, w, bias, out, kern),
    }
}

/// The patch buffer size class for small layers (the DS-CNN stem: 40 × 125).
const SMALL_PATCH: usize = 8 * 1024;

/// [`conv_gemm`]'s work, with a patch buffer of `P` floats (0: pointwise) and a widening buffer of
/// `W` (0: f32 weights); sizes checked by the caller.
fn conv_gemm_in<const P: usize, const W: usize>(
    p: &ConvParams,
    x: &[f32],
    w: &FloatSrc<'_>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    (sgemm, widen): (crate::kernels::SgemmFn, crate::kernels::WidenFn),
) -> bool {
    let (cpg, mpg) = (p.c / p.group, p.m / p.group);
    let (k, plane, iplane) = (cpg * p.kh * p.kw, p.oh * p.ow, p.h * p.w);
    let (mut buf, mut wbuf) = ([0f32; P], [0f32; W]);
    for n in 0..p.n {
        let (Some(xn), Some(on)) =
            (x.get(n * p.c * iplane..(n + 1) * p.c * iplane), out.get_mut(n * p.m * plane..(n + 1) * p.m * plane))
        else {
            return false;
        };
        for (m, row) in on.chunks_exact_mut(plane.max(1)).enumerate() {
            row.fill(bias.and_then(|b| b.get(m)).copied().unwrap_or(0.0));
        }
        for g in 0..p.group {
            let xg = xn.get(g * cpg * iplane..(g + 1) * cpg * iplane).unwrap_or(&[]);
            let og = on.get_mut(g * mpg * plane..(g + 1) * mpg * plane).unwrap_or(&mut []);
            let patches: &[f32] = if P == 0 { xg } else { patches_of(p, xg, k, &mut buf) };
            // Output rows r0..r0+rows of the group against the same rows of its weights.
            let mut r0 = 0;
            while r0 < mpg {
                let rows = if W > 0 { (W / k.max(1)).min(mpg - r0) } else { mpg - r0 };
                let at = (g * mpg + r0) * k;
                let wrows: &[f32] = match w {
                    FloatSrc::F32(wv) => wv.get(at..at + rows * k).unwrap_or(&[]),
                    FloatSrc::F16(_) => {
                        let dst = wbuf.get_mut(..rows * k).unwrap_or(&mut []);
                        w.widen_into(at, dst, widen);
                        dst
                    }
                };
                let orows = og.get_mut(r0 * plane..(r0 + rows) * plane).unwrap_or(&mut []);
                sgemm(rows, k, plane, wrows, patches, orows, true);
                r0 += rows.max(1);
            }
        }
    }
    true
}

/// The im2col patches of one group's input planes `xg` into `buf`: row `(c, ky, kx)` holds, for
/// every output position, the input value that tap reads (0.0 in the padding).
fn patches_of<'b>(p: &ConvParams, xg: &[f32], k: usize, buf: &'b mut [f32]) -> &'b [f32] {
    let (plane, iplane) = (p.oh * p.ow, p.h * p.w);
    let cpg = k / (p.kh * p.kw).max(1);
    let patches = buf.get_mut(..k * plane).unwrap_or(&mut []);
    let mut r = 0;
    for c in 0..cpg {
        let xplane = xg.get(c * iplane..(c + 1) * iplane).unwrap_or(&[]);
        for ky in 0..p.kh {
            for kx in 0..p.kw {
                let Some(dst) = patches.get_mut(r * plane..(r + 1) * plane) else { return &[] };
                for (oy, drow) in dst.chunks_exact_mut(p.ow.max(1)).enumerate() {
                    let iy = (oy * p.stride[0] + ky * p.dilation[0]).checked_sub(p.pad[0]).filter(|&v| v < p.h);
                    for (ox, d) in drow.iter_mut().enumerate() {
                        let ix = (ox * p.stride[1] + kx * p.dilation[1]).checked_sub(p.pad[1]).filter(|&v| v < p.w);
                        *d = match (iy, ix) {
                            (Some(iy), Some(ix)) => xplane.get(iy * p.w + ix).copied().unwrap_or(0.0),
                            _ => 0.0,
                        };
                    }
                }
                r += 1;
            }
        }
    }
    buf.get(..k * plane).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::valid_range;

    #[test]
    fn valid_ranges() {
        // len 5, stride 1, offset -1 (pad 1): o in [1, 5) reaches ix = o - 1 in [0, 4).
        assert_eq!(valid_range(5, 1, -1, 5), (1, 5));
        assert_eq!(valid_range(5, 1, 1, 5), (0, 4));
        assert_eq!(valid_range(3, 2, -1, 5), (1, 3));
        // No output reaches the input: an empty range.
        let (a, b) = valid_range(2, 1, 9, 5);
        assert!(a >= b);
        let (a, b) = valid_range(4, 3, -10, 5);
        assert!(a >= b);
    }
}
