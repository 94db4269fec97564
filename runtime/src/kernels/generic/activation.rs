//! Element-wise unary functions, also used as fused activations.

use super::math::{erf, exp, tanh};
use crate::ops::UnaryFn;
use libm::{logf, sqrtf};

/// Applies one unary function to one value.
#[inline]
pub fn apply_activation(func: UnaryFn, a: f32, b: f32, x: f32) -> f32 {
    match func {
        UnaryFn::Identity => x,
        UnaryFn::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        UnaryFn::LeakyRelu => {
            if x >= 0.0 {
                x
            } else {
                a * x
            }
        }
        UnaryFn::Clip => clip(x, a, b),
        UnaryFn::Sigmoid => sigmoid(x),
        UnaryFn::Tanh => tanh(x),
        UnaryFn::GeluErf => 0.5 * x * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2)),
        UnaryFn::GeluTanh => {
            const K: f32 = 0.797_884_6; // sqrt(2/pi)
            0.5 * x * (1.0 + tanh(K * (x + 0.044715 * x * x * x)))
        }
        UnaryFn::Sqrt => sqrtf(x),
        UnaryFn::Erf => erf(x),
        UnaryFn::Exp => exp(x),
        UnaryFn::Log => logf(x),
        UnaryFn::Neg => -x,
        UnaryFn::Abs => x.abs(),
        UnaryFn::Reciprocal => 1.0 / x,
        UnaryFn::Round => libm::rintf(x),
    }
}

/// Logistic sigmoid ([`super::math::sigmoid`]).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    super::math::sigmoid(x)
}

/// `min(max(x, lo), hi)` by comparisons (NaN passes through), as the SIMD tiers compute it.
#[inline]
pub fn clip(x: f32, lo: f32, hi: f32) -> f32 {
    let y = if x < lo { lo } else { x };
    if y > hi {
        hi
    } else {
        y
    }
}

/// Unary op over a whole tensor.
pub fn unary(func: UnaryFn, a: f32, b: f32, x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = apply_activation(func, a, b, v);
    }
}

/// [`unary`] in place: a layer's fused activation. The common cases get loops of their own
/// (the same values: compilers do not lift the per-element `match` out of the loop).
pub fn unary_in_place(func: UnaryFn, a: f32, b: f32, v: &mut [f32]) {
    match func {
        UnaryFn::Identity => {}
        UnaryFn::Relu => v.iter_mut().for_each(|o| *o = if *o > 0.0 { *o } else { 0.0 }),
        _ => v.iter_mut().for_each(|o| *o = apply_activation(func, a, b, *o)),
    }
}
