//! Layer normalization.

use libm::sqrtf;

/// `Σ (v − mean)²` in the 8-lane order of [`super::math::sum8`].
fn sum8_sq_dev(v: &[f32], mean: f32) -> f32 {
    let mut s = [0.0f32; 8];
    let c = v.chunks_exact(8);
    let tail = c.remainder();
    for x in c {
        for i in 0..8 {
            let d = x[i] - mean;
            s[i] += d * d;
        }
    }
    let mut acc = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    for &x in tail {
        let d = x - mean;
        acc += d * d;
    }
    acc
}

/// Normalizes each run of `inner` values: `(x - mean) / sqrt(var + eps) · scale + bias`
/// with the population variance (ONNX LayerNormalization, stash type f32). Both sums run in the
/// 8-lane order of [`super::math::sum8`] (vectorizable, and what SIMD tiers reproduce).
pub fn layer_norm(
    outer: usize,
    inner: usize,
    eps: f32,
    x: &[f32],
    scale: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    for o in 0..outer {
        let (Some(row), Some(orow)) = (x.get(o * inner..(o + 1) * inner), out.get_mut(o * inner..(o + 1) * inner))
        else {
            return;
        };
        let n = inner as f32;
        let mean = super::math::sum8(row) / n;
        let var = sum8_sq_dev(row, mean) / n;
        let inv = 1.0 / sqrtf(var + eps);
        for (j, (ov, &v)) in orow.iter_mut().zip(row).enumerate() {
            let b = bias.and_then(|b| b.get(j)).copied().unwrap_or(0.0);
            *ov = (v - mean) * inv * scale.get(j).copied().unwrap_or(1.0) + b;
        }
    }
}
