//! Softmax and LogSoftmax along one axis.

use libm::{expf, logf};

/// Numerically stable (max-subtracted) softmax over `axis_len` elements spaced `inner` apart.
pub fn softmax(outer: usize, axis_len: usize, inner: usize, log: bool, x: &[f32], out: &mut [f32]) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * axis_len + k) * inner + i;
            let mut max = f32::NEG_INFINITY;
            for k in 0..axis_len {
                max = max.max(x.get(at(k)).copied().unwrap_or(0.0));
            }
            let mut sum = 0.0f32;
            for k in 0..axis_len {
                let e = expf(x.get(at(k)).copied().unwrap_or(0.0) - max);
                sum += e;
                if let Some(slot) = out.get_mut(at(k)) {
                    *slot = e;
                }
            }
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
