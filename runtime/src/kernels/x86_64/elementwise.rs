//! f32 element-wise kernel families on AVX-512 (16 lanes) and AVX2 (8 lanes), written once as a
//! macro over the lane type: Quantize, the Unary functions, Softmax over rows, and the LSTM/GRU
//! cell updates. Each lane does what the scalar reference does to one element, in the same order
//! (`vmath` for the transcendental functions), so the results are bit-identical; elements past the
//! last full vector go through the scalar reference itself. Softmax sums in 8 lanes on both tiers
//! (the reference order of `math::sum8`).

// Lane loops are clearest indexed.
#![allow(clippy::needless_range_loop)]

use super::vmath::{self, gt256, gt512, hsum8, nan256, nan512};
use crate::kernels::generic::{self as g, RnnCells};
use crate::ops::UnaryFn;
use core::arch::x86_64::*;

macro_rules! elementwise {
    ($mod:ident, $tier:expr, $feat:literal, $v:ty, $lanes:literal, $vm:path,
     load = $load:ident, store = $store:ident, set1 = $set1:ident, add = $add:ident, sub = $sub:ident,
     mul = $mul:ident, div = $div:ident, sqrt = $sqrt:ident, and = $and:path, cvtt = $cvtt:ident,
     sel = $sel:path, gt = $gt:path, ge = $ge:path, nan = $nan:path, clampi = $clampi:path, store8 = $store8:path,
     add_half = $add_half:path, hmax = $hmax:path) => {
        pub(crate) mod $mod {
            use super::*;
            use $vm as vm;

            fn available() -> bool {
                $tier.available()
            }

            /// Quantize: `generic::int8::quantize_slice` per lane.
            pub(crate) fn quantize(x: &[f32], scale: f32, zp: i32, out: &mut [i8]) {
                let n = x.len().min(out.len());
                let full = if available() { n / $lanes * $lanes } else { 0 };
                // SAFETY: the tier's features are available (checked above); the loop reads and
                // writes the first `full` ≤ n elements of both slices.
                unsafe { quantize_impl::<false>(x.as_ptr(), scale, zp, out.as_mut_ptr(), full) };
                if let (Some(xs), Some(os)) = (x.get(full..n), out.get_mut(full..n)) {
                    g::int8::quantize_slice(xs, scale, zp, os);
                }
            }

            /// `generic::int8::quantize_mul_slice` per lane.
            pub(crate) fn quantize_mul(x: &[f32], inv: f32, out: &mut [i8]) {
                let n = x.len().min(out.len());
                let full = if available() { n / $lanes * $lanes } else { 0 };
                // SAFETY: as in `quantize`.
                unsafe { quantize_impl::<true>(x.as_ptr(), inv, 0, out.as_mut_ptr(), full) };
                if let (Some(xs), Some(os)) = (x.get(full..n), out.get_mut(full..n)) {
                    g::int8::quantize_mul_slice(xs, inv, os);
                }
            }

            /// `x / scale` (`MUL`: `x · scale`, the reciprocal given), rounded and clamped.
            #[target_feature(enable = $feat)]
            unsafe fn quantize_impl<const MUL: bool>(x: *const f32, scale: f32, zp: i32, out: *mut i8, n: usize) {
                let s = $set1(scale);
                let (lim, half) = ($set1(300.0), $set1(0.5));
                for i in (0..n).step_by($lanes) {
                    // SAFETY: i + lanes ≤ n elements (the caller's contract).
                    let xv = unsafe { $load(x.add(i)) };
                    let v = if MUL { $mul(xv, s) } else { $div(xv, s) };
                    let nan = $nan(v);
                    let vc = $sel($gt(v, lim), lim, $sel($gt($sub($set1(0.0), lim), v), $sub($set1(0.0), lim), v));
                    let t = $add_half(vc, $sel($ge(vc, $set1(0.0)), half, $sub($set1(0.0), half)));
                    let t = $sel(nan, $set1(0.0), t);
                    // SAFETY: as above.
                    unsafe { $store8(out.add(i), $clampi($cvtt(t), zp)) };
                }
            }

            /// Unary: `generic::unary` per lane (Log stays scalar).
            pub(crate) fn unary(func: UnaryFn, a: f32, b: f32, x: &[f32], out: &mut [f32]) {
                let n = x.len().min(out.len());
                // Log and Round run the generic kernel whole (no vector form bit-exact with it yet).
                let full =
                    if available() && !matches!(func, UnaryFn::Log | UnaryFn::Round) { n / $lanes * $lanes } else { 0 };
                // SAFETY: the tier's features are available (checked above); the loop reads and
                // writes the first `full` ≤ n elements of both slices.
                unsafe { unary_impl(func, a, b, x.as_ptr(), out.as_mut_ptr(), full) };
                if let (Some(xs), Some(os)) = (x.get(full..n), out.get_mut(full..n)) {
                    g::unary(func, a, b, xs, os);
                }
            }

            /// [`unary`] in place (a layer's fused activation).
            pub(crate) fn unary_in_place(func: UnaryFn, a: f32, b: f32, v: &mut [f32]) {
                if func == UnaryFn::Identity {
                    return;
                }
                let n = v.len();
                let full =
                    if available() && !matches!(func, UnaryFn::Log | UnaryFn::Round) { n / $lanes * $lanes } else { 0 };
                let p = v.as_mut_ptr();
                // SAFETY: the tier's features are available (checked above); the loop reads each
                // vector of the first `full` ≤ n elements before it writes it back.
                unsafe { unary_impl(func, a, b, p, p, full) };
                if let Some(tail) = v.get_mut(full..) {
                    g::unary_in_place(func, a, b, tail);
                }
            }

            #[target_feature(enable = $feat)]
            unsafe fn unary_impl(func: UnaryFn, a: f32, b: f32, x: *const f32, out: *mut f32, n: usize) {
                let (va, vb, zero, one, half) = ($set1(a), $set1(b), $set1(0.0), $set1(1.0), $set1(0.5));
                for i in (0..n).step_by($lanes) {
                    // SAFETY: i + lanes ≤ n elements (the caller's contract).
                    let v = unsafe { $load(x.add(i)) };
                    let y = match func {
                        UnaryFn::Identity => v,
                        UnaryFn::Relu => $sel($gt(v, zero), v, zero),
                        UnaryFn::LeakyRelu => $sel($ge(v, zero), v, $mul(va, v)),
                        UnaryFn::Clip => vm::clip(v, va, vb),
                        UnaryFn::Sigmoid => vm::sigmoid(v),
                        UnaryFn::Tanh => vm::tanh(v),
                        UnaryFn::GeluErf => {
                            $mul($mul(half, v), $add(one, vm::erf($mul(v, $set1(core::f32::consts::FRAC_1_SQRT_2)))))
                        }
                        UnaryFn::GeluTanh => {
                            let cube = $mul($mul($mul($set1(0.044715), v), v), v);
                            $mul($mul(half, v), $add(one, vm::tanh($mul($set1(0.797_884_6), $add(v, cube)))))
                        }
                        UnaryFn::Sqrt => $sqrt(v),
                        UnaryFn::Erf => vm::erf(v),
                        UnaryFn::Exp => vm::exp(v),
                        UnaryFn::Neg => vm::neg(v),
                        UnaryFn::Abs => $and(v),
                        UnaryFn::Reciprocal => $div(one, v),
                        UnaryFn::Log | UnaryFn::Round => v,
                    };
                    // SAFETY: as above.
                    unsafe { $store(out.add(i), y) };
                }
            }

            /// Softmax over rows: `generic::softmax` with `inner` = 1, per row.
            pub(crate) fn softmax_rows(rows: usize, len: usize, log: bool, x: &[f32], out: &mut [f32]) {
                if !available() || log || len == 0 || x.len() != rows * len || out.len() != rows * len {
                    return g::softmax_rows(rows, len, log, x, out);
                }
                let mut r = 0;
                while r < rows {
                    let at = r * len;
                    // SAFETY: the features are available; rows r .. r + R (R ≤ rows − r) of
                    // `len` elements lie inside both slices.
                    unsafe {
                        let (xp, op) = (x.as_ptr().add(at), out.as_mut_ptr().add(at));
                        if rows - r >= SOFTMAX_ROWS {
                            softmax_block::<SOFTMAX_ROWS>(xp, op, len);
                        } else {
                            softmax_block::<1>(xp, op, len);
                        }
                    }
                    r += if rows - r >= SOFTMAX_ROWS { SOFTMAX_ROWS } else { 1 };
                }
            }

            /// `R` rows at once, each step for every row before the next step: a short row is a
            /// chain of dependent steps (maximum, exponentials, 8-lane sum, divisions), and the
            /// rows' independent chains overlap.
            ///
            /// # Safety
            /// The tier's features are available; `x` and `out` hold `R · len` elements.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn softmax_block<const R: usize>(x: *const f32, out: *mut f32, len: usize) {
                let full = len / $lanes * $lanes;
                // Row r's element i: a plain address. SAFETY (every access below): r < R and i < len,
                // so r·len + i < R·len, inside both buffers (the caller's contract).
                let xr = |r: usize, i: usize| x.wrapping_add(r * len + i);
                let or = |r: usize, i: usize| out.wrapping_add(r * len + i);
                // The maximum (order-free); lanes skip NaN like the scalar comparison, so no lane
                // holds a NaN and the lanes' maximum is the row's.
                let mut m = [$set1(f32::NEG_INFINITY); R];
                for i in (0..full).step_by($lanes) {
                    for r in 0..R {
                        let v = unsafe { $load(xr(r, i)) };
                        m[r] = $sel($gt(v, m[r]), v, m[r]);
                    }
                }
                // Across the lanes in registers: no lane holds a NaN, and which zero a tie of +0
                // and −0 keeps does not matter (exp(x − 0) is the same for either).
                let mut max = [f32::NEG_INFINITY; R];
                for r in 0..R {
                    max[r] = $hmax(m[r]);
                }
                for i in full..len {
                    for r in 0..R {
                        let v = unsafe { *xr(r, i) };
                        max[r] = if v > max[r] { v } else { max[r] };
                    }
                }
                for i in (0..full).step_by($lanes) {
                    for r in 0..R {
                        unsafe { $store(or(r, i), vm::exp($sub($load(xr(r, i)), $set1(max[r])))) };
                    }
                }
                for i in full..len {
                    for r in 0..R {
                        unsafe { *or(r, i) = g::math::exp(*xr(r, i) - max[r]) };
                    }
                }
                // The 8-lane order of `math::sum8`: lane j adds elements j, j + 8, … in order.
                let eights = len / 8 * 8;
                let mut acc = [_mm256_setzero_ps(); R];
                for i in (0..eights).step_by(8) {
                    for r in 0..R {
                        acc[r] = _mm256_add_ps(acc[r], unsafe { _mm256_loadu_ps(or(r, i)) });
                    }
                }
                let mut sum = [0f32; R];
                for r in 0..R {
                    sum[r] = hsum8(acc[r]);
                }
                for i in eights..len {
                    for r in 0..R {
                        sum[r] += unsafe { *or(r, i) };
                    }
                }
                for i in (0..full).step_by($lanes) {
                    for r in 0..R {
                        unsafe { $store(or(r, i), $div($load(or(r, i)), $set1(sum[r]))) };
                    }
                }
                for i in full..len {
                    for r in 0..R {
                        unsafe { *or(r, i) /= sum[r] };
                    }
                }
            }

            /// LayerNorm: `generic::layer_norm` per row (sums in the 8-lane order on both tiers).
            pub(crate) fn layer_norm(
                outer: usize,
                inner: usize,
                eps: f32,
                x: &[f32],
                scale: &[f32],
                bias: Option<&[f32]>,
                out: &mut [f32],
            ) {
                let ok = x.len() == outer * inner
                    && out.len() == outer * inner
                    && scale.len() == inner
                    && bias.is_none_or(|b| b.len() == inner);
                if !available() || !ok {
                    return g::layer_norm(outer, inner, eps, x, scale, bias, out);
                }
                let mut r = 0;
                while r < outer {
                    let rows = if outer - r >= NORM_ROWS { NORM_ROWS } else { 1 };
                    let at = r * inner;
                    // SAFETY: the features are available; rows r .. r + rows of `inner` values lie
                    // inside x and out, and scale and bias hold `inner` values.
                    unsafe {
                        let (xp, op) = (x.as_ptr().add(at), out.as_mut_ptr().add(at));
                        if rows == NORM_ROWS {
                            norm_block::<NORM_ROWS>(xp, op, inner, eps, scale, bias);
                        } else {
                            norm_block::<1>(xp, op, inner, eps, scale, bias);
                        }
                    }
                    r += rows;
                }
            }

            /// `R` rows at once, each step for every row before the next (as `softmax_block`:
            /// the two 8-lane sums of a row are chains of dependent adds).
            ///
            /// # Safety
            /// The tier's features are available; `x` and `out` hold `R · n` values, `scale` and
            /// `bias` (if any) `n`.
            #[target_feature(enable = $feat)]
            #[inline]
            unsafe fn norm_block<const R: usize>(
                x: *const f32,
                out: *mut f32,
                n: usize,
                eps: f32,
                scale: &[f32],
                bias: Option<&[f32]>,
            ) {
                // Row r's value i: a plain address. SAFETY (every access below): r < R and i < n, so
                // r·n + i < R·n, inside both buffers (the caller's contract).
                let xr = |r: usize, i: usize| x.wrapping_add(r * n + i);
                let eights = n / 8 * 8;
                // The mean and the variance, each in the 8-lane order of `math::sum8`.
                let mut acc = [_mm256_setzero_ps(); R];
                for i in (0..eights).step_by(8) {
                    for r in 0..R {
                        acc[r] = _mm256_add_ps(acc[r], unsafe { _mm256_loadu_ps(xr(r, i)) });
                    }
                }
                let mut mean = [0f32; R];
                for r in 0..R {
                    mean[r] = hsum8(acc[r]);
                }
                for i in eights..n {
                    for r in 0..R {
                        mean[r] += unsafe { *xr(r, i) };
                    }
                }
                let mut dev = [_mm256_setzero_ps(); R];
                for r in 0..R {
                    mean[r] /= n as f32;
                    (acc[r], dev[r]) = (_mm256_setzero_ps(), _mm256_set1_ps(mean[r]));
                }
                for i in (0..eights).step_by(8) {
                    for r in 0..R {
                        let d = _mm256_sub_ps(unsafe { _mm256_loadu_ps(xr(r, i)) }, dev[r]);
                        acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(d, d));
                    }
                }
                let mut inv = [0f32; R];
                for r in 0..R {
                    inv[r] = hsum8(acc[r]);
                }
                for i in eights..n {
                    for r in 0..R {
                        let d = unsafe { *xr(r, i) } - mean[r];
                        inv[r] += d * d;
                    }
                }
                for r in 0..R {
                    inv[r] = 1.0 / libm::sqrtf(inv[r] / n as f32 + eps);
                }
                let full = n / $lanes * $lanes;
                for r in 0..R {
                    let (vm_, vi) = ($set1(mean[r]), $set1(inv[r]));
                    for i in (0..full).step_by($lanes) {
                        // SAFETY: i + lanes ≤ n for the row, scale and bias.
                        unsafe {
                            let v = $mul($mul($sub($load(xr(r, i)), vm_), vi), $load(scale.as_ptr().add(i)));
                            let v = match bias {
                                Some(b) => $add(v, $load(b.as_ptr().add(i))),
                                None => $add(v, $set1(0.0)),
                            };
                            $store(out.add(r * n + i), v);
                        }
                    }
                    for j in full..n {
                        let b = bias.map_or(0.0, |b| b[j]);
                        // SAFETY: j < n.
                        unsafe { *out.add(r * n + j) = (*xr(r, j) - mean[r]) * inv[r] * scale[j] + b };
                    }
                }
            }

            /// The recurrent cells, `lanes` units at a time.
            pub(crate) const CELLS: RnnCells = RnnCells { lstm, gru_gates, gru_hidden };

            fn lstm(xw: &[f32], rh: &[f32], peep: Option<&[f32]>, clip: f32, cs: &mut [f32], hs: &mut [f32]) {
                let h = hs.len().min(cs.len());
                let ok = xw.len() >= 4 * h && rh.len() >= 4 * h && peep.is_none_or(|p| p.len() >= 3 * h);
                let full = if available() && ok { h / $lanes * $lanes } else { 0 };
                // SAFETY: the features are available; units < full ≤ h read gates k·h + j of xw and
                // rh (k < 4, lengths checked), peepholes k·h + j (k < 3), and c, h at j.
                unsafe {
                    lstm_impl(
                        xw.as_ptr(),
                        rh.as_ptr(),
                        peep.map(|p| p.as_ptr()),
                        clip,
                        cs.as_mut_ptr(),
                        hs.as_mut_ptr(),
                        h,
                        full,
                    )
                };
                for j in full..h {
                    g::rnn::lstm_unit(xw, rh, peep, clip, cs, hs, j);
                }
            }

            #[target_feature(enable = $feat)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn lstm_impl(
                xw: *const f32,
                rh: *const f32,
                peep: Option<*const f32>,
                clip: f32,
                cs: *mut f32,
                hs: *mut f32,
                h: usize,
                full: usize,
            ) {
                let (lo, hi) = ($set1(-clip), $set1(clip));
                let cl = |v| if clip > 0.0 { vm::clip(v, lo, hi) } else { v };
                for j in (0..full).step_by($lanes) {
                    // SAFETY: j + lanes ≤ full ≤ h, inside every array (the caller's contract).
                    unsafe {
                        let pre = |k: usize| $add($load(xw.add(k * h + j)), $load(rh.add(k * h + j)));
                        let p = |k: usize| match peep {
                            Some(pp) => $load(pp.add(k * h + j)),
                            None => $set1(0.0),
                        };
                        let c_prev = $load(cs.add(j));
                        let i_g = vm::sigmoid(cl($add(pre(0), $mul(p(0), c_prev))));
                        let f_g = vm::sigmoid(cl($add(pre(2), $mul(p(2), c_prev))));
                        let c_g = vm::tanh(cl(pre(3)));
                        let c_new = $add($mul(f_g, c_prev), $mul(i_g, c_g));
                        let o_g = vm::sigmoid(cl($add(pre(1), $mul(p(1), c_new))));
                        $store(cs.add(j), c_new);
                        $store(hs.add(j), $mul(o_g, vm::tanh(c_new)));
                    }
                }
            }

            fn gru_gates(xw: &mut [f32], rh: &[f32], h: usize, clip: f32) {
                let n = 2 * h;
                let full = if available() && xw.len() >= n && rh.len() >= n { n / $lanes * $lanes } else { 0 };
                // SAFETY: the features are available; elements < full ≤ 2h of both (checked).
                unsafe { gru_gates_impl(xw.as_mut_ptr(), rh.as_ptr(), clip, full) };
                g::rnn::gru_gates_from(xw, rh, full, n, clip);
            }

            #[target_feature(enable = $feat)]
            unsafe fn gru_gates_impl(xw: *mut f32, rh: *const f32, clip: f32, n: usize) {
                let (lo, hi) = ($set1(-clip), $set1(clip));
                for i in (0..n).step_by($lanes) {
                    // SAFETY: i + lanes ≤ n (the caller's contract).
                    unsafe {
                        let v = $add($load(xw.add(i)), $load(rh.add(i)));
                        let v = if clip > 0.0 { vm::clip(v, lo, hi) } else { v };
                        $store(xw.add(i), vm::sigmoid(v));
                    }
                }
            }

            fn gru_hidden(xw: &[f32], rh: &[f32], lbr: bool, clip: f32, hs: &mut [f32]) {
                let h = hs.len();
                let full = if available() && xw.len() >= 3 * h && rh.len() >= 3 * h { h / $lanes * $lanes } else { 0 };
                // SAFETY: the features are available; units < full ≤ h of the three gate blocks.
                unsafe { gru_hidden_impl(xw.as_ptr(), rh.as_ptr(), lbr, clip, hs.as_mut_ptr(), h, full) };
                g::rnn::gru_hidden_from(xw, rh, lbr, clip, hs, full);
            }

            #[target_feature(enable = $feat)]
            unsafe fn gru_hidden_impl(
                xw: *const f32,
                rh: *const f32,
                lbr: bool,
                clip: f32,
                hs: *mut f32,
                h: usize,
                full: usize,
            ) {
                let (lo, hi, one) = ($set1(-clip), $set1(clip), $set1(1.0));
                let cl = |v| if clip > 0.0 { vm::clip(v, lo, hi) } else { v };
                for j in (0..full).step_by($lanes) {
                    // SAFETY: j + lanes ≤ full ≤ h (the caller's contract).
                    unsafe {
                        let (z, r, xh) = ($load(xw.add(j)), $load(xw.add(h + j)), $load(xw.add(2 * h + j)));
                        let rhh = $load(rh.add(2 * h + j));
                        let cand = if lbr { vm::tanh(cl($add(xh, $mul(r, rhh)))) } else { vm::tanh(cl($add(xh, rhh))) };
                        let hv = $load(hs.add(j));
                        $store(hs.add(j), $add($mul($sub(one, z), cand), $mul(z, hv)));
                    }
                }
            }
        }
    };
}

/// Rows [`softmax_rows`](avx512::softmax_rows) works on at once.
const SOFTMAX_ROWS: usize = 8;
/// Rows [`layer_norm`](avx512::layer_norm) works on at once.
const NORM_ROWS: usize = 8;

// ---- AVX-512 helpers ----
#[target_feature(enable = "avx512f")]
#[inline]
fn sel512(m: __mmask16, b: __m512, a: __m512) -> __m512 {
    _mm512_mask_blend_ps(m, a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn ge512(a: __m512, b: __m512) -> __mmask16 {
    _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn abs512(a: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(i32::MAX)))
}
#[target_feature(enable = "avx512f")]
#[inline]
fn clampi512(v: __m512i, zp: i32) -> __m512i {
    let v = _mm512_add_epi32(v, _mm512_set1_epi32(zp));
    _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128))
}
/// # Safety
/// `out` must be writable for 16 bytes.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store8_512(out: *mut i8, v: __m512i) {
    // SAFETY: the caller's contract.
    unsafe { _mm_storeu_si128(out as *mut __m128i, _mm512_cvtepi32_epi8(v)) };
}

/// `v ± 0.5` (`h` = ±0.5, the sign of `v`) for the truncation that rounds half away from zero:
/// rounded toward zero, so that truncating it gives the exact sum's integer part (the reference
/// adds in f64). Rounded to nearest, 0.5 − 2⁻²⁵ + 0.5 becomes 1.0 (the only such value up to the
/// ±300 clamp: checked exhaustively); toward zero the sum never passes the integer below it,
/// which is representable.
#[target_feature(enable = "avx512f")]
#[inline]
fn add_half512(v: __m512, h: __m512) -> __m512 {
    _mm512_add_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v, h)
}

/// The largest lane (lanes hold no NaN).
#[target_feature(enable = "avx512f")]
#[inline]
fn hmax512(v: __m512) -> f32 {
    _mm512_reduce_max_ps(v)
}

// ---- AVX2 helpers ----
#[target_feature(enable = "avx2")]
#[inline]
fn sel256(m: __m256, b: __m256, a: __m256) -> __m256 {
    _mm256_blendv_ps(a, b, m)
}
#[target_feature(enable = "avx2")]
#[inline]
fn ge256(a: __m256, b: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_GE_OQ>(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn abs256(a: __m256) -> __m256 {
    _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX)))
}
#[target_feature(enable = "avx2")]
#[inline]
fn clampi256(v: __m256i, zp: i32) -> __m256i {
    let v = _mm256_add_epi32(v, _mm256_set1_epi32(zp));
    _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(127)), _mm256_set1_epi32(-128))
}
/// The largest lane (lanes hold no NaN).
#[target_feature(enable = "avx2")]
#[inline]
fn hmax256(v: __m256) -> f32 {
    let q = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let h = _mm_max_ps(q, _mm_movehl_ps(q, q));
    _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps::<0b01>(h, h)))
}

/// [`add_half512`] on AVX2, which has no per-instruction rounding: the sum rounded to nearest,
/// and 0 where `|v| < 0.5` (the one value whose sum rounds up to an integer lies there).
#[target_feature(enable = "avx2")]
#[inline]
fn add_half256(v: __m256, h: __m256) -> __m256 {
    let small = _mm256_cmp_ps::<_CMP_LT_OQ>(abs256(v), _mm256_set1_ps(0.5));
    _mm256_andnot_ps(small, _mm256_add_ps(v, h))
}
/// # Safety
/// `out` must be writable for 8 bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store8_256(out: *mut i8, v: __m256i) {
    let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    // SAFETY: the caller's contract (8 bytes).
    unsafe { _mm_storel_epi64(out as *mut __m128i, _mm_packs_epi16(w, w)) };
}

elementwise!(
    avx512,
    crate::kernels::Tier::Avx512,
    "avx512f,avx512bw,avx2",
    __m512,
    16,
    vmath::z16,
    load = _mm512_loadu_ps,
    store = _mm512_storeu_ps,
    set1 = _mm512_set1_ps,
    add = _mm512_add_ps,
    sub = _mm512_sub_ps,
    mul = _mm512_mul_ps,
    div = _mm512_div_ps,
    sqrt = _mm512_sqrt_ps,
    and = abs512,
    cvtt = _mm512_cvttps_epi32,
    sel = sel512,
    gt = gt512,
    ge = ge512,
    nan = nan512,
    clampi = clampi512,
    store8 = store8_512,
    add_half = add_half512,
    hmax = hmax512
);

elementwise!(
    avx2,
    crate::kernels::Tier::Avx2,
    "avx2",
    __m256,
    8,
    vmath::y8,
    load = _mm256_loadu_ps,
    store = _mm256_storeu_ps,
    set1 = _mm256_set1_ps,
    add = _mm256_add_ps,
    sub = _mm256_sub_ps,
    mul = _mm256_mul_ps,
    div = _mm256_div_ps,
    sqrt = _mm256_sqrt_ps,
    and = abs256,
    cvtt = _mm256_cvttps_epi32,
    sel = sel256,
    gt = gt256,
    ge = ge256,
    nan = nan256,
    clampi = clampi256,
    store8 = store8_256,
    add_half = add_half256,
    hmax = hmax256
);

/// [`g::widen_f16`] with F16C (part of the AVX2 tier): 8 values per `vcvtph2ps`.
pub(crate) fn widen_f16c(src: &[u16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    if !crate::kernels::Tier::Avx2.available() {
        return g::widen_f16(src, dst);
    }
    let full = n / 8 * 8;
    // SAFETY: F16C is available (the AVX2 tier requires it); the loop reads and writes the first
    // `full` ≤ n values of both slices.
    unsafe { widen_impl(src.as_ptr(), dst.as_mut_ptr(), full) };
    if let (Some(s), Some(d)) = (src.get(full..n), dst.get_mut(full..n)) {
        g::widen_f16(s, d);
    }
}

#[target_feature(enable = "avx,f16c")]
unsafe fn widen_impl(src: *const u16, dst: *mut f32, n: usize) {
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 ≤ n values of each (the caller's contract).
        unsafe { _mm256_storeu_ps(dst.add(i), _mm256_cvtph_ps(_mm_loadu_si128(src.add(i) as *const __m128i))) };
    }
}

/// [`g::int8::lut`] with AVX-512 VBMI: the 256-byte table in four registers, two two-source byte
/// permutes (7 index bits each) and a blend on the eighth bit, 64 values at a time. CPUs of the
/// AVX-512 tier without VBMI (Cascade Lake) run the scalar reference.
pub(crate) fn lut_vbmi(table: &[i8; 256], x: &[i8], out: &mut [i8]) {
    let n = x.len().min(out.len());
    if !(crate::kernels::Tier::Avx512.available() && crate::kernels::x86::has_avx512_vbmi()) {
        return g::int8::lut(table, x, out);
    }
    // SAFETY: AVX-512 F/BW and VBMI are available (checked above); the kernel reads `table`'s 256
    // bytes and the first n bytes of x, and writes the first n of out (masked at the tail).
    unsafe { lut_impl(table, x.as_ptr(), out.as_mut_ptr(), n) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn lut_impl(table: &[i8; 256], x: *const i8, out: *mut i8, n: usize) {
    let tp = table.as_ptr();
    // SAFETY: the table holds 256 bytes: four 64-byte loads.
    let (t0, t1, t2, t3) = unsafe {
        (
            _mm512_loadu_si512(tp as *const _),
            _mm512_loadu_si512(tp.add(64) as *const _),
            _mm512_loadu_si512(tp.add(128) as *const _),
            _mm512_loadu_si512(tp.add(192) as *const _),
        )
    };
    let flip = _mm512_set1_epi8(-128);
    let mut i = 0;
    while i < n {
        let k = (n - i).min(64);
        let m: u64 = if k == 64 { u64::MAX } else { (1u64 << k) - 1 };
        // SAFETY: the mask keeps the lanes below n - i.
        let idx = _mm512_xor_si512(unsafe { _mm512_maskz_loadu_epi8(m, x.add(i)) }, flip);
        let lo = _mm512_permutex2var_epi8(t0, idx, t1);
        let hi = _mm512_permutex2var_epi8(t2, idx, t3);
        let y = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
        // SAFETY: as above.
        unsafe { _mm512_mask_storeu_epi8(out.add(i), m, y) };
        i += k;
    }
}

/// [`g::int8::dequantize_slice`] on AVX-512: `scale · (q − zp)` per lane, the integer difference
/// converted exactly and one multiply, as the reference does.
pub(crate) fn dequantize_avx512(q: &[i8], scale: f32, zp: i32, out: &mut [f32]) {
    let n = q.len().min(out.len());
    let full = if crate::kernels::Tier::Avx512.available() { n / 16 * 16 } else { 0 };
    // SAFETY: AVX-512 F/BW are available when full > 0; the loop reads and writes the first
    // `full` ≤ n values of both slices.
    unsafe { dequantize512(q.as_ptr(), scale, zp, out.as_mut_ptr(), full) };
    if let (Some(qs), Some(os)) = (q.get(full..n), out.get_mut(full..n)) {
        g::int8::dequantize_slice(qs, scale, zp, os);
    }
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn dequantize512(q: *const i8, scale: f32, zp: i32, out: *mut f32, n: usize) {
    let (s, z) = (_mm512_set1_ps(scale), _mm512_set1_epi32(zp));
    for i in (0..n).step_by(16) {
        // SAFETY: i + 16 ≤ n values of each (the caller's contract).
        let v = _mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(q.add(i) as *const __m128i) });
        let y = _mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_sub_epi32(v, z)));
        // SAFETY: as above.
        unsafe { _mm512_storeu_ps(out.add(i), y) };
    }
}

/// [`g::int8::dequantize_slice`] on AVX2 (8 lanes).
pub(crate) fn dequantize_avx2(q: &[i8], scale: f32, zp: i32, out: &mut [f32]) {
    let n = q.len().min(out.len());
    let full = if crate::kernels::Tier::Avx2.available() { n / 8 * 8 } else { 0 };
    // SAFETY: AVX2 is available when full > 0; the loop reads and writes the first `full` ≤ n
    // values of both slices.
    unsafe { dequantize256(q.as_ptr(), scale, zp, out.as_mut_ptr(), full) };
    if let (Some(qs), Some(os)) = (q.get(full..n), out.get_mut(full..n)) {
        g::int8::dequantize_slice(qs, scale, zp, os);
    }
}

#[target_feature(enable = "avx2")]
unsafe fn dequantize256(q: *const i8, scale: f32, zp: i32, out: *mut f32, n: usize) {
    let (s, z) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 ≤ n values of each (the caller's contract).
        let v = _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(q.add(i) as *const __m128i) });
        let y = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_sub_epi32(v, z)));
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(out.add(i), y) };
    }
}
