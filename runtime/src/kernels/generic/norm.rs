//! Layer normalization.

use libm::sqrtf;

/// Normalizes each run of `inner` values: `(x - mean) / sqrt(var + eps) · scale + bias`
/// with the population variance (ONNX LayerNormalization, stash type f32).
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
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / sqrtf(var + eps);
        for (j, (ov, &v)) in orow.iter_mut().zip(row).enumerate() {
            let b = bias.and_then(|b| b.get(j)).copied().unwrap_or(0.0);
            *ov = (v - mean) * inv * scale.get(j).copied().unwrap_or(1.0) + b;
        }
    }
}
