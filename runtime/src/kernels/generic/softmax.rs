//! Softmax and LogSoftmax along one axis.

use super::math::{exp, sum8};
use libm::logf;

/// Numerically stable (max-subtracted) softmax over `axis_len` elements spaced `inner` apart:
/// `e_k = exp(x_k − max)` ([`super::math::exp`]), `sum` in the 8-lane order of
/// [`super::math::sum8`], then `e_k / sum` (or `x_k − max − ln sum`).
pub fn softmax(outer: usize, axis_len: usize, inner: usize, log: bool, x: &[f32], out: &mut [f32]) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * axis_len + k) * inner + i;
            let mut max = f32::NEG_INFINITY;
            for k in 0..axis_len {
                let v = x.get(at(k)).copied().unwrap_or(0.0);
                max = if v > max { v } else { max };
            }
            for k in 0..axis_len {
                let e = exp(x.get(at(k)).copied().unwrap_or(0.0) - max);
                if let Some(slot) = out.get_mut(at(k)) {
                    *slot = e;
                }
            }
            let sum = if inner == 1 {
                sum8(out.get(o * axis_len..(o + 1) * axis_len).unwrap_or(&[]))
            } else {
                // Strided: the same order, through a small buffer.
                let mut lanes = [0.0f32; 8];
                let full = axis_len / 8 * 8;
                for k in 0..full {
                    if let Some(l) = lanes.get_mut(k % 8) {
                        *l += out.get(at(k)).copied().unwrap_or(0.0);
                    }
                }
                let mut acc =
                    ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
                for k in full..axis_len {
                    acc += out.get(at(k)).copied().unwrap_or(0.0);
                }
                acc
            };
            let lsum = logf(sum);
            for k in 0..axis_len {
                let xv = x.get(at(k)).copied().unwrap_or(0.0);
                if let Some(slot) = out.get_mut(at(k)) {
                    *slot = if log { xv - max - lsum } else { *slot / sum };
                }
            }
        }
    }
}

/// [`softmax`] over `rows` contiguous rows of `len` (the kernel-table form, `inner` = 1).
pub fn softmax_rows(rows: usize, len: usize, log: bool, x: &[f32], out: &mut [f32]) {
    softmax(rows, len, 1, log, x, out);
}
