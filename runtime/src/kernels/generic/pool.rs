//! Average and max pooling (1-D as 2-D with height 1).

use crate::ops::PoolParams;

/// Pools each (n, c) plane. Padded positions never win a max; they count in an average only with
/// `count_include_pad`.
pub fn pool(p: &PoolParams, x: &[f32], out: &mut [f32]) {
    let mut o = 0usize;
    for plane in 0..p.nc {
        let base = plane * p.h * p.w;
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                let mut acc = if p.max { f32::NEG_INFINITY } else { 0.0 };
                let mut count = 0usize;
                for ky in 0..p.kh {
                    let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad[0] as isize;
                    for kx in 0..p.kw {
                        let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad[1] as isize;
                        if iy < 0 || iy >= p.h as isize || ix < 0 || ix >= p.w as isize {
                            continue;
                        }
                        let v = x.get(base + iy as usize * p.w + ix as usize).copied().unwrap_or(0.0);
                        if p.max {
                            acc = acc.max(v);
                        } else {
                            acc += v;
                        }
                        count += 1;
                    }
                }
                let v = if p.max {
                    acc
                } else {
                    let div = if p.count_include_pad { p.kh * p.kw } else { count.max(1) };
                    acc / div as f32
                };
                if let Some(slot) = out.get_mut(o) {
                    *slot = v;
                }
                o += 1;
            }
        }
    }
}
