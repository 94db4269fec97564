//! Executing one prepared op: split the arena into the op's views (shared for what it reads,
//! exclusive for what it writes, in the order `prepare` computed), then call its kernel.

use super::prepare::{Place, PreparedOp, Region, MAX_WRITES};
use crate::error::{Error, Result};
use crate::format::{Artifact, DType};
use crate::kernels::generic::{self as k, FloatSrc};
use crate::kernels::KernelTable;
use crate::ops::{Params, QConvKind, TensorInfo};
use zerocopy::FromBytes;

fn f32s(b: &[u8]) -> Result<&[f32]> {
    <[f32]>::ref_from_bytes(b).map_err(|_| Error::BadPlan(rule!("misaligned f32 tensor")))
}
fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32]> {
    <[f32]>::mut_from_bytes(b).map_err(|_| Error::BadPlan(rule!("misaligned f32 tensor")))
}
fn i8s(b: &[u8]) -> Result<&[i8]> {
    <[i8]>::ref_from_bytes(b).map_err(|_| Error::BadPlan(rule!("i8 tensor")))
}
fn i8s_mut(b: &mut [u8]) -> Result<&mut [i8]> {
    <[i8]>::mut_from_bytes(b).map_err(|_| Error::BadPlan(rule!("i8 tensor")))
}
fn i32s(b: &[u8]) -> Result<&[i32]> {
    <[i32]>::ref_from_bytes(b).map_err(|_| Error::BadPlan(rule!("misaligned i32 tensor")))
}
fn requants(b: &[u8]) -> Result<&[k::int8::Requant]> {
    <[k::int8::Requant]>::ref_from_bytes(b).map_err(|_| Error::BadPlan(rule!("misaligned requantization tensor")))
}

fn matrix<'x>(bytes: &'x [u8], info: &TensorInfo, scales: Option<&'x [u8]>, packed: bool) -> Result<k::Matrix<'x>> {
    if info.dtype == DType::I8 {
        let s = scales.ok_or(Error::BadPlan(rule!("int8 matrix without row scales")))?;
        if packed {
            let k = info.dim(info.rank.saturating_sub(1));
            let rows = info.len() / k.max(1);
            let w = k::qgemm::PackedI8::from_bytes(bytes, rows, k)
                .ok_or(Error::BadPlan(rule!("packed recurrent weights")))?;
            return Ok(k::Matrix::Packed { w, scales: f32s(s)? });
        }
        Ok(k::Matrix::Int8 { q: i8s(bytes)?, scales: f32s(s)? })
    } else {
        Ok(k::Matrix::Float(float_src(bytes, info)?))
    }
}

fn float_src<'x>(b: &'x [u8], info: &TensorInfo) -> Result<FloatSrc<'x>> {
    match info.dtype {
        DType::F32 => Ok(FloatSrc::F32(f32s(b)?)),
        DType::F16 => {
            Ok(FloatSrc::F16(<[u16]>::ref_from_bytes(b).map_err(|_| Error::BadPlan(rule!("misaligned f16 tensor")))?))
        }
        _ => Err(Error::BadPlan(rule!("expected a float tensor"))),
    }
}

/// Views two byte regions as slices of the unsigned type of the element size, then runs `$body`:
/// data movement does not care what the bits mean.
macro_rules! by_size {
    ($dt:expr, $x:expr, $out:expr, |$xv:ident, $ov:ident| $body:expr) => {
        match $dt.size() {
            4 => {
                let $xv = <[u32]>::ref_from_bytes($x).map_err(|_| Error::BadPlan(rule!("misaligned tensor")))?;
                let $ov = <[u32]>::mut_from_bytes($out).map_err(|_| Error::BadPlan(rule!("misaligned tensor")))?;
                $body
            }
            2 => {
                let $xv = <[u16]>::ref_from_bytes($x).map_err(|_| Error::BadPlan(rule!("misaligned tensor")))?;
                let $ov = <[u16]>::mut_from_bytes($out).map_err(|_| Error::BadPlan(rule!("misaligned tensor")))?;
                $body
            }
            _ => {
                let $xv: &[u8] = $x;
                let $ov: &mut [u8] = $out;
                $body
            }
        }
    };
}

/// `quantize((x − offset) · scale)` along rows of `offset.len()`: the same f32 operations as the
/// Sub and Mul ops it replaces, then the tier's quantize, through a small stack buffer.
fn affine_quantize(x: &[f32], offset: &[f32], mul: &[f32], scale: f32, zp: i32, out: &mut [i8], kt: &KernelTable) {
    const BUF: usize = 64;
    let mut tmp = [0f32; BUF];
    let row = offset.len().max(1);
    for (xr, yr) in x.chunks(row).zip(out.chunks_mut(row)) {
        for ((xc, yc), (oc, mc)) in xr.chunks(BUF).zip(yr.chunks_mut(BUF)).zip(offset.chunks(BUF).zip(mul.chunks(BUF)))
        {
            let Some(t) = tmp.get_mut(..xc.len()) else { return };
            for (((v, &a), &o), &m) in t.iter_mut().zip(xc).zip(oc).zip(mc) {
                *v = (a - o) * m;
            }
            (kt.quantize.run)(t, scale, zp, yc);
        }
    }
}

/// Runs op `index` with its regions `regs` (inputs, outputs, scratch) over `arena`.
pub(super) fn run_op(
    art: &Artifact<'_>,
    arena: &mut [u8],
    index: u32,
    op: &PreparedOp,
    regs: &[Region],
    kt: &KernelTable,
) -> Result<()> {
    let bad = |rule| Error::BadOp { index, rule };
    let (ni, no) = (op.n_in as usize, op.n_out as usize);
    // Split the arena at the op's writes (sorted by offset at prepare): the pieces between them
    // are shared views that every read falls into.
    let mut gaps: [&[u8]; MAX_WRITES + 1] = [&[]; MAX_WRITES + 1];
    let mut writes: [Option<&mut [u8]>; MAX_WRITES] = [const { None }; MAX_WRITES];
    let mut rest: &mut [u8] = arena;
    let mut cursor = 0usize;
    let nw = op.n_writes as usize;
    for (g, &j) in op.writes.get(..nw).unwrap_or(&[]).iter().enumerate() {
        let r = regs.get(j as usize).ok_or(bad(rule!("region")))?;
        let skip = r.offset.checked_sub(cursor).ok_or(bad(rule!("op regions overlap")))?;
        if rest.len() < skip.saturating_add(r.len) {
            return Err(bad(rule!("region outside the arena")));
        }
        let (gap, tail) = core::mem::take(&mut rest).split_at_mut(skip);
        let (w, tail) = tail.split_at_mut(r.len);
        if let Some(s) = gaps.get_mut(g) {
            *s = gap;
        }
        if let Some(s) = (j as usize).checked_sub(ni).and_then(|o| writes.get_mut(o)) {
            *s = Some(w);
        }
        rest = tail;
        cursor = r.offset + r.len;
    }
    if let Some(s) = gaps.get_mut(nw) {
        *s = rest;
    }
    let info = |r: &Region| crate::model::info_at(&art.tensors, r.tensor as usize);
    let input = |j: usize| -> Option<(&[u8], TensorInfo)> {
        let r = regs.get(j).filter(|_| j < ni)?;
        let bytes = match r.place {
            Place::Absent => return None,
            Place::Weight => art.weights.get(r.offset..r.offset + r.len)?,
            Place::Arena => gaps.get(r.gap as usize)?.get(r.gap_offset..r.gap_offset + r.len)?,
        };
        Some((bytes, info(r)?))
    };
    let need_in = |j: usize| input(j).ok_or(bad(rule!("missing input")));
    let mut take_out = |j: usize| -> Option<(&mut [u8], TensorInfo)> {
        let r = regs.get(ni + j).filter(|_| j < no)?;
        Some((writes.get_mut(j)?.take()?, info(r)?))
    };
    let params = op.params;
    let scratch_region = no;
    match params {
        #[cfg(feature = "op-gather")]
        Params::Gather { outer, axis_len, inner, .. } => {
            let (data, dinfo) = need_in(0)?;
            let (idx, _) = need_in(1)?;
            let idx = <[i32]>::ref_from_bytes(idx).map_err(|_| bad(rule!("misaligned indices")))?;
            let (out, oinfo) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let res = match (dinfo.dtype, oinfo.dtype) {
                (DType::I8, DType::F32) => {
                    k::int8::gather_dequant(i8s(data)?, f32s(need_in(2)?.0)?, idx, f32s_mut(out)?)
                }
                (DType::F16, DType::F32) | (DType::F32, DType::F32) => {
                    k::gather(&float_src(data, &dinfo)?, outer, axis_len, inner, idx, f32s_mut(out)?)
                }
                (DType::I32, DType::I32) => k::gather_raw(
                    <[u32]>::ref_from_bytes(data).map_err(|_| bad(rule!("align")))?,
                    outer,
                    axis_len,
                    inner,
                    idx,
                    <[u32]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?,
                ),
                (DType::F16, DType::F16) => k::gather_raw(
                    <[u16]>::ref_from_bytes(data).map_err(|_| bad(rule!("align")))?,
                    outer,
                    axis_len,
                    inner,
                    idx,
                    <[u16]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?,
                ),
                _ => k::gather_raw(data, outer, axis_len, inner, idx, out),
            };
            res.map_err(|_| bad(rule!("Gather index out of range")))?;
        }
        #[cfg(feature = "op-matmul")]
        Params::MatMul { .. } => {
            let (a, ai) = need_in(0)?;
            let (b, bi) = need_in(1)?;
            let bias = match input(2) {
                Some((bb, binfo)) => Some((f32s(bb)?, binfo)),
                None => None,
            };
            let (out, oinfo) = take_out(0).ok_or(bad(rule!("missing output")))?;
            k::matmul(
                &params,
                &float_src(a, &ai)?,
                &float_src(b, &bi)?,
                bias.as_ref().map(|(v, i)| (*v, i)),
                &oinfo,
                f32s_mut(out)?,
                &k::MatMulKernels { dot_gemm: kt.dot_gemm.run, sgemm: kt.sgemm.run, widen: kt.widen_f16.run },
            );
        }
        #[cfg(feature = "op-conv")]
        Params::Conv(p) => {
            let (x, _) = need_in(0)?;
            let (w, wi) = need_in(1)?;
            let bias = match input(2) {
                Some((bb, _)) => Some(f32s(bb)?),
                None => None,
            };
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            (kt.conv_f32.run)(&p, f32s(x)?, &float_src(w, &wi)?, bias, f32s_mut(out)?);
        }
        #[cfg(feature = "op-unary")]
        Params::Unary { func, a, b } => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            (kt.unary.run)(func, a, b, f32s(x)?, f32s_mut(out)?);
        }
        #[cfg(feature = "op-binary")]
        Params::Binary { func } => {
            let (a, ai) = need_in(0)?;
            let (b, bi) = need_in(1)?;
            let (out, oinfo) = take_out(0).ok_or(bad(rule!("missing output")))?;
            k::binary(func, (f32s(a)?, &ai), (f32s(b)?, &bi), &oinfo, f32s_mut(out)?);
        }
        #[cfg(feature = "op-softmax")]
        Params::Softmax { outer, axis_len, inner, log } => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            if inner == 1 {
                (kt.softmax_rows.run)(outer, axis_len, log, f32s(x)?, f32s_mut(out)?);
            } else {
                k::softmax(outer, axis_len, inner, log, f32s(x)?, f32s_mut(out)?);
            }
        }
        #[cfg(feature = "op-layernorm")]
        Params::LayerNorm { outer, inner, eps } => {
            let (x, _) = need_in(0)?;
            let (s, _) = need_in(1)?;
            let bias = match input(2) {
                Some((bb, _)) => Some(f32s(bb)?),
                None => None,
            };
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            (kt.layer_norm.run)(outer, inner, eps, f32s(x)?, f32s(s)?, bias, f32s_mut(out)?);
        }
        #[cfg(feature = "op-reduce")]
        Params::Reduce { func, mask } => {
            let (x, xi) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            k::reduce(func, mask, f32s(x)?, &xi, f32s_mut(out)?);
        }
        #[cfg(feature = "op-pool")]
        Params::Pool(p) => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            k::pool(&p, f32s(x)?, f32s_mut(out)?);
        }
        Params::Copy => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            out.copy_from_slice(x.get(..out.len()).ok_or(bad(rule!("size")))?);
        }
        #[cfg(feature = "op-transpose")]
        Params::Transpose { perm } => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            if xi.dtype.size() == 4 {
                let x = <[u32]>::ref_from_bytes(x).map_err(|_| bad(rule!("misaligned tensor")))?;
                let o = <[u32]>::mut_from_bytes(out).map_err(|_| bad(rule!("misaligned tensor")))?;
                (kt.transpose32.run)(&perm, x, &xi, &oi, o);
            } else {
                by_size!(xi.dtype, x, out, |x, o| k::transpose(&perm, x, &xi, &oi, o));
            }
        }
        #[cfg(feature = "op-slice")]
        Params::Slice { starts, steps } => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            by_size!(xi.dtype, x, out, |x, o| k::slice(&starts, &steps, x, &xi, &oi, o));
        }
        #[cfg(feature = "op-compare")]
        Params::Compare { func } => {
            let (a, ai) = need_in(0)?;
            let (b, bi) = need_in(1)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            if ai.dtype == DType::F32 {
                k::compare(func, (f32s(a)?, &ai), (f32s(b)?, &bi), &oi, out);
            } else {
                k::compare(func, (i32s(a)?, &ai), (i32s(b)?, &bi), &oi, out);
            }
        }
        #[cfg(feature = "op-logic")]
        Params::Logic { func } => {
            let (a, ai) = need_in(0)?;
            let b = if ni > 1 { Some(need_in(1)?) } else { None };
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            k::logic(func, (a, &ai), b.as_ref().map(|(b, bi)| (*b, bi)), &oi, out);
        }
        #[cfg(feature = "op-argreduce")]
        Params::ArgReduce { outer, len, inner, min, select_last } => {
            let (x, xi) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let out = <[i32]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?;
            if xi.dtype == DType::F32 {
                k::arg_reduce(f32s(x)?, (outer, len, inner), min, select_last, out);
            } else {
                k::arg_reduce(i32s(x)?, (outer, len, inner), min, select_last, out);
            }
        }
        #[cfg(feature = "op-pad")]
        Params::Pad { mode, value, begin } => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            // `value` holds the constant's bits in the element type (FORMAT.md, op 26).
            match xi.dtype.size() {
                4 => {
                    let x = <[u32]>::ref_from_bytes(x).map_err(|_| bad(rule!("align")))?;
                    let o = <[u32]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?;
                    k::pad(mode, value, &begin, x, &xi, &oi, o);
                }
                _ => k::pad(mode, value as u8, &begin, x, &xi, &oi, out),
            }
        }
        #[cfg(feature = "op-expand")]
        Params::Expand => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            by_size!(xi.dtype, x, out, |x, o| k::expand(x, &xi, &oi, o));
        }
        #[cfg(feature = "op-concat")]
        Params::Concat { axis } => {
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            // Concatenation is a sequence of contiguous byte copies: no typed view needed.
            let outer: usize = oi.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner_bytes: usize =
                oi.shape().get(axis + 1..).unwrap_or(&[]).iter().product::<usize>() * oi.dtype.size();
            let mut o = 0usize;
            for i in 0..outer {
                for j in 0..ni {
                    let (x, xi) = need_in(j)?;
                    let chunk = xi.dim(axis) * inner_bytes;
                    let src = x.get(i * chunk..(i + 1) * chunk).ok_or(bad(rule!("size")))?;
                    out.get_mut(o..o + chunk).ok_or(bad(rule!("size")))?.copy_from_slice(src);
                    o += chunk;
                }
            }
        }
        #[cfg(feature = "op-split")]
        Params::Split { axis } => {
            let (x, xi) = need_in(0)?;
            let outer: usize = xi.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner_bytes: usize =
                xi.shape().get(axis + 1..).unwrap_or(&[]).iter().product::<usize>() * xi.dtype.size();
            // One output at a time (no table of all of them on the stack: firmware stacks are
            // small): output j's run of every outer index starts after the runs of outputs < j.
            let row = xi.dim(axis) * inner_bytes;
            let mut before = 0usize;
            for j in 0..no {
                let Some((dst, oi)) = take_out(j) else { continue };
                let chunk = oi.dim(axis) * inner_bytes;
                for i in 0..outer {
                    let at = i * row + before;
                    let s = x.get(at..at + chunk).ok_or(bad(rule!("size")))?;
                    dst.get_mut(i * chunk..(i + 1) * chunk).ok_or(bad(rule!("size")))?.copy_from_slice(s);
                }
                before += chunk;
            }
        }
        #[cfg(feature = "op-where")]
        Params::Where => {
            let (c, ci) = need_in(0)?;
            let (x, xi) = need_in(1)?;
            let (y, yi) = need_in(2)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let x = <[u32]>::ref_from_bytes(x).map_err(|_| bad(rule!("align")))?;
            let y = <[u32]>::ref_from_bytes(y).map_err(|_| bad(rule!("align")))?;
            k::where_select(
                (c, &ci),
                (x, &xi),
                (y, &yi),
                &oi,
                <[u32]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?,
            );
        }
        #[cfg(feature = "op-cast")]
        Params::Cast => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            match (xi.dtype, oi.dtype) {
                (DType::F32, DType::F32) | (DType::I32, DType::I32) | (DType::U8, DType::U8) => {
                    out.copy_from_slice(x.get(..out.len()).ok_or(bad(rule!("size")))?)
                }
                (DType::F32, DType::I32) => {
                    k::cast(f32s(x)?, <[i32]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?)
                }
                (DType::F32, DType::U8) => k::cast(f32s(x)?, out),
                (DType::I32, DType::F32) => {
                    k::cast(<[i32]>::ref_from_bytes(x).map_err(|_| bad(rule!("align")))?, f32s_mut(out)?)
                }
                (DType::I32, DType::U8) => k::cast(<[i32]>::ref_from_bytes(x).map_err(|_| bad(rule!("align")))?, out),
                (DType::U8, DType::F32) => k::cast(x, f32s_mut(out)?),
                (DType::U8, DType::I32) => k::cast(x, <[i32]>::mut_from_bytes(out).map_err(|_| bad(rule!("align")))?),
                _ => return Err(bad(rule!("unsupported cast"))),
            }
        }
        #[cfg(any(feature = "op-lstm", feature = "op-gru"))]
        Params::Rnn(p) => {
            let (x, xi) = need_in(0)?;
            let (w, wi) = need_in(1)?;
            let (r, ri) = need_in(2)?;
            let opt = |j: usize| -> Result<Option<&[f32]>> {
                match input(j) {
                    Some((b, _)) => Ok(Some(f32s(b)?)),
                    None => Ok(None),
                }
            };
            let first_scale = if p.lstm { 7 } else { 5 };
            let ws = input(first_scale).map(|v| v.0);
            let rs = input(first_scale + 1).map(|v| v.0);
            let inputs = k::RnnInputs {
                x: if xi.dtype == DType::I8 { k::RnnX::I8(i8s(x)?) } else { k::RnnX::F32(f32s(x)?) },
                w: matrix(w, &wi, ws, p.packed)?,
                r: matrix(r, &ri, rs, p.packed)?,
                b: opt(3)?,
                h0: opt(4)?,
                c0: if p.lstm { opt(5)? } else { None },
                p: if p.lstm { opt(6)? } else { None },
            };
            let mut o = |j: usize| -> Result<Option<&mut [f32]>> {
                match take_out(j) {
                    Some((b, _)) => Ok(Some(f32s_mut(b)?)),
                    None => Ok(None),
                }
            };
            let mut outputs = k::RnnOutputs { y: o(0)?, y_h: o(1)?, y_c: if p.lstm { o(2)? } else { None } };
            let scratch = writes.get_mut(scratch_region).and_then(|w| w.take()).ok_or(bad(rule!("missing scratch")))?;
            let split = (p.scratch_f32_len() * 4).min(scratch.len());
            let (fs, rest) = scratch.split_at_mut(split);
            let qlen = (p.scratch_i8_len().div_ceil(4) * 4).min(rest.len());
            let (qs, xp) = rest.split_at_mut(qlen);
            let fns = k::RnnKernels {
                dot_gemm: kt.dot_gemm.run,
                widen: kt.widen_f16.run,
                qgemm_i32: kt.qgemm_i32.run,
                quantize: kt.quantize.run,
                cells: kt.rnn_cells.run,
            };
            let xproj = if p.xproj {
                let rows = p.seq * p.batch;
                let (acc, xq) = xp.split_at_mut((rows * p.dirs * p.gates() * p.hidden * 4).min(xp.len()));
                let xq = xq.get_mut(..rows * p.input).ok_or(bad(rule!("scratch")))?;
                Some((f32s_mut(acc)?, i8s_mut(xq)?))
            } else {
                None
            };
            k::rnn(&p, &inputs, &mut outputs, f32s_mut(fs)?, i8s_mut(qs)?, xproj, &fns);
        }
        #[cfg(feature = "op-quantize")]
        Params::Quantize => {
            let (x, _) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let (x, out, scale, zp) = (f32s(x)?, i8s_mut(out)?, oi.quant.scale(), oi.quant.zero_point);
            match (input(1), input(2)) {
                (Some((off, _)), Some((sc, _))) => affine_quantize(x, f32s(off)?, f32s(sc)?, scale, zp, out, kt),
                _ => (kt.quantize.run)(x, scale, zp, out),
            }
        }
        #[cfg(feature = "op-dequantize")]
        Params::Dequantize => {
            let (x, xi) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            (kt.dequantize.run)(i8s(x)?, xi.quant.scale(), xi.quant.zero_point, f32s_mut(out)?);
        }
        #[cfg(feature = "op-qmatmul")]
        Params::QMatMul { k: kk, n, lo, hi, packed: true } => {
            let (x, xi) = need_in(0)?;
            let (w, _) = need_in(1)?;
            let (b, _) = need_in(2)?;
            let (rq, _) = need_in(3)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let w = k::qgemm::PackedI8::from_bytes(w, n, kk).ok_or(bad(rule!("packed weights")))?;
            let q = k::qgemm::QGemm {
                w,
                bias: i32s(b)?,
                requant: requants(rq)?,
                za: xi.quant.zero_point,
                zy: oi.quant.zero_point,
                lo,
                hi,
            };
            let x = i8s(x)?;
            if !(kt.qgemm.run)(&q, x, x.len() / kk.max(1), i8s_mut(out)?) {
                return Err(bad(rule!("int8 product: sizes")));
            }
        }
        #[cfg(feature = "op-dynqmatmul")]
        Params::DynQMatMul { k: kk, n, act, residual } => {
            let (x, _) = need_in(0)?;
            let (w, _) = need_in(1)?;
            let (ws, _) = need_in(2)?;
            let bias = match input(3) {
                Some((b, _)) => Some(f32s(b)?),
                None => None,
            };
            let residual = match (residual, input(4)) {
                (true, Some((r, _))) => Some(f32s(r)?),
                (true, None) => return Err(bad(rule!("missing input"))),
                (false, _) => None,
            };
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let scratch = writes.get_mut(scratch_region).and_then(|w| w.take()).ok_or(bad(rule!("missing scratch")))?;
            let x = f32s(x)?;
            let rows = x.len() / kk.max(1);
            let (scales, xq) = scratch.split_at_mut((rows * 4).min(scratch.len()));
            let w = k::qgemm::PackedI8::from_bytes(w, n, kk).ok_or(bad(rule!("packed weights")))?;
            let layer = k::dynq::DynQLayer { w, w_scale: f32s(ws)?, bias, act, residual };
            if !(kt.dynq.run)(&layer, x, i8s_mut(xq)?, f32s_mut(scales)?, f32s_mut(out)?) {
                return Err(bad(rule!("int8 product: sizes")));
            }
        }
        #[cfg(feature = "op-qconv")]
        Params::QConv { geom, lo, hi, kind: kind @ (QConvKind::Packed | QConvKind::Depthwise) } => {
            let (x, xi) = need_in(0)?;
            let (w, wi) = need_in(1)?;
            let (b, _) = need_in(2)?;
            let (rq, _) = need_in(3)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let q = k::qconv::QConv {
                p: geom,
                bias: i32s(b)?,
                requant: requants(rq)?,
                zx: xi.quant.zero_point,
                zy: oi.quant.zero_point,
                lo,
                hi,
            };
            let (x, out) = (i8s(x)?, i8s_mut(out)?);
            let ok = if kind == QConvKind::Depthwise {
                (kt.qconv_dw.run)(&q, i8s(w)?, x, out)
            } else {
                let w = k::qgemm::PackedI8::from_bytes(w, wi.dim(0), q.taps()).ok_or(bad(rule!("packed weights")))?;
                (kt.qconv_packed.run)(&q, &w, x, out)
            };
            if !ok {
                return Err(bad(rule!("int8 convolution: sizes")));
            }
        }
        #[cfg(feature = "op-qlut")]
        Params::QLut => {
            let (x, _) = need_in(0)?;
            let (table, _) = need_in(1)?;
            let (out, _) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let table: &[i8; 256] = i8s(table)?.try_into().map_err(|_| bad(rule!("QLut: table")))?;
            (kt.lut.run)(table, i8s(x)?, i8s_mut(out)?);
        }
        #[cfg(feature = "op-qmean")]
        Params::QMean { mask, .. } => {
            let (x, xi) = need_in(0)?;
            let (rq, _) = need_in(1)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let r = *requants(rq)?.first().ok_or(bad(rule!("requantization")))?;
            if !(kt.qmean.run)(xi.shape(), mask, i8s(x)?, xi.quant.zero_point, r, oi.quant.zero_point, i8s_mut(out)?) {
                return Err(bad(rule!("QMean: sizes")));
            }
        }
        #[cfg(all(feature = "int8-row-major", any(feature = "op-qmatmul", feature = "op-qconv")))]
        Params::QMatMul { lo, hi, .. } | Params::QConv { lo, hi, .. } => {
            let (x, xi) = need_in(0)?;
            let (w, _) = need_in(1)?;
            let (b, _) = need_in(2)?;
            let (rq, _) = need_in(3)?;
            let (out, oi) = take_out(0).ok_or(bad(rule!("missing output")))?;
            let q = k::int8::Int8Product {
                w: i8s(w)?,
                bias: i32s(b)?,
                requant: requants(rq)?,
                zy: oi.quant.zero_point,
                lo,
                hi,
            };
            let (x, zx, out) = (i8s(x)?, xi.quant.zero_point, i8s_mut(out)?);
            let ok = match params {
                Params::QMatMul { k: kk, .. } => k::int8::matmul_i8(x, zx, kk, &q, out),
                Params::QConv { geom, .. } => k::int8::conv_i8(&geom, x, zx, &q, out),
                _ => false,
            };
            if !ok {
                return Err(bad(rule!("int8 product: bad requantization or sizes")));
            }
        }
        // Ops whose feature is off (the loader refuses them first).
        #[allow(unreachable_patterns)]
        _ => return Err(bad(rule!("op not built into this runtime"))),
    }
    Ok(())
}
