//! The int8 linear layer with its activations quantized at run time (`DynQMatMul`): each row of
//! the f32 input gets its own symmetric scale, `s_r = max_k |x[r, k]| / 127`, the int8 product runs
//! on the tier's `qgemm_i32`, and the sums come back to f32 with the row's and the output channel's
//! scales: `y[r, n] = (Σ_k q[r, k] · w[n, k]) · (s_r · s_w[n]) + bias[n]`, each step an f32
//! operation in that order (no fused multiply-add), so every tier gives the same bits.
//!
//! This is how transformer encoders keep int8 accuracy: their activations have a few channels
//! far larger than the rest (after LayerNorm and GELU), and one calibrated scale per tensor, fixed
//! for all inputs, loses the small ones; a scale per token and per input does not.

use super::int8::quantize_slice;
use super::qgemm::PackedI8;
use crate::kernels::{QGemmI32Fn, QuantizeFn};
use zerocopy::{FromBytes, IntoBytes};

/// The kernels a dynamic product calls: quantization of a row and the raw int8 GEMM.
#[derive(Clone, Copy)]
pub struct DynQKernels {
    /// f32 → int8 with a scale (zero point 0 here).
    pub quantize: QuantizeFn,
    /// int8 GEMM, raw i32 sums.
    pub qgemm_i32: QGemmI32Fn,
}

/// The generic kernels (the specification).
pub const GENERIC: DynQKernels = DynQKernels { quantize: quantize_slice, qgemm_i32: super::qgemm::qgemm_i32 };

/// Row `r`'s scale: the largest magnitude over 127 (NaN ignored; 0 for an all-zero row).
pub fn row_scale(row: &[f32]) -> f32 {
    row.iter().fold(0f32, |a, &v| a.max(v.abs())) / 127.0
}

/// `out = y` of the module documentation for the `m = x.len() / k` rows of `x` and the `w.rows`
/// output channels of `w`. `xq` (at least `m × k` bytes) and `scales` (at least `m`) are
/// scratch. Returns `false`, writing nothing meaningful, when the sizes do not fit.
#[allow(clippy::too_many_arguments)]
pub fn dyn_qmatmul(
    fns: DynQKernels,
    x: &[f32],
    w: &PackedI8<'_>,
    w_scale: &[f32],
    bias: Option<&[f32]>,
    xq: &mut [i8],
    scales: &mut [f32],
    out: &mut [f32],
) -> bool {
    let (k, n) = (w.k, w.rows);
    if k == 0 || !x.len().is_multiple_of(k) || w_scale.len() != n || bias.is_some_and(|b| b.len() != n) {
        return false;
    }
    let m = x.len() / k;
    let (Some(xq), Some(scales)) = (xq.get_mut(..m * k), scales.get_mut(..m)) else { return false };
    if out.len() != m * n {
        return false;
    }
    for ((row, q), s) in x.chunks_exact(k).zip(xq.chunks_exact_mut(k)).zip(scales.iter_mut()) {
        *s = row_scale(row);
        if *s > 0.0 {
            (fns.quantize)(row, *s, 0, q);
        } else {
            q.fill(0);
        }
    }
    // The sums land in the output's own memory (i32 and f32 are the same size) and are turned
    // into f32 in place.
    let Ok(acc) = <[i32]>::mut_from_bytes(out.as_mut_bytes()) else { return false };
    if !(fns.qgemm_i32)(w, (0, n), xq, m, 0, acc) {
        return false;
    }
    for (y_row, &s) in out.chunks_exact_mut(n.max(1)).zip(scales.iter()) {
        for (c, y) in y_row.iter_mut().enumerate() {
            let sum = y.to_bits() as i32;
            let ws = w_scale.get(c).copied().unwrap_or(0.0);
            let b = bias.and_then(|b| b.get(c)).copied().unwrap_or(0.0);
            *y = sum as f32 * (s * ws) + b;
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::super::qgemm::pack_k4n16;
    use super::*;
    use std::vec::Vec;

    /// The definition, written out plainly: per-row scale, rounding half away from zero, i32
    /// sums, then the f32 steps in order.
    fn reference(x: &[f32], k: usize, w: &[i8], n: usize, ws: &[f32], bias: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for row in x.chunks_exact(k) {
            let s = row_scale(row);
            let q: Vec<i32> = row
                .iter()
                .map(|&v| if s > 0.0 { super::super::int8::quantize_f32(v, s, 0) as i32 } else { 0 })
                .collect();
            for c in 0..n {
                let sum: i32 = (0..k).map(|i| q[i] * w[c * k + i] as i32).sum();
                out.push(sum as f32 * (s * ws[c]) + bias[c]);
            }
        }
        out
    }

    #[test]
    fn matches_its_definition_and_approximates_f32() {
        for &(m, k, n) in &[(1usize, 1usize, 1usize), (3, 5, 17), (4, 33, 40), (2, 64, 16), (5, 100, 3)] {
            let x: Vec<f32> = (0..m * k).map(|i| ((i * 37 + 11) % 101) as f32 / 10.0 - 5.0).collect();
            let w: Vec<i8> = (0..n * k).map(|i| ((i * 53 + 7) % 255) as i32 as i8).collect();
            let ws: Vec<f32> = (0..n).map(|c| 0.001 + c as f32 * 1e-4).collect();
            let bias: Vec<f32> = (0..n).map(|c| c as f32 * 0.5 - 1.0).collect();
            let packed = pack_k4n16(&w, n, k);
            let pw = PackedI8::from_bytes(&packed, n, k).unwrap();
            let (mut xq, mut sc, mut out) = (vec![0i8; m * k], vec![0f32; m], vec![0f32; m * n]);
            assert!(dyn_qmatmul(GENERIC, &x, &pw, &ws, Some(&bias), &mut xq, &mut sc, &mut out));
            let want = reference(&x, k, &w, n, &ws, &bias);
            assert_eq!(
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            // Against the f32 product of the dequantized weights: within the input's rounding.
            for r in 0..m {
                let row = &x[r * k..(r + 1) * k];
                let s = row_scale(row);
                for c in 0..n {
                    let exact: f32 = (0..k).map(|i| row[i] * w[c * k + i] as f32 * ws[c]).sum::<f32>() + bias[c];
                    let bound: f32 = (0..k).map(|i| (w[c * k + i] as f32 * ws[c]).abs()).sum::<f32>() * s * 0.5 + 1e-3;
                    assert!((out[r * n + c] - exact).abs() <= bound, "{m}x{k}x{n} [{r},{c}]");
                }
            }
        }
    }

    #[test]
    fn zero_rows_give_the_bias_and_bad_sizes_are_refused() {
        let (k, n) = (8usize, 16usize);
        let w = vec![3i8; n * k];
        let packed = pack_k4n16(&w, n, k);
        let pw = PackedI8::from_bytes(&packed, n, k).unwrap();
        let ws = vec![0.5f32; n];
        let bias: Vec<f32> = (0..n).map(|c| c as f32).collect();
        let (mut xq, mut sc, mut out) = (vec![0i8; k], vec![0f32; 1], vec![9f32; n]);
        assert!(dyn_qmatmul(GENERIC, &[0.0; 8], &pw, &ws, Some(&bias), &mut xq, &mut sc, &mut out));
        assert_eq!(out, bias);
        assert!(!dyn_qmatmul(GENERIC, &[0.0; 7], &pw, &ws, None, &mut xq, &mut sc, &mut out), "x not whole rows");
        assert!(!dyn_qmatmul(GENERIC, &[0.0; 16], &pw, &ws, None, &mut xq, &mut sc, &mut out), "scratch short");
        assert!(!dyn_qmatmul(GENERIC, &[0.0; 8], &pw, &ws[..3], None, &mut xq, &mut sc, &mut out), "scales");
    }
}
