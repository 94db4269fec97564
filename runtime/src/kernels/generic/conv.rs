//! Direct convolution (1-D as 2-D with height 1), grouped and depthwise included.

use super::{apply_activation, FloatSrc};
use crate::ops::ConvParams;

/// `out[n, m, oy, ox] = bias[m] + Σ x[n, g·cpg + c, iy, ix] · w[m, c, ky, kx]`, then the activation.
pub fn conv(p: &ConvParams, x: &[f32], w: &FloatSrc<'_>, bias: Option<&[f32]>, out: &mut [f32]) {
    let cpg = p.c / p.group; // input channels per group
    let mpg = p.m / p.group; // output channels per group
    let mut o = 0usize;
    for n in 0..p.n {
        for m in 0..p.m {
            let g = m / mpg;
            let b = bias.and_then(|b| b.get(m)).copied().unwrap_or(0.0);
            for oy in 0..p.oh {
                for ox in 0..p.ow {
                    let mut acc = b;
                    for c in 0..cpg {
                        let ci = g * cpg + c;
                        let x_base = (n * p.c + ci) * p.h * p.w;
                        let w_base = (m * cpg + c) * p.kh * p.kw;
                        for ky in 0..p.kh {
                            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad[0] as isize;
                            if iy < 0 || iy >= p.h as isize {
                                continue;
                            }
                            for kx in 0..p.kw {
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad[1] as isize;
                                if ix < 0 || ix >= p.w as isize {
                                    continue;
                                }
                                let xv = x.get(x_base + iy as usize * p.w + ix as usize).copied().unwrap_or(0.0);
                                acc += xv * w.get(w_base + ky * p.kw + kx);
                            }
                        }
                    }
                    if let Some(slot) = out.get_mut(o) {
                        *slot = apply_activation(p.act.func, p.act.a, p.act.b, acc);
                    }
                    o += 1;
                }
            }
        }
    }
}
