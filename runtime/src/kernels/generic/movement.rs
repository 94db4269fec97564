//! Data movement: transpose, concat, split, slice, expand, where and cast. Generic over the
//! element type so one kernel serves f32, i32, f16 and u8 tensors.

use super::{broadcast_strides, BroadcastIter};
use crate::format::MAX_RANK;
use crate::ops::{PadMode, TensorInfo};

fn row_major_strides(info: &TensorInfo) -> [usize; MAX_RANK] {
    let mut s = [0usize; MAX_RANK];
    let mut acc = 1usize;
    for ax in (0..info.rank).rev() {
        if let Some(slot) = s.get_mut(ax) {
            *slot = acc;
        }
        acc *= info.dim(ax);
    }
    s
}

/// `out[i0..in] = x[i_perm^-1...]`: output axis `i` is input axis `perm[i]`.
pub fn transpose<T: Copy>(
    perm: &[usize; MAX_RANK],
    x: &[T],
    in_info: &TensorInfo,
    out_info: &TensorInfo,
    out: &mut [T],
) {
    let in_strides = row_major_strides(in_info);
    let mut strides = [0usize; MAX_RANK];
    for i in 0..out_info.rank {
        if let (Some(s), Some(&p)) = (strides.get_mut(i), perm.get(i)) {
            *s = in_strides.get(p).copied().unwrap_or(0);
        }
    }
    super::binary::for_each_row(out_info, [strides], |o, [ix], len, [s]| {
        let Some(orow) = out.get_mut(o..o + len) else { return };
        if s == 1 {
            if let Some(src) = x.get(ix..ix + len) {
                copy_run(orow, src);
            }
            return;
        }
        for (i, v) in orow.iter_mut().enumerate() {
            if let Some(&src) = x.get(ix + i * s) {
                *v = src;
            }
        }
    });
}

/// A transpose seen as a batch of 2-D transposes of strided planes: output row `j` of a plane
/// (input axis `perm[rank−1]`, `rows` long, stride `x_row` in the input) is column `j` of the
/// input's plane (the input's last axis, `cols` long, contiguous; stride `out_row` in the
/// output). `outer` lists the other output axes as `(dim, input stride, output stride)`.
#[derive(Debug, Clone, Copy)]
pub struct Plane {
    /// Length of the output's last axis.
    pub rows: usize,
    /// Length of the input's last axis.
    pub cols: usize,
    /// Input stride of the output's last axis.
    pub x_row: usize,
    /// Output stride of the input's last axis.
    pub out_row: usize,
    /// The other axes: `(dim, input stride, output stride)`, `n_outer` of them.
    pub outer: [(usize, usize, usize); MAX_RANK],
    /// How many entries of `outer` hold axes.
    pub n_outer: usize,
}

/// The [`Plane`] view of a transpose that moves the input's last axis away from the end (where
/// the generic kernel gathers one element at a time), when the shapes agree with `perm`; `None`
/// when the last axis stays last (whole runs are copied) or the shapes do not agree.
pub fn transpose_plane(perm: &[usize; MAX_RANK], in_info: &TensorInfo, out_info: &TensorInfo) -> Option<Plane> {
    let r = in_info.rank;
    if r < 2
        || out_info.rank != r
        || (0..r).any(|i| perm.get(i).is_none_or(|&a| a >= r || out_info.dim(i) != in_info.dim(a)))
    {
        return None;
    }
    let q = *perm.get(r - 1)?;
    let p = (0..r).find(|&i| perm.get(i) == Some(&(r - 1)))?;
    if q == r - 1 {
        return None;
    }
    let (xs, os) = (row_major_strides(in_info), row_major_strides(out_info));
    let mut plane = Plane {
        rows: in_info.dim(q),
        cols: in_info.dim(r - 1),
        x_row: *xs.get(q)?,
        out_row: *os.get(p)?,
        outer: [(1, 0, 0); MAX_RANK],
        n_outer: 0,
    };
    for i in (0..r).filter(|&i| i != p && i != r - 1) {
        let slot = plane.outer.get_mut(plane.n_outer)?;
        *slot = (out_info.dim(i), *xs.get(*perm.get(i)?)?, *os.get(i)?);
        plane.n_outer += 1;
    }
    Some(plane)
}

/// A transpose that keeps the last axis last, as runs: each output row (`cols` values) is a
/// contiguous run of the input; `outer` lists the other output axes as `(dim, input stride,
/// output stride)` (`rows`, `x_row` and `out_row` are 1). `None` when the last axis moves or the
/// shapes do not agree with `perm`.
pub fn transpose_runs(perm: &[usize; MAX_RANK], in_info: &TensorInfo, out_info: &TensorInfo) -> Option<Plane> {
    let r = in_info.rank;
    if r == 0
        || out_info.rank != r
        || (0..r).any(|i| perm.get(i).is_none_or(|&a| a >= r || out_info.dim(i) != in_info.dim(a)))
    {
        return None;
    }
    if *perm.get(r - 1)? != r - 1 {
        return None;
    }
    let (xs, os) = (row_major_strides(in_info), row_major_strides(out_info));
    let mut runs =
        Plane { rows: 1, cols: in_info.dim(r - 1), x_row: 1, out_row: 1, outer: [(1, 0, 0); MAX_RANK], n_outer: 0 };
    for i in 0..r - 1 {
        let slot = runs.outer.get_mut(runs.n_outer)?;
        *slot = (out_info.dim(i), *xs.get(*perm.get(i)?)?, *os.get(i)?);
        runs.n_outer += 1;
    }
    Some(runs)
}

/// When `perm` swaps the last two axes of `in_info` and keeps the others (a batch of matrix
/// transposes: an attention head's keys): `(batch, rows, cols)` of the input's matrices.
pub fn swapped_last_two(perm: &[usize; MAX_RANK], in_info: &TensorInfo) -> Option<(usize, usize, usize)> {
    let r = in_info.rank;
    if r < 2 || (0..r - 2).any(|i| perm.get(i) != Some(&i)) || perm.get(r - 2..r) != Some(&[r - 1, r - 2][..]) {
        return None;
    }
    let batch = in_info.shape().get(..r - 2)?.iter().product();
    Some((batch, in_info.dim(r - 2), in_info.dim(r - 1)))
}

/// `dst.copy_from_slice(src)` for the short runs of a transpose (an attention head's 32 values):
/// fixed-size chunks the compiler copies inline, where a call to `memcpy` per run cost more than
/// the copy.
#[inline]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    const CHUNK: usize = 16;
    if dst.len() > 4 * CHUNK {
        return dst.copy_from_slice(src);
    }
    let mut d = dst.chunks_exact_mut(CHUNK);
    let mut s = src.chunks_exact(CHUNK);
    for (dc, sc) in (&mut d).zip(&mut s) {
        if let (Ok(dc), Ok(sc)) = (<&mut [T; CHUNK]>::try_from(dc), <&[T; CHUNK]>::try_from(sc)) {
            *dc = *sc;
        }
    }
    for (o, &v) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *o = v;
    }
}

/// Concatenates along `axis`.
pub fn concat<T: Copy>(axis: usize, inputs: &[(&[T], TensorInfo)], out_info: &TensorInfo, out: &mut [T]) {
    let outer: usize = out_info.shape().get(..axis).unwrap_or(&[]).iter().product();
    let inner: usize = out_info.shape().get(axis + 1..).unwrap_or(&[]).iter().product();
    let mut o = 0usize;
    for i in 0..outer {
        for (x, info) in inputs {
            let chunk = info.dim(axis) * inner;
            if let (Some(dst), Some(src)) = (out.get_mut(o..o + chunk), x.get(i * chunk..(i + 1) * chunk)) {
                dst.copy_from_slice(src);
            }
            o += chunk;
        }
    }
}

/// Splits along `axis` into the outputs, in order.
pub fn split<T: Copy>(axis: usize, x: &[T], in_info: &TensorInfo, outputs: &mut [(&mut [T], TensorInfo)]) {
    let outer: usize = in_info.shape().get(..axis).unwrap_or(&[]).iter().product();
    let inner: usize = in_info.shape().get(axis + 1..).unwrap_or(&[]).iter().product();
    let mut src = 0usize;
    for i in 0..outer {
        for (dst, info) in outputs.iter_mut() {
            let chunk = info.dim(axis) * inner;
            if let (Some(d), Some(s)) = (dst.get_mut(i * chunk..(i + 1) * chunk), x.get(src..src + chunk)) {
                d.copy_from_slice(s);
            }
            src += chunk;
        }
    }
}

/// Strided slice: `out[j] = x[start + j·step]` on every axis.
pub fn slice<T: Copy>(
    starts: &[usize; MAX_RANK],
    steps: &[isize; MAX_RANK],
    x: &[T],
    in_info: &TensorInfo,
    out_info: &TensorInfo,
    out: &mut [T],
) {
    let in_strides = row_major_strides(in_info);
    let mut base = 0usize;
    let mut strides = [0usize; MAX_RANK];
    for ax in 0..in_info.rank {
        let s = in_strides.get(ax).copied().unwrap_or(0);
        base += starts.get(ax).copied().unwrap_or(0) * s;
        if let Some(slot) = strides.get_mut(ax) {
            // Negative steps wrap; the iterator's wrapping adds bring offsets back in range.
            *slot = (steps.get(ax).copied().unwrap_or(1) * s as isize) as usize;
        }
    }
    for (o, [ix]) in out.iter_mut().zip(BroadcastIter::new(out_info, [strides])) {
        if let Some(&v) = x.get(base.wrapping_add(ix)) {
            *o = v;
        }
    }
}

/// Pads `x` to the output's shape: `begin[axis]` elements before it on each axis, the rest after.
/// Output elements outside the input take `value` (constant mode), the mirrored element (reflect,
/// the edge not repeated) or the nearest edge element (edge). The shape rule in `ops::prepare`
/// guarantees reflect pads are smaller than their axis and edge axes are not empty.
pub fn pad<T: Copy>(
    mode: PadMode,
    value: T,
    begin: &[usize; MAX_RANK],
    x: &[T],
    in_info: &TensorInfo,
    out_info: &TensorInfo,
    out: &mut [T],
) {
    let rank = out_info.rank;
    let in_strides = row_major_strides(in_info);
    let mut at = [0usize; MAX_RANK];
    for o in out.iter_mut() {
        let mut src = Some(0usize);
        for ax in 0..rank {
            let (c, b, d) = (at.get(ax).copied().unwrap_or(0), begin.get(ax).copied().unwrap_or(0), in_info.dim(ax));
            let i = c as isize - b as isize;
            let i = match mode {
                _ if i >= 0 && (i as usize) < d => Some(i as usize),
                PadMode::Constant => None,
                PadMode::Reflect if i < 0 => Some(i.unsigned_abs()),
                PadMode::Reflect => Some((2 * d).saturating_sub(2).saturating_sub(i as usize)),
                PadMode::Edge if i < 0 => Some(0),
                PadMode::Edge => Some(d.saturating_sub(1)),
            };
            src = match (src, i) {
                (Some(s), Some(i)) => Some(s + i * in_strides.get(ax).copied().unwrap_or(0)),
                _ => None,
            };
        }
        *o = src.and_then(|s| x.get(s).copied()).unwrap_or(value);
        // Next output coordinate (row-major).
        for ax in (0..rank).rev() {
            if let Some(a) = at.get_mut(ax) {
                *a += 1;
                if *a < out_info.dim(ax) {
                    break;
                }
                *a = 0;
            }
        }
    }
}

/// Broadcasts `x` to the output shape.
pub fn expand<T: Copy>(x: &[T], in_info: &TensorInfo, out_info: &TensorInfo, out: &mut [T]) {
    for (o, [ix]) in out.iter_mut().zip(BroadcastIter::new(out_info, [broadcast_strides(in_info, out_info)])) {
        if let Some(&v) = x.get(ix) {
            *o = v;
        }
    }
}

/// `out = cond ? x : y` with broadcasting.
pub fn where_select<T: Copy>(
    cond: (&[u8], &TensorInfo),
    x: (&[T], &TensorInfo),
    y: (&[T], &TensorInfo),
    out_info: &TensorInfo,
    out: &mut [T],
) {
    let strides =
        [broadcast_strides(cond.1, out_info), broadcast_strides(x.1, out_info), broadcast_strides(y.1, out_info)];
    for (o, [ic, ix, iy]) in out.iter_mut().zip(BroadcastIter::new(out_info, strides)) {
        let pick = if cond.0.get(ic).copied().unwrap_or(0) != 0 { x.0.get(ix) } else { y.0.get(iy) };
        if let Some(&v) = pick {
            *o = v;
        }
    }
}

/// A value that can be cast between f32, i32 and u8 with ONNX semantics (float to integer
/// truncates toward zero and saturates; NaN becomes 0).
pub trait CastElem: Copy {
    /// To f64 (exact for all three types).
    fn to_f64(self) -> f64;
    /// From f64, truncating and saturating.
    fn from_f64(v: f64) -> Self;
}

impl CastElem for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl CastElem for i32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as i32
    }
}
impl CastElem for u8 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as u8
    }
}

/// Element type conversion.
pub fn cast<A: CastElem, B: CastElem>(x: &[A], out: &mut [B]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = B::from_f64(v.to_f64());
    }
}
