//! Scalar reference kernels: the bit-level specification of every op. They use safe indexing
//! only; shapes were checked by [`crate::ops::prepare`] before any of them runs.

mod activation;
mod binary;
mod conv;
mod gather;
mod matmul;
mod movement;
mod norm;
mod pool;
mod reduce;
mod rnn;
mod softmax;

pub use activation::{apply_activation, unary};
pub use binary::{binary, broadcast_strides, BroadcastIter};
pub use conv::conv;
pub use gather::{gather, gather_raw};
pub use matmul::matmul;
pub use movement::{cast, concat, expand, slice, split, transpose, where_select, CastElem};
pub use norm::layer_norm;
pub use pool::pool;
pub use reduce::reduce;
pub use rnn::{rnn, RnnInputs, RnnOutputs};
pub use softmax::softmax;

/// A float weight or activation row: f32, or f16 bits (fp16 artifacts store big weights as f16).
#[derive(Debug, Clone, Copy)]
pub enum FloatSrc<'a> {
    /// f32 values.
    F32(&'a [f32]),
    /// IEEE half bit patterns.
    F16(&'a [u16]),
}

impl<'a> FloatSrc<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FloatSrc::F32(s) => s.len(),
            FloatSrc::F16(s) => s.len(),
        }
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element `i` as f32 (0 past the end: callers index within validated shapes).
    #[inline(always)]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            FloatSrc::F32(s) => s.get(i).copied().unwrap_or(0.0),
            FloatSrc::F16(s) => s.get(i).map(|&b| half::f16::from_bits(b).to_f32()).unwrap_or(0.0),
        }
    }
    /// Copies `dst.len()` elements starting at `start` into `dst` as f32.
    pub fn read_into(&self, start: usize, dst: &mut [f32]) {
        match self {
            FloatSrc::F32(s) => {
                if let Some(src) = s.get(start..start + dst.len()) {
                    dst.copy_from_slice(src);
                }
            }
            FloatSrc::F16(s) => {
                if let Some(src) = s.get(start..start + dst.len()) {
                    for (d, &b) in dst.iter_mut().zip(src) {
                        *d = half::f16::from_bits(b).to_f32();
                    }
                }
            }
        }
    }
}

/// Dot product, sequential f32 accumulation (the reference order).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        acc += x * y;
    }
    acc
}

/// `acc[i] += a * x[i]`.
pub fn axpy_f32(acc: &mut [f32], a: f32, x: &[f32]) {
    for (o, v) in acc.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// Dot product of an f32 row with a float source row starting at `start`.
#[inline]
pub fn dot_src(a: &[f32], b: &FloatSrc<'_>, start: usize) -> f32 {
    match b {
        FloatSrc::F32(s) => dot_f32(a, s.get(start..start + a.len()).unwrap_or(&[])),
        FloatSrc::F16(s) => {
            let mut acc = 0.0f32;
            for (x, &y) in a.iter().zip(s.get(start..start + a.len()).unwrap_or(&[])) {
                acc += x * half::f16::from_bits(y).to_f32();
            }
            acc
        }
    }
}

#[cfg(test)]
mod tests;
