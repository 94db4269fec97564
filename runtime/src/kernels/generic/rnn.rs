//! LSTM and GRU with ONNX semantics: gate orders `i o f c` (LSTM) and `z r h` (GRU), forward,
//! reverse or bidirectional, optional initial states, peepholes, clip and `linear_before_reset`.

use super::activation::sigmoid;
use super::int8::quantize_slice;
use super::qgemm::PackedI8;
use super::FloatSrc;
use crate::ops::{RnnParams, RnnQuant};
use libm::tanhf;
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
    /// f32 dot product (float matrices).
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// int8 products over packed matrices.
    pub qgemm_i32: crate::kernels::QGemmI32Fn,
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
        for (u, o) in out.iter_mut().enumerate() {
            // The slot holds the i32 sum's bits (written just above); the same bits back.
            let acc = if ok { o.to_bits() as i32 } else { 0 };
            *o = b(u) + acc as f32 * (vs * scales.get(row0 + u).copied().unwrap_or(0.0));
        }
        return;
    }
    for (u, o) in out.iter_mut().enumerate() {
        *o = b(u) + mat_row(m, row0 + u, v, vq, zp, vs, k.dot);
    }
}

/// The product of one matrix row with a vector: f32 rows use `dot`; int8 rows multiply the vector's
/// int8 form `vq` (zero point `zp`, scale `vs`) exactly in i32, and the sum is scaled back to f32
/// once: `(Σ (vq − zp) · w) · (vs · scale[row])`. That one product is the only float in the int8 path.
#[inline]
fn mat_row(m: &Matrix<'_>, row: usize, v: &[f32], vq: &[i8], zp: i32, vs: f32, dot: fn(&[f32], &[f32]) -> f32) -> f32 {
    match m {
        Matrix::Float(src) => row_dot(v, src, row * v.len(), dot),
        Matrix::Int8 { q, scales } => {
            let n = vq.len();
            let Some(wr) = q.get(row * n..(row + 1) * n) else { return 0.0 };
            super::int8::dot_i8(vq, zp, wr) as f32 * (vs * scales.get(row).copied().unwrap_or(0.0))
        }
        // Products over packed rows are done a whole step at a time (`products`).
        Matrix::Packed { .. } => 0.0,
    }
}

#[inline]
fn clip(v: f32, c: f32) -> f32 {
    if c > 0.0 {
        v.max(-c).min(c)
    } else {
        v
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
    k: &RnnKernels,
) {
    let q = p.int8.unwrap_or(RnnQuant { x_scale: 1.0, x_zp: 0, h_scale: 1.0, h_zp: 0 });
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
                        RnnX::F32(_) => quantize_slice(xt, q.x_scale, q.x_zp, xq),
                        RnnX::I8(x) => {
                            if let Some(src) = x.get(at) {
                                xq.copy_from_slice(src);
                            }
                        }
                    }
                    quantize_slice(hs, q.h_scale, q.h_zp, hq);
                }
                // xw = W·x + Wb, rh = R·h + Rb (one row of W/R per gate unit).
                products(&inp.w, w_row0, xt, xq, (q.x_zp, q.x_scale), bias, xw, k);
                products(&inp.r, r_row0, hs, hq, (q.h_zp, q.h_scale), bias.and_then(|bb| bb.get(gh..)), rh, k);
                if p.lstm {
                    let peep =
                        |k: usize, j: usize| inp.p.and_then(|pp| pp.get(d * 3 * h + k * h + j)).copied().unwrap_or(0.0);
                    for j in 0..h {
                        let pre = |k: usize| {
                            xw.get(k * h + j).copied().unwrap_or(0.0) + rh.get(k * h + j).copied().unwrap_or(0.0)
                        };
                        let c_prev = cs.get(j).copied().unwrap_or(0.0);
                        let i_g = sigmoid(clip(pre(0) + peep(0, j) * c_prev, p.clip));
                        let f_g = sigmoid(clip(pre(2) + peep(2, j) * c_prev, p.clip));
                        let c_g = tanhf(clip(pre(3), p.clip));
                        let c_new = f_g * c_prev + i_g * c_g;
                        let o_g = sigmoid(clip(pre(1) + peep(1, j) * c_new, p.clip));
                        if let Some(c) = cs.get_mut(j) {
                            *c = c_new;
                        }
                        if let Some(hv) = hs.get_mut(j) {
                            *hv = o_g * tanhf(c_new);
                        }
                    }
                } else {
                    // z and r gates first (they need the old h), then the candidate.
                    for j in 0..h {
                        let z = sigmoid(clip(
                            xw.get(j).copied().unwrap_or(0.0) + rh.get(j).copied().unwrap_or(0.0),
                            p.clip,
                        ));
                        let r = sigmoid(clip(
                            xw.get(h + j).copied().unwrap_or(0.0) + rh.get(h + j).copied().unwrap_or(0.0),
                            p.clip,
                        ));
                        if let Some(v) = xw.get_mut(j) {
                            *v = z;
                        }
                        if let Some(v) = xw.get_mut(h + j) {
                            *v = r;
                        }
                    }
                    if !p.linear_before_reset {
                        // spare = r ⊙ h; candidate uses Rh·(r ⊙ h) + Rbh.
                        for j in 0..h {
                            if let Some(v) = spare.get_mut(j) {
                                *v = xw.get(h + j).copied().unwrap_or(0.0) * hs.get(j).copied().unwrap_or(0.0);
                            }
                        }
                        if is_q {
                            quantize_slice(spare, q.h_scale, q.h_zp, hq);
                        }
                        let rbh = bias.and_then(|bb| bb.get(gh + 2 * h..));
                        if let Some(slots) = rh.get_mut(2 * h..3 * h) {
                            products(&inp.r, r_row0 + 2 * h, spare, hq, (q.h_zp, q.h_scale), rbh, slots, k);
                        }
                    }
                    for j in 0..h {
                        let z = xw.get(j).copied().unwrap_or(0.0);
                        let r = xw.get(h + j).copied().unwrap_or(0.0);
                        let xh = xw.get(2 * h + j).copied().unwrap_or(0.0);
                        let rhh = rh.get(2 * h + j).copied().unwrap_or(0.0);
                        let cand = if p.linear_before_reset {
                            tanhf(clip(xh + r * rhh, p.clip))
                        } else {
                            tanhf(clip(xh + rhh, p.clip))
                        };
                        if let Some(hv) = hs.get_mut(j) {
                            *hv = (1.0 - z) * cand + z * *hv;
                        }
                    }
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

#[inline]
fn row_dot(x: &[f32], w: &FloatSrc<'_>, start: usize, dot: fn(&[f32], &[f32]) -> f32) -> f32 {
    match w {
        FloatSrc::F32(s) => dot(x, s.get(start..start + x.len()).unwrap_or(&[])),
        FloatSrc::F16(_) => super::dot_src(x, w, start),
    }
}
