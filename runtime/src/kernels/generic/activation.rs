//! Element-wise unary functions, also used as fused activations.

use crate::ops::UnaryFn;
use libm::{erff, expf, logf, sqrtf, tanhf};

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
        UnaryFn::Clip => x.max(a).min(b),
        UnaryFn::Sigmoid => sigmoid(x),
        UnaryFn::Tanh => tanhf(x),
        UnaryFn::GeluErf => 0.5 * x * (1.0 + erff(x * core::f32::consts::FRAC_1_SQRT_2)),
        UnaryFn::GeluTanh => {
            const K: f32 = 0.797_884_6; // sqrt(2/pi)
            0.5 * x * (1.0 + tanhf(K * (x + 0.044715 * x * x * x)))
        }
        UnaryFn::Sqrt => sqrtf(x),
        UnaryFn::Erf => erff(x),
        UnaryFn::Exp => expf(x),
        UnaryFn::Log => logf(x),
        UnaryFn::Neg => -x,
        UnaryFn::Abs => x.abs(),
        UnaryFn::Reciprocal => 1.0 / x,
    }
}

/// Logistic sigmoid, written to avoid overflow of `exp` for large |x|.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + expf(-x))
    } else {
        let e = expf(x);
        e / (1.0 + e)
    }
}

/// Unary op over a whole tensor.
pub fn unary(func: UnaryFn, a: f32, b: f32, x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = apply_activation(func, a, b, v);
    }
}
