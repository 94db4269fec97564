//! LSTM and GRU with ONNX semantics: gate orders `i o f c` (LSTM) and `z r h` (GRU), forward,
//! reverse or bidirectional, optional initial states, peepholes, clip and `linear_before_reset`.

use super::activation::sigmoid;
use super::math::tanh as tanhf;
use super::qgemm::PackedI8;
use super::FloatSrc;
use crate::ops::{RnnParams, RnnQuant};
use zerocopy::{FromBytes, IntoBytes};

/// The sequence a recurrent op reads: f32, or int8 already on the op's x grid.
#[derive(Debug, Clone, Copy)]
pub enum RnnX<'a> {
    /// f32 values.
    F32(&'a [f32]),
    /// int8 values quantized with the op's `x_scale` and `x_zp` (int8 matrices only).
    I8(&'a [i8]),
}

/// Inputs of one recurrent op (absent optional inputs are `None`).
pub struct RnnInputs<'a> {
    /// X: `[seq, batch, input]` (layout 0) or `[batch, seq, input]` (layout 1).
    pub x: RnnX<'a>,
    /// W: `[dirs, gates·hidden, input]`.
    pub w: Matrix<'a>,
    /// R: `[dirs, gates·hidden, hidden]`.
    pub r: Matrix<'a>,
    /// B: `[dirs, 2·gates·hidden]` (Wb then Rb).
    pub b: Option<&'a [f32]>,
    /// initial_h, laid out like Y_h.
    pub h0: Option<&'a [f32]>,
    /// initial_c (LSTM), laid out like Y_c.
    pub c0: Option<&'a [f32]>,
    /// P (LSTM peepholes): `[dirs, 3·hidden]`, order i o f.
    pub p: Option<&'a [f32]>,
}

/// Outputs of one recurrent op (absent optional outputs are `None`).
pub struct RnnOutputs<'a> {
    /// Y: `[seq, dirs, batch, hidden]` (layout 0) or `[batch, seq, dirs, hidden]` (layout 1).
    pub y: Option<&'a mut [f32]>,
    /// Y_h: `[dirs, batch, hidden]` (layout 0) or `[batch, dirs, hidden]` (layout 1).
    pub y_h: Option<&'a mut [f32]>,
    /// Y_c (LSTM), laid out like Y_h.
    pub y_c: Option<&'a mut [f32]>,
}

/// A recurrent weight matrix: float (f32 or f16), or symmetric int8 with one scale per row.
#[derive(Debug, Clone, Copy)]
pub enum Matrix<'a> {
    /// f32 or f16 rows.
    Float(FloatSrc<'a>),
    /// int8 rows and their scales (`real = scale[row] · q`).
    Int8 {
        /// Values, row-major.
        q: &'a [i8],
        /// One scale per row (`dirs · gates · hidden`).
        scales: &'a [f32],
    },
    /// int8 rows packed in layout k4n16, and their scales: a step's products are one `qgemm_i32`.
    Packed {
        /// The packed rows.
        w: PackedI8<'a>,
        /// One scale per row.
        scales: &'a [f32],
    },
}

/// The kernels a recurrent op calls (from the session's table).
#[derive(Debug, Clone, Copy)]
pub struct RnnKernels {
    /// Products against f32 rows (float matrices, [`super::dot_gemm`]).
    pub dot_gemm: crate::kernels::DotGemmFn,
    /// f16 matrices to f32.
    pub widen: crate::kernels::WidenFn,
    /// int8 products over packed matrices.
    pub qgemm_i32: crate::kernels::QGemmI32Fn,
    /// x and h to int8 (int8 matrices).
    pub quantize: crate::kernels::QuantizeFn,
    /// The gate and state updates.
    pub cells: RnnCells,
}

/// [`RnnCells::lstm`]'s signature.
pub type LstmCellFn = fn(&[f32], &[f32], Option<&[f32]>, f32, &mut [f32], &mut [f32]);

/// The element-wise part of one recurrent step, over `h` units.
#[derive(Debug, Clone, Copy)]
pub struct RnnCells {
    /// LSTM: gates from `xw` and `rh` (`4h`, order i o f c), peepholes (`3h`, i o f), the clip
    /// (0: none); updates `c` and `h`.
    pub lstm: LstmCellFn,
    /// GRU: `xw[..h] ← σ(clip(xw + rh))` (z), `xw[h..2h]` likewise (r).
    pub gru_gates: fn(&mut [f32], &[f32], usize, f32),
    /// GRU: the candidate from `xw` (z, r, xh) and `rh` (.., .., rhh), then `h ← (1 − z)·cand + z·h`.
    pub gru_hidden: fn(&[f32], &[f32], bool, f32, &mut [f32]),
}

/// The scalar cells (the specification of every tier's).
pub const GENERIC_CELLS: RnnCells = RnnCells { lstm: lstm_cell, gru_gates, gru_hidden };

/// [`RnnCells::lstm`], scalar.
pub fn lstm_cell(xw: &[f32], rh: &[f32], peep: Option<&[f32]>, clip_v: f32, cs: &mut [f32], hs: &mut [f32]) {
    for j in 0..hs.len().min(cs.len()) {
        lstm_unit(xw, rh, peep, clip_v, cs, hs, j);
    }
}

/// Unit `j` of [`lstm_cell`] (SIMD tiers run the units past their last full vector through it).
pub fn lstm_unit(xw: &[f32], rh: &[f32], peep: Option<&[f32]>, clip_v: f32, cs: &mut [f32], hs: &mut [f32], j: usize) {
    let h = hs.len().min(cs.len());
    let pre = |k: usize| xw.get(k * h + j).copied().unwrap_or(0.0) + rh.get(k * h + j).copied().unwrap_or(0.0);
    let p = |k: usize| peep.and_then(|pp| pp.get(k * h + j)).copied().unwrap_or(0.0);
    let c_prev = cs.get(j).copied().unwrap_or(0.0);
    let i_g = sigmoid(clip(pre(0) + p(0) * c_prev, clip_v));
    let f_g = sigmoid(clip(pre(2) + p(2) * c_prev, clip_v));
    let c_g = tanhf(clip(pre(3), clip_v));
    let c_new = f_g * c_prev + i_g * c_g;
    let o_g = sigmoid(clip(pre(1) + p(1) * c_new, clip_v));
    if let Some(c) = cs.get_mut(j) {
        *c = c_new;
    }
    if let Some(hv) = hs.get_mut(j) {
        *hv = o_g * tanhf(c_new);
    }
}

/// [`RnnCells::gru_gates`], scalar: element `g` of `[0, 2h)` is `σ(clip(xw[g] + rh[g]))`.
pub fn gru_gates(xw: &mut [f32], rh: &[f32], h: usize, clip_v: f32) {
    gru_gates_from(xw, rh, 0, 2 * h, clip_v);
}

/// [`gru_gates`] over elements `[from, to)`.
pub fn gru_gates_from(xw: &mut [f32], rh: &[f32], from: usize, to: usize, clip_v: f32) {
    for g in from..to {
        let v = xw.get(g).copied().unwrap_or(0.0) + rh.get(g).copied().unwrap_or(0.0);
        if let Some(slot) = xw.get_mut(g) {
            *slot = sigmoid(clip(v, clip_v));
        }
    }
}

/// [`RnnCells::gru_hidden`], scalar.
pub fn gru_hidden(xw: &[f32], rh: &[f32], lbr: bool, clip_v: f32, hs: &mut [f32]) {
    gru_hidden_from(xw, rh, lbr, clip_v, hs, 0);
}

/// [`gru_hidden`] for units `from..`.
pub fn gru_hidden_from(xw: &[f32], rh: &[f32], lbr: bool, clip_v: f32, hs: &mut [f32], from: usize) {
    let h = hs.len();
    for (j, hv) in hs.iter_mut().enumerate().skip(from) {
        let z = xw.get(j).copied().unwrap_or(0.0);
        let r = xw.get(h + j).copied().unwrap_or(0.0);
        let xh = xw.get(2 * h + j).copied().unwrap_or(0.0);
        let rhh = rh.get(2 * h + j).copied().unwrap_or(0.0);
        let cand = if lbr { tanhf(clip(xh + r * rhh, clip_v)) } else { tanhf(clip(xh + rhh, clip_v)) };
        *hv = (1.0 - z) * cand + z * *hv;
    }
}

/// `out[u] = bias[u] + m[row0 + u] · v` for `u < out.len()`, where int8 matrices multiply the
/// vector's int8 form `vq` (zero point `zp`, scale `vs`) exactly and scale the i32 sum once:
/// `bias + (Σ (vq − zp) · w) · (vs · scale[row])`.
#[allow(clippy::too_many_arguments)]
fn products(
    m: &Matrix<'_>,
    row0: usize,
    v: &[f32],
    vq: &[i8],
    (zp, vs): (i32, f32),
    bias: Option<&[f32]>,
    out: &mut [f32],
    k: &RnnKernels,
) {
    let b = |u: usize| bias.and_then(|bb| bb.get(u)).copied().unwrap_or(0.0);
    if let Matrix::Packed { w, scales } = m {
        let n = out.len();
        let ok = match <[i32]>::mut_from_bytes(out.as_mut_bytes()) {
            Ok(acc) => (k.qgemm_i32)(w, (row0, row0 + n), vq, 1, zp, acc),
            Err(_) => false,
        };
        if !ok {
            out.fill(0.0);
        }
        // The slots hold the i32 sums' bits (written just above): scale them in place.
        scale_sums_in_place(out, bias, scales.get(row0..row0 + n).unwrap_or(&[]), vs);
        return;
    }
    let (n, kl) = (out.len(), v.len());
    let rows_fit = matches!(m, Matrix::Float(s) if s.len() >= (row0 + n) * kl);
    if let (Matrix::Float(w), true, true) = (m, rows_fit, kl <= super::WIDEN_BUF) {
        // Every row at once (the tier's register tiles; f16 rows widened a block at a time), then
        // the bias, as in `mat_row`.
        match w {
            FloatSrc::F32(w) => (k.dot_gemm)(1, kl, n, v, w.get(row0 * kl..(row0 + n) * kl).unwrap_or(&[]), out),
            FloatSrc::F16(_) => rows_f16(w, row0, v, out, k),
        }
        for (u, o) in out.iter_mut().enumerate() {
            *o += b(u); // b + dot: IEEE addition commutes
        }
        return;
    }
    for (u, o) in out.iter_mut().enumerate() {
        *o = b(u) + mat_row(m, row0 + u, v, vq, zp, vs);
    }
}

/// `out[u] = bias[u] + (acc[u] as f32) · (vs · scale[u])`, where `out` holds the i32 sums `acc`
/// as bits on entry: the one float step of an int8 gate product (a loop compilers vectorize).
pub fn scale_sums_in_place(out: &mut [f32], bias: Option<&[f32]>, scales: &[f32], vs: f32) {
    let n = out.len().min(scales.len());
    let (out, scales) = (out.get_mut(..n).unwrap_or(&mut []), scales.get(..n).unwrap_or(&[]));
    match bias.and_then(|b| b.get(..n)) {
        Some(bias) => {
            for ((o, &s), &b) in out.iter_mut().zip(scales).zip(bias) {
                *o = b + (o.to_bits() as i32) as f32 * (vs * s);
            }
        }
        None => {
            for (o, &s) in out.iter_mut().zip(scales) {
                *o = 0.0 + (o.to_bits() as i32) as f32 * (vs * s);
            }
        }
    }
}

/// The product of one matrix row with a vector: f32 rows use `dot`; int8 rows multiply the vector's
/// int8 form `vq` (zero point `zp`, scale `vs`) exactly in i32, and the sum is scaled back to f32
/// once: `(Σ (vq − zp) · w) · (vs · scale[row])`. That one product is the only float in the int8 path.
#[inline]
fn mat_row(m: &Matrix<'_>, row: usize, v: &[f32], vq: &[i8], zp: i32, vs: f32) -> f32 {
    match m {
        Matrix::Float(src) => super::dot_src(v, src, row * v.len()),
        Matrix::Int8 { q, scales } => {
            let n = vq.len();
            let Some(wr) = q.get(row * n..(row + 1) * n) else { return 0.0 };
            super::int8::dot_i8(vq, zp, wr) as f32 * (vs * scales.get(row).copied().unwrap_or(0.0))
        }
        // Products over packed rows are done a whole step at a time (`products`).
        Matrix::Packed { .. } => 0.0,
    }
}

/// ONNX's clip of gate pre-activations (0: none), by comparisons like the SIMD tiers.
#[inline]
fn clip(v: f32, c: f32) -> f32 {
    if c > 0.0 {
        super::activation::clip(v, -c, c)
    } else {
        v
    }
}

/// Every step's input products, computed before the recurrence.
enum Proj<'a> {
    /// Exact i32 sums against packed int8 W (scaled per step, as the per-step path does).
    I32(&'a [i32]),
    /// `dot_f32` of each X row with each f32 W row (the bias is added per step).
    F32(&'a [f32]),
}

/// Every step's input products at once, when the scratch has room (`xproj`) and W allows: X
/// quantized as a whole (or read as is) and one int8 GEMM against packed W, or one
/// [`super::dot_gemm`] against f32 W. Each value is the one the per-step path would compute.
fn input_products<'a>(
    p: &RnnParams,
    inp: &RnnInputs<'_>,
    xproj: Option<(&'a mut [f32], &'a mut [i8])>,
    k: &RnnKernels,
) -> Option<Proj<'a>> {
    let (acc, xq) = xproj?;
    let rows = p.seq * p.batch;
    let n = p.dirs * p.gates() * p.hidden;
    match (&inp.w, inp.x, p.int8) {
        (Matrix::Packed { w, .. }, x, Some(q)) => {
            let xq: &[i8] = match x {
                RnnX::F32(x) => {
                    (k.quantize)(x, q.x_scale, q.x_zp, xq);
                    xq
                }
                RnnX::I8(x) => x,
            };
            let acc = <[i32]>::mut_from_bytes(acc.as_mut_bytes()).ok()?;
            let xq = xq.get(..rows * p.input)?;
            (k.qgemm_i32)(w, (0, w.rows), xq, rows, q.x_zp, acc).then_some(Proj::I32(acc))
        }
        (Matrix::Float(FloatSrc::F32(w)), RnnX::F32(x), None) => {
            let (xa, wa, o) = (x.get(..rows * p.input)?, w.get(..n * p.input)?, acc.get_mut(..rows * n)?);
            (k.dot_gemm)(rows, p.input, n, xa, wa, o);
            Some(Proj::F32(o))
        }
        (Matrix::Float(w @ FloatSrc::F16(_)), RnnX::F32(x), None) => {
            // f16 W widened a block of rows at a time: the same products.
            let (xa, o) = (x.get(..rows * p.input)?, acc.get_mut(..rows * n)?);
            super::matmul::dot_gemm_f16((rows, p.input, n), xa, w, 0, o, (k.dot_gemm, k.widen)).then_some(Proj::F32(o))
        }
        _ => None,
    }
}

/// Runs the recurrence. `scratch` holds at least [`RnnParams::scratch_f32_len`] f32 and `qscratch`
/// [`RnnParams::scratch_i8_len`] bytes (int8 matrices only). With int8 matrices (`p.int8`), x and the
/// hidden state are quantized once per step and every gate product is an exact i32 sum; gates, cell
/// and hidden state stay f32 (docs/QUANTIZATION.md).
pub fn rnn(
    p: &RnnParams,
    inp: &RnnInputs<'_>,
    out: &mut RnnOutputs<'_>,
    scratch: &mut [f32],
    qscratch: &mut [i8],
    xproj: Option<(&mut [f32], &mut [i8])>,
    k: &RnnKernels,
) {
    let q = p.int8.unwrap_or(RnnQuant { x_scale: 1.0, x_zp: 0, h_scale: 1.0, h_zp: 0 });
    let xproj = input_products(p, inp, xproj, k);
    let is_q = p.int8.is_some();
    let h = p.hidden;
    let g = p.gates();
    let gh = g * h;
    let row = 2 * gh + 3 * h;
    let state_at = |d: usize, b: usize| if p.batch_first { (b * p.dirs + d) * h } else { (d * p.batch + b) * h };
    let x_at = |t: usize, b: usize| if p.batch_first { (b * p.seq + t) * p.input } else { (t * p.batch + b) * p.input };
    let y_at = |t: usize, d: usize, b: usize| {
        if p.batch_first {
            ((b * p.seq + t) * p.dirs + d) * h
        } else {
            ((t * p.dirs + d) * p.batch + b) * h
        }
    };
    for d in 0..p.dirs {
        let reverse = p.reverse_only || d == 1;
        // Initial state.
        for b in 0..p.batch {
            let Some(s) = scratch.get_mut(b * row..(b + 1) * row) else { return };
            let (_, rest) = s.split_at_mut(2 * gh);
            let (hs, rest) = rest.split_at_mut(h);
            let (cs, _) = rest.split_at_mut(h);
            match inp.h0.and_then(|v| v.get(state_at(d, b)..state_at(d, b) + h)) {
                Some(v) => hs.copy_from_slice(v),
                None => hs.fill(0.0),
            }
            match inp.c0.and_then(|v| v.get(state_at(d, b)..state_at(d, b) + h)) {
                Some(v) => cs.copy_from_slice(v),
                None => cs.fill(0.0),
            }
        }
        let w_row0 = d * gh;
        let r_row0 = d * gh;
        let bias = inp.b.and_then(|b| b.get(d * 2 * gh..(d + 1) * 2 * gh));
        for step in 0..p.seq {
            let t = if reverse { p.seq - 1 - step } else { step };
            for b in 0..p.batch {
                let Some(s) = scratch.get_mut(b * row..(b + 1) * row) else { return };
                let (xw, rest) = s.split_at_mut(gh);
                let (rh, rest) = rest.split_at_mut(gh);
                let (hs, rest) = rest.split_at_mut(h);
                let (cs, spare) = rest.split_at_mut(h);
                let at = x_at(t, b)..x_at(t, b) + p.input;
                let xt = match inp.x {
                    RnnX::F32(x) => x.get(at.clone()).unwrap_or(&[]),
                    RnnX::I8(_) => &[],
                };
                let qrow = p.input + h;
                let (xq, hq) = match qscratch.get_mut(b * qrow..(b + 1) * qrow) {
                    Some(r) if is_q => r.split_at_mut(p.input),
                    _ => (&mut [][..], &mut [][..]),
                };
                if is_q {
                    match inp.x {
                        RnnX::F32(_) => (k.quantize)(xt, q.x_scale, q.x_zp, xq),
                        RnnX::I8(x) => {
                            if let Some(src) = x.get(at) {
                                xq.copy_from_slice(src);
                            }
                        }
                    }
                    (k.quantize)(hs, q.h_scale, q.h_zp, hq);
                }
                // xw = W·x + Wb, rh = R·h + Rb (one row of W/R per gate unit).
                // Row x_at(t, b) / input of X holds this step's products of every W row.
                let r = x_at(t, b) / p.input.max(1);
                let mine = r * p.dirs * gh + w_row0..r * p.dirs * gh + w_row0 + gh;
                match (&xproj, &inp.w) {
                    (Some(Proj::I32(all)), Matrix::Packed { scales, .. }) => {
                        for (o, &a) in xw.iter_mut().zip(all.get(mine).unwrap_or(&[])) {
                            *o = f32::from_bits(a as u32);
                        }
                        scale_sums_in_place(xw, bias, scales.get(w_row0..w_row0 + gh).unwrap_or(&[]), q.x_scale);
                    }
                    (Some(Proj::F32(all)), _) => {
                        // As `products`: the bias plus the row's dot product.
                        let b = |u: usize| bias.and_then(|bb| bb.get(u)).copied().unwrap_or(0.0);
                        for (u, (o, &a)) in xw.iter_mut().zip(all.get(mine).unwrap_or(&[])).enumerate() {
                            *o = b(u) + a;
                        }
                    }
                    _ => products(&inp.w, w_row0, xt, xq, (q.x_zp, q.x_scale), bias, xw, k),
                }
                products(&inp.r, r_row0, hs, hq, (q.h_zp, q.h_scale), bias.and_then(|bb| bb.get(gh..)), rh, k);
                if p.lstm {
                    let peep = inp.p.and_then(|pp| pp.get(d * 3 * h..(d + 1) * 3 * h));
                    (k.cells.lstm)(xw, rh, peep, p.clip, cs, hs);
                } else {
                    // z and r gates first (they need the old h), then the candidate.
                    (k.cells.gru_gates)(xw, rh, h, p.clip);
                    if !p.linear_before_reset {
                        // spare = r ⊙ h; candidate uses Rh·(r ⊙ h) + Rbh.
                        for ((v, &r), &hv) in spare.iter_mut().zip(xw.get(h..2 * h).unwrap_or(&[])).zip(hs.iter()) {
                            *v = r * hv;
                        }
                        if is_q {
                            (k.quantize)(spare, q.h_scale, q.h_zp, hq);
                        }
                        let rbh = bias.and_then(|bb| bb.get(gh + 2 * h..));
                        if let Some(slots) = rh.get_mut(2 * h..3 * h) {
                            products(&inp.r, r_row0 + 2 * h, spare, hq, (q.h_zp, q.h_scale), rbh, slots, k);
                        }
                    }
                    (k.cells.gru_hidden)(xw, rh, p.linear_before_reset, p.clip, hs);
                }
                if let Some(y) = out.y.as_deref_mut().and_then(|y| y.get_mut(y_at(t, d, b)..y_at(t, d, b) + h)) {
                    y.copy_from_slice(hs);
                }
            }
        }
        for b in 0..p.batch {
            let Some(s) = scratch.get(b * row..(b + 1) * row) else { return };
            let hs = s.get(2 * gh..2 * gh + h).unwrap_or(&[]);
            let cs = s.get(2 * gh + h..2 * gh + 2 * h).unwrap_or(&[]);
            if let Some(y) = out.y_h.as_deref_mut().and_then(|y| y.get_mut(state_at(d, b)..state_at(d, b) + h)) {
                y.copy_from_slice(hs);
            }
            if let Some(y) = out.y_c.as_deref_mut().and_then(|y| y.get_mut(state_at(d, b)..state_at(d, b) + h)) {
                y.copy_from_slice(cs);
            }
        }
    }
}

/// `out[u] = dot(v, row row0 + u)` over f16 rows, widened a block at a time. Its own function,
/// never inlined: the 16 KiB widening buffer is on the stack only while f16 rows are read (a
/// firmware running int8 or f32 recurrent layers never pays for it).
#[inline(never)]
fn rows_f16(w: &FloatSrc<'_>, row0: usize, v: &[f32], out: &mut [f32], k: &RnnKernels) {
    let kl = v.len();
    let mut buf = [0f32; super::WIDEN_BUF];
    let step = (super::WIDEN_BUF / kl.max(1)).max(1);
    for (b0, chunk) in out.chunks_mut(step).enumerate() {
        let rows = buf.get_mut(..chunk.len() * kl).unwrap_or(&mut []);
        w.widen_into((row0 + b0 * step) * kl, rows, k.widen);
        (k.dot_gemm)(1, kl, chunk.len(), v, rows, chunk);
    }
}
