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

#[allow(clippy::needless_range_loop)]
/// Calls `row(out_offset, [input offsets], len, [input inner strides])` for every innermost run of
/// `out` (after merging axes that are contiguous in every operand, so runs are as long as they can
/// be): the outer axes are counted once per run instead of once per element.
pub fn for_each_row<const N: usize>(
    out: &TensorInfo,
    strides: [[usize; MAX_RANK]; N],
    mut row: impl FnMut(usize, [usize; N], usize, [usize; N]),
) {
    // Merge axis i into i+1 when every operand walks them as one.
    let mut dims = [1usize; MAX_RANK];
    let mut st = [[0usize; MAX_RANK]; N];
    let mut r = 0usize;
    for ax in 0..out.rank {
        let d = out.dim(ax);
        let mergeable = r > 0
            && (0..N).all(|k| {
                let (prev, cur) = (st[k][r - 1], strides[k][ax]);
                prev == cur.saturating_mul(d)
            });
        if mergeable {
            dims[r - 1] *= d;
            for k in 0..N {
                st[k][r - 1] = strides[k][ax];
            }
        } else if let Some(slot) = dims.get_mut(r) {
            *slot = d;
            for k in 0..N {
                st[k][r] = strides[k][ax];
            }
            r += 1;
        }
    }
    if r == 0 || dims.iter().take(r).any(|&d| d == 0) {
        if r == 0 {
            row(0, [0; N], 1, [0; N]);
        }
        return;
    }
    let len = dims[r - 1];
    let inner: [usize; N] = core::array::from_fn(|k| st[k][r - 1]);
    let rows: usize = dims.iter().take(r - 1).product();
    let mut counter = [0usize; MAX_RANK];
    let mut offs = [0usize; N];
    for i in 0..rows {
        row(i * len, offs, len, inner);
        for ax in (0..r - 1).rev() {
            counter[ax] += 1;
            for k in 0..N {
                offs[k] = offs[k].wrapping_add(st[k][ax]);
            }
            if counter[ax] < dims[ax] {
                break;
            }
            counter[ax] = 0;
            for k in 0..N {
                offs[k] = offs[k].wrapping_sub(st[k][ax].wrapping_mul(dims[ax]));
            }
        }
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
    match func {
        BinaryFn::Add => binary_with(|x, y| x + y, a, b, out_info, out),
        BinaryFn::Sub => binary_with(|x, y| x - y, a, b, out_info, out),
        BinaryFn::Mul => binary_with(|x, y| x * y, a, b, out_info, out),
        BinaryFn::Div => binary_with(|x, y| x / y, a, b, out_info, out),
        _ => binary_with(|x, y| apply(func, x, y), a, b, out_info, out),
    }
}

/// [`binary`] with the function resolved: rows of the output with each operand contiguous or
/// repeated (stride 1 or 0), in loops that compilers vectorize.
#[inline(always)]
fn binary_with(
    f: impl Fn(f32, f32) -> f32,
    a: (&[f32], &TensorInfo),
    b: (&[f32], &TensorInfo),
    out_info: &TensorInfo,
    out: &mut [f32],
) {
    let strides = [broadcast_strides(a.1, out_info), broadcast_strides(b.1, out_info)];
    for_each_row(out_info, strides, |o, [ia, ib], len, [sa, sb]| {
        let Some(orow) = out.get_mut(o..o + len) else { return };
        match (sa, sb) {
            (1, 1) => {
                let (Some(ar), Some(br)) = (a.0.get(ia..ia + len), b.0.get(ib..ib + len)) else { return };
                for ((o, &x), &y) in orow.iter_mut().zip(ar).zip(br) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let (Some(ar), Some(&y)) = (a.0.get(ia..ia + len), b.0.get(ib)) else { return };
                for (o, &x) in orow.iter_mut().zip(ar) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let (Some(&x), Some(br)) = (a.0.get(ia), b.0.get(ib..ib + len)) else { return };
                for (o, &y) in orow.iter_mut().zip(br) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (i, o) in orow.iter_mut().enumerate() {
                    let x = a.0.get(ia + i * sa).copied().unwrap_or(0.0);
                    *o = f(x, b.0.get(ib + i * sb).copied().unwrap_or(0.0));
                }
            }
        }
    });
}
