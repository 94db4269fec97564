//! Batched matrix product `alpha · op(A) · op(B) + bias`, then a fused activation.

use super::{apply_activation, broadcast_strides, FloatSrc};
use crate::ops::{Params, TensorInfo};

/// `out[m × n] += A[m × k] · B[k × n]` (row-major f32): every output adds `a[i, kk] · b[kk, j]`
/// to its current value for kk = 0, 1, … in order (a multiply, then an add; no fused
/// multiply-add). The order is the specification: SIMD tiers vectorize across `j` and keep it.
/// `accumulate`: start from `out` (convolutions prefill their bias), else from +0.0 (MatMul), which
/// tiers start from in registers instead of storing zeros first.
pub fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], out: &mut [f32], accumulate: bool) {
    if !accumulate {
        out.iter_mut().take(m * n).for_each(|o| *o = 0.0);
    }
    for i in 0..m {
        let Some(orow) = out.get_mut(i * n..(i + 1) * n) else { return };
        for kk in 0..k {
            let av = a.get(i * k + kk).copied().unwrap_or(0.0);
            for (o, &bv) in orow.iter_mut().zip(b.get(kk * n..(kk + 1) * n).unwrap_or(&[])) {
                *o += av * bv;
            }
        }
    }
}

/// `out[i × n + j] = dot_f32(a_i, w_j)` for the `m` rows `a_i` of `a` and the `n` rows `w_j` of
/// `w`, all `k` long (row-major f32): products against transposed weights (MatMul with
/// `trans_b`, the rows of a recurrent op's W and R). Each output is exactly
/// [`super::dot_f32`]'s sum, so tiers may compute many at once but keep its eight lanes.
pub fn dot_gemm(m: usize, k: usize, n: usize, a: &[f32], w: &[f32], out: &mut [f32]) {
    for i in 0..m {
        let ar = a.get(i * k..(i + 1) * k).unwrap_or(&[]);
        for (j, o) in out.get_mut(i * n..(i + 1) * n).unwrap_or(&mut []).iter_mut().enumerate() {
            *o = super::dot_f32(ar, w.get(j * k..(j + 1) * k).unwrap_or(&[]));
        }
    }
}

/// The kernels MatMul calls (from the session's table).
#[derive(Debug, Clone, Copy)]
pub struct MatMulKernels {
    /// Products against transposed f32 rows ([`dot_gemm`]).
    pub dot_gemm: crate::kernels::DotGemmFn,
    /// Plain f32 GEMM ([`sgemm`]).
    pub sgemm: crate::kernels::SgemmFn,
    /// f16 weights to f32.
    pub widen: crate::kernels::WidenFn,
}

/// Runs MatMul with the parameters [`crate::ops::prepare`] derived.
pub fn matmul(
    p: &Params,
    a: &FloatSrc<'_>,
    b: &FloatSrc<'_>,
    bias: Option<(&[f32], &TensorInfo)>,
    out_info: &TensorInfo,
    out: &mut [f32],
    kern: &MatMulKernels,
) {
    let Params::MatMul {
        m,
        k,
        n,
        batch,
        trans_a,
        trans_b,
        alpha,
        act,
        a_batch_strides,
        b_batch_strides,
        batch_dims,
        batch_rank,
    } = *p
    else {
        return;
    };
    // A bias that repeats over the batch (attention's mask: [.., 1, n] or [.., m, n] with every
    // batch axis 1) is added to each batch's block right after its product, while it is in
    // cache; any other broadcast after the last batch. The same add to the same sums either way.
    let per_batch = bias.and_then(|(b, bi)| batch_free_bias(b, bi, m, n));
    for bi in 0..batch {
        // Decompose the batch index into per-axis coordinates to find each operand's offset.
        let (mut a_off, mut b_off, mut rem) = (0usize, 0usize, bi);
        for ax in (0..batch_rank).rev() {
            let d = batch_dims.get(ax).copied().unwrap_or(1).max(1);
            let c = rem % d;
            rem /= d;
            a_off += c * a_batch_strides.get(ax).copied().unwrap_or(0);
            b_off += c * b_batch_strides.get(ax).copied().unwrap_or(0);
        }
        // Plain f32 A against f32 or f16 B: the tier's GEMM (B as is) or products against B's rows
        // (transposed B: a Linear layer's weights), f16 widened a block at a time. The same sums in
        // the same order as the element-wise path below.
        if let (FloatSrc::F32(sa), false) = (a, trans_a) {
            let (Some(ab), Some(ob)) = (sa.get(a_off..a_off + m * k), out.get_mut(bi * m * n..(bi + 1) * m * n)) else {
                return;
            };
            let done = match (b, trans_b) {
                (FloatSrc::F32(sb), false) => {
                    sb.get(b_off..b_off + k * n).map(|bb| (kern.sgemm)(m, k, n, ab, bb, ob, false))
                }
                (FloatSrc::F32(sb), true) => {
                    sb.get(b_off..b_off + n * k).map(|bb| (kern.dot_gemm)(m, k, n, ab, bb, ob))
                }
                (FloatSrc::F16(_), false) => gemm_f16((m, k, n), ab, b, b_off, ob, kern).then_some(()),
                (FloatSrc::F16(_), true) => {
                    dot_gemm_f16((m, k, n), ab, b, b_off, ob, (kern.dot_gemm, kern.widen)).then_some(())
                }
            };
            if done.is_some() {
                match per_batch {
                    Some(b) => scale_add_bias(ob, n, alpha, b),
                    None if alpha != 1.0 => ob.iter_mut().for_each(|o| *o *= alpha),
                    None => {}
                }
                continue;
            }
        }
        for i in 0..m {
            // Row i of op(A): borrowed when A is plain f32, else read element by element.
            let a_slice = match (a, trans_a) {
                (FloatSrc::F32(s), false) => s.get(a_off + i * k..a_off + (i + 1) * k),
                _ => None,
            };
            let a_at = |kk: usize| match a_slice {
                Some(r) => r.get(kk).copied().unwrap_or(0.0),
                None if trans_a => a.get(a_off + kk * m + i),
                None => a.get(a_off + i * k + kk),
            };
            let Some(orow) = out.get_mut((bi * m + i) * n..(bi * m + i + 1) * n) else { return };
            if trans_b {
                for (j, o) in orow.iter_mut().enumerate() {
                    *o = match (a_slice, b) {
                        (Some(ar), FloatSrc::F32(s)) => {
                            super::dot_f32(ar, s.get(b_off + j * k..b_off + (j + 1) * k).unwrap_or(&[]))
                        }
                        (Some(ar), _) => super::dot_src(ar, b, b_off + j * k),
                        (None, _) => (0..k).map(|kk| a_at(kk) * b.get(b_off + j * k + kk)).fold(0.0, |acc, v| acc + v),
                    };
                }
            } else {
                orow.fill(0.0);
                for kk in 0..k {
                    let av = a_at(kk);
                    let base = b_off + kk * n;
                    match b {
                        FloatSrc::F32(s) => {
                            for (o, &bv) in orow.iter_mut().zip(s.get(base..base + n).unwrap_or(&[])) {
                                *o += av * bv;
                            }
                        }
                        FloatSrc::F16(s) => {
                            // Widen the row 64 values at a time (F16C/NEON when the CPU has it).
                            use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
                            let mut buf = [0f32; 64];
                            let row = s.get(base..base + n).unwrap_or(&[]);
                            for (ochunk, bchunk) in orow.chunks_mut(64).zip(row.chunks(64)) {
                                let wide = buf.get_mut(..bchunk.len()).unwrap_or(&mut []);
                                bchunk.reinterpret_cast::<half::f16>().convert_to_f32_slice(wide);
                                for (o, &bv) in ochunk.iter_mut().zip(wide.iter()) {
                                    *o += av * bv;
                                }
                            }
                        }
                    }
                }
            }
            if alpha != 1.0 {
                for o in orow.iter_mut() {
                    *o *= alpha;
                }
            }
        }
        if let (Some(b), Some(ob)) = (per_batch, out.get_mut(bi * m * n..(bi + 1) * m * n)) {
            scale_add_bias(ob, n, 1.0, b);
        }
    }
    if let (Some((bias, binfo)), None) = (bias, per_batch) {
        super::binary::for_each_row(out_info, [broadcast_strides(binfo, out_info)], |o, [ib], len, [s]| {
            let Some(orow) = out.get_mut(o..o + len) else { return };
            if s == 1 {
                for (v, &b) in orow.iter_mut().zip(bias.get(ib..ib + len).unwrap_or(&[])) {
                    *v += b;
                }
            } else {
                for (i, v) in orow.iter_mut().enumerate() {
                    *v += bias.get(ib + i * s).copied().unwrap_or(0.0);
                }
            }
        });
    }
    if act.func != crate::ops::UnaryFn::Identity {
        for o in out.iter_mut() {
            *o = apply_activation(act.func, act.a, act.b, *o);
        }
    }
}

/// A bias whose axes before the last two are all 1 (or absent), as `(values, row stride, column
/// stride)` over an `m × n` block (strides 0 where it broadcasts).
fn batch_free_bias<'b>(b: &'b [f32], info: &TensorInfo, m: usize, n: usize) -> Option<(&'b [f32], usize, usize)> {
    let r = info.rank;
    if info.shape().iter().take(r.saturating_sub(2)).any(|&d| d != 1) {
        return None;
    }
    let cols = if r >= 1 { info.dim(r - 1) } else { 1 };
    let rows = if r >= 2 { info.dim(r - 2) } else { 1 };
    let cs = match cols {
        c if c == n => 1,
        1 => 0,
        _ => return None,
    };
    let rs = match rows {
        x if x == m => cols,
        1 => 0,
        _ => return None,
    };
    (b.len() == rows * cols).then_some((b, rs, cs))
}

/// `block[i × n + j] = block[i × n + j] · alpha + b[i·rs + j·cs]` (no multiply when `alpha` is
/// 1): MatMul's scale and bias in one pass, the same two operations per value as two passes.
fn scale_add_bias(block: &mut [f32], n: usize, alpha: f32, (b, rs, cs): (&[f32], usize, usize)) {
    for (i, row) in block.chunks_exact_mut(n.max(1)).enumerate() {
        let Some(brow) = b.get(i * rs..) else { return };
        match (cs, alpha == 1.0) {
            (1, true) => row.iter_mut().zip(brow).for_each(|(o, &v)| *o += v),
            (1, false) => row.iter_mut().zip(brow).for_each(|(o, &v)| *o = *o * alpha + v),
            (_, unit) => {
                let v = brow.first().copied().unwrap_or(0.0);
                if unit {
                    row.iter_mut().for_each(|o| *o += v);
                } else {
                    row.iter_mut().for_each(|o| *o = *o * alpha + v);
                }
            }
        }
    }
}

/// `out = A · B` with f16 `B` (`k × n` from `b_off`), widened `kc` rows at a time and multiplied
/// with the matching columns of `A` by `sgemm` (which accumulates: the same sequence of adds per
/// output as one pass). `false`, nothing written, when a row of `B` or a column of `A` does not
/// fit the buffers.
fn gemm_f16(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &FloatSrc<'_>,
    b_off: usize,
    out: &mut [f32],
    kern: &MatMulKernels,
) -> bool {
    use super::WIDEN_BUF;
    if n == 0 || m == 0 || n > WIDEN_BUF || m > WIDEN_BUF || b.len() < b_off + k * n || out.len() < m * n {
        return false;
    }
    let kc = (WIDEN_BUF / n).min(WIDEN_BUF / m).clamp(1, k.max(1));
    let (mut bb, mut ab) = ([0f32; WIDEN_BUF], [0f32; WIDEN_BUF]);
    let mut k0 = 0;
    while k0 < k {
        let kn = kc.min(k - k0);
        let (Some(bw), Some(aw)) = (bb.get_mut(..kn * n), ab.get_mut(..m * kn)) else { return true };
        b.widen_into(b_off + k0 * n, bw, kern.widen);
        for (dst, row) in aw.chunks_exact_mut(kn).zip(a.chunks(k.max(1))) {
            if let Some(src) = row.get(k0..k0 + kn) {
                dst.copy_from_slice(src);
            }
        }
        (kern.sgemm)(m, kn, n, aw, bw, out, k0 > 0);
        k0 += kn;
    }
    true
}

/// `out[i × n + j] = dot(a_i, b_j)` with f16 rows `b_j` (`n × k` from `b_off`), widened a block of
/// rows at a time ([`dot_gemm`]'s values). `false`, nothing written, when they do not fit.
pub(crate) fn dot_gemm_f16(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    b: &FloatSrc<'_>,
    b_off: usize,
    out: &mut [f32],
    (dot_gemm, widen): (crate::kernels::DotGemmFn, crate::kernels::WidenFn),
) -> bool {
    use super::WIDEN_BUF;
    if k == 0 || m == 0 || k > WIDEN_BUF || m > WIDEN_BUF || b.len() < b_off + n * k || out.len() < m * n {
        return false;
    }
    let jc = (WIDEN_BUF / k).min(WIDEN_BUF / m).clamp(1, n.max(1));
    let (mut wb, mut tmp) = ([0f32; WIDEN_BUF], [0f32; WIDEN_BUF]);
    let mut j0 = 0;
    while j0 < n {
        let jn = jc.min(n - j0);
        let (Some(w), Some(t)) = (wb.get_mut(..jn * k), tmp.get_mut(..m * jn)) else { return true };
        b.widen_into(b_off + j0 * k, w, widen);
        dot_gemm(m, k, jn, a, w, t);
        for (orow, trow) in out.chunks_exact_mut(n).zip(t.chunks_exact(jn)) {
            if let Some(o) = orow.get_mut(j0..j0 + jn) {
                o.copy_from_slice(trow);
            }
        }
        j0 += jn;
    }
    true
}
