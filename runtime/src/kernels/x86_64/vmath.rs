//! `generic::math` on 16 lanes (AVX-512) and 8 lanes (AVX2), operation for operation: the same
//! IEEE adds, multiplies and divides in the same order (no FMA), comparisons and blends for every
//! branch, so every lane equals the scalar function bit for bit.

// The Cephes constants as published (generic::math).
#![allow(clippy::excessive_precision)]

use core::arch::x86_64::*;

/// The constants of `generic::math`, shared by both widths.
mod c {
    pub const MAGIC: f32 = 12_582_912.0;
    pub const LN2_HI: f32 = 0.693_359_4;
    pub const LN2_LO: f32 = -2.121_944_4e-4;
    pub const EXP_P: [f32; 6] =
        [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];
    pub const TANH_P: [f32; 5] = [-5.704_988_7e-3, 2.063_908_9e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328_2e-1];
}

macro_rules! simd_math {
    ($mod:ident, $feat:literal, $v:ty, $m:ty,
     set1 = $set1:ident, add = $add:ident, sub = $sub:ident, mul = $mul:ident, div = $div:ident,
     blend = $blend:path, gt = $gt:path, lt = $lt:path, nan = $nan:path, neg = $neg:path,
     cvt = $cvt:ident, addi = $addi:ident, slli = $slli:ident, cast = $cast:ident, seti = $seti:ident,
     erf = $erf:path) => {
        pub(crate) mod $mod {
            use super::*;

            /// `if m { b } else { a }` per lane.
            #[target_feature(enable = $feat)]
            #[inline]
            fn sel(m: $m, b: $v, a: $v) -> $v {
                $blend(a, b, m)
            }

            /// `generic::math::exp` per lane.
            #[target_feature(enable = $feat)]
            #[inline]
            pub(crate) fn exp(x: $v) -> $v {
                let (hi, lo) = ($set1(88.0), $set1(-87.0));
                let (over, under, nan) = ($gt(x, hi), $lt(x, lo), $nan(x));
                let xc = sel(under, lo, sel(over, hi, x));
                let magic = $set1(c::MAGIC);
                let n = $sub($add($mul(xc, $set1(core::f32::consts::LOG2_E)), magic), magic);
                let r = $sub($sub(xc, $mul(n, $set1(c::LN2_HI))), $mul(n, $set1(c::LN2_LO)));
                let mut p = $set1(c::EXP_P[0]);
                for &k in &c::EXP_P[1..] {
                    p = $add($mul(p, r), $set1(k));
                }
                let p = $add($add($mul(p, $mul(r, r)), r), $set1(1.0));
                let scale = $cast($slli::<23>($addi($cvt(n), $seti(127))));
                let y = $mul(p, scale);
                let y = sel(over, $set1(f32::INFINITY), y);
                let y = sel(under, $set1(0.0), y);
                sel(nan, x, y)
            }

            /// `generic::math::sigmoid` per lane.
            #[target_feature(enable = $feat)]
            #[inline]
            pub(crate) fn sigmoid(x: $v) -> $v {
                let one = $set1(1.0);
                $div(one, $add(one, exp($neg(x))))
            }

            /// `generic::math::tanh` per lane.
            #[target_feature(enable = $feat)]
            #[inline]
            pub(crate) fn tanh(x: $v) -> $v {
                let zero = $set1(0.0);
                let neg = $lt(x, zero);
                let a = sel(neg, $neg(x), x);
                let z = $mul(x, x);
                let mut p = $set1(c::TANH_P[0]);
                for &k in &c::TANH_P[1..] {
                    p = $add($mul(p, z), $set1(k));
                }
                let small = $add($mul($mul(p, z), x), x);
                let one = $set1(1.0);
                let big = $sub(one, $div($set1(2.0), $add(exp($add(a, a)), one)));
                let big = sel(neg, $neg(big), big);
                sel($lt(a, $set1(0.625)), small, big)
            }

            /// `generic::math::erf` per lane.
            #[target_feature(enable = $feat)]
            #[inline]
            pub(crate) fn erf(x: $v) -> $v {
                $erf(x)
            }

            /// `-x` per lane (the sign bit flipped).
            #[target_feature(enable = $feat)]
            #[inline]
            pub(crate) fn neg(x: $v) -> $v {
                $neg(x)
            }

            /// `generic::activation::clip` per lane: `x < lo → lo`, then `> hi → hi`.
            #[target_feature(enable = $feat)]
            #[inline]
            pub(crate) fn clip(x: $v, lo: $v, hi: $v) -> $v {
                let y = sel($lt(x, lo), lo, x);
                sel($gt(y, hi), hi, y)
            }
        }
    };
}

#[target_feature(enable = "avx512f")]
#[inline]
fn blend512(a: __m512, b: __m512, m: __mmask16) -> __m512 {
    _mm512_mask_blend_ps(m, a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn gt512(a: __m512, b: __m512) -> __mmask16 {
    _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn lt512(a: __m512, b: __m512) -> __mmask16 {
    _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn nan512(a: __m512) -> __mmask16 {
    _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a)
}

/// `-x` (the sign bit flipped, as scalar negation does).
#[target_feature(enable = "avx512f")]
#[inline]
fn neg512(a: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(i32::MIN)))
}
/// `-x` (the sign bit flipped, as scalar negation does).
#[target_feature(enable = "avx2")]
#[inline]
fn neg256(a: __m256) -> __m256 {
    _mm256_xor_ps(a, _mm256_set1_ps(-0.0))
}

#[target_feature(enable = "avx2")]
#[inline]
fn blend256(a: __m256, b: __m256, m: __m256) -> __m256 {
    _mm256_blendv_ps(a, b, m)
}
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn gt256(a: __m256, b: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_GT_OQ>(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn lt256(a: __m256, b: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_LT_OQ>(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn nan256(a: __m256) -> __m256 {
    _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a)
}

simd_math!(
    z16,
    "avx512f",
    __m512,
    __mmask16,
    set1 = _mm512_set1_ps,
    add = _mm512_add_ps,
    sub = _mm512_sub_ps,
    mul = _mm512_mul_ps,
    div = _mm512_div_ps,
    blend = blend512,
    gt = gt512,
    lt = lt512,
    nan = nan512,
    neg = neg512,
    cvt = _mm512_cvtps_epi32,
    addi = _mm512_add_epi32,
    slli = _mm512_slli_epi32,
    cast = _mm512_castsi512_ps,
    seti = _mm512_set1_epi32,
    erf = erf512
);

simd_math!(
    y8,
    "avx2",
    __m256,
    __m256,
    set1 = _mm256_set1_ps,
    add = _mm256_add_ps,
    sub = _mm256_sub_ps,
    mul = _mm256_mul_ps,
    div = _mm256_div_ps,
    blend = blend256,
    gt = gt256,
    lt = lt256,
    nan = nan256,
    neg = neg256,
    cvt = _mm256_cvtps_epi32,
    addi = _mm256_add_epi32,
    slli = _mm256_slli_epi32,
    cast = _mm256_castsi256_ps,
    seti = _mm256_set1_epi32,
    erf = erf256
);

/// `generic::math::erf` on 16 lanes: the piece of each lane from `|x|·4`, its coefficients by
/// one `vpermps` per power (the 16 pieces fill one register per coefficient), Horner's rule, then
/// 1 at and beyond 4, the sign bit of `x`, and NaN lanes as given.
#[target_feature(enable = "avx512f")]
#[inline]
fn erf512(x: __m512) -> __m512 {
    use crate::kernels::generic::math::ERF_COLUMNS as C;
    let bits = _mm512_castps_si512(x);
    let sign = _mm512_and_si512(bits, _mm512_set1_epi32(i32::MIN));
    let a = _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32(i32::MAX)));
    // NaN lanes read piece 15 (vminps gives its second operand for NaN); they are replaced below.
    let i = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_mul_ps(a, _mm512_set1_ps(4.0)), _mm512_set1_ps(15.0)));
    let t = _mm512_sub_ps(a, _mm512_mul_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(0.25)));
    // SAFETY (both loads): each column is 16 f32, one unaligned 64-byte load.
    let col = |j: usize| _mm512_permutexvar_ps(i, unsafe { _mm512_loadu_ps(C[j].as_ptr()) });
    let mut p = col(6);
    for j in (0..6).rev() {
        p = _mm512_add_ps(_mm512_mul_ps(p, t), col(j));
    }
    let p = blend512(p, _mm512_set1_ps(1.0), _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, _mm512_set1_ps(4.0)));
    let y = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(p), sign));
    blend512(y, x, nan512(x))
}

/// [`erf512`] on 8 lanes: two `vpermps` (pieces 0–7 and 8–15) and a blend per coefficient.
#[target_feature(enable = "avx2")]
#[inline]
fn erf256(x: __m256) -> __m256 {
    use crate::kernels::generic::math::ERF_COLUMNS as C;
    let sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0));
    let a = _mm256_andnot_ps(_mm256_set1_ps(-0.0), x);
    let i = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_mul_ps(a, _mm256_set1_ps(4.0)), _mm256_set1_ps(15.0)));
    let t = _mm256_sub_ps(a, _mm256_mul_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(0.25)));
    // Pieces 8–15: index bit 3 (vpermps reads only the low three bits).
    let high = _mm256_castsi256_ps(_mm256_cmpgt_epi32(i, _mm256_set1_epi32(7)));
    let col = |j: usize| {
        // SAFETY: each column is 16 f32: two unaligned 32-byte loads inside it.
        let (lo, hi) = unsafe { (_mm256_loadu_ps(C[j].as_ptr()), _mm256_loadu_ps(C[j].as_ptr().add(8))) };
        _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, i), _mm256_permutevar8x32_ps(hi, i), high)
    };
    let mut p = col(6);
    for j in (0..6).rev() {
        p = _mm256_add_ps(_mm256_mul_ps(p, t), col(j));
    }
    let p = _mm256_blendv_ps(p, _mm256_set1_ps(1.0), _mm256_cmp_ps::<_CMP_GE_OQ>(a, _mm256_set1_ps(4.0)));
    let y = _mm256_or_ps(p, sign);
    _mm256_blendv_ps(y, x, nan256(x))
}

/// `((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))` of one `ymm`: the pairwise lane sum of
/// the reference's eight-lane order (`generic::dot_f32`, `math::sum8`).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn hsum8(v: __m256) -> f32 {
    // [s0+s4, s1+s5, s2+s6, s3+s7]
    let q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    // [(s0+s4)+(s2+s6), (s1+s5)+(s3+s7), ..]
    let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps::<0b01>(h, h)))
}
