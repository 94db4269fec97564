//! The integer arithmetic of quantization version 2 (docs/QUANTIZATION.md): affine int8 values,
//! fixed-point requantization, and the int8 matrix product every int8 MatMul, Conv and recurrent
//! gate product reduces to. Integer-only: no float in the inner path. These scalar functions are the
//! bit-exact specification; golden tests pin their rounding (`tests` below).
//!
//! The artifact stores [`Requant`] pairs as an i32 `[N, 2]` weight, viewed here without copying; the
//! kernels check every pair ([`Requant::is_valid`]) before using any, so arbitrary bytes cannot
//! reach an out-of-range shift.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A real multiplier `M > 0` as `multiplier · 2^-shift`, with `multiplier` in `[2^30, 2^31)` (31 bits
/// of precision) and `shift` in `1..=62`. Built by [`quantize_multiplier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Requant {
    /// Fixed-point mantissa, in `[2^30, 2^31)`.
    pub multiplier: i32,
    /// Right shift applied to the 64-bit product, `1..=62`.
    pub shift: i32,
}

impl Requant {
    /// True when `multiplier` is in `[2^30, 2^31)` and `shift` in `1..=62`.
    pub fn is_valid(&self) -> bool {
        self.multiplier >= 1 << 30 && (1..=62).contains(&self.shift)
    }
}

/// The fixed-point form of `m` (`m` finite, `2^-32 <= m < 2^30`), or `None` outside that range.
/// The mantissa is rounded to nearest (ties away from zero); a mantissa that rounds up to `2^31` is
/// renormalised.
pub fn quantize_multiplier(m: f64) -> Option<Requant> {
    if !(m.is_finite() && m >= 1.0 / 4_294_967_296.0 && m < (1u64 << 30) as f64) {
        return None;
    }
    // m = frac · 2^exp with frac in [0.5, 1).
    let (frac, exp) = libm::frexp(m);
    let mut q = libm::round(frac * 2_147_483_648.0) as i64; // frac · 2^31, in [2^30, 2^31]
    let mut exp = exp;
    if q == 1 << 31 {
        q /= 2;
        exp += 1;
    }
    // value = q · 2^(exp - 31) → shift = 31 - exp.
    let shift = 31 - exp;
    if !(1..=62).contains(&shift) {
        return None;
    }
    Some(Requant { multiplier: q as i32, shift })
}

/// `round(acc · multiplier · 2^-shift)` with ties rounded **up** (towards +∞): the exact 64-bit
/// product plus `2^(shift-1)`, then an arithmetic right shift. One rounding, no saturation before the
/// caller's clamp (the result fits in i64 and is clamped by [`requantize`]).
#[inline]
pub fn scale_round(acc: i32, r: Requant) -> i64 {
    let prod = acc as i64 * r.multiplier as i64;
    // Callers pass valid pairs (is_valid); the clamp keeps the shift defined for any input.
    let shift = r.shift.clamp(1, 62) as u32;
    (prod + (1i64 << (shift - 1))) >> shift
}

/// `clamp(zero_point + scale_round(acc, r), lo, hi)` as int8: the last step of every int8 op
/// (`lo`/`hi` also carry a fused ReLU/ReLU6 as quantized bounds).
#[inline]
pub fn requantize(acc: i32, r: Requant, zero_point: i32, lo: i8, hi: i8) -> i8 {
    let v = scale_round(acc, r) + zero_point as i64;
    // max/min, not clamp: every op checks lo ≤ hi at load, and clamp's own check would link
    // core's formatting into firmware for its message.
    v.max(lo as i64).min(hi as i64) as i8
}

/// Affine quantization of one real value: `clamp(round(x / scale) + zero_point, -128, 127)`, ties away
/// from zero (`libm::round`). Used at graph inputs and by the quantizer, never in an int8 inner loop.
pub fn quantize_f32(x: f32, scale: f32, zero_point: i32) -> i8 {
    // Truncating v ± 0.5 rounds half away from zero (what libm::round does, without the call).
    // In f32, v ± 0.5 is exact unless it lands in a higher binade than v, and then only rounds
    // across an integer for the largest f32 below 0.5 (0.5 − 2^-25 + 0.5 rounds to 1.0): |v| < 0.5
    // is 0 outright. Above 2^22 the rounding may differ, but the result clamps to ±127/−128
    // either way. `as i32` saturates and maps NaN to 0. The f64 form this replaced gives the same
    // bytes (tested) and cost soft-double code on Cortex-M.
    round_to_i8(x / scale, zero_point)
}

/// The rounding and clamping of [`quantize_f32`], applied to `v` (the value in steps of the
/// scale): `clamp(round(v) + zero_point, -128, 127)`, ties away from zero, NaN to `zero_point`.
#[inline]
pub fn round_to_i8(v: f32, zero_point: i32) -> i8 {
    let q = if v.abs() < 0.5 {
        0
    } else if v >= 0.0 {
        (v + 0.5) as i32
    } else {
        (v - 0.5) as i32
    };
    q.saturating_add(zero_point).clamp(-128, 127) as i8
}

/// `out[i] = table[x[i] + 128]`: QLut (an int8 element-wise function as a table).
pub fn lut(table: &[i8; 256], x: &[i8], out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = table[(v as u8 ^ 0x80) as usize];
    }
}

/// `scale · (q - zero_point)`.
pub fn dequantize(q: i8, scale: f32, zero_point: i32) -> f32 {
    scale * (q as i32 - zero_point) as f32
}

/// `round(x · inv)` clamped to int8 (zero point 0) over a slice: [`quantize_f32`] with a
/// multiplication by the reciprocal of the scale instead of a division (`DynQMatMul`'s rows,
/// where the division was a third of the op's own work besides the product).
pub fn quantize_mul_slice(x: &[f32], inv: f32, out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = round_to_i8(v * inv, 0);
    }
}

/// [`quantize_f32`] over a slice (`out` as long as `x`).
pub fn quantize_slice(x: &[f32], scale: f32, zero_point: i32, out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = quantize_f32(v, scale, zero_point);
    }
}

/// [`dequantize`] over a slice.
pub fn dequantize_slice(q: &[i8], scale: f32, zero_point: i32, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(q) {
        *o = dequantize(v, scale, zero_point);
    }
}

/// Embedding lookup from a symmetric int8 table `[rows, cols]` with one scale per column:
/// `out[i, j] = scale[j] · table[idx[i], j]`. Negative indices count from the end (ONNX); an index
/// outside `[-rows, rows)` is an error (returns it), as in [`super::gather`].
pub fn gather_dequant(table: &[i8], scales: &[f32], idx: &[i32], out: &mut [f32]) -> Result<(), i64> {
    let cols = scales.len();
    if cols == 0 {
        return Ok(());
    }
    let rows = table.len() / cols;
    for (&i, o) in idx.iter().zip(out.chunks_exact_mut(cols)) {
        let start = super::gather::row_start(i, 0, rows, cols)?;
        let row = table.get(start..start + cols).ok_or(i as i64)?;
        for ((o, &q), &s) in o.iter_mut().zip(row).zip(scales) {
            *o = s * q as f32;
        }
    }
    Ok(())
}

/// `Σ (x[i] − zx) · w[i]` over the common length, in i32. Sixteen independent lanes so compilers
/// vectorize it; integer addition is associative, so any lane split gives the same bits.
#[inline]
pub fn dot_i8(x: &[i8], zx: i32, w: &[i8]) -> i32 {
    // Callers' zero points are i8 values; anything else falls back to the i32 form below.
    let Ok(z) = i8::try_from(zx) else {
        return x.iter().zip(w).fold(0i32, |t, (&a, &b)| t.wrapping_add((a as i32 - zx) * b as i32));
    };
    // (x − zx) is in [−255, 255] and |w| ≤ 128, so each operand fits i16 and each product i32:
    // written this way, compilers use 16-bit multiply-adds (pmaddwd on x86, smlal on Arm)
    // instead of emulating 32-bit multiplies.
    let z = z as i16;
    let mut s = [0i32; 16];
    let (xc, wc) = (x.chunks_exact(16), w.chunks_exact(16));
    let (xt, wt) = (xc.remainder(), wc.remainder());
    for (a, b) in xc.zip(wc) {
        for i in 0..16 {
            s[i] = s[i].wrapping_add((a[i] as i16 - z) as i32 * b[i] as i16 as i32);
        }
    }
    let mut acc = s.iter().fold(0i32, |t, &v| t.wrapping_add(v));
    for (&a, &b) in xt.iter().zip(wt) {
        acc = acc.wrapping_add((a as i32 - zx) * b as i32);
    }
    acc
}

/// Longest reduction for which an int32 accumulator cannot overflow: `|x - zx| <= 255` and
/// `|w| <= 127` (weights are symmetric, -128 is never produced), so the sum is at most
/// `2^15 · 255 · 127 ≈ 1.06e9`, leaving `|bias| < 1.08e9` of headroom below 2^31.
pub const MAX_K: usize = 1 << 15;

/// The constant side of an int8 product and where its result goes.
#[derive(Debug, Clone, Copy)]
pub struct Int8Product<'a> {
    /// Weights, one row per output channel, symmetric (zero point 0).
    pub w: &'a [i8],
    /// One int32 bias per output channel (scale `s_x · s_w[c]`, zero point 0).
    pub bias: &'a [i32],
    /// Per output channel, the fixed-point form of `s_x · s_w[c] / s_y`.
    pub requant: &'a [Requant],
    /// Output zero point.
    pub zy: i32,
    /// Lowest output value (−128, or the quantized floor of a fused ReLU).
    pub lo: i8,
    /// Highest output value.
    pub hi: i8,
}

/// Quantized `y = x · wᵀ + b` for one row block: `x` is `rows × k` int8 with zero point `zx`, `q.w` is
/// `n × k`, and `out` is `rows × n` int8 with zero point `q.zy`, clamped to `[q.lo, q.hi]`.
///
/// `acc = bias[c] + Σ_i (x[r,i] - zx) · w[c,i]` in i32 (exact: no order dependence, so any SIMD tier
/// that computes the same sum is bit-exact), then [`requantize`]. Returns `false` (and writes nothing)
/// when the lengths do not match or `k > MAX_K`.
pub fn matmul_i8(x: &[i8], zx: i32, k: usize, q: &Int8Product<'_>, out: &mut [i8]) -> bool {
    let Int8Product { w, bias, requant, zy, lo, hi } = *q;
    let n = bias.len();
    if k == 0
        || k > MAX_K
        || w.len() != n * k
        || requant.len() != n
        || !x.len().is_multiple_of(k)
        || !requant.iter().all(Requant::is_valid)
    {
        return false;
    }
    let rows = x.len() / k;
    if out.len() != rows * n {
        return false;
    }
    for (xr, yr) in x.chunks_exact(k).zip(out.chunks_exact_mut(n.max(1))) {
        for (((y, wr), &b), &r) in yr.iter_mut().zip(w.chunks_exact(k)).zip(bias).zip(requant) {
            *y = requantize(b.wrapping_add(dot_i8(xr, zx, wr)), r, zy, lo, hi);
        }
    }
    true
}

/// Quantized convolution, NCHW, grouped and depthwise included: geometry `p` (its `act` is ignored:
/// a fused activation is carried by `q.lo`/`q.hi`), `x` int8 with zero point `zx`, `q.w` int8
/// `[m, c/group, kh, kw]`, one bias and requantization per output channel, `out` int8 with zero
/// point `q.zy`. Padding reads as real 0 (the value `zx`), so a padded tap adds nothing.
///
/// `acc = bias[m] + Σ_c Σ_ky Σ_kx (x − zx) · w` in i32, then [`requantize`]. Returns `false` (and
/// writes nothing past what it checked) when a buffer length does not match `p` or a reduction is
/// longer than [`MAX_K`].
pub fn conv_i8(p: &crate::ops::ConvParams, x: &[i8], zx: i32, q: &Int8Product<'_>, out: &mut [i8]) -> bool {
    let Int8Product { w, bias, requant, zy, lo, hi } = *q;
    if p.group == 0 || !p.c.is_multiple_of(p.group) || !p.m.is_multiple_of(p.group) {
        return false;
    }
    let cpg = p.c / p.group;
    let mpg = p.m / p.group;
    let taps = cpg * p.kh * p.kw;
    if taps == 0
        || taps > MAX_K
        || x.len() != p.n * p.c * p.h * p.w
        || w.len() != p.m * taps
        || bias.len() != p.m
        || requant.len() != p.m
        || !requant.iter().all(Requant::is_valid)
        || out.len() != p.n * p.m * p.oh * p.ow
    {
        return false;
    }
    // Output tiles of at most ACC accumulators (whole rows when a row fits), on the stack: no
    // allocation, and a tap's contribution is a contiguous run with no per-element bounds test.
    const ACC: usize = 512;
    let mut acc = [0i32; ACC];
    let (plane_in, plane_out) = (p.h * p.w, p.oh * p.ow);
    let (tile_rows, tile_cols) = if p.ow <= ACC { (ACC / p.ow.max(1), p.ow) } else { (1, ACC) };
    for n in 0..p.n {
        for m in 0..p.m {
            let g = m / mpg;
            let (b, r) = (bias.get(m).copied().unwrap_or(0), requant.get(m).copied());
            let Some(r) = r else { return false };
            let Some(oplane) = out.get_mut((n * p.m + m) * plane_out..(n * p.m + m + 1) * plane_out) else {
                return false;
            };
            for r0 in (0..p.oh).step_by(tile_rows.max(1)) {
                let r1 = (r0 + tile_rows).min(p.oh);
                for c0 in (0..p.ow).step_by(tile_cols.max(1)) {
                    let c1 = (c0 + tile_cols).min(p.ow);
                    let tw = c1 - c0;
                    let Some(tile) = acc.get_mut(..(r1 - r0) * tw) else { return false };
                    tile.fill(b);
                    for c in 0..cpg {
                        let xb = (n * p.c + g * cpg + c) * plane_in;
                        let Some(xplane) = x.get(xb..xb + plane_in) else { return false };
                        for ky in 0..p.kh {
                            let offy = (ky * p.dilation[0]) as isize - p.pad[0] as isize;
                            let (vy0, vy1) = super::conv::valid_range(p.oh, p.stride[0], offy, p.h);
                            let (oy0, oy1) = (vy0.max(r0), vy1.min(r1));
                            for kx in 0..p.kw {
                                let wv = w.get(((m * cpg + c) * p.kh + ky) * p.kw + kx).copied().unwrap_or(0) as i32;
                                let offx = (kx * p.dilation[1]) as isize - p.pad[1] as isize;
                                let (vx0, vx1) = super::conv::valid_range(p.ow, p.stride[1], offx, p.w);
                                let (ox0, ox1) = (vx0.max(c0), vx1.min(c1));
                                if ox0 >= ox1 || oy0 >= oy1 || wv == 0 {
                                    continue;
                                }
                                // Whole rows onto whole, consecutive input rows (1x1 kernels, the
                                // centre column of 'same' kernels): one run over the block.
                                if ox0 == 0 && ox1 == p.ow && p.ow == p.w && offx == 0 && p.stride == [1, 1] {
                                    let iy0 = (oy0 as isize + offy) as usize;
                                    let rows = oy1 - oy0;
                                    let (Some(src), Some(dst)) = (
                                        xplane.get(iy0 * p.w..(iy0 + rows) * p.w),
                                        tile.get_mut((oy0 - r0) * tw..(oy1 - r0) * tw),
                                    ) else {
                                        return false;
                                    };
                                    for (a, &xv) in dst.iter_mut().zip(src) {
                                        *a = a.wrapping_add((xv as i32 - zx) * wv);
                                    }
                                    continue;
                                }
                                for oy in oy0..oy1 {
                                    let iy = ((oy * p.stride[0]) as isize + offy) as usize;
                                    let ix0 = ((ox0 * p.stride[1]) as isize + offx) as usize;
                                    let Some(xrow) = xplane.get(iy * p.w..(iy + 1) * p.w) else { return false };
                                    let at = (oy - r0) * tw;
                                    let Some(arow) = tile.get_mut(at + ox0 - c0..at + ox1 - c0) else { return false };
                                    let src = xrow.get(ix0..).unwrap_or(&[]);
                                    for (a, &xv) in arow.iter_mut().zip(src.iter().step_by(p.stride[1])) {
                                        *a = a.wrapping_add((xv as i32 - zx) * wv);
                                    }
                                }
                            }
                        }
                    }
                    for oy in r0..r1 {
                        let (Some(orow), Some(arow)) = (
                            oplane.get_mut(oy * p.ow + c0..oy * p.ow + c1),
                            tile.get((oy - r0) * tw..(oy - r0 + 1) * tw),
                        ) else {
                            return false;
                        };
                        for (o, &a) in orow.iter_mut().zip(arow) {
                            *o = requantize(a, r, zy, lo, hi);
                        }
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn prod<'a>(w: &'a [i8], bias: &'a [i32], requant: &'a [Requant], zy: i32, lo: i8, hi: i8) -> Int8Product<'a> {
        Int8Product { w, bias, requant, zy, lo, hi }
    }

    /// The f64 form `quantize_f32` had (the specification as first written).
    fn quantize_f64(x: f32, scale: f32, zero_point: i32) -> i8 {
        let v = (x / scale) as f64;
        let q = if v >= 0.0 { (v + 0.5) as i64 } else { (v - 0.5) as i64 };
        q.saturating_add(zero_point as i64).clamp(-128, 127) as i8
    }

    /// The f32 form gives the f64 form's bytes: every f32 quotient around every half-integer tie
    /// up to 2^23 (the neighbours of n + 0.5 and n), across binade edges, huge values, infinities
    /// and NaN, for every zero point; then 2 million random (x, scale) pairs.
    #[test]
    fn f32_quantization_equals_the_f64_form() {
        let probe = |v: f32| {
            for zp in [-128, -127, -1, 0, 1, 5, 126, 127] {
                assert_eq!(quantize_f32(v, 1.0, zp), quantize_f64(v, 1.0, zp), "v {v:e} zp {zp}");
            }
        };
        let mut n = 0.0f32;
        while n < 8_388_608.0 {
            for base in [n, n + 0.5] {
                let mut v = base;
                for _ in 0..3 {
                    v = f32::from_bits(v.to_bits().saturating_sub(1));
                }
                for _ in 0..7 {
                    probe(v);
                    probe(-v);
                    v = f32::from_bits(v.to_bits() + 1);
                }
            }
            n = if n < 1024.0 { n + 1.0 } else { n * 1.37 };
        }
        for e in 0..128 {
            let p = 2f32.powi(e);
            for v in [p, f32::from_bits(p.to_bits() - 1), p - 0.5, p + 0.5] {
                probe(v);
                probe(-v);
            }
        }
        for v in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX, f32::MIN, 0.0, -0.0, f32::MIN_POSITIVE] {
            probe(v);
        }
        let mut g = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2_000_000 {
            g ^= g << 13;
            g ^= g >> 7;
            g ^= g << 17;
            let x = f32::from_bits(g as u32);
            let scale = f32::from_bits(0x3000_0000 + ((g >> 32) as u32 % 0x1800_0000)); // 4.7e-10 .. 1.2e4
            let zp = (g >> 56) as i8 as i32;
            assert_eq!(quantize_f32(x, scale, zp), quantize_f64(x, scale, zp), "x {x:e} scale {scale:e} zp {zp}");
        }
    }

    #[test]
    fn multipliers_are_normalised() {
        let r = quantize_multiplier(0.5).unwrap();
        assert_eq!(r, Requant { multiplier: 1 << 30, shift: 31 });
        let r = quantize_multiplier(0.75).unwrap();
        assert_eq!(r, Requant { multiplier: 3 << 29, shift: 31 });
        let r = quantize_multiplier(3.0).unwrap();
        assert_eq!(r, Requant { multiplier: 3 << 29, shift: 29 });
        // Just below a power of two: the mantissa rounds up to 2^31 and is renormalised.
        let r = quantize_multiplier(1.0 - 1e-12).unwrap();
        assert_eq!(r, Requant { multiplier: 1 << 30, shift: 30 });
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-12, 2e9] {
            assert_eq!(quantize_multiplier(bad), None, "{bad}");
        }
    }

    /// Golden: the rounding rule. acc · M lands exactly on .5 here; ties go up (towards +∞), so
    /// 2.5 → 3 and -2.5 → -2. Round-half-even (2, -2) or half-away-from-zero (3, -3) break this test.
    #[test]
    fn golden_ties_round_up() {
        let half = quantize_multiplier(0.5).unwrap();
        let cases = [(5, 3), (-5, -2), (3, 2), (-3, -1), (1, 1), (-1, 0), (4, 2), (-4, -2), (0, 0)];
        for (acc, want) in cases {
            assert_eq!(scale_round(acc, half), want, "{acc} * 0.5");
        }
        let quarter = quantize_multiplier(0.25).unwrap();
        let cases = [(2, 1), (-2, 0), (6, 2), (-6, -1), (7, 2), (-7, -2)];
        for (acc, want) in cases {
            assert_eq!(scale_round(acc, quarter), want, "{acc} * 0.25");
        }
    }

    /// Golden: one fixed product, every step pinned (zero points, bias, per-channel multipliers,
    /// clamping, a fused ReLU as lo = zy).
    #[test]
    fn golden_matmul() {
        let x: [i8; 6] = [10, -20, 30, -128, 127, 5]; // 2 × 3, zx = -3
        let w: [i8; 6] = [1, 2, 3, -127, 0, 127]; // 2 channels × 3
        let bias = [100, -50];
        let rq = [quantize_multiplier(0.01).unwrap(), quantize_multiplier(0.003).unwrap()];
        let mut out = [0i8; 4];
        assert!(matmul_i8(&x, -3, 3, &prod(&w, &bias, &rq, 7, -128, 127), &mut out));
        // Row 0: (13, -17, 33). c0: 100 + 13 - 34 + 99 = 178 → 1.78 → 2 (+7 = 9).
        //        c1: -50 - 1651 + 0 + 4191 = 2490 → 7.47 → 7 (+7 = 14).
        // Row 1: (-125, 130, 8). c0: 100 - 125 + 260 + 24 = 259 → 2.59 → 3 (+7 = 10).
        //        c1: -50 + 15875 + 0 + 1016 = 16841 → 50.523 → 51 (+7 = 58).
        assert_eq!(out, [9, 14, 10, 58]);
        // A fused ReLU (lo = zy) and an upper bound of 20.
        let w2: [i8; 6] = [-127, -127, -127, 127, 127, 127];
        assert!(matmul_i8(&x, -3, 3, &prod(&w2, &[0, 0], &rq, 7, 7, 20), &mut out));
        // c0 is negative on both rows → ReLU bound 7. c1: row 0 Σ = 29 → 3683 · 0.003 = 11.05 → 18;
        // row 1 Σ = 13 → 1651 · 0.003 = 4.953 → 12.
        assert_eq!(out, [7, 18, 7, 12]);
    }

    /// The fast rounding in `quantize_f32` equals `libm::round` (half away from zero) for every f32
    /// quotient pattern tried: halves, near-halves, large values, negatives, NaN and infinities.
    #[test]
    fn quantize_rounds_like_libm_round() {
        let reference = |x: f32, s: f32, z: i32| {
            let q = libm::round((x / s) as f64);
            let q = if q.is_nan() { 0.0 } else { q };
            (q + z as f64).clamp(-128.0, 127.0) as i8
        };
        let mut bits = 0x3f00_0000u32; // 0.5
        let mut cases: Vec<f32> = vec![
            0.5,
            1.5,
            2.5,
            -0.5,
            -2.5,
            0.49999997,
            -0.49999997,
            1e30,
            -1e30,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
        ];
        for _ in 0..100_000 {
            bits = bits.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = f32::from_bits(bits);
            cases.push(v);
            cases.push(v.trunc() + 0.5);
        }
        for &x in &cases {
            for (s, z) in [(1.0f32, 0), (0.5, 3), (0.1, -128), (3.0, 127), (1e-3, -7)] {
                assert_eq!(quantize_f32(x, s, z), reference(x, s, z), "{x} / {s} + {z}");
            }
        }
    }

    #[test]
    fn rejects_invalid_requantization() {
        // Bytes from a file can hold any pair: out-of-range shifts and mantissas are refused before
        // any arithmetic (a shift of 64 would otherwise be undefined).
        let mut out = [0i8; 1];
        for bad in [
            Requant { multiplier: 1 << 30, shift: 0 },
            Requant { multiplier: 1 << 30, shift: 64 },
            Requant { multiplier: 5, shift: 10 },
        ] {
            assert!(!bad.is_valid());
            assert!(!matmul_i8(&[1, 2], 0, 2, &prod(&[1, 2], &[0], &[bad], 0, -128, 127), &mut out));
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let rq = [quantize_multiplier(0.5).unwrap()];
        let mut out = [0i8; 1];
        assert!(!matmul_i8(&[1, 2], 0, 2, &prod(&[1, 2, 3], &[0], &rq, 0, -128, 127), &mut out));
        assert!(!matmul_i8(&[1, 2], 0, 0, &prod(&[1, 2], &[0], &rq, 0, -128, 127), &mut out));
        assert!(!matmul_i8(&[1, 2, 3], 0, 2, &prod(&[1, 2], &[0], &rq, 0, -128, 127), &mut out));
        assert!(!matmul_i8(&[1, 2], 0, 2, &prod(&[1, 2], &[0], &rq, 0, -128, 127), &mut [0i8; 2]));
    }

    /// `scale_round` is the exactly rounded product (ties up), for multipliers and accumulators over
    /// their whole range: checked against exact 128-bit rational arithmetic.
    #[test]
    fn scale_round_is_exact() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let acc = next() as i32;
            let r = Requant { multiplier: (1 << 30) + (next() % (1 << 30)) as i32, shift: 1 + (next() % 62) as i32 };
            let prod = acc as i128 * r.multiplier as i128;
            let den = 1i128 << r.shift;
            // floor((prod + den/2) / den) with floor division.
            let num = prod + den / 2;
            let want = num.div_euclid(den);
            assert_eq!(scale_round(acc, r) as i128, want, "{acc} {r:?}");
        }
    }

    /// The float model of the kernel: dequantize, multiply in f64, requantize. Integer and float agree
    /// to within one step (the float path rounds the multiplier and ties differently).
    #[test]
    fn matmul_tracks_the_float_model() {
        let (rows, k, n) = (3, 17, 5);
        let x: Vec<i8> = (0..rows * k).map(|i| ((i * 37 + 11) % 256) as u8 as i8).collect();
        let w: Vec<i8> = (0..n * k).map(|i| (((i * 53 + 7) % 255) as i32 - 127) as i8).collect();
        let bias: Vec<i32> = (0..n as i32).map(|c| c * 301 - 700).collect();
        let (sx, sy) = (0.02f64, 0.5f64);
        let sw: Vec<f64> = (0..n).map(|c| 0.001 * (c + 1) as f64).collect();
        let rq: Vec<Requant> = sw.iter().map(|s| quantize_multiplier(sx * s / sy).unwrap()).collect();
        let (zx, zy) = (5, -9);
        let mut out = vec![0i8; rows * n];
        assert!(matmul_i8(&x, zx, k, &prod(&w, &bias, &rq, zy, -128, 127), &mut out));
        for r in 0..rows {
            for c in 0..n {
                let real: f64 = bias[c] as f64 * sx * sw[c]
                    + (0..k).map(|i| sx * (x[r * k + i] as i32 - zx) as f64 * sw[c] * w[c * k + i] as f64).sum::<f64>();
                let want = (real / sy).round() + zy as f64;
                let got = out[r * n + c] as f64;
                assert!((got - want.clamp(-128.0, 127.0)).abs() <= 1.0, "({r},{c}): {got} vs {want}");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn geometry(
        c: usize,
        h: usize,
        w: usize,
        m: usize,
        k: usize,
        group: usize,
        stride: usize,
        pad: usize,
    ) -> crate::ops::ConvParams {
        crate::ops::ConvParams {
            n: 1,
            c,
            h,
            w,
            m,
            oh: (h + 2 * pad - k) / stride + 1,
            ow: (w + 2 * pad - k) / stride + 1,
            kh: k,
            kw: k,
            group,
            stride: [stride; 2],
            pad: [pad; 2],
            dilation: [1; 2],
            act: crate::ops::Activation { func: crate::ops::UnaryFn::Identity, a: 0.0, b: 0.0 },
        }
    }

    /// Golden: a 3×3 depthwise convolution with padding 1 on a 2-channel 3×3 input, by hand.
    /// The tiled convolution equals the definition (every output summed tap by tap with explicit
    /// bounds tests) on random geometries: strides, dilations, asymmetric shapes, groups, padding,
    /// and rows wider than the accumulator tile.
    #[test]
    fn conv_matches_the_definition() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n) as usize
        };
        let (mut checked, mut wide) = (0, 0);
        for case in 0..300 {
            let group = 1 + next(3);
            let (c, m) = (group * (1 + next(3)), group * (1 + next(3)));
            let (kh, kw) = (1 + next(3), 1 + next(3));
            let (h, w) = (kh + next(6), if case % 50 == 0 { 600 + next(100) } else { kw + next(9) });
            let stride = [1 + next(2), 1 + next(3)];
            let dilation = [1 + next(2), 1 + next(2)];
            let pad = [next(2), next(3)];
            let span = |len: usize, k: usize, d: usize, s: usize, pd: usize| {
                (len + 2 * pd).checked_sub(d * (k - 1) + 1).map(|v| v / s + 1)
            };
            let (Some(oh), Some(ow)) =
                (span(h, kh, dilation[0], stride[0], pad[0]), span(w, kw, dilation[1], stride[1], pad[1]))
            else {
                continue;
            };
            let p = crate::ops::ConvParams {
                n: 1 + next(2),
                c,
                h,
                w,
                m,
                oh,
                ow,
                kh,
                kw,
                group,
                stride,
                pad,
                dilation,
                act: crate::ops::Activation { func: crate::ops::UnaryFn::Identity, a: 0.0, b: 0.0 },
            };
            let x: Vec<i8> = (0..p.n * c * h * w).map(|_| next(256) as i32 as i8).collect();
            let wq: Vec<i8> = (0..m * (c / group) * kh * kw).map(|_| (next(255) as i32 - 127) as i8).collect();
            let bias: Vec<i32> = (0..m).map(|_| next(2001) as i32 - 1000).collect();
            let rq: Vec<Requant> =
                (0..m).map(|_| quantize_multiplier(0.0005 + next(100) as f64 * 0.0001).unwrap()).collect();
            let (zx, zy) = (next(256) as i32 - 128, next(41) as i32 - 20);
            let q = prod(&wq, &bias, &rq, zy, -128, 127);
            let mut got = vec![0i8; p.n * m * oh * ow];
            assert!(conv_i8(&p, &x, zx, &q, &mut got), "case {case}");
            checked += 1;
            wide += usize::from(ow > 512);
            let cpg = c / group;
            let mut o = 0;
            for n in 0..p.n {
                for mm in 0..m {
                    let g = mm / (m / group);
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = bias[mm];
                            for ci in 0..cpg {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let iy = (oy * stride[0] + ky * dilation[0]) as isize - pad[0] as isize;
                                        let ix = (ox * stride[1] + kx * dilation[1]) as isize - pad[1] as isize;
                                        if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                            continue;
                                        }
                                        let xv = x[((n * c + g * cpg + ci) * h + iy as usize) * w + ix as usize] as i32;
                                        acc += (xv - zx) * wq[((mm * cpg + ci) * kh + ky) * kw + kx] as i32;
                                    }
                                }
                            }
                            assert_eq!(got[o], requantize(acc, rq[mm], zy, -128, 127), "case {case} at {o}");
                            o += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 250 && wide > 0, "{checked} cases, {wide} wider than a tile");
    }

    #[test]
    fn golden_depthwise_conv() {
        let p = geometry(2, 3, 3, 2, 3, 2, 1, 1);
        // Channel 0: x − zx = 1 everywhere; channel 1: x − zx = 0..8.
        let zx = -10;
        let mut x = [0i8; 18];
        for i in 0..9 {
            x[i] = (1 + zx) as i8;
            x[9 + i] = (i as i32 + zx) as i8;
        }
        let w = [1i8; 18]; // box filters
        let rq = [quantize_multiplier(0.5).unwrap(); 2];
        let mut out = [0i8; 18];
        assert!(conv_i8(&p, &x, zx, &prod(&w, &[0, 1], &rq, 0, -128, 127), &mut out));
        // Channel 0 counts the in-bounds taps (4 corners, 6 edges, 9 centre), halved, ties up.
        assert_eq!(&out[..9], &[2, 3, 2, 3, 5, 3, 2, 3, 2]);
        // Channel 1: bias 1 + the in-bounds 3×3 neighbourhood sums of the grid 0..8 (8, 15, 12 / 21, 36,
        // 27 / 20, 33, 24), halved with ties up: 4.5→5, 8, 6.5→7, 11, 18.5→19, 14, 10.5→11, 17, 12.5→13.
        assert_eq!(&out[9..], &[5, 8, 7, 11, 19, 14, 11, 17, 13]);
    }

    /// A 1×1 convolution is the matrix product over channels: both kernels agree bit for bit.
    #[test]
    fn pointwise_conv_equals_matmul() {
        let (c, hw, m) = (7, 12, 5);
        let p = geometry(c, 3, 4, m, 1, 1, 1, 0);
        let x: Vec<i8> = (0..c * hw).map(|i| ((i * 29 + 3) % 256) as u8 as i8).collect();
        let w: Vec<i8> = (0..m * c).map(|i| (((i * 41) % 255) as i32 - 127) as i8).collect();
        let bias: Vec<i32> = (0..m as i32).map(|i| 50 * i - 100).collect();
        let rq: Vec<Requant> = (0..m).map(|i| quantize_multiplier(0.003 * (i + 1) as f64).unwrap()).collect();
        let mut conv_out = vec![0i8; m * hw];
        assert!(conv_i8(&p, &x, 4, &prod(&w, &bias, &rq, -2, -128, 127), &mut conv_out));
        // Rows of the matrix product are pixels: transpose x from [c, hw] to [hw, c].
        let xt: Vec<i8> = (0..hw).flat_map(|j| (0..c).map(move |ci| (ci, j))).map(|(ci, j)| x[ci * hw + j]).collect();
        let mut mm = vec![0i8; hw * m];
        assert!(matmul_i8(&xt, 4, c, &prod(&w, &bias, &rq, -2, -128, 127), &mut mm));
        for j in 0..hw {
            for mi in 0..m {
                assert_eq!(conv_out[mi * hw + j], mm[j * m + mi], "pixel {j}, channel {mi}");
            }
        }
        // Wrong lengths are refused.
        assert!(!conv_i8(&p, &x[1..], 4, &prod(&w, &bias, &rq, -2, -128, 127), &mut conv_out));
    }

    #[test]
    fn quantize_and_dequantize() {
        assert_eq!(quantize_f32(0.25, 0.1, 3), 6); // 2.5 rounds away from zero → 3, + 3
        assert_eq!(quantize_f32(-0.25, 0.1, 3), 0); // -2.5 → -3, + 3
        assert_eq!(quantize_f32(1e9, 0.1, 0), 127);
        assert_eq!(quantize_f32(-1e9, 0.1, 0), -128);
        assert_eq!(quantize_f32(f32::NAN, 0.1, 4), 4);
        assert_eq!(dequantize(6, 0.1, 3), 0.1 * 3.0);
    }
}
