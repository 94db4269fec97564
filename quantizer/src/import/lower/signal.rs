//! Lowering of the signal-processing nodes front ends use: STFT as a convolution over a windowed
//! DFT basis, GatherElements and ScatterElements with constant indices.

use super::{f, norm_axis, Lowering, Lr};
use crate::import::{const_f32, const_i64, Attrs};
use crate::ir::{Data, TensorId};
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::OpCode;
use tract_onnx::pb;

impl Lowering {
    /// ONNX STFT (opset 17) of a real signal `[B, L, 1]` with a constant step, window and frame
    /// length: a strided 1-D convolution whose kernels are the windowed DFT basis (cosines, then
    /// negated sines), reshaped and transposed to `[B, frames, bins, 2]`. It computes every bin as
    /// a plain sum of N products (no FFT), which a frame of a few hundred samples affords.
    pub(super) fn lower_stft(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let sv = self.need(node, 0)?;
        self.require_f32(&sv, "signal")?;
        let ss = self.shape(&sv);
        let [b, l, 1] = ss[..] else {
            return Err(format!("signal of shape {ss:?} (a real [batch, length, 1] is supported)"));
        };
        let step = self
            .const_input(node, 1)?
            .and_then(|t| const_i64(&t))
            .and_then(|v| v.first().copied())
            .ok_or("frame_step must be constant")?;
        let window = match self.const_input(node, 2)? {
            Some(t) => Some(const_f32(&t).ok_or("window must be float")?),
            None => None,
        };
        let n = match (self.const_input(node, 3)?.and_then(|t| const_i64(&t)).and_then(|v| v.first().copied()), &window)
        {
            (Some(n), _) => n as usize,
            (None, Some(w)) => w.len(),
            (None, None) => return Err("STFT needs a window or a frame_length".into()),
        };
        let window = window.unwrap_or_else(|| vec![1.0; n]);
        if window.len() != n || n == 0 || n > l || step <= 0 {
            return Err(format!("window of {} for frames of {n} over {l} samples, step {step}", window.len()));
        }
        let bins = if Attrs(node).int_or("onesided", 1) != 0 { n / 2 + 1 } else { n };
        let frames = (l - n) / step as usize + 1;
        let mut basis = vec![0f32; 2 * bins * n];
        for k in 0..bins {
            for (t, &w) in window.iter().enumerate() {
                // The angle reduced mod N in integers first: cos/sin of large arguments lose bits.
                let ang = 2.0 * std::f64::consts::PI * ((k * t) % n) as f64 / n as f64;
                basis[k * n + t] = (w as f64 * ang.cos()) as f32;
                basis[(bins + k) * n + t] = (-(w as f64) * ang.sin()) as f32;
            }
        }
        let x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        let w = self.g.constant(format!("{name}.dft"), vec![2 * bins, 1, n], Data::F32(basis));
        let x3 = self.g.activation(format!("{name}.signal"), DType::F32, vec![b, 1, l]);
        self.g.push(OpCode::Copy, format!("{name}.signal"), vec![Some(x)], vec![Some(x3)], vec![]);
        let y = self.g.activation(format!("{name}.dft_out"), DType::F32, vec![b, 2 * bins, frames]);
        let attrs = vec![1, 1, step as u32, 0, 0, 1, 0, 0, 0];
        self.g.push(OpCode::Conv, format!("{name}.dft"), vec![Some(x3), Some(w), None], vec![Some(y)], attrs);
        let y4 = self.g.activation(format!("{name}.parts"), DType::F32, vec![b, 2, bins, frames]);
        self.g.push(OpCode::Copy, format!("{name}.parts"), vec![Some(y)], vec![Some(y4)], vec![]);
        self.g.push(OpCode::Transpose, name, vec![Some(y4)], vec![Some(o)], vec![0, 3, 2, 1]);
        Ok(())
    }

    /// DFT along any axis but the last (which holds the real part, or the real and imaginary
    /// parts), as one MatMul by the DFT basis: the axis moved before the last (a Transpose), the
    /// signal read as `[M, L·c]` (c = 1 or 2 parts), times `[L·c, 2·bins]` whose columns
    /// interleave the real and imaginary parts of each bin (so the product is `[.., bins, 2]` as
    /// it lies), zero-padded or cut to `dft_length` samples; `inverse` conjugates the basis and
    /// divides by N; `onesided` keeps the first N/2 + 1 bins.
    pub(super) fn lower_dft(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let a = Attrs(node);
        let inverse = a.int_or("inverse", 0) != 0;
        let xv = self.need(node, 0)?;
        self.require_f32(&xv, "input")?;
        let xs = self.shape(&xv);
        let rank = xs.len();
        let c =
            *xs.last().filter(|&&c| rank >= 2 && (c == 1 || c == 2)).ok_or("the last axis must hold 1 or 2 parts")?;
        let axis = match self.const_input(node, 2)?.and_then(|t| const_i64(&t)) {
            Some(v) => *v.first().ok_or("axis input is empty")?,
            None => a.int_or("axis", 1),
        };
        let axis =
            norm_axis(axis, rank).ok().filter(|&x| x < rank - 1).ok_or(format!("axis {axis} for rank {rank}"))?;
        let l = xs[axis];
        let n = match self.const_input(node, 1)? {
            Some(t) => const_i64(&t).and_then(|v| v.first().copied()).ok_or("dft_length must be an integer")?,
            None => l as i64,
        };
        let n =
            usize::try_from(n).ok().filter(|&n| (1..=1 << 16).contains(&n)).ok_or("dft_length must be in 1..=65536")?;
        let onesided = a.int_or("onesided", 0) != 0;
        if onesided && (c == 2 || inverse) {
            return Err("onesided for a complex input or an inverse DFT".into());
        }
        let bins = if onesided { n / 2 + 1 } else { n };
        let (sign, scale) = if inverse { (1.0, 1.0 / n as f64) } else { (-1.0, 1.0) };
        let mut basis = vec![0f32; l * c * 2 * bins];
        for t in 0..l.min(n) {
            for k in 0..bins {
                // The angle reduced mod N in integers first: cos/sin of large arguments lose bits.
                let ang = 2.0 * std::f64::consts::PI * ((k * t) % n) as f64 / n as f64;
                let (cs, sn) = (ang.cos() * scale, sign * ang.sin() * scale);
                let row = |part: usize| (t * c + part) * 2 * bins + 2 * k;
                basis[row(0)] = cs as f32;
                basis[row(0) + 1] = sn as f32;
                if c == 2 {
                    basis[row(1)] = (-sn) as f32;
                    basis[row(1) + 1] = cs as f32;
                }
            }
        }
        // The signal axis moved before the parts axis.
        let perm: Vec<usize> = (0..rank - 1).filter(|&d| d != axis).chain([axis, rank - 1]).collect();
        let moved: Vec<usize> = perm.iter().map(|&d| xs[d]).collect();
        let mut x = self.need_tensor(node, 0)?;
        if axis != rank - 2 {
            let t = self.g.activation(format!("{name}.moved"), DType::F32, moved.clone());
            let p = perm.iter().map(|&d| d as u32).collect();
            self.g.push(OpCode::Transpose, format!("{name}.moved"), vec![Some(x)], vec![Some(t)], p);
            x = t;
        }
        let rows: usize = moved[..rank - 2].iter().product();
        let o = self.need_output(node, 0)?;
        let w = self.g.constant(format!("{name}.basis"), vec![l * c, 2 * bins], Data::F32(basis));
        let x2 = self.g.activation(format!("{name}.rows"), DType::F32, vec![rows, l * c]);
        self.g.push(OpCode::Copy, format!("{name}.rows"), vec![Some(x)], vec![Some(x2)], vec![]);
        let y = self.g.activation(format!("{name}.product"), DType::F32, vec![rows, 2 * bins]);
        let attrs = vec![0, 0, f(1.0), 0, 0, 0];
        self.g.push(OpCode::MatMul, name.clone(), vec![Some(x2), Some(w), None], vec![Some(y)], attrs);
        if axis == rank - 2 {
            self.g.push(OpCode::Copy, format!("{name}.spectrum"), vec![Some(y)], vec![Some(o)], vec![]);
        } else {
            // Back: the bins axis to where the signal axis was.
            let mut shape = moved;
            shape[rank - 2] = bins;
            shape[rank - 1] = 2;
            let ym = self.g.activation(format!("{name}.spectrum"), DType::F32, shape);
            self.g.push(OpCode::Copy, format!("{name}.spectrum"), vec![Some(y)], vec![Some(ym)], vec![]);
            let mut back = vec![0u32; rank];
            for (i, &d) in perm.iter().enumerate() {
                back[d] = i as u32;
            }
            self.g.push(OpCode::Transpose, format!("{name}.back"), vec![Some(ym)], vec![Some(o)], back);
        }
        Ok(())
    }

    /// GatherElements and ScatterElements (no reduction) with constant indices, as one Gather
    /// over the flattened data (and, to scatter, the updates after it) with an index per output
    /// element computed here: which element each output reads.
    pub(super) fn lower_elements(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let scatter = node.op_type == "ScatterElements";
        if scatter && Attrs(node).string("reduction").is_some_and(|r| r != "none") {
            return Err("ScatterElements with a reduction".into());
        }
        let dv = self.need(node, 0)?;
        let shape = self.shape(&dv);
        let idx_t = self.const_input(node, 1)?.ok_or("indices must be constant (fix the inputs they depend on)")?;
        let ishape = idx_t.shape().to_vec();
        let idx = const_i64(&idx_t).ok_or("indices must be integers")?;
        let rank = shape.len();
        let axis = norm_axis(Attrs(node).int_or("axis", 0), rank)?;
        if ishape.len() != rank {
            return Err("indices of another rank than the data".into());
        }
        let strides = |s: &[usize]| -> Vec<usize> { (0..s.len()).map(|i| s[i + 1..].iter().product()).collect() };
        let (ds, is) = (strides(&shape), strides(&ishape));
        // The flat data position index element `k` points at.
        let target = |k: usize| -> Lr<usize> {
            let mut at = 0;
            for ax in 0..rank {
                let c = (k / is[ax]) % ishape[ax];
                let c = if ax == axis {
                    let v = idx[k];
                    let v = if v < 0 { v + shape[ax] as i64 } else { v };
                    usize::try_from(v)
                        .ok()
                        .filter(|&v| v < shape[ax])
                        .ok_or(format!("index {} out of range", idx[k]))?
                } else if c < shape[ax] {
                    c
                } else {
                    return Err("indices larger than the data".into());
                };
                at += c * ds[ax];
            }
            Ok(at)
        };
        let n_data: usize = shape.iter().product();
        let (src, gather): (TensorId, Vec<i32>) = if scatter {
            // Output element p reads the data, or the last update written to p.
            let mut from: Vec<i32> = (0..n_data as i32).collect();
            for k in 0..idx.len() {
                from[target(k)?] = (n_data + k) as i32;
            }
            let (d, u) = (self.need_tensor(node, 0)?, self.need_tensor(node, 2)?);
            let both = self.g.activation(format!("{name}.both"), self.g.tensors[d].dtype, vec![n_data + idx.len()]);
            let (fd, fu) = (self.flat(d, &format!("{name}.data"))?, self.flat(u, &format!("{name}.updates"))?);
            self.g.push(OpCode::Concat, format!("{name}.both"), vec![Some(fd), Some(fu)], vec![Some(both)], vec![0]);
            (both, from)
        } else {
            let d = self.need_tensor(node, 0)?;
            let from = (0..idx.len()).map(|k| target(k).map(|t| t as i32)).collect::<Lr<_>>()?;
            (self.flat(d, &format!("{name}.data"))?, from)
        };
        let o = self.need_output(node, 0)?;
        let n = gather.len();
        let ix = self.g.constant(format!("{name}.from"), vec![n], Data::I32(gather));
        let flat = self.g.activation(format!("{name}.flat"), self.g.tensors[src].dtype, vec![n]);
        self.g.push(OpCode::Gather, format!("{name}.gather"), vec![Some(src), Some(ix)], vec![Some(flat)], vec![0]);
        self.g.push(OpCode::Copy, name, vec![Some(flat)], vec![Some(o)], vec![]);
        Ok(())
    }

    /// `t` as one dimension (a copy that the writer makes an alias).
    fn flat(&mut self, t: TensorId, name: &str) -> Lr<TensorId> {
        let n = self.g.tensors[t].len();
        let f = self.g.activation(name.to_string(), self.g.tensors[t].dtype, vec![n]);
        self.g.push(OpCode::Copy, name.to_string(), vec![Some(t)], vec![Some(f)], vec![]);
        Ok(f)
    }
}
