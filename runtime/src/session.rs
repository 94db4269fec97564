//! Running a model inside one arena. The arena is the only memory inference writes: graph
//! inputs, every activation, recurrent scratch and the outputs live in it at the offsets the
//! artifact's plan gives. `run` makes no heap allocation, so the same code runs on firmware with a
//! caller-provided (e.g. `static`) buffer.

use crate::error::{Error, Result};
use crate::format::{Artifact, DType, Storage, NO_TENSOR, SECTION_ALIGN};
use crate::kernels::generic::{self as k, FloatSrc};
use crate::kernels::KernelTable;
use crate::model::{info_of, Model, MAX_IO};
use crate::ops::{self, OpCode, OpTensors, Params, TensorInfo};
use zerocopy::FromBytes;

/// Alignment the arena must have.
pub const ARENA_ALIGN: usize = SECTION_ALIGN as usize;

/// One graph input's values. Integer inputs of ONNX type int64 (token ids) are accepted as
/// `I64` and narrowed to the model's i32 with a range check.
#[derive(Debug, Clone, Copy)]
pub enum Input<'x> {
    /// f32 values.
    F32(&'x [f32]),
    /// i32 values.
    I32(&'x [i32]),
    /// i64 values (must fit in i32).
    I64(&'x [i64]),
    /// u8 values.
    U8(&'x [u8]),
}

/// A borrowed view of one output after `run`.
#[derive(Debug, Clone, Copy)]
pub enum OutputData<'s> {
    /// f32 values.
    F32(&'s [f32]),
    /// i32 values.
    I32(&'s [i32]),
    /// u8 values.
    U8(&'s [u8]),
    /// i8 values (quantized: see the tensor's [`crate::ops::Quant`]).
    I8(&'s [i8]),
}

#[cfg(feature = "alloc")]
#[derive(Clone, Copy, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
#[repr(C, align(64))]
struct Block([u8; 64]);

enum ArenaBuf<'b> {
    Borrowed(&'b mut [u8]),
    #[cfg(feature = "alloc")]
    Owned(alloc::vec::Vec<Block>, usize),
}

impl ArenaBuf<'_> {
    fn bytes(&mut self) -> &mut [u8] {
        match self {
            ArenaBuf::Borrowed(b) => b,
            #[cfg(feature = "alloc")]
            ArenaBuf::Owned(v, len) => {
                let all: &mut [u8] = zerocopy::IntoBytes::as_mut_bytes(v.as_mut_slice());
                all.get_mut(..*len).unwrap_or(&mut [])
            }
        }
    }
}

/// An inference session: a model, an arena and the kernel table chosen for this CPU.
pub struct Session<'m, 'a, 'b> {
    model: &'m Model<'a>,
    arena: ArenaBuf<'b>,
    kernels: KernelTable,
}

impl<'m, 'a, 'b> Session<'m, 'a, 'b> {
    /// A session over a caller-provided arena of at least [`Model::arena_len`] bytes, aligned to
    /// [`ARENA_ALIGN`].
    pub fn with_arena(model: &'m Model<'a>, arena: &'b mut [u8]) -> Result<Self> {
        let needed = model.arena_len();
        if arena.len() < needed {
            return Err(Error::ArenaTooSmall { needed: needed as u64, given: arena.len() as u64 });
        }
        if !(arena.as_ptr() as usize).is_multiple_of(ARENA_ALIGN) {
            return Err(Error::ArenaMisaligned);
        }
        Ok(Session { model, arena: ArenaBuf::Borrowed(arena), kernels: KernelTable::detect() })
    }

    /// The kernel table in use.
    pub fn kernels(&self) -> &KernelTable {
        &self.kernels
    }

    /// Replaces the kernel table (tests force the generic tier this way).
    pub fn set_kernels(&mut self, table: KernelTable) {
        self.kernels = table;
    }

    /// Runs the model on `inputs` (one per graph input, in order) and returns the outputs, which
    /// borrow the arena until the next run.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<Outputs<'_>> {
        self.run_inner(inputs, None)
    }

    /// [`Session::run`], calling `observe` after each op with each tensor the op wrote (in op order,
    /// while it is still live): how calibration collects activation ranges and how per-layer error is
    /// measured. Allocation-free like `run`.
    pub fn run_observed(&mut self, inputs: &[Input<'_>], mut observe: impl FnMut(Observed<'_>)) -> Result<Outputs<'_>> {
        self.run_inner(inputs, Some(&mut observe))
    }

    fn run_inner(
        &mut self,
        inputs: &[Input<'_>],
        mut observe: Option<&mut dyn FnMut(Observed<'_>)>,
    ) -> Result<Outputs<'_>> {
        let art = self.model.artifact();
        let arena = self.arena.bytes();
        write_inputs(&art, arena, inputs)?;
        let kernels = self.kernels;
        for (index, rec) in art.ops.iter().enumerate() {
            run_op(&art, arena, index as u32, rec, &kernels)?;
            let Some(observe) = observe.as_mut() else { continue };
            let outs = art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).unwrap_or(&[]);
            for t in outs.iter().map(|t| t.get()).filter(|&t| t != crate::format::NO_TENSOR) {
                let (Some(trec), Some((off, len))) = (art.tensors.get(t as usize), arena_region(&art, t)) else {
                    continue;
                };
                let Some(bytes) = arena.get(off..off + len) else { continue };
                let info = info_of(trec);
                let data = match info.dtype {
                    DType::F32 => <[f32]>::ref_from_bytes(bytes).ok().map(OutputData::F32),
                    DType::I32 => <[i32]>::ref_from_bytes(bytes).ok().map(OutputData::I32),
                    DType::U8 => Some(OutputData::U8(bytes)),
                    DType::I8 => <[i8]>::ref_from_bytes(bytes).ok().map(OutputData::I8),
                    _ => None,
                };
                if let Some(data) = data {
                    observe(Observed {
                        op: index as u32,
                        tensor: t,
                        name: art.string(&trec.name).unwrap_or(""),
                        info,
                        data,
                    });
                }
            }
        }
        Ok(Outputs { art, arena })
    }
}

/// One tensor an op just wrote (see [`Session::run_observed`]).
#[derive(Debug, Clone, Copy)]
pub struct Observed<'s> {
    /// Index of the op in execution order.
    pub op: u32,
    /// Tensor index in the artifact.
    pub tensor: u32,
    /// Tensor name (from the source graph).
    pub name: &'s str,
    /// Type and shape.
    pub info: TensorInfo,
    /// Values.
    pub data: OutputData<'s>,
}

#[cfg(feature = "alloc")]
impl<'m, 'a> Session<'m, 'a, 'static> {
    /// A session that allocates its own arena (once, here; `run` allocates nothing).
    pub fn new(model: &'m Model<'a>) -> Result<Self> {
        let len = model.arena_len();
        let blocks = len.div_ceil(ARENA_ALIGN);
        // The arena size comes from the file: refuse, rather than abort on, an impossible request.
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(blocks).map_err(|_| Error::OutOfMemory { needed: len as u64 })?;
        v.resize(blocks, Block([0; 64]));
        Ok(Session { model, arena: ArenaBuf::Owned(v, len), kernels: KernelTable::detect() })
    }
}

/// The outputs of one run.
pub struct Outputs<'s> {
    art: Artifact<'s>,
    arena: &'s [u8],
}

impl<'s> Outputs<'s> {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.art.plan.outputs_len.get() as usize
    }
    /// True when the model has no outputs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Output `i`: name, type and shape, values.
    pub fn get(&self, i: usize) -> Option<(&'s str, TensorInfo, OutputData<'s>)> {
        let ix =
            self.art.index_range(self.art.plan.outputs_start.get(), self.art.plan.outputs_len.get())?.get(i)?.get();
        let rec = self.art.tensors.get(ix as usize)?;
        let info = info_of(rec);
        let bytes = arena_region(&self.art, ix)?;
        let bytes = self.arena.get(bytes.0..bytes.0 + bytes.1)?;
        let data = match info.dtype {
            DType::F32 => OutputData::F32(<[f32]>::ref_from_bytes(bytes).ok()?),
            DType::I32 => OutputData::I32(<[i32]>::ref_from_bytes(bytes).ok()?),
            DType::U8 => OutputData::U8(bytes),
            DType::I8 => OutputData::I8(<[i8]>::ref_from_bytes(bytes).ok()?),
            _ => return None,
        };
        Some((self.art.string(&rec.name).unwrap_or(""), info, data))
    }
    /// Output `i` as f32 values (None for other types).
    pub fn f32(&self, i: usize) -> Option<&'s [f32]> {
        match self.get(i)?.2 {
            OutputData::F32(v) => Some(v),
            _ => None,
        }
    }
}

/// (offset, len) of an arena tensor.
fn arena_region(art: &Artifact<'_>, tensor: u32) -> Option<(usize, usize)> {
    let i = art.slots.binary_search_by_key(&tensor, |s| s.tensor.get()).ok()?;
    let s = art.slots.get(i)?;
    let t = art.tensors.get(tensor as usize)?;
    Some((s.offset.get() as usize, t.byte_len.get() as usize))
}

fn write_inputs(art: &Artifact<'_>, arena: &mut [u8], inputs: &[Input<'_>]) -> Result<()> {
    let ids = art.index_range(art.plan.inputs_start.get(), art.plan.inputs_len.get()).unwrap_or(&[]);
    if inputs.len() != ids.len() {
        return Err(Error::BadInput { index: inputs.len() as u32, rule: "wrong number of inputs" });
    }
    for (i, (id, input)) in ids.iter().zip(inputs).enumerate() {
        let index = i as u32;
        let bad = |rule| Error::BadInput { index, rule };
        let rec = art.tensors.get(id.get() as usize).ok_or(bad("unknown tensor"))?;
        let info = info_of(rec);
        let (off, len) = arena_region(art, id.get()).ok_or(bad("no arena slot"))?;
        let dst = arena.get_mut(off..off + len).ok_or(bad("slot outside the arena"))?;
        let n = info.len();
        match (info.dtype, input) {
            (DType::F32, Input::F32(v)) if v.len() == n => {
                dst.copy_from_slice(zerocopy::IntoBytes::as_bytes(*v));
            }
            (DType::I32, Input::I32(v)) if v.len() == n => {
                dst.copy_from_slice(zerocopy::IntoBytes::as_bytes(*v));
            }
            (DType::I32, Input::I64(v)) if v.len() == n => {
                let out = <[i32]>::mut_from_bytes(dst).map_err(|_| bad("misaligned slot"))?;
                for (o, &x) in out.iter_mut().zip(v.iter()) {
                    *o = i32::try_from(x).map_err(|_| bad("int64 value does not fit in int32"))?;
                }
            }
            (DType::U8, Input::U8(v)) if v.len() == n => dst.copy_from_slice(v),
            _ => {
                let len_ok = match input {
                    Input::F32(v) => v.len() == n,
                    Input::I32(v) => v.len() == n,
                    Input::I64(v) => v.len() == n,
                    Input::U8(v) => v.len() == n,
                };
                return Err(bad(if len_ok {
                    "element type does not match the model input"
                } else {
                    "element count does not match the model input"
                }));
            }
        }
    }
    Ok(())
}

/// One tensor an op touches: in the weights, or an arena region.
#[derive(Clone, Copy)]
enum Loc {
    Absent,
    Weight(usize, usize),
    Arena(usize, usize),
}

fn locate(art: &Artifact<'_>, t: u32) -> Result<(Loc, Option<TensorInfo>)> {
    if t == NO_TENSOR {
        return Ok((Loc::Absent, None));
    }
    let rec = art.tensors.get(t as usize).ok_or(Error::BadPlan("tensor index"))?;
    let info = info_of(rec);
    if rec.storage == Storage::Weights as u8 {
        Ok((Loc::Weight(rec.offset.get() as usize, rec.byte_len.get() as usize), Some(info)))
    } else {
        let (o, l) = arena_region(art, t).ok_or(Error::BadPlan("no arena slot"))?;
        Ok((Loc::Arena(o, l), Some(info)))
    }
}

const MAX_REGIONS: usize = 2 * MAX_IO + 1;

/// Splits the arena into the op's regions: shared views for inputs, exclusive ones for outputs
/// and scratch. The plan guarantees writes never overlap anything live (checked at load); a
/// violation here is reported, not trusted.
fn carve<'r>(
    arena: &'r mut [u8],
    regions: &[(usize, usize, bool)],
    reads: &mut [&'r [u8]; MAX_REGIONS],
    writes: &mut [Option<&'r mut [u8]>; MAX_REGIONS],
) -> Result<()> {
    let n = regions.len();
    let mut order = [0usize; MAX_REGIONS];
    for (i, o) in order.iter_mut().enumerate().take(n) {
        *o = i;
    }
    let order = order.get_mut(..n).ok_or(Error::BadPlan("too many regions"))?;
    order.sort_unstable_by_key(|&i| regions.get(i).map_or(0, |r| r.0));
    let mut rest: &'r mut [u8] = arena;
    let mut cursor = 0usize;
    let mut last: Option<(usize, usize, usize)> = None; // (offset, len, region) of the last carved read
    for &i in order.iter() {
        let &(off, len, write) = regions.get(i).ok_or(Error::BadPlan("region"))?;
        if let Some((lo, ll, li)) = last {
            if !write && lo == off && ll == len {
                // The same tensor read twice.
                let shared = *reads.get(li).ok_or(Error::BadPlan("region"))?;
                if let Some(r) = reads.get_mut(i) {
                    *r = shared;
                }
                continue;
            }
        }
        if off < cursor {
            return Err(Error::BadPlan("op regions overlap"));
        }
        let skip = off - cursor;
        if rest.len() < skip + len {
            return Err(Error::BadPlan("region outside the arena"));
        }
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(skip);
        let (piece, tail) = tail.split_at_mut(len);
        rest = tail;
        cursor = off + len;
        if write {
            if let Some(w) = writes.get_mut(i) {
                *w = Some(piece);
            }
            last = None;
        } else {
            let piece: &'r [u8] = piece;
            if let Some(r) = reads.get_mut(i) {
                *r = piece;
            }
            last = Some((off, len, i));
        }
    }
    Ok(())
}

fn f32s(b: &[u8]) -> Result<&[f32]> {
    <[f32]>::ref_from_bytes(b).map_err(|_| Error::BadPlan("misaligned f32 tensor"))
}
fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32]> {
    <[f32]>::mut_from_bytes(b).map_err(|_| Error::BadPlan("misaligned f32 tensor"))
}
fn i8s(b: &[u8]) -> Result<&[i8]> {
    <[i8]>::ref_from_bytes(b).map_err(|_| Error::BadPlan("i8 tensor"))
}
fn i8s_mut(b: &mut [u8]) -> Result<&mut [i8]> {
    <[i8]>::mut_from_bytes(b).map_err(|_| Error::BadPlan("i8 tensor"))
}
fn i32s(b: &[u8]) -> Result<&[i32]> {
    <[i32]>::ref_from_bytes(b).map_err(|_| Error::BadPlan("misaligned i32 tensor"))
}
fn requants(b: &[u8]) -> Result<&[k::int8::Requant]> {
    <[k::int8::Requant]>::ref_from_bytes(b).map_err(|_| Error::BadPlan("misaligned requantization tensor"))
}

fn matrix<'x>(bytes: &'x [u8], info: &TensorInfo, scales: Option<&'x [u8]>) -> Result<k::Matrix<'x>> {
    if info.dtype == DType::I8 {
        let s = scales.ok_or(Error::BadPlan("int8 matrix without row scales"))?;
        Ok(k::Matrix::Int8 { q: i8s(bytes)?, scales: f32s(s)? })
    } else {
        Ok(k::Matrix::Float(float_src(bytes, info)?))
    }
}

fn float_src<'x>(b: &'x [u8], info: &TensorInfo) -> Result<FloatSrc<'x>> {
    match info.dtype {
        DType::F32 => Ok(FloatSrc::F32(f32s(b)?)),
        DType::F16 => {
            Ok(FloatSrc::F16(<[u16]>::ref_from_bytes(b).map_err(|_| Error::BadPlan("misaligned f16 tensor"))?))
        }
        _ => Err(Error::BadPlan("expected a float tensor")),
    }
}

/// Views two byte regions as slices of the unsigned type of the element size, then runs `$body`:
/// data movement does not care what the bits mean.
macro_rules! by_size {
    ($dt:expr, $x:expr, $out:expr, |$xv:ident, $ov:ident| $body:expr) => {
        match $dt.size() {
            4 => {
                let $xv = <[u32]>::ref_from_bytes($x).map_err(|_| Error::BadPlan("misaligned tensor"))?;
                let $ov = <[u32]>::mut_from_bytes($out).map_err(|_| Error::BadPlan("misaligned tensor"))?;
                $body
            }
            2 => {
                let $xv = <[u16]>::ref_from_bytes($x).map_err(|_| Error::BadPlan("misaligned tensor"))?;
                let $ov = <[u16]>::mut_from_bytes($out).map_err(|_| Error::BadPlan("misaligned tensor"))?;
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

fn run_op(
    art: &Artifact<'_>,
    arena: &mut [u8],
    index: u32,
    rec: &crate::format::OpRecord,
    kt: &KernelTable,
) -> Result<()> {
    let bad = |rule| Error::BadOp { index, rule };
    let code = OpCode::from_u32(rec.opcode.get()).ok_or(bad("unknown op code"))?;
    let ins = art.index_range(rec.inputs_start.get(), rec.inputs_len.get()).ok_or(bad("inputs"))?;
    let outs = art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).ok_or(bad("outputs"))?;
    let (ni, no) = (ins.len(), outs.len());
    if ni > MAX_IO || no > MAX_IO {
        return Err(bad("too many inputs or outputs"));
    }
    let mut in_loc = [Loc::Absent; MAX_IO];
    let mut in_info = [None; MAX_IO];
    let mut in_w = [false; MAX_IO];
    let mut out_loc = [Loc::Absent; MAX_IO];
    let mut out_info = [None; MAX_IO];
    for (j, t) in ins.iter().enumerate() {
        let (l, i) = locate(art, t.get())?;
        if let (Some(a), Some(b), Some(c)) = (in_loc.get_mut(j), in_info.get_mut(j), in_w.get_mut(j)) {
            *a = l;
            *b = i;
            *c = matches!(l, Loc::Weight(..));
        }
    }
    for (j, t) in outs.iter().enumerate() {
        let (l, i) = locate(art, t.get())?;
        if let (Some(a), Some(b)) = (out_loc.get_mut(j), out_info.get_mut(j)) {
            *a = l;
            *b = i;
        }
    }
    let (scratch_loc, scratch_info) = locate(art, rec.scratch.get())?;
    let words_le = art.attr_range(rec.attrs_start.get(), rec.attrs_len.get()).ok_or(bad("attrs"))?;
    let mut words = [0u32; 64];
    for (d, s) in words.iter_mut().zip(words_le) {
        *d = s.get();
    }
    let words = words.get(..words_le.len()).ok_or(bad("attrs"))?;
    let params = ops::prepare(
        code,
        words,
        &OpTensors {
            inputs: in_info.get(..ni).unwrap_or(&[]),
            outputs: out_info.get(..no).unwrap_or(&[]),
            input_is_weight: in_w.get(..ni).unwrap_or(&[]),
            scratch: scratch_info,
        },
    )
    .map_err(bad)?;

    // Regions: inputs (arena ones), then outputs, then scratch.
    let mut regions = [(0usize, 0usize, false); MAX_REGIONS];
    let mut region_of_in = [usize::MAX; MAX_IO];
    let mut region_of_out = [usize::MAX; MAX_IO];
    let mut nr = 0usize;
    for j in 0..ni {
        if let Some(Loc::Arena(o, l)) = in_loc.get(j) {
            if let (Some(r), Some(m)) = (regions.get_mut(nr), region_of_in.get_mut(j)) {
                *r = (*o, *l, false);
                *m = nr;
            }
            nr += 1;
        }
    }
    for j in 0..no {
        if let Some(Loc::Arena(o, l)) = out_loc.get(j) {
            if let (Some(r), Some(m)) = (regions.get_mut(nr), region_of_out.get_mut(j)) {
                *r = (*o, *l, true);
                *m = nr;
            }
            nr += 1;
        }
    }
    let mut scratch_region = usize::MAX;
    if let Loc::Arena(o, l) = scratch_loc {
        if let Some(r) = regions.get_mut(nr) {
            *r = (o, l, true);
            scratch_region = nr;
        }
        nr += 1;
    }
    let mut reads: [&[u8]; MAX_REGIONS] = [&[]; MAX_REGIONS];
    let mut writes: [Option<&mut [u8]>; MAX_REGIONS] = [const { None }; MAX_REGIONS];
    carve(arena, regions.get(..nr).unwrap_or(&[]), &mut reads, &mut writes)?;

    // Resolved views.
    let input = |j: usize| -> Option<(&[u8], TensorInfo)> {
        let info = (*in_info.get(j)?)?;
        match *in_loc.get(j)? {
            Loc::Absent => None,
            Loc::Weight(o, l) => Some((art.weights.get(o..o + l)?, info)),
            Loc::Arena(..) => Some((*reads.get(*region_of_in.get(j)?)?, info)),
        }
    };
    let need_in = |j: usize| input(j).ok_or(bad("missing input"));
    let mut take_out = |j: usize| -> Option<(&mut [u8], TensorInfo)> {
        let info = (*out_info.get(j)?)?;
        let r = *region_of_out.get(j)?;
        Some((writes.get_mut(r)?.take()?, info))
    };

    match params {
        Params::Gather { outer, axis_len, inner, .. } => {
            let (data, dinfo) = need_in(0)?;
            let (idx, _) = need_in(1)?;
            let idx = <[i32]>::ref_from_bytes(idx).map_err(|_| bad("misaligned indices"))?;
            let (out, oinfo) = take_out(0).ok_or(bad("missing output"))?;
            let res = match (dinfo.dtype, oinfo.dtype) {
                (DType::I8, DType::F32) => {
                    k::int8::gather_dequant(i8s(data)?, f32s(need_in(2)?.0)?, idx, f32s_mut(out)?)
                }
                (DType::F16, DType::F32) | (DType::F32, DType::F32) => {
                    k::gather(&float_src(data, &dinfo)?, outer, axis_len, inner, idx, f32s_mut(out)?)
                }
                (DType::I32, DType::I32) => k::gather_raw(
                    <[u32]>::ref_from_bytes(data).map_err(|_| bad("align"))?,
                    outer,
                    axis_len,
                    inner,
                    idx,
                    <[u32]>::mut_from_bytes(out).map_err(|_| bad("align"))?,
                ),
                (DType::F16, DType::F16) => k::gather_raw(
                    <[u16]>::ref_from_bytes(data).map_err(|_| bad("align"))?,
                    outer,
                    axis_len,
                    inner,
                    idx,
                    <[u16]>::mut_from_bytes(out).map_err(|_| bad("align"))?,
                ),
                _ => k::gather_raw(data, outer, axis_len, inner, idx, out),
            };
            res.map_err(|_| bad("Gather index out of range"))?;
        }
        Params::MatMul { .. } => {
            let (a, ai) = need_in(0)?;
            let (b, bi) = need_in(1)?;
            let bias = match input(2) {
                Some((bb, binfo)) => Some((f32s(bb)?, binfo)),
                None => None,
            };
            let (out, oinfo) = take_out(0).ok_or(bad("missing output"))?;
            k::matmul(
                &params,
                &float_src(a, &ai)?,
                &float_src(b, &bi)?,
                bias.as_ref().map(|(v, i)| (*v, i)),
                &oinfo,
                f32s_mut(out)?,
                kt.dot_f32,
            );
        }
        Params::Conv(p) => {
            let (x, _) = need_in(0)?;
            let (w, wi) = need_in(1)?;
            let bias = match input(2) {
                Some((bb, _)) => Some(f32s(bb)?),
                None => None,
            };
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::conv(&p, f32s(x)?, &float_src(w, &wi)?, bias, f32s_mut(out)?);
        }
        Params::Unary { func, a, b } => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::unary(func, a, b, f32s(x)?, f32s_mut(out)?);
        }
        Params::Binary { func } => {
            let (a, ai) = need_in(0)?;
            let (b, bi) = need_in(1)?;
            let (out, oinfo) = take_out(0).ok_or(bad("missing output"))?;
            k::binary(func, (f32s(a)?, &ai), (f32s(b)?, &bi), &oinfo, f32s_mut(out)?);
        }
        Params::Softmax { outer, axis_len, inner, log } => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::softmax(outer, axis_len, inner, log, f32s(x)?, f32s_mut(out)?);
        }
        Params::LayerNorm { outer, inner, eps } => {
            let (x, _) = need_in(0)?;
            let (s, _) = need_in(1)?;
            let bias = match input(2) {
                Some((bb, _)) => Some(f32s(bb)?),
                None => None,
            };
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::layer_norm(outer, inner, eps, f32s(x)?, f32s(s)?, bias, f32s_mut(out)?);
        }
        Params::Reduce { func, mask } => {
            let (x, xi) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::reduce(func, mask, f32s(x)?, &xi, f32s_mut(out)?);
        }
        Params::Pool(p) => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::pool(&p, f32s(x)?, f32s_mut(out)?);
        }
        Params::Copy => {
            let (x, _) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            out.copy_from_slice(x.get(..out.len()).ok_or(bad("size"))?);
        }
        Params::Transpose { perm } => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            by_size!(xi.dtype, x, out, |x, o| k::transpose(&perm, x, &xi, &oi, o));
        }
        Params::Slice { starts, steps } => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            by_size!(xi.dtype, x, out, |x, o| k::slice(&starts, &steps, x, &xi, &oi, o));
        }
        Params::Expand => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            by_size!(xi.dtype, x, out, |x, o| k::expand(x, &xi, &oi, o));
        }
        Params::Concat { axis } => {
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            // Concatenation is a sequence of contiguous byte copies: no typed view needed.
            let outer: usize = oi.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner_bytes: usize =
                oi.shape().get(axis + 1..).unwrap_or(&[]).iter().product::<usize>() * oi.dtype.size();
            let mut o = 0usize;
            for i in 0..outer {
                for j in 0..ni {
                    let (x, xi) = need_in(j)?;
                    let chunk = xi.dim(axis) * inner_bytes;
                    let src = x.get(i * chunk..(i + 1) * chunk).ok_or(bad("size"))?;
                    out.get_mut(o..o + chunk).ok_or(bad("size"))?.copy_from_slice(src);
                    o += chunk;
                }
            }
        }
        Params::Split { axis } => {
            let (x, xi) = need_in(0)?;
            let outer: usize = xi.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner_bytes: usize =
                xi.shape().get(axis + 1..).unwrap_or(&[]).iter().product::<usize>() * xi.dtype.size();
            let mut parts: [Option<(&mut [u8], TensorInfo)>; MAX_IO] = [const { None }; MAX_IO];
            for (j, p) in parts.iter_mut().enumerate().take(no) {
                *p = take_out(j);
            }
            let mut src = 0usize;
            for i in 0..outer {
                for (dst, oi) in parts.iter_mut().take(no).flatten() {
                    let chunk = oi.dim(axis) * inner_bytes;
                    let s = x.get(src..src + chunk).ok_or(bad("size"))?;
                    dst.get_mut(i * chunk..(i + 1) * chunk).ok_or(bad("size"))?.copy_from_slice(s);
                    src += chunk;
                }
            }
        }
        Params::Where => {
            let (c, ci) = need_in(0)?;
            let (x, xi) = need_in(1)?;
            let (y, yi) = need_in(2)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            let x = <[u32]>::ref_from_bytes(x).map_err(|_| bad("align"))?;
            let y = <[u32]>::ref_from_bytes(y).map_err(|_| bad("align"))?;
            k::where_select((c, &ci), (x, &xi), (y, &yi), &oi, <[u32]>::mut_from_bytes(out).map_err(|_| bad("align"))?);
        }
        Params::Cast => {
            let (x, xi) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            match (xi.dtype, oi.dtype) {
                (DType::F32, DType::F32) | (DType::I32, DType::I32) | (DType::U8, DType::U8) => {
                    out.copy_from_slice(x.get(..out.len()).ok_or(bad("size"))?)
                }
                (DType::F32, DType::I32) => k::cast(f32s(x)?, <[i32]>::mut_from_bytes(out).map_err(|_| bad("align"))?),
                (DType::F32, DType::U8) => k::cast(f32s(x)?, out),
                (DType::I32, DType::F32) => {
                    k::cast(<[i32]>::ref_from_bytes(x).map_err(|_| bad("align"))?, f32s_mut(out)?)
                }
                (DType::I32, DType::U8) => k::cast(<[i32]>::ref_from_bytes(x).map_err(|_| bad("align"))?, out),
                (DType::U8, DType::F32) => k::cast(x, f32s_mut(out)?),
                (DType::U8, DType::I32) => k::cast(x, <[i32]>::mut_from_bytes(out).map_err(|_| bad("align"))?),
                _ => return Err(bad("unsupported cast")),
            }
        }
        Params::Rnn(p) => {
            let (x, _) = need_in(0)?;
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
                x: f32s(x)?,
                w: matrix(w, &wi, ws)?,
                r: matrix(r, &ri, rs)?,
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
            let scratch = writes.get_mut(scratch_region).and_then(|w| w.take()).ok_or(bad("missing scratch"))?;
            let split = (p.scratch_f32_len() * 4).min(scratch.len());
            let (fs, qs) = scratch.split_at_mut(split);
            k::rnn(&p, &inputs, &mut outputs, f32s_mut(fs)?, i8s_mut(qs)?, kt.dot_f32);
        }
        Params::Quantize => {
            let (x, _) = need_in(0)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
            k::int8::quantize_slice(f32s(x)?, oi.quant.scale(), oi.quant.zero_point, i8s_mut(out)?);
        }
        Params::Dequantize => {
            let (x, xi) = need_in(0)?;
            let (out, _) = take_out(0).ok_or(bad("missing output"))?;
            k::int8::dequantize_slice(i8s(x)?, xi.quant.scale(), xi.quant.zero_point, f32s_mut(out)?);
        }
        Params::QMatMul { lo, hi, .. } | Params::QConv { lo, hi, .. } => {
            let (x, xi) = need_in(0)?;
            let (w, _) = need_in(1)?;
            let (b, _) = need_in(2)?;
            let (rq, _) = need_in(3)?;
            let (out, oi) = take_out(0).ok_or(bad("missing output"))?;
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
                return Err(bad("int8 product: bad requantization or sizes"));
            }
        }
    }
    Ok(())
}
