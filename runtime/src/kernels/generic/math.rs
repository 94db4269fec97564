//! Ferrite's transcendental functions: `exp`, `sigmoid`, `tanh` and `erf` in f32, written with
//! only the operations every instruction set rounds the same way (IEEE add, subtract, multiply,
//! divide, compare, select, integer conversion of integral values; no fused multiply-add), so that
//! every SIMD tier computes them bit for bit like these scalar functions. libm's versions use
//! branches and tables that do not vectorize; these are the Cephes polynomials (exp, tanh: about 1
//! ulp), and for erf 16 fitted polynomial pieces (absolute error below 7e-8).
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

/// `erf(x)`: `|x|` below 4 picks one of 16 pieces of width 1/4 and evaluates its degree-6
/// polynomial in `t = |x| − i/4` by Horner's rule ([`ERF_PIECES`]); `|x| ≥ 4` gives 1 (erf(4)
/// is 1 − 1.5e-8, which rounds to 1 in f32); the sign of `x` is put back with its bit, so
/// `erf(−0) = −0`; NaN gives the input. No division and no `exp`: the SIMD tiers look the
/// coefficients up with one lane permute each. Worst absolute error 6.9e-8 against the exact erf
/// (the printout of runtime/tools/erf_pieces.py; the test below checks against libm).
#[inline]
pub fn erf(x: f32) -> f32 {
    let sign = x.to_bits() & 0x8000_0000;
    let a = f32::from_bits(x.to_bits() & 0x7FFF_FFFF);
    if x.is_nan() {
        return x;
    }
    if a >= 4.0 {
        return f32::from_bits(1.0f32.to_bits() | sign);
    }
    // a·4 is exact, and so is t: a and i/4 are within a factor of two of each other (or i = 0).
    let i = ((a * 4.0) as usize).min(ERF_PIECES.len() - 1);
    let t = a - i as f32 * 0.25;
    let c = ERF_PIECES.get(i).copied().unwrap_or_default();
    let mut p = c[6];
    for &k in c[..6].iter().rev() {
        p = p * t + k;
    }
    // p ≥ +0 on [0, 4): setting the sign bit is copysign.
    f32::from_bits(p.to_bits() | sign)
}

/// The pieces of [`erf`]: `ERF_PIECES[i][j]` is the coefficient of `t^j` on `[i/4, (i+1)/4)`
/// (piece 0 has no constant term: erf(0) = 0 and small inputs keep their relative accuracy).
/// Fitted and printed by runtime/tools/erf_pieces.py:
/// worst absolute error 6.89e-08 (at 0.993051); f32 Horner, no FMA
pub const ERF_PIECES: [[f32; 7]; 16] = [
    [
        0.0,
        1.128379225730896,
        -3.814477167907171e-06,
        -0.3760267496109009,
        -0.0011988773476332426,
        0.12016213685274124,
        -0.02219918742775917,
    ],
    [
        0.27632638812065125,
        1.0600141286849976,
        -0.2650047242641449,
        -0.30914032459259033,
        0.1265982687473297,
        0.08261173218488693,
        -0.049713656306266785,
    ],
    [
        0.5204998850822449,
        0.8787825107574463,
        -0.43938881158828735,
        -0.14652176201343536,
        0.18371890485286713,
        0.003797738580033183,
        -0.04111051931977272,
    ],
    [
        0.7111556529998779,
        0.6429310441017151,
        -0.48219484090805054,
        0.0267051849514246,
        0.15164557099342346,
        -0.058885302394628525,
        -0.010431913658976555,
    ],
    [
        0.8427007794380188,
        0.41510745882987976,
        -0.4151056110858917,
        0.13832296431064606,
        0.0697309598326683,
        -0.07255564630031586,
        0.015325857326388359,
    ],
    [
        0.9229001402854919,
        0.23652112483978271,
        -0.2956515848636627,
        0.16753952205181122,
        -0.006187457125633955,
        -0.0471530519425869,
        0.022012460976839066,
    ],
    [
        0.9661051630973816,
        0.11893031001091003,
        -0.1783965677022934,
        0.13877908885478973,
        -0.044905465096235275,
        -0.01309889741241932,
        0.014394223690032959,
    ],
    [
        0.9866716861724854,
        0.05277501046657562,
        -0.09235718101263046,
        0.09018006175756454,
        -0.04836660623550415,
        0.008211682550609112,
        0.0041551352478563786,
    ],
    [
        0.9953222870826721,
        0.02066699042916298,
        -0.04133434221148491,
        0.04823215678334236,
        -0.03455453738570213,
        0.013773897662758827,
        -0.0017728994134813547,
    ],
    [
        0.9985373020172119,
        0.00714231887832284,
        -0.016070205718278885,
        0.02172440104186535,
        -0.019083796069025993,
        0.010680592618882656,
        -0.0030934102833271027,
    ],
    [
        0.9995930194854736,
        0.002178282244130969,
        -0.005445585120469332,
        0.00834709219634533,
        -0.008588368073105812,
        0.005920577794313431,
        -0.0022455547004938126,
    ],
    [
        0.9998993873596191,
        0.0005862757097929716,
        -0.0016121618682518601,
        0.0027579499874264,
        -0.003229839028790593,
        0.0025863165501505136,
        -0.0011448133736848831,
    ],
    [
        0.9999778866767883,
        0.0001392522535752505,
        -0.0004177076043561101,
        0.0007878397591412067,
        -0.0010296207619830966,
        0.0009264293476007879,
        -0.0004562234680633992,
    ],
    [
        0.9999957084655762,
        2.918871905421838e-05,
        -9.484429028816521e-05,
        0.00019531672296579927,
        -0.00028074573492631316,
        0.0002778347989078611,
        -0.0001483402302255854,
    ],
    [
        0.9999992847442627,
        5.3993312576494645e-06,
        -1.88917347259121e-05,
        4.214084037812427e-05,
        -6.587854295503348e-05,
        7.063796510919929e-05,
        -4.023794463137165e-05,
    ],
    [
        0.9999998807907104,
        8.814078000796144e-07,
        -3.303760649941978e-06,
        7.929607818368822e-06,
        -1.3362314348341897e-05,
        1.53524615598144e-05,
        -9.229313945979811e-06,
    ],
];

/// [`ERF_PIECES`] by coefficient: `ERF_COLUMNS[j][i]` = `ERF_PIECES[i][j]`, one lane per piece
/// (what a 16-lane permute looks up).
#[cfg(target_arch = "x86_64")]
pub(crate) const ERF_COLUMNS: [[f32; 16]; 7] = {
    let mut cols = [[0f32; 16]; 7];
    let mut i = 0;
    while i < 16 {
        let mut j = 0;
        while j < 7 {
            cols[j][i] = ERF_PIECES[i][j];
            j += 1;
        }
        i += 1;
    }
    cols
};

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
            assert_eq!(erf(-x).to_bits(), (-erf(x)).to_bits(), "erf is odd at {x}");
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
        assert_eq!((erf(0.0).to_bits(), erf(-0.0).to_bits()), (0, 0x8000_0000));
        assert_eq!((erf(4.0), erf(-1e30), erf(f32::INFINITY)), (1.0, -1.0, 1.0));
    }

    /// erf against libm on every piece, densely (a step of 2^-14 over [0, 4.25]) and at the edges
    /// of the pieces: within 1e-7 absolute, and within 2e-6 relative below 1e-3 (small inputs).
    #[test]
    fn erf_pieces_hold_their_accuracy() {
        let mut worst = 0f32;
        for k in 0..(4.25 * 16384.0) as u32 {
            let x = k as f32 / 16384.0;
            for x in [x, f32::from_bits(x.to_bits().saturating_sub(1)), f32::from_bits(x.to_bits() + 1)] {
                let (got, want) = (erf(x), libm::erff(x));
                worst = worst.max((got - want).abs());
                assert!((got - want).abs() <= 1e-7, "erf({x}) = {got}, libm {want}");
            }
        }
        let mut x = 1e-30f32;
        while x < 1e-3 {
            let (got, want) = (erf(x), libm::erff(x));
            assert!(((got - want) / want).abs() <= 2e-6, "erf({x}) = {got}, libm {want}");
            x *= 1.37;
        }
        assert!(worst > 0.0, "the sweep compared something");
    }

    #[test]
    fn sum8_is_the_dot_order() {
        let v: [f32; 19] = core::array::from_fn(|i| (i as f32 * 0.37).sin() * 1e3);
        let ones = [1.0f32; 19];
        assert_eq!(sum8(&v).to_bits(), super::super::dot_f32(&v, &ones).to_bits());
    }
}
