//! Reductions over a set of axes.

use crate::ops::{ReduceFn, TensorInfo};

/// Reduces the axes in `mask`. `out` has the kept axes in order (keepdims or not: same layout).
pub fn reduce(func: ReduceFn, mask: u32, x: &[f32], info: &TensorInfo, out: &mut [f32]) {
    let init = match func {
        ReduceFn::Mean | ReduceFn::Sum => 0.0,
        ReduceFn::Max => f32::NEG_INFINITY,
        ReduceFn::Min => f32::INFINITY,
    };
    out.fill(init);
    // Output strides over the input's axes: 0 on reduced axes.
    let mut ostride = [0usize; crate::format::MAX_RANK];
    let mut s = 1usize;
    let mut count = 1usize;
    for ax in (0..info.rank).rev() {
        if mask & (1 << ax) != 0 {
            count *= info.dim(ax);
        } else if let Some(slot) = ostride.get_mut(ax) {
            *slot = s;
            s *= info.dim(ax);
        }
    }
    // The function resolved outside the row loops, so that they vectorize.
    match func {
        ReduceFn::Mean | ReduceFn::Sum => reduce_rows(|o, v| o + v, x, info, ostride, out),
        ReduceFn::Max => reduce_rows(f32::max, x, info, ostride, out),
        ReduceFn::Min => reduce_rows(f32::min, x, info, ostride, out),
    }
    if func == ReduceFn::Mean && count > 0 {
        for o in out.iter_mut() {
            *o /= count as f32;
        }
    }
}

/// Rows of the input: each output element takes its inputs in input order, whether a row
/// reduces into one output (stride 0) or adds into a row of outputs (stride 1).
#[inline(always)]
fn reduce_rows(
    f: impl Fn(f32, f32) -> f32,
    x: &[f32],
    info: &TensorInfo,
    ostride: [usize; crate::format::MAX_RANK],
    out: &mut [f32],
) {
    super::binary::for_each_row(info, [ostride], |xo, [oi], len, [s]| {
        let Some(xr) = x.get(xo..xo + len) else { return };
        if s == 0 {
            if let Some(o) = out.get_mut(oi) {
                *o = xr.iter().fold(*o, |acc, &v| f(acc, v));
            }
        } else if let Some(orow) = out.get_mut(oi..oi + len) {
            for (o, &v) in orow.iter_mut().zip(xr) {
                *o = f(*o, v);
            }
        }
    });
}
