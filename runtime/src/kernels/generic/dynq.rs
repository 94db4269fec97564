//! The int8 linear layer with its activations quantized at run time (`DynQMatMul`): each row of
//! the f32 input gets its own symmetric scale, `s_r = max_k |x[r, k]| / 127`, its values are
//! quantized as `round(x · (127 / max_k |x[r, k]|))` (a multiplication: the reciprocal is one
//! division per row), the int8 product runs
//! on the tier's `qgemm_i32`, and the sums come back to f32 with the row's and the output channel's
//! scales: `y[r, n] = (Σ_k q[r, k] · w[n, k]) · (s_r · s_w[n]) + bias[n]`, each step an f32
//! operation in that order (no fused multiply-add), so every tier gives the same bits. Then,
//! optionally, an activation (`y = act(y)`, the tier's unary function: GELU after a
//! transformer's FFN-in) and a residual (`y = y + r[r, n]`: the skip connection after
//! attention and FFN-out), each fused by the quantizer from the op that followed.
//!
//! This is how transformer encoders keep int8 accuracy: their activations have a few channels
//! far larger than the rest (after LayerNorm and GELU), and one calibrated scale per tensor, fixed
//! for all inputs, loses the small ones; a scale per token and per input does not.

use super::int8::quantize_mul_slice;
use super::qgemm::PackedI8;
use crate::kernels::QGemmI32Fn;
use crate::ops::{Activation, UnaryFn};
use zerocopy::{FromBytes, IntoBytes};

/// f32 to int8 by a reciprocal scale `(x, inv, out)` ([`quantize_mul_slice`]).
pub type QuantizeMulFn = fn(&[f32], f32, &mut [i8]);

/// An element-wise function applied in place `(func, a, b, values)` ([`super::unary_in_place`]).
pub type ActInPlaceFn = fn(UnaryFn, f32, f32, &mut [f32]);

/// The kernels a dynamic product calls: quantization of a row, the raw int8 GEMM, and the
/// activation.
#[derive(Clone, Copy)]
pub struct DynQKernels {
    /// f32 → int8 by the reciprocal of a scale (zero point 0).
    pub quantize: QuantizeMulFn,
    /// int8 GEMM, raw i32 sums.
    pub qgemm_i32: QGemmI32Fn,
    /// The fused activation, in place.
    pub act: ActInPlaceFn,
}

/// The generic kernels (the specification).
pub const GENERIC: DynQKernels =
    DynQKernels { quantize: quantize_mul_slice, qgemm_i32: super::qgemm::qgemm_i32, act: super::unary_in_place };

/// One dynamic int8 linear layer: its weights and what follows the product.
#[derive(Clone, Copy)]
pub struct DynQLayer<'a> {
    /// Packed int8 weights `[n, k]`.
    pub w: PackedI8<'a>,
    /// One scale per output channel (`n`).
    pub w_scale: &'a [f32],
    /// One bias per output channel (`n`), if any.
    pub bias: Option<&'a [f32]>,
    /// Applied to every output after the bias (`Identity`: none).
    pub act: Activation,
    /// Added to every output after the activation (`m × n`, the output's shape), if any.
    pub residual: Option<&'a [f32]>,
}

impl DynQLayer<'_> {
    /// Applies the activation and the residual to rows `r0..` of the outputs (`rows`, `n` each):
    /// the steps after the epilogue, in order.
    pub(crate) fn finish_rows(&self, act: ActInPlaceFn, r0: usize, rows: &mut [f32]) {
        let Activation { func, a, b } = self.act;
        act(func, a, b, rows);
        let n = self.w.rows;
        if let Some(res) = self.residual.and_then(|res| res.get(r0 * n..r0 * n + rows.len())) {
            for (y, &v) in rows.iter_mut().zip(res) {
                *y += v;
            }
        }
    }
}

/// The largest magnitude of `row` (NaN ignored; 0 for an all-zero or empty row).
pub fn max_abs(row: &[f32]) -> f32 {
    row.iter().fold(0f32, |a, &v| a.max(v.abs()))
}

/// The sizes `dyn_qmatmul` needs (rows of `k`, `n` scales and biases, `m × n` outputs), and
/// the parts of the scratch it uses: `(m, xq[..m·k], scales[..m])`.
pub(crate) fn checked<'s>(
    l: &DynQLayer<'_>,
    x: &[f32],
    xq: &'s mut [i8],
    scales: &'s mut [f32],
    out: &[f32],
) -> Option<(usize, &'s mut [i8], &'s mut [f32])> {
    let (k, n) = (l.w.k, l.w.rows);
    if k == 0 || !x.len().is_multiple_of(k) || l.w_scale.len() != n || l.bias.is_some_and(|b| b.len() != n) {
        return None;
    }
    let m = x.len() / k;
    let (xq, scales) = (xq.get_mut(..m * k)?, scales.get_mut(..m)?);
    (out.len() == m * n && l.residual.is_none_or(|r| r.len() == m * n)).then_some((m, xq, scales))
}

/// Each row's scale (`max / 127`, `max = max_abs(row)`) and its int8 values,
/// `round(x · (127 / max))` (all 0 for a zero scale).
pub(crate) fn quantize_rows(
    x: &[f32],
    k: usize,
    xq: &mut [i8],
    scales: &mut [f32],
    max_abs: impl Fn(&[f32]) -> f32,
    quantize: QuantizeMulFn,
) {
    for ((row, q), s) in x.chunks_exact(k.max(1)).zip(xq.chunks_exact_mut(k.max(1))).zip(scales.iter_mut()) {
        let max = max_abs(row);
        *s = max / 127.0;
        if *s > 0.0 {
            quantize(row, 127.0 / max, q);
        } else {
            q.fill(0);
        }
    }
}

/// `out = y` of the module documentation for the `m = x.len() / k` rows of `x` and the `w.rows`
/// output channels of `l.w`. `xq` (at least `m × k` bytes) and `scales` (at least `m`) are
/// scratch. Returns `false`, writing nothing meaningful, when the sizes do not fit.
pub fn dyn_qmatmul(
    fns: DynQKernels,
    l: &DynQLayer<'_>,
    x: &[f32],
    xq: &mut [i8],
    scales: &mut [f32],
    out: &mut [f32],
) -> bool {
    let Some((m, xq, scales)) = checked(l, x, xq, scales, out) else { return false };
    quantize_rows(x, l.w.k, xq, scales, max_abs, fns.quantize);
    let n = l.w.rows;
    // The sums land in the output's own memory (i32 and f32 are the same size) and are turned
    // into f32 in place.
    let Ok(acc) = <[i32]>::mut_from_bytes(out.as_mut_bytes()) else { return false };
    if !(fns.qgemm_i32)(&l.w, (0, n), xq, m, 0, acc) {
        return false;
    }
    for (y_row, &s) in out.chunks_exact_mut(n.max(1)).zip(scales.iter()) {
        for (c, y) in y_row.iter_mut().enumerate() {
            let sum = y.to_bits() as i32;
            let ws = l.w_scale.get(c).copied().unwrap_or(0.0);
            let b = l.bias.and_then(|b| b.get(c)).copied().unwrap_or(0.0);
            *y = sum as f32 * (s * ws) + b;
        }
    }
    l.finish_rows(fns.act, 0, out);
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::super::qgemm::pack_k4n16;
    use super::*;
    use std::vec::Vec;

    fn layer<'a>(w: PackedI8<'a>, ws: &'a [f32], bias: Option<&'a [f32]>) -> DynQLayer<'a> {
        let act = Activation { func: UnaryFn::Identity, a: 0.0, b: 0.0 };
        DynQLayer { w, w_scale: ws, bias, act, residual: None }
    }

    /// The definition, written out plainly: per-row scale, rounding half away from zero, i32
    /// sums, then the f32 steps in order.
    fn reference(x: &[f32], k: usize, w: &[i8], n: usize, ws: &[f32], bias: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for row in x.chunks_exact(k) {
            let s = max_abs(row) / 127.0;
            let q: Vec<i32> =
                row.iter()
                    .map(|&v| {
                        if s > 0.0 {
                            super::super::int8::round_to_i8(v * (127.0 / max_abs(row)), 0) as i32
                        } else {
                            0
                        }
                    })
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
            assert!(dyn_qmatmul(GENERIC, &layer(pw, &ws, Some(&bias)), &x, &mut xq, &mut sc, &mut out));
            let want = reference(&x, k, &w, n, &ws, &bias);
            assert_eq!(
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            // Against the f32 product of the dequantized weights: within the input's rounding.
            for r in 0..m {
                let row = &x[r * k..(r + 1) * k];
                let s = max_abs(row) / 127.0;
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
        assert!(dyn_qmatmul(GENERIC, &layer(pw, &ws, Some(&bias)), &[0.0; 8], &mut xq, &mut sc, &mut out));
        assert_eq!(out, bias);
        let plain = layer(pw, &ws, None);
        assert!(!dyn_qmatmul(GENERIC, &plain, &[0.0; 7], &mut xq, &mut sc, &mut out), "x not whole rows");
        assert!(!dyn_qmatmul(GENERIC, &plain, &[0.0; 16], &mut xq, &mut sc, &mut out), "scratch short");
        assert!(!dyn_qmatmul(GENERIC, &layer(pw, &ws[..3], None), &[0.0; 8], &mut xq, &mut sc, &mut out), "scales");
        let short = DynQLayer { residual: Some(&[1.0; 3]), ..plain };
        assert!(!dyn_qmatmul(GENERIC, &short, &[0.0; 8], &mut xq, &mut sc, &mut out), "residual");
    }

    #[test]
    fn the_activation_then_the_residual_follow_the_bias() {
        let (m, k, n) = (3usize, 20usize, 16usize);
        let x: Vec<f32> = (0..m * k).map(|i| ((i * 29 + 3) % 41) as f32 / 8.0 - 2.5).collect();
        let w: Vec<i8> = (0..n * k).map(|i| ((i * 71 + 5) % 255) as i32 as i8).collect();
        let packed = pack_k4n16(&w, n, k);
        let pw = PackedI8::from_bytes(&packed, n, k).unwrap();
        let ws = vec![0.004f32; n];
        let bias: Vec<f32> = (0..n).map(|c| c as f32 * 0.25 - 2.0).collect();
        let res: Vec<f32> = (0..m * n).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |l: &DynQLayer<'_>| {
            let (mut xq, mut sc, mut out) = (vec![0i8; m * k], vec![0f32; m], vec![0f32; m * n]);
            assert!(dyn_qmatmul(GENERIC, l, &x, &mut xq, &mut sc, &mut out));
            out
        };
        let plain = run(&layer(pw, &ws, Some(&bias)));
        let gelu = Activation { func: UnaryFn::GeluErf, a: 0.0, b: 0.0 };
        let fused = run(&DynQLayer { act: gelu, residual: Some(&res), ..layer(pw, &ws, Some(&bias)) });
        for ((&f, &p), &r) in fused.iter().zip(&plain).zip(&res) {
            let want = super::super::apply_activation(UnaryFn::GeluErf, 0.0, 0.0, p) + r;
            assert_eq!(f.to_bits(), want.to_bits());
        }
        assert!(plain.iter().any(|&p| p < -0.5), "GELU changes something");
    }
}
