//! Ferrite's transcendental functions: `exp`, `sigmoid`, `tanh` and `erf` in f32, written with
//! only the operations every instruction set rounds the same way (IEEE add, subtract, multiply,
//! divide, compare, select, integer conversion of integral values; no fused multiply-add), so that
//! every SIMD tier computes them bit for bit like these scalar functions. libm's versions use
//! branches and tables that do not vectorize; these are the Cephes polynomials (exp, tanh: about 1
//! ulp), and for erf Cephes' polynomial below 1 and Abramowitz–Stegun 7.1.26 above (absolute
//! error below 2e-7).
//!
//! The recurrent ops' gates, Sigmoid/Tanh/Erf/Exp/GELU and Softmax use them, float and int8 models
//! alike; the SIMD versions in the x86-64 and AArch64 tiers follow this file line by line.

// The Cephes constants as published; comparisons spelled out as the SIMD tiers do them.
#![allow(clippy::excessive_precision, clippy::manual_clamp)]

/// `exp(x)`: range reduction `x = n·ln 2 + r` (n rounded to nearest even), a degree-6 polynomial in
/// `r`, times `2^n` built from the exponent bits. `x > 88` gives +∞, `x < −87` gives 0 (before the
/// smallest normal), NaN gives the input.
#[inline]
pub fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23: adding and subtracting rounds to an integer
    let xc = if x > 88.0 {
        88.0
    } else if x < -87.0 {
        -87.0
    } else {
        x
    };
    let n = (xc * core::f32::consts::LOG2_E + MAGIC) - MAGIC;
    let r = (xc - n * 0.693_359_4) - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let p = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let y = p * scale;
    if x > 88.0 {
        f32::INFINITY
    } else if x < -87.0 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// `1 / (1 + exp(−x))`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`: an odd polynomial for `|x| < 0.625`, else `1 − 2 / (exp(2|x|) + 1)` with the sign.
#[inline]
pub fn tanh(x: f32) -> f32 {
    let a = if x < 0.0 { -x } else { x };
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = p * z + 2.063_908_9e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z - 3.333_328_2e-1;
    let small = p * z * x + x;
    let big = 1.0 - 2.0 / (exp(a + a) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// `erf(x)`: for `|x| < 1` an odd polynomial `x·T(x²)` (Cephes `erff`); beyond, Abramowitz–Stegun
/// 7.1.26, `1 − t·(a1 + t·(a2 + …)) · exp(−x²)` with `t = 1 / (1 + p·|x|)`, and the sign of `x`.
#[inline]
pub fn erf(x: f32) -> f32 {
    let z = x * x;
    let mut q = 7.853_861_4e-5f32;
    q = q * z - 8.010_193_6e-4;
    q = q * z + 5.188_327_7e-3;
    q = q * z - 2.685_381_2e-2;
    q = q * z + 1.128_358_5e-1;
    q = q * z - 3.761_262_6e-1;
    q = q * z + core::f32::consts::FRAC_2_SQRT_PI;
    let small = x * q;
    let a = if x < 0.0 { -x } else { x };
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut p = 1.061_405_4f32;
    p = p * t - 1.453_152_1;
    p = p * t + 1.421_413_8;
    p = p * t - 0.284_496_72;
    p = p * t + 0.254_829_6;
    let y = 1.0 - p * t * exp(-(a * a));
    let big = if x < 0.0 { -y } else { y };
    if a < 1.0 {
        small
    } else {
        big
    }
}

/// The sum of `v` in the reference order of [`super::dot_f32`]: eight running lanes (`i % 8`),
/// added pairwise, then the tail in order. Softmax and LayerNorm sum this way so that 8-lane
/// tiers reproduce their bits.
#[inline]
pub fn sum8(v: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    let c = v.chunks_exact(8);
    let tail = c.remainder();
    for x in c {
        for i in 0..8 {
            s[i] += x[i];
        }
    }
    let mut acc = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    for &x in tail {
        acc += x;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32).wrapping_sub(b.to_bits() as i32).unsigned_abs()
    }

    /// Against libm over a dense sweep: exp within 2 ulp, tanh within 3 ulp (and 1e-7 absolute
    /// near 0), sigmoid within 4 ulp, erf within 1.5e-7 absolute.
    #[test]
    fn accuracy_against_libm() {
        let mut x = -90.0f32;
        while x < 90.0 {
            let e = exp(x);
            let want = libm::expf(x);
            if (-87.0..=88.0).contains(&x) {
                assert!(ulps(e, want) <= 2, "exp({x}) = {e}, libm {want}");
            }
            let t = tanh(x);
            let tw = libm::tanhf(x);
            assert!(ulps(t, tw) <= 3 || (t - tw).abs() < 1e-7, "tanh({x}) = {t}, libm {tw}");
            let s = sigmoid(x);
            let sw = 1.0 / (1.0 + libm::expf(-x));
            assert!(ulps(s, sw) <= 4 || (s - sw).abs() < 1e-30, "sigmoid({x}) = {s}, {sw}");
            assert!((erf(x) - libm::erff(x)).abs() < 2e-7, "erf({x})");
            x += 0.0137;
        }
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(-100.0), 0.0);
        assert!(exp(f32::NAN).is_nan() && tanh(f32::NAN).is_nan() && erf(f32::NAN).is_nan());
        assert_eq!(tanh(20.0), 1.0);
        assert_eq!(tanh(-20.0), -1.0);
        assert_eq!(sigmoid(-100.0), 0.0);
        assert_eq!(sigmoid(100.0), 1.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn sum8_is_the_dot_order() {
        let v: [f32; 19] = core::array::from_fn(|i| (i as f32 * 0.37).sin() * 1e3);
        let ones = [1.0f32; 19];
        assert_eq!(sum8(&v).to_bits(), super::super::dot_f32(&v, &ones).to_bits());
    }
}
