//! From a session's prepared ops to kernel launches: for each op the CUDA kernels cover, the
//! kernel, its grid and its arguments (tensors as offsets into the device's arena copy or its
//! weights, and the op's scalars), read once when a backend is made. An op this module cannot
//! lower (no kernel for its code, or a form the kernels do not take: lean int8 weights, affine
//! quantization) gets `None` and runs on the CPU. The same launches drive the real device and
//! the emulated one the tests run, so what is tested without a GPU is what a GPU is given.

use ferrite_runtime::format::DType;
use ferrite_runtime::kernels::generic::broadcast_strides;
use ferrite_runtime::kernels::generic::qgemm::PackedI8;
use ferrite_runtime::ops::{
    Activation, BinaryFn, ConvParams, OpCode, Params, QConvKind, ReduceFn, RnnParams, TensorInfo, UnaryFn,
};
use ferrite_runtime::{Place, Region, Session};
use std::ffi::c_void;

/// Threads per block of every kernel (one thread per output element).
pub const BLOCK: u32 = 128;

/// The op codes with a CUDA kernel for at least one of their forms.
pub const KERNEL_OPS: &[OpCode] = &[
    OpCode::QMatMul,
    OpCode::QConv,
    OpCode::QMean,
    OpCode::Quantize,
    OpCode::Dequantize,
    OpCode::QLut,
    OpCode::MatMul,
    OpCode::Conv,
    OpCode::Unary,
    OpCode::Binary,
    OpCode::LayerNorm,
    OpCode::Softmax,
    OpCode::Reduce,
    OpCode::Cast,
    OpCode::Transpose,
    OpCode::Gather,
    OpCode::Lstm,
    OpCode::Gru,
    OpCode::DynQMatMul,
];

/// One kernel argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A pointer to the device's arena copy, this many bytes in.
    Arena(usize),
    /// A pointer to the device's weights, this many bytes into the weights section.
    Weight(usize),
    /// A null pointer (an absent optional tensor).
    Null,
    /// A pointer to the run's status word (see [`crate::offload::STATUS_BYTES`]), where a kernel
    /// that meets an out-of-range index writes its op's index + 1.
    Status,
    /// An `int`.
    I32(i32),
    /// A `float`.
    F32(f32),
    /// A struct of `int`s passed by value (a geometry).
    Words(Vec<i32>),
}

/// One kernel launch: a one-dimensional grid of `grid` blocks of [`BLOCK`] threads.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The kernel's name in the sources of [`crate::kernels`].
    pub kernel: &'static str,
    /// Blocks.
    pub grid: u32,
    /// The arguments, in the kernel's order.
    pub args: Vec<Arg>,
}

/// An argument's value, where a launch's parameter array can point to it.
#[derive(Debug)]
enum Value {
    Ptr(u64),
    I32(i32),
    F32(f32),
    Words(Box<[i32]>),
}

/// The values of one launch's arguments, held while the launch reads them (the driver's
/// `kernelParams` convention: one pointer to each argument's value).
#[derive(Debug)]
pub struct ParamValues(Box<[Value]>);

/// Most arguments a kernel takes (the longest, `ferrite_dynq_gemm`, has 13).
pub const MAX_ARGS: usize = 16;

impl ParamValues {
    /// One pointer per argument, into these values, written into `buf` (no allocation: this
    /// runs for every launch of every run): the first `n` entries, `None` past [`MAX_ARGS`]
    /// arguments. The pointers stay valid while `self` lives (the values are boxed, so moving
    /// `self` does not move them); the driver only reads through them.
    pub fn pointers<'b>(&self, buf: &'b mut [*mut c_void; MAX_ARGS]) -> Option<&'b mut [*mut c_void]> {
        let n = self.0.len();
        let slots = buf.get_mut(..n)?;
        for (slot, v) in slots.iter_mut().zip(self.0.iter()) {
            *slot = match v {
                Value::Ptr(p) => p as *const u64 as *mut c_void,
                Value::I32(x) => x as *const i32 as *mut c_void,
                Value::F32(x) => x as *const f32 as *mut c_void,
                Value::Words(w) => w.as_ptr() as *mut c_void,
            };
        }
        Some(slots)
    }
}

impl Launch {
    /// The argument values with tensors resolved against device addresses `arena` and `weights`.
    pub fn values(&self, arena: u64, weights: u64, status: u64) -> ParamValues {
        ParamValues(
            self.args
                .iter()
                .map(|a| match a {
                    Arg::Arena(o) => Value::Ptr(arena + *o as u64),
                    Arg::Weight(o) => Value::Ptr(weights + *o as u64),
                    Arg::Null => Value::Ptr(0),
                    Arg::Status => Value::Ptr(status),
                    Arg::I32(x) => Value::I32(*x),
                    Arg::F32(x) => Value::F32(*x),
                    Arg::Words(w) => Value::Words(w.clone().into_boxed_slice()),
                })
                .collect(),
        )
    }
}

/// Every op's launches (`None`: the op runs on the CPU), in execution order.
pub fn lower_all(session: &Session<'_, '_, '_>) -> Vec<Option<Vec<Launch>>> {
    (0..session.ops().len()).map(|i| lower(session, i)).collect()
}

/// Op `index`'s launches, or `None` when no kernel takes it.
pub fn lower(session: &Session<'_, '_, '_>, index: usize) -> Option<Vec<Launch>> {
    let op = session.ops().get(index)?;
    let regs = session.op_regions(index);
    let ni = op.n_inputs();
    let no = op.n_outputs();
    let t = Tensors { session, inputs: regs.get(..ni)?, outputs: regs.get(ni..ni + no)?, scratch: regs.get(ni + no) };
    let tag = int(index + 1)?;
    match op.params() {
        Params::Rnn(p) => return rnn(&t, &p),
        Params::DynQMatMul { k, n, act, residual } => return dynq(&t, k, n, &act, residual),
        _ => {}
    }
    let launch = match op.params() {
        Params::QMatMul { k, n, lo, hi, packed: true } => qmatmul(&t, k, n, lo, hi)?,
        Params::QConv { geom, lo, hi, kind } => qconv(&t, &geom, lo, hi, kind)?,
        Params::QMean { mask, .. } => qmean(&t, mask)?,
        Params::Quantize => quantize(&t)?,
        Params::Dequantize => {
            let (x, xi, out) = (t.input(0)?, t.in_info(0)?, t.output(0)?);
            let n = elems(xi)?;
            Launch::flat("ferrite_dequantize", n, vec![x, Arg::I32(n), Arg::F32(xi.quant.scale()), zp(&xi), out])
        }
        Params::QLut => {
            let (x, table, out) = (t.input(0)?, t.input(1)?, t.output(0)?);
            let n = elems(t.in_info(0)?)?;
            Launch::flat("ferrite_qlut", n, vec![table, x, Arg::I32(n), out])
        }
        Params::Transpose { perm } => transpose(&t, &perm)?,
        Params::Gather { outer, axis_len, inner, n_idx, .. } => gather(&t, [outer, axis_len, inner, n_idx], tag)?,
        p @ Params::MatMul { .. } => matmul(&t, &p)?,
        Params::Conv(g) => conv_f32(&t, &g)?,
        Params::Unary { func, a, b } if t.is_f32(&[0], &[0]) && act_code(func).is_some() => {
            let n = elems(t.out_info(0)?)?;
            let args =
                vec![t.input(0)?, Arg::I32(n), Arg::I32(act_code(func)?), Arg::F32(a), Arg::F32(b), t.output(0)?];
            Launch::flat("ferrite_unary", n, args)
        }
        Params::Binary { func } => binary(&t, func)?,
        Params::LayerNorm { outer, inner, eps } if t.is_f32(&[0, 1], &[0]) && t.f32_or_absent(2) => {
            let bias = t.input(2);
            let args = vec![
                t.input(0)?,
                t.input(1)?,
                bias.clone().unwrap_or(Arg::Null),
                Arg::I32(bias.is_some().into()),
                Arg::I32(int(outer)?),
                Arg::I32(int(inner)?),
                Arg::F32(eps),
                t.output(0)?,
            ];
            Launch::flat("ferrite_layer_norm", int(outer)?, args)
        }
        Params::Softmax { outer, axis_len, inner, log: false } if t.is_f32(&[0], &[0]) => {
            let lines = int(outer.checked_mul(inner)?)?;
            let args =
                vec![t.input(0)?, Arg::I32(int(outer)?), Arg::I32(int(axis_len)?), Arg::I32(int(inner)?), t.output(0)?];
            Launch::flat("ferrite_softmax", lines, args)
        }
        Params::Reduce { func: func @ (ReduceFn::Mean | ReduceFn::Sum), mask } if t.is_f32(&[0], &[0]) => {
            let n = elems(t.out_info(0)?)?;
            let f = if func == ReduceFn::Mean { 0 } else { 1 };
            let args =
                vec![t.input(0)?, Arg::Words(axes(&t.in_info(0)?, mask)?), Arg::I32(f), Arg::I32(n), t.output(0)?];
            Launch::flat("ferrite_reduce", n, args)
        }
        Params::Cast if t.in_info(0)?.dtype == DType::I32 && t.out_info(0)?.dtype == DType::F32 => {
            let n = elems(t.out_info(0)?)?;
            Launch::flat("ferrite_cast_i32_f32", n, vec![t.input(0)?, Arg::I32(n), t.output(0)?])
        }
        _ => return None,
    };
    Some(vec![launch])
}

/// An op's tensors: where each is, and its type and shape.
struct Tensors<'s, 'm, 'a, 'b> {
    session: &'s Session<'m, 'a, 'b>,
    inputs: &'s [Region],
    outputs: &'s [Region],
    scratch: Option<&'s Region>,
}

impl Tensors<'_, '_, '_, '_> {
    fn at(r: &Region) -> Option<Arg> {
        match r.place() {
            Place::Arena => Some(Arg::Arena(r.offset())),
            Place::Weight => Some(Arg::Weight(r.offset())),
            Place::Absent => None,
        }
    }
    fn input(&self, i: usize) -> Option<Arg> {
        Self::at(self.inputs.get(i)?)
    }
    fn output(&self, i: usize) -> Option<Arg> {
        // Outputs are written: only the arena can take them.
        let r = self.outputs.get(i)?;
        (r.place() == Place::Arena).then(|| Arg::Arena(r.offset()))
    }
    fn in_len(&self, i: usize) -> Option<usize> {
        self.inputs.get(i).map(|r| r.len())
    }
    fn in_info(&self, i: usize) -> Option<TensorInfo> {
        self.session.tensor_info(self.inputs.get(i)?.tensor())
    }
    fn out_info(&self, i: usize) -> Option<TensorInfo> {
        self.session.tensor_info(self.outputs.get(i)?.tensor())
    }
    /// Whether inputs `ins` and outputs `outs` are all f32.
    fn is_f32(&self, ins: &[usize], outs: &[usize]) -> bool {
        ins.iter().all(|&i| self.in_info(i).is_some_and(|x| x.dtype == DType::F32))
            && outs.iter().all(|&o| self.out_info(o).is_some_and(|x| x.dtype == DType::F32))
    }
    /// Whether optional input `i` is absent or f32.
    fn f32_or_absent(&self, i: usize) -> bool {
        self.input(i).is_none() || self.is_f32(&[i], &[])
    }
}

impl Launch {
    /// One thread for each of `n` outputs.
    fn flat(kernel: &'static str, n: i32, args: Vec<Arg>) -> Launch {
        Launch { kernel, grid: (n.max(1) as u32).div_ceil(BLOCK), args }
    }
}

fn int(v: usize) -> Option<i32> {
    i32::try_from(v).ok()
}

fn elems(info: TensorInfo) -> Option<i32> {
    int(info.len())
}

fn zp(info: &TensorInfo) -> Arg {
    Arg::I32(info.quant.zero_point)
}

/// Where the row sums of a k4n16 weight of `rows × k` in its full form start (`None` for the lean
/// form, which the kernels do not take, or another length).
fn full_sums(w: &Region, rows: usize, k: usize) -> Option<usize> {
    let (rp, kp) = (PackedI8::padded_rows(rows), PackedI8::padded_k(k));
    (w.len() == rp.checked_mul(kp)?.checked_add(rp.checked_mul(4)?)?).then_some(w.offset() + rp * kp)
}

fn qmatmul(t: &Tensors<'_, '_, '_, '_>, k: usize, n: usize, lo: i8, hi: i8) -> Option<Launch> {
    let w = t.inputs.get(1).filter(|r| r.place() == Place::Weight)?;
    let sums = full_sums(w, n, k)?;
    let rows = t.in_len(0)? / k.max(1);
    let (xi, oi) = (t.in_info(0)?, t.out_info(0)?);
    let args = vec![
        t.input(0)?,
        Arg::I32(int(rows)?),
        Arg::I32(int(k)?),
        Arg::Weight(w.offset()),
        Arg::Weight(sums),
        Arg::I32(int(n)?),
        t.input(2)?,
        t.input(3)?,
        zp(&xi),
        zp(&oi),
        Arg::I32(lo.into()),
        Arg::I32(hi.into()),
        t.output(0)?,
    ];
    Some(Launch::flat("ferrite_qgemm_dp4a", int(rows.checked_mul(n)?)?, args))
}

/// ConvParams as the kernels' `ferrite_conv_geom`.
fn geometry(g: &ConvParams) -> Option<Vec<i32>> {
    [g.n, g.c, g.h, g.w, g.m, g.oh, g.ow, g.kh, g.kw, g.group]
        .iter()
        .chain(&g.stride)
        .chain(&g.pad)
        .chain(&g.dilation)
        .map(|&v| int(v))
        .collect()
}

fn qconv(t: &Tensors<'_, '_, '_, '_>, g: &ConvParams, lo: i8, hi: i8, kind: QConvKind) -> Option<Launch> {
    let w = t.inputs.get(1).filter(|r| r.place() == Place::Weight)?;
    let (xi, oi) = (t.in_info(0)?, t.out_info(0)?);
    let n = int(g.n.checked_mul(g.oh)?.checked_mul(g.ow)?.checked_mul(g.m)?)?;
    if g.group == 0 || !g.c.is_multiple_of(g.group) || !g.m.is_multiple_of(g.group) {
        return None;
    }
    let mut args = vec![t.input(0)?, Arg::Words(geometry(g)?), Arg::Weight(w.offset())];
    let kernel = match kind {
        QConvKind::Packed => {
            let taps = g.kh * g.kw * (g.c / g.group);
            args.push(Arg::Weight(full_sums(w, g.m, taps)?));
            "ferrite_qconv_packed"
        }
        QConvKind::Depthwise if g.group == g.c && g.m == g.c && w.len() == g.kh * g.kw * g.m => {
            "ferrite_qconv_depthwise"
        }
        _ => return None,
    };
    args.extend([t.input(2)?, t.input(3)?, zp(&xi), zp(&oi), Arg::I32(lo.into()), Arg::I32(hi.into()), t.output(0)?]);
    Some(Launch::flat(kernel, n, args))
}

/// A shape (padded with 1s) and a mask, as the kernels' `ferrite_axes`.
fn axes(info: &TensorInfo, mask: u32) -> Option<Vec<i32>> {
    let mut words = vec![int(info.rank)?, i32::try_from(mask).ok()?];
    for i in 0..6 {
        words.push(int(if i < info.rank { info.dim(i) } else { 1 })?);
    }
    (info.rank <= 6).then_some(words)
}

fn qmean(t: &Tensors<'_, '_, '_, '_>, mask: u32) -> Option<Launch> {
    let (xi, oi) = (t.in_info(0)?, t.out_info(0)?);
    let rq = t.inputs.get(1).filter(|r| r.place() == Place::Weight && r.len() >= 8)?;
    let n = elems(oi)?;
    let args = vec![
        t.input(0)?,
        Arg::Words(axes(&xi, mask)?),
        zp(&xi),
        Arg::Weight(rq.offset()),
        zp(&oi),
        Arg::I32(n),
        t.output(0)?,
    ];
    Some(Launch::flat("ferrite_qmean", n, args))
}

fn quantize(t: &Tensors<'_, '_, '_, '_>) -> Option<Launch> {
    let (x, out, oi) = (t.input(0)?, t.output(0)?, t.out_info(0)?);
    let n = elems(oi)?;
    let (scale, zp) = (Arg::F32(oi.quant.scale()), zp(&oi));
    match (t.input(1), t.input(2)) {
        (None, None) => Some(Launch::flat("ferrite_quantize", n, vec![x, Arg::I32(n), scale, zp, out])),
        (Some(off), Some(mul)) => {
            // One offset and one multiplier per feature of a row.
            let row = t.in_len(1)? / 4;
            (row > 0 && t.in_len(2)? == row * 4).then_some(())?;
            let args = vec![x, Arg::I32(n), off, mul, Arg::I32(int(row)?), scale, zp, out];
            Some(Launch::flat("ferrite_quantize_affine", n, args))
        }
        _ => None,
    }
}

fn transpose(t: &Tensors<'_, '_, '_, '_>, perm: &[usize]) -> Option<Launch> {
    let (xi, oi) = (t.in_info(0)?, t.out_info(0)?);
    if xi.rank > 6 || oi.rank != xi.rank {
        return None;
    }
    // Row-major strides of the input, then each output axis's.
    let mut strides = [1usize; 6];
    for i in (0..xi.rank.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * xi.dim(i + 1);
    }
    let mut words = vec![int(xi.rank)?, int(xi.dtype.size())?];
    for i in 0..6 {
        words.push(int(if i < oi.rank { oi.dim(i) } else { 1 })?);
    }
    for i in 0..6 {
        words.push(if i < xi.rank { int(*strides.get(*perm.get(i)?)?)? } else { 0 });
    }
    let n = elems(oi)?;
    Some(Launch::flat("ferrite_transpose", n, vec![t.input(0)?, Arg::Words(words), Arg::I32(n), t.output(0)?]))
}

/// The kernels' code for a unary function (the runtime's `UnaryFn` number); `None` for Log,
/// whose libm `logf` the kernels do not reproduce.
fn act_code(f: UnaryFn) -> Option<i32> {
    (f != UnaryFn::Log).then_some(f as i32)
}

/// An f32 as the word a struct of ints and floats carries.
fn bits(v: f32) -> i32 {
    v.to_bits() as i32
}

/// `v`'s first `rank` values, padded with `pad` to 6 words.
fn six(v: &[usize], rank: usize, pad: i32) -> Option<Vec<i32>> {
    (0..6).map(|i| if i < rank { v.get(i).and_then(|&x| int(x)) } else { Some(pad) }).collect()
}

fn activation(a: &Activation) -> Option<[i32; 3]> {
    Some([act_code(a.func)?, bits(a.a), bits(a.b)])
}

fn matmul(t: &Tensors<'_, '_, '_, '_>, p: &Params) -> Option<Launch> {
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
        return None;
    };
    let (bi, oi) = (t.in_info(1)?, t.out_info(0)?);
    if !t.is_f32(&[0], &[0]) || !matches!(bi.dtype, DType::F32 | DType::F16) || !t.f32_or_absent(2) || oi.rank > 6 {
        return None;
    }
    let bias = t.input(2);
    let bias_strides = match &bias {
        Some(_) => broadcast_strides(&t.in_info(2)?, &oi),
        None => [0; 6],
    };
    let [f, aa, ab] = activation(&act)?;
    let mut g = vec![int(m)?, int(k)?, int(n)?, int(batch)?, trans_a.into(), trans_b.into()];
    g.extend([i32::from(bi.dtype == DType::F16), f, int(batch_rank)?, bias.is_some().into(), int(oi.rank)?]);
    g.extend([bits(alpha), aa, ab]);
    g.extend(six(&batch_dims, batch_rank, 1)?);
    g.extend(six(&a_batch_strides, batch_rank, 0)?);
    g.extend(six(&b_batch_strides, batch_rank, 0)?);
    g.extend(six(oi.shape(), oi.rank, 1)?);
    g.extend(six(&bias_strides, oi.rank, 0)?);
    let total = int(batch.checked_mul(m)?.checked_mul(n)?)?;
    let args = vec![t.input(0)?, t.input(1)?, bias.unwrap_or(Arg::Null), Arg::Words(g), t.output(0)?];
    Some(Launch::flat("ferrite_matmul", total, args))
}

fn conv_f32(t: &Tensors<'_, '_, '_, '_>, g: &ConvParams) -> Option<Launch> {
    let wi = t.in_info(1)?;
    if !t.is_f32(&[0], &[0]) || !matches!(wi.dtype, DType::F32 | DType::F16) || !t.f32_or_absent(2) {
        return None;
    }
    if g.group == 0 || !g.c.is_multiple_of(g.group) || !g.m.is_multiple_of(g.group) {
        return None;
    }
    let bias = t.input(2);
    let [f, aa, ab] = activation(&g.act)?;
    let mut words = geometry(g)?;
    words.extend([i32::from(wi.dtype == DType::F16), bias.is_some().into(), f, aa, ab]);
    let n = int(g.n.checked_mul(g.m)?.checked_mul(g.oh)?.checked_mul(g.ow)?)?;
    let args = vec![t.input(0)?, t.input(1)?, bias.unwrap_or(Arg::Null), Arg::Words(words), t.output(0)?];
    Some(Launch::flat("ferrite_conv_f32", n, args))
}

fn binary(t: &Tensors<'_, '_, '_, '_>, func: BinaryFn) -> Option<Launch> {
    let f = match func {
        BinaryFn::Add => 0,
        BinaryFn::Sub => 1,
        BinaryFn::Mul => 2,
        BinaryFn::Div => 3,
        _ => return None,
    };
    let oi = t.out_info(0)?;
    if !t.is_f32(&[0, 1], &[0]) || oi.rank > 6 {
        return None;
    }
    let (sa, sb) = (broadcast_strides(&t.in_info(0)?, &oi), broadcast_strides(&t.in_info(1)?, &oi));
    let mut words = vec![int(oi.rank)?, f];
    words.extend(six(oi.shape(), oi.rank, 1)?);
    words.extend(six(&sa, oi.rank, 0)?);
    words.extend(six(&sb, oi.rank, 0)?);
    let n = elems(oi)?;
    Some(Launch::flat(
        "ferrite_binary",
        n,
        vec![t.input(0)?, t.input(1)?, Arg::Words(words), Arg::I32(n), t.output(0)?],
    ))
}

/// Gather: indices checked on the device (an index out of range sets the status word, which the
/// backend turns into the CPU's error after the run).
fn gather(t: &Tensors<'_, '_, '_, '_>, [outer, axis_len, inner, n_idx]: [usize; 4], tag: i32) -> Option<Launch> {
    let (di, ii, oi) = (t.in_info(0)?, t.in_info(1)?, t.out_info(0)?);
    if ii.dtype != DType::I32 || t.in_len(1)? != n_idx * 4 {
        return None;
    }
    let (data, idx, out) = (t.input(0)?, t.input(1)?, t.output(0)?);
    if (di.dtype, oi.dtype) == (DType::I8, DType::F32) {
        // An int8 embedding: one scale per column.
        let cols = t.in_len(2)? / 4;
        let rows = t.in_len(0)?.checked_div(cols)?;
        let args = vec![
            data,
            t.input(2)?,
            idx,
            Arg::I32(int(n_idx)?),
            Arg::I32(int(rows)?),
            Arg::I32(int(cols)?),
            Arg::I32(tag),
            Arg::Status,
            out,
        ];
        return Some(Launch::flat("ferrite_gather_dequant", int(n_idx.checked_mul(cols)?)?, args));
    }
    let f16_to_f32 = match (di.dtype, oi.dtype) {
        (DType::F16, DType::F32) => true,
        (a, b) if a == b => false,
        _ => return None,
    };
    let n = int(outer.checked_mul(n_idx)?.checked_mul(inner)?)?;
    let geom =
        vec![int(outer)?, int(axis_len)?, int(inner)?, int(n_idx)?, int(di.dtype.size())?, f16_to_f32.into(), tag];
    Some(Launch::flat("ferrite_gather", n, vec![data, idx, Arg::Words(geom), Arg::Status, out]))
}

/// How a recurrent matrix is stored, as the kernels' `w_kind`: f32, f16, int8 row-major, or
/// int8 k4n16 in its full form (lean packed matrices stay on the CPU).
fn rnn_matrix_kind(t: &Tensors<'_, '_, '_, '_>, i: usize, packed: bool) -> Option<i32> {
    let info = t.in_info(i)?;
    match info.dtype {
        DType::F32 => Some(0),
        DType::F16 => Some(1),
        DType::I8 if !packed => Some(2),
        DType::I8 => {
            let k = info.dim(info.rank.checked_sub(1)?);
            full_sums(t.inputs.get(i)?, info.len() / k.max(1), k).map(|_| 3)
        }
        _ => None,
    }
}

/// LSTM and GRU: the recurrence as a sequence of launches, each phase of each step one launch
/// (init; per step: quantize (int8), products, the cell or GRU's gates, reset products and
/// hidden update; the final states), with the step and direction as arguments.
fn rnn(t: &Tensors<'_, '_, '_, '_>, p: &RnnParams) -> Option<Vec<Launch>> {
    let kind = rnn_matrix_kind(t, 1, p.packed)?;
    if rnn_matrix_kind(t, 2, p.packed)? != kind || (kind >= 2) != p.int8.is_some() {
        return None;
    }
    let xi = t.in_info(0)?;
    let x_i8 = xi.dtype == DType::I8;
    if !(xi.dtype == DType::F32 || (x_i8 && p.int8.is_some())) {
        return None;
    }
    let scratch = t.scratch.filter(|r| r.place() == Place::Arena)?;
    let i8_off = p.scratch_f32_len().checked_mul(4)?;
    if scratch.len() < i8_off + p.scratch_i8_len() {
        return None;
    }
    let opt = |i: usize| t.input(i).unwrap_or(Arg::Null);
    let out = |i: usize| t.output(i).unwrap_or(Arg::Null);
    let (c0, peep) = if p.lstm { (opt(5), opt(6)) } else { (Arg::Null, Arg::Null) };
    let first_scale = if p.lstm { 7 } else { 5 };
    let (ws, rs) =
        if p.int8.is_some() { (t.input(first_scale)?, t.input(first_scale + 1)?) } else { (Arg::Null, Arg::Null) };
    let q = p.int8.unwrap_or(ferrite_runtime::ops::RnnQuant { x_scale: 1.0, x_zp: 0, h_scale: 1.0, h_zp: 0 });
    let y_c = if p.lstm { out(2) } else { Arg::Null };
    let flag = |a: &Arg| i32::from(*a != Arg::Null);
    let mut g = vec![p.lstm.into(), int(p.seq)?, int(p.batch)?, int(p.input)?, int(p.hidden)?, int(p.dirs)?];
    g.extend([p.reverse_only.into(), p.batch_first.into(), p.linear_before_reset.into(), kind]);
    g.extend([p.int8.is_some().into(), x_i8.into(), flag(&opt(3)), flag(&opt(4)), flag(&c0), flag(&peep)]);
    g.extend([flag(&out(0)), flag(&out(1)), flag(&y_c), q.x_zp, q.h_zp, int(i8_off)?]);
    g.extend([bits(p.clip), bits(q.x_scale), bits(q.h_scale)]);
    let geom = Arg::Words(g);
    let sc = Arg::Arena(scratch.offset());
    let (bh, h, gh) = (int(p.batch * p.hidden)?, p.hidden, p.gates() * p.hidden);
    let launch = |kernel, threads: usize, args: Vec<Arg>| Some(Launch::flat(kernel, int(threads)?, args));
    let mut v = Vec::new();
    for d in 0..p.dirs {
        let di = Arg::I32(int(d)?);
        v.push(launch(
            "ferrite_rnn_init",
            bh as usize,
            vec![geom.clone(), di.clone(), opt(4), c0.clone(), sc.clone()],
        )?);
        for step in 0..p.seq {
            let ti = Arg::I32(int(if p.reverse_only || d == 1 { p.seq - 1 - step } else { step })?);
            if p.int8.is_some() {
                let args = vec![geom.clone(), ti.clone(), t.input(0)?, Arg::I32(0), sc.clone()];
                v.push(launch("ferrite_rnn_quantize", p.batch * (p.input + h), args)?);
            }
            let args = vec![
                geom.clone(),
                di.clone(),
                ti.clone(),
                t.input(0)?,
                t.input(1)?,
                t.input(2)?,
                opt(3),
                ws.clone(),
                rs.clone(),
                sc.clone(),
            ];
            v.push(launch("ferrite_rnn_products", p.batch * 2 * gh, args)?);
            if p.lstm {
                let args = vec![geom.clone(), di.clone(), ti.clone(), peep.clone(), sc.clone(), out(0)];
                v.push(launch("ferrite_lstm_cell", bh as usize, args)?);
                continue;
            }
            v.push(launch("ferrite_gru_gates", p.batch * 2 * h, vec![geom.clone(), sc.clone()])?);
            if !p.linear_before_reset {
                if p.int8.is_some() {
                    let args = vec![geom.clone(), ti.clone(), t.input(0)?, Arg::I32(1), sc.clone()];
                    v.push(launch("ferrite_rnn_quantize", p.batch * h, args)?);
                }
                let args = vec![geom.clone(), di.clone(), t.input(2)?, opt(3), rs.clone(), sc.clone()];
                v.push(launch("ferrite_gru_reset_products", bh as usize, args)?);
            }
            v.push(launch("ferrite_gru_hidden", bh as usize, vec![geom.clone(), di.clone(), ti, sc.clone(), out(0)])?);
        }
        v.push(launch("ferrite_rnn_final", bh as usize, vec![geom.clone(), di, sc.clone(), out(1), y_c.clone()])?);
    }
    Some(v)
}

/// DynQMatMul: the rows' maxima (into the op's scratch, where the CPU keeps their scales), the
/// rows quantized (after them in the scratch, as the CPU), then the product and its epilogue.
/// Packed weights in their full form, or lean ones whose rows fill whole blocks (the same bytes).
fn dynq(t: &Tensors<'_, '_, '_, '_>, k: usize, n: usize, act: &Activation, residual: bool) -> Option<Vec<Launch>> {
    let w = t.inputs.get(1).filter(|r| r.place() == Place::Weight)?;
    let lean_whole = n.is_multiple_of(16) && w.len() == n * PackedI8::padded_k(k);
    if full_sums(w, n, k).is_none() && !lean_whole {
        return None;
    }
    if !t.is_f32(&[0, 2], &[0]) || !t.f32_or_absent(3) || (residual && !t.is_f32(&[4], &[])) {
        return None;
    }
    let m = t.in_len(0)? / 4 / k.max(1);
    let scratch = t.scratch.filter(|r| r.place() == Place::Arena && r.len() >= m * 4 + m * k)?;
    let (maxima, xq) = (Arg::Arena(scratch.offset()), Arg::Arena(scratch.offset() + m * 4));
    let (mi, ki, ni) = (Arg::I32(int(m)?), Arg::I32(int(k)?), Arg::I32(int(n)?));
    let [f, aa, ab] = activation(act)?;
    let res = if residual { t.input(4)? } else { Arg::Null };
    Some(vec![
        Launch::flat("ferrite_dynq_max", int(m)?, vec![t.input(0)?, mi.clone(), ki.clone(), maxima.clone()]),
        Launch::flat(
            "ferrite_dynq_quantize",
            int(m * k)?,
            vec![t.input(0)?, mi.clone(), ki.clone(), maxima.clone(), xq.clone()],
        ),
        Launch::flat(
            "ferrite_dynq_gemm",
            int(m.checked_mul(n)?)?,
            vec![
                xq,
                maxima,
                mi,
                ki,
                Arg::Weight(w.offset()),
                ni,
                t.input(2)?,
                t.input(3).unwrap_or(Arg::Null),
                Arg::I32(f),
                Arg::F32(f32::from_bits(aa as u32)),
                Arg::F32(f32::from_bits(ab as u32)),
                res,
                t.output(0)?,
            ],
        ),
    ])
}
