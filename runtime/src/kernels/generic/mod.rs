//! Scalar reference kernels: the bit-level specification of every op. They use safe indexing
//! only; shapes were checked by [`crate::ops::prepare`] before any of them runs.

mod activation;
pub mod binary;
mod compare;
pub mod conv;
pub mod dynq;
mod gather;
pub mod int8;
pub mod math;
mod matmul;
mod movement;
mod norm;
mod pool;
pub mod qconv;
pub mod qgemm;
mod reduce;
pub mod rnn;
mod softmax;

pub use activation::{apply_activation, unary, unary_in_place};
pub use binary::{binary, broadcast_strides, BroadcastIter};
pub use compare::{arg_reduce, compare, logic};
pub use conv::{conv, conv_gemm, conv_linear, depthwise_flat_geometry, pad_plane, DW_PLANE};
pub use gather::{gather, gather_raw};
pub use matmul::{dot_gemm, matmul, sgemm, MatMulKernels};
pub use movement::{
    cast, concat, expand, pad, slice, split, swapped_last_two, transpose, transpose_plane, transpose_runs,
    where_select, CastElem, Plane,
};
pub use norm::layer_norm;
pub use pool::pool;
pub use reduce::reduce;
pub use rnn::{rnn, Matrix, RnnCells, RnnInputs, RnnKernels, RnnOutputs, RnnX, GENERIC_CELLS};
pub use softmax::{softmax, softmax_rows};

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
    /// [`FloatSrc::read_into`] with f16 values widened by `widen` (a tier's converter).
    pub fn widen_into(&self, start: usize, dst: &mut [f32], widen: crate::kernels::WidenFn) {
        match self {
            FloatSrc::F16(s) => {
                if let Some(src) = s.get(start..start + dst.len()) {
                    widen(src, dst);
                }
            }
            FloatSrc::F32(_) => self.read_into(start, dst),
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
                use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
                if let Some(src) = s.get(start..start + dst.len()) {
                    src.reinterpret_cast::<half::f16>().convert_to_f32_slice(dst);
                }
            }
        }
    }
}

/// Dot product. The reference summation order: eight running partial sums, lane `i % 8` taking
/// element `i`, added pairwise at the end (`((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7))`), then the tail in
/// order. Eight independent lanes are what lets compilers vectorize the loop; SIMD tiers that keep
/// this order are bit-exact with it.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (a.get(..n).unwrap_or(&[]), b.get(..n).unwrap_or(&[]));
    let mut s = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            s[i] += x[i] * y[i];
        }
    }
    let mut acc = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    for (x, y) in ta.iter().zip(tb) {
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

/// f32 values a driver widens f16 weights into at a time (a stack buffer: 16 KiB).
pub const WIDEN_BUF: usize = 4096;

/// IEEE half bit patterns widened to f32 (exact), `min(src, dst)` of them.
pub fn widen_f16(src: &[u16], dst: &mut [f32]) {
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    let n = src.len().min(dst.len());
    if let (Some(s), Some(d)) = (src.get(..n), dst.get_mut(..n)) {
        s.reinterpret_cast::<half::f16>().convert_to_f32_slice(d);
    }
}

/// Dot product of an f32 row with a float source row starting at `start`. f16 rows are widened
/// 64 values at a time into a stack buffer, then go through [`dot_f32`] (same order as f32 rows).
#[inline]
pub fn dot_src(a: &[f32], b: &FloatSrc<'_>, start: usize) -> f32 {
    match b {
        FloatSrc::F32(s) => dot_f32(a, s.get(start..start + a.len()).unwrap_or(&[])),
        FloatSrc::F16(s) => {
            use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
            let Some(row) = s.get(start..start + a.len()) else { return 0.0 };
            let mut buf = [0f32; 64];
            let mut s8 = [0.0f32; 8];
            let n = a.len();
            let mut done = 0;
            let mut last = 0;
            // Chunks of 64 keep dot_f32's lanes: only the last chunk can end in a partial block.
            while done < n {
                let len = (n - done).min(64);
                let (Some(bb), Some(src), Some(x)) =
                    (buf.get_mut(..len), row.get(done..done + len), a.get(done..done + len))
                else {
                    break;
                };
                src.reinterpret_cast::<half::f16>().convert_to_f32_slice(bb);
                for (xc, yc) in x.chunks_exact(8).zip(bb.chunks_exact(8)) {
                    for i in 0..8 {
                        s8[i] += xc[i] * yc[i];
                    }
                }
                last = len;
                done += len;
            }
            let mut acc = ((s8[0] + s8[4]) + (s8[2] + s8[6])) + ((s8[1] + s8[5]) + (s8[3] + s8[7]));
            let full = last / 8 * 8;
            let xt = a.get(n - (last - full)..).unwrap_or(&[]);
            for (xv, yv) in xt.iter().zip(buf.get(full..last).unwrap_or(&[])) {
                acc += xv * yv;
            }
            acc
        }
    }
}

#[cfg(test)]
mod tests;
