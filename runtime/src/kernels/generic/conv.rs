//! Direct convolution (1-D as 2-D with height 1), grouped and depthwise included.
//!
//! Loop order: for each output plane, for each (input channel, ky, kx) tap, add `w · x-row` to the
//! output rows the tap reaches. The inner loop is a contiguous multiply-add (an axpy when the
//! stride is 1), weights are read once per tap, and padding is handled by clipping the output
//! range instead of testing every element. Each output sums `bias + Σ_c Σ_ky Σ_kx` in that order.

use super::{apply_activation, FloatSrc};
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
pub fn conv(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
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
            if p.act.func != crate::ops::UnaryFn::Identity {
                for o in oplane.iter_mut() {
                    *o = apply_activation(p.act.func, p.act.a, p.act.b, *o);
                }
            }
        }
    }
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
