//! Element-wise binary functions with multidirectional (numpy) broadcasting, and the broadcast
//! index iterator shared by every broadcasting op.

use crate::format::MAX_RANK;
use crate::ops::{BinaryFn, TensorInfo};
use libm::powf;

/// Strides of `inp` laid over `out`'s axes: 0 on broadcast axes and on axes `inp` lacks.
pub fn broadcast_strides(inp: &TensorInfo, out: &TensorInfo) -> [usize; MAX_RANK] {
    let mut strides = [0usize; MAX_RANK];
    let off = out.rank.saturating_sub(inp.rank);
    let mut s = 1usize;
    for i in (0..inp.rank).rev() {
        let d = inp.dim(i);
        if let Some(slot) = strides.get_mut(i + off) {
            *slot = if d == 1 { 0 } else { s };
        }
        s = s.saturating_mul(d);
    }
    strides
}

/// Walks the output in row-major order, yielding the offset into each broadcast input.
pub struct BroadcastIter<const N: usize> {
    dims: [usize; MAX_RANK],
    rank: usize,
    strides: [[usize; MAX_RANK]; N],
    counter: [usize; MAX_RANK],
    offsets: [usize; N],
    remaining: usize,
}

impl<const N: usize> BroadcastIter<N> {
    /// Iterator over `out` with one stride set per input.
    pub fn new(out: &TensorInfo, strides: [[usize; MAX_RANK]; N]) -> Self {
        BroadcastIter {
            dims: out.dims,
            rank: out.rank,
            strides,
            counter: [0; MAX_RANK],
            offsets: [0; N],
            remaining: out.len(),
        }
    }
}

impl<const N: usize> Iterator for BroadcastIter<N> {
    type Item = [usize; N];
    #[inline]
    fn next(&mut self) -> Option<[usize; N]> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.offsets;
        // Odometer step: bump the last axis, carrying into earlier ones.
        for ax in (0..self.rank).rev() {
            let (Some(c), Some(&d)) = (self.counter.get_mut(ax), self.dims.get(ax)) else { break };
            *c += 1;
            for (o, s) in self.offsets.iter_mut().zip(&self.strides) {
                *o = o.wrapping_add(s.get(ax).copied().unwrap_or(0));
            }
            if *c < d {
                break;
            }
            *c = 0;
            for (o, s) in self.offsets.iter_mut().zip(&self.strides) {
                *o = o.wrapping_sub(s.get(ax).copied().unwrap_or(0).wrapping_mul(d));
            }
        }
        Some(cur)
    }
}

#[inline]
fn apply(func: BinaryFn, a: f32, b: f32) -> f32 {
    match func {
        BinaryFn::Add => a + b,
        BinaryFn::Sub => a - b,
        BinaryFn::Mul => a * b,
        BinaryFn::Div => a / b,
        BinaryFn::Pow => powf(a, b),
        BinaryFn::Max => a.max(b),
        BinaryFn::Min => a.min(b),
    }
}

/// Binary op with broadcasting.
pub fn binary(
    func: BinaryFn,
    a: (&[f32], &TensorInfo),
    b: (&[f32], &TensorInfo),
    out_info: &TensorInfo,
    out: &mut [f32],
) {
    if a.1.shape() == out_info.shape() && b.1.shape() == out_info.shape() {
        for ((o, &x), &y) in out.iter_mut().zip(a.0).zip(b.0) {
            *o = apply(func, x, y);
        }
        return;
    }
    let it = BroadcastIter::new(out_info, [broadcast_strides(a.1, out_info), broadcast_strides(b.1, out_info)]);
    for (o, [ia, ib]) in out.iter_mut().zip(it) {
        *o = apply(func, a.0.get(ia).copied().unwrap_or(0.0), b.0.get(ib).copied().unwrap_or(0.0));
    }
}
