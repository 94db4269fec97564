//! Running a model inside one arena. The arena is the only memory inference writes: graph
//! inputs, every activation, recurrent scratch and the outputs live in it at the offsets the
//! artifact's plan gives. Creating a session prepares every op once (kernel parameters, kernel
//! tier, regions: see `prepare`); `run` makes no heap allocation, so the same code runs on
//! firmware with caller-provided (e.g. `static`) buffers.

mod exec;
mod prepare;
mod split;

pub(crate) use prepare::region_count;
pub use prepare::{Place, PreparedOp, Region};
pub use split::{OpSlot, Ran, Span};

use crate::error::{Error, Result};
use crate::format::{Artifact, DType, Storage, SECTION_ALIGN};
use crate::kernels::{KernelTable, Tier};
use crate::model::{info_of, Model};
use crate::ops::TensorInfo;
use zerocopy::{FromBytes, IntoBytes, KnownLayout};

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
    /// i8 values (an int8 input: quantized with the input tensor's scale and zero point).
    I8(&'x [i8]),
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

/// How a session runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// Force a kernel tier (an error if this CPU lacks it). `None`: the `FERRITE_KERNELS`
    /// environment variable (std builds) if set, else the best tier the CPU has.
    pub tier: Option<Tier>,
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

/// The prepared ops and their regions: caller-provided tables or (feature `alloc`) owned ones.
enum Prepared<'b> {
    Borrowed(&'b mut [PreparedOp], &'b mut [Region]),
    #[cfg(feature = "alloc")]
    Owned(alloc::vec::Vec<PreparedOp>, alloc::vec::Vec<Region>),
}

impl Prepared<'_> {
    fn parts(&mut self) -> (&mut [PreparedOp], &mut [Region]) {
        match self {
            Prepared::Borrowed(o, r) => (o, r),
            #[cfg(feature = "alloc")]
            Prepared::Owned(o, r) => (o, r),
        }
    }
    fn view(&self) -> (&[PreparedOp], &[Region]) {
        match self {
            Prepared::Borrowed(o, r) => (o, r),
            #[cfg(feature = "alloc")]
            Prepared::Owned(o, r) => (o, r),
        }
    }
}

/// An inference session: a model, an arena, the kernel table chosen for this CPU and the ops
/// prepared against it.
pub struct Session<'m, 'a, 'b> {
    model: &'m Model<'a>,
    art: Artifact<'m>,
    arena: ArenaBuf<'b>,
    kernels: KernelTable,
    prepared: Prepared<'b>,
}

fn table_for(opts: &SessionOptions) -> Result<KernelTable> {
    #[cfg(feature = "std")]
    let env = Tier::from_env()?;
    #[cfg(not(feature = "std"))]
    let env: Option<Tier> = None;
    match opts.tier.or(env) {
        Some(t) => KernelTable::for_tier(t),
        None => Ok(KernelTable::detect()),
    }
}

fn check_arena(model: &Model<'_>, arena: &[u8]) -> Result<()> {
    let needed = model.arena_len();
    if arena.len() < needed {
        return Err(Error::ArenaTooSmall { needed: needed as u64, given: arena.len() as u64 });
    }
    if !(arena.as_ptr() as usize).is_multiple_of(ARENA_ALIGN) {
        return Err(Error::ArenaMisaligned);
    }
    Ok(())
}

impl<'m, 'a, 'b> Session<'m, 'a, 'b> {
    /// A session over caller-provided buffers, allocating nothing: an arena of at least
    /// [`Model::arena_len`] bytes aligned to [`ARENA_ALIGN`], [`Model::op_count`] op entries and
    /// [`Model::region_count`] region entries (fill them with [`PreparedOp::EMPTY`] and
    /// [`Region::EMPTY`]).
    pub fn with_buffers(
        model: &'m Model<'a>,
        arena: &'b mut [u8],
        ops: &'b mut [PreparedOp],
        regions: &'b mut [Region],
        opts: SessionOptions,
    ) -> Result<Self> {
        check_arena(model, arena)?;
        let (no, nr) = (model.op_count(), model.region_count());
        let ops_given = ops.len();
        let ops = ops.get_mut(..no).ok_or(Error::BufferSize { needed: no as u64, given: ops_given as u64 })?;
        let regions_given = regions.len();
        let regions =
            regions.get_mut(..nr).ok_or(Error::BufferSize { needed: nr as u64, given: regions_given as u64 })?;
        Self::build(model, ArenaBuf::Borrowed(arena), Prepared::Borrowed(ops, regions), opts)
    }

    fn build(model: &'m Model<'a>, arena: ArenaBuf<'b>, prepared: Prepared<'b>, opts: SessionOptions) -> Result<Self> {
        let kernels = table_for(&opts)?;
        let mut s = Session { model, art: model.artifact(), arena, kernels, prepared };
        s.prepare()?;
        s.reset();
        debug!(
            "ferrite: session of {=usize} ops, arena {=usize} bytes, kernels {=str}",
            model.op_count(),
            model.arena_len(),
            kernels.tier.name()
        );
        Ok(s)
    }

    /// Prepares every op against the current kernel table.
    fn prepare(&mut self) -> Result<()> {
        let art = self.art;
        let kernels = self.kernels;
        let (ops, regions) = self.prepared.parts();
        let ids = |start: u32, len: u32| art.index_range(start, len).unwrap_or(crate::format::Words::EMPTY);
        let io = ids(art.plan.inputs_start.get(), art.plan.inputs_len.get())
            .iter()
            .chain(ids(art.plan.outputs_start.get(), art.plan.outputs_len.get()));
        let mut at = 0usize;
        for t in io {
            *regions.get_mut(at).ok_or(Error::BadPlan(rule!("region table")))? = prepare::region_of(&art, t)?;
            at += 1;
        }
        for (k, op) in ops.iter_mut().enumerate() {
            let rec = art.ops.get(k).ok_or(Error::BadPlan(rule!("op table")))?;
            let n = rec.inputs_len.get() as usize
                + rec.outputs_len.get() as usize
                + usize::from(rec.scratch.get() != crate::format::NO_TENSOR);
            let slice = regions.get_mut(at..at + n).ok_or(Error::BadPlan(rule!("region table")))?;
            *op = prepare::prepare_op(&art, k as u32, &kernels, at as u32, slice)?;
            at += n;
        }
        Ok(())
    }

    /// The model this session runs.
    pub fn model(&self) -> &'m Model<'a> {
        self.model
    }

    /// The kernel table in use.
    pub fn kernels(&self) -> &KernelTable {
        &self.kernels
    }

    /// Switches every op to the kernels of `tier` (an error if this CPU lacks it).
    pub fn set_tier(&mut self, tier: Tier) -> Result<()> {
        self.kernels = KernelTable::for_tier(tier)?;
        self.prepare()
    }

    /// The prepared ops, in execution order (their code and kernel tier).
    pub fn ops(&self) -> &[PreparedOp] {
        self.prepared.view().0
    }

    /// Zeroes every state tensor (the start of a new stream). Done when the session is created.
    pub fn reset(&mut self) {
        let art = self.art;
        let arena = self.arena.bytes();
        for s in art.slots.iter() {
            let state = art.tensors.storage(s.tensor.get() as usize) == Some(Storage::State as u8);
            if let (true, Ok(r)) = (state, prepare::region_of(&art, s.tensor.get())) {
                if let Some(b) = arena.get_mut(r.offset..r.offset + r.len) {
                    b.fill(0);
                }
            }
        }
    }

    /// Runs the model on `inputs` (one per graph input, in order) and returns the outputs, which
    /// borrow the arena until the next run.
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<Outputs<'_>> {
        self.run_inner(inputs, None, None)
    }

    /// The bytes of graph input `i` in the arena, to be filled in place before
    /// [`Session::run_in_place`]: firmware can write features or token ids straight into the arena
    /// and keep no input buffer of its own. Runs reuse the arena, so fill every input before
    /// every run.
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8]> {
        let bad = |rule| Error::BadInput { index: i as u32, rule };
        if i >= self.art.plan.inputs_len.get() as usize {
            return Err(bad(rule!("no such input")));
        }
        let (_, regions) = self.prepared.view();
        let r = *regions.get(i).ok_or(bad(rule!("no such input")))?;
        self.arena.bytes().get_mut(r.offset..r.offset + r.len).ok_or(bad(rule!("slot outside the arena")))
    }

    /// [`Session::input_bytes_mut`] of an f32 input, as floats.
    pub fn input_f32_mut(&mut self, i: usize) -> Result<&mut [f32]> {
        self.typed_input(i, DType::F32)
    }

    /// [`Session::input_bytes_mut`] of an i32 input (token ids), as integers.
    pub fn input_i32_mut(&mut self, i: usize) -> Result<&mut [i32]> {
        self.typed_input(i, DType::I32)
    }

    fn typed_input<T: FromBytes + IntoBytes + KnownLayout>(&mut self, i: usize, dtype: DType) -> Result<&mut [T]> {
        let bad = |rule| Error::BadInput { index: i as u32, rule };
        let (_, regions) = self.prepared.view();
        let t = regions.get(i).ok_or(bad(rule!("no such input")))?.tensor;
        if crate::model::info_at(&self.art.tensors, t as usize).map(|i| i.dtype) != Some(dtype) {
            return Err(bad(rule!("element type does not match the model input")));
        }
        <[T]>::mut_from_bytes(self.input_bytes_mut(i)?).map_err(|_| bad(rule!("misaligned slot")))
    }

    /// The outputs as the arena holds them now: the last run's, until the arena is written again
    /// (what a C caller reads after `ferrite_session_run`).
    pub fn outputs(&mut self) -> Outputs<'_> {
        let art = self.art;
        let (_, regions) = self.prepared.view();
        let n_in = art.plan.inputs_len.get() as usize;
        let outputs = regions.get(n_in..n_in + art.plan.outputs_len.get() as usize).unwrap_or(&[]);
        Outputs { art, arena: self.arena.bytes(), regions: outputs }
    }

    /// Runs the model on the inputs as they are in the arena (written through
    /// [`Session::input_bytes_mut`] and its typed forms).
    pub fn run_in_place(&mut self) -> Result<Outputs<'_>> {
        self.exec(None, None)
    }

    /// [`Session::run`], adding to `ticks[k]` what `clock` advanced while op `k` ran (`ticks` holds
    /// one counter per op; any monotonic clock: nanoseconds on a host, a cycle counter on firmware).
    /// Allocation-free like `run`.
    pub fn run_profiled(
        &mut self,
        inputs: &[Input<'_>],
        mut clock: impl FnMut() -> u64,
        ticks: &mut [u64],
    ) -> Result<Outputs<'_>> {
        self.run_inner(inputs, None, Some((&mut clock, ticks)))
    }

    /// [`Session::run`], calling `observe` after each op with each tensor the op wrote and every
    /// alias of it (in op order, while it is still live; aliases of graph inputs before the first
    /// op, with `op` 0): how calibration collects activation ranges and how per-layer error is
    /// measured. Allocation-free like `run`.
    pub fn run_observed(&mut self, inputs: &[Input<'_>], mut observe: impl FnMut(Observed<'_>)) -> Result<Outputs<'_>> {
        self.run_inner(inputs, Some(&mut observe), None)
    }

    fn run_inner(
        &mut self,
        inputs: &[Input<'_>],
        observe: Option<&mut dyn FnMut(Observed<'_>)>,
        profile: Option<(&mut dyn FnMut() -> u64, &mut [u64])>,
    ) -> Result<Outputs<'_>> {
        {
            let (_, regions) = self.prepared.view();
            write_inputs(&self.art, self.arena.bytes(), regions, inputs)?;
        }
        self.exec(observe, profile)
    }

    /// Runs every op over the inputs already in the arena.
    fn exec(
        &mut self,
        mut observe: Option<&mut dyn FnMut(Observed<'_>)>,
        mut profile: Option<(&mut dyn FnMut() -> u64, &mut [u64])>,
    ) -> Result<Outputs<'_>> {
        let art = self.art;
        let kernels = self.kernels;
        let arena = self.arena.bytes();
        let (ops, regions) = self.prepared.view();
        if let Some(observe) = observe.as_mut() {
            let n_in = art.plan.inputs_len.get() as usize;
            for r in regions.get(..n_in).unwrap_or(&[]) {
                observe_aliases(&art, arena, 0, r, &mut **observe);
            }
        }
        for (index, op) in ops.iter().enumerate() {
            let regs = op.regions(regions);
            let start = profile.as_mut().map(|(clock, _)| clock());
            exec::run_op(&art, arena, index as u32, op, regs, &kernels)?;
            if let (Some((clock, ticks)), Some(start)) = (profile.as_mut(), start) {
                if let Some(t) = ticks.get_mut(index) {
                    *t = t.saturating_add(clock().saturating_sub(start));
                }
            }
            let Some(observe) = observe.as_mut() else { continue };
            let outs = regs.get(op.n_in as usize..op.n_in as usize + op.n_out as usize).unwrap_or(&[]);
            for r in outs.iter().filter(|r| r.place == Place::Arena) {
                let (Some(trec), Some(bytes)) =
                    (art.tensors.get(r.tensor as usize), arena.get(r.offset..r.offset + r.len))
                else {
                    continue;
                };
                let info = info_of(trec);
                if let Some(data) = output_data(info.dtype, bytes) {
                    observe(Observed {
                        op: index as u32,
                        tensor: r.tensor,
                        name: art.string(&trec.name).unwrap_or(""),
                        info,
                        data,
                    });
                }
                observe_aliases(&art, arena, index as u32, r, &mut **observe);
            }
        }
        Ok(self.outputs())
    }
}

/// Delivers every alias of the tensor in region `r` (an arena region just written) to `observe`.
fn observe_aliases(art: &Artifact<'_>, arena: &[u8], op: u32, r: &Region, observe: &mut dyn FnMut(Observed<'_>)) {
    for (t, rec) in art.tensors.iter().enumerate() {
        if rec.storage != crate::format::Storage::Alias as u8 || rec.alias_of.get() != r.tensor {
            continue;
        }
        let (Ok(off), Ok(len)) = (usize::try_from(rec.offset.get()), usize::try_from(rec.byte_len.get())) else {
            continue;
        };
        let Some(bytes) = arena.get(r.offset + off..r.offset + off + len) else { continue };
        let info = info_of(rec);
        if let Some(data) = output_data(info.dtype, bytes) {
            observe(Observed { op, tensor: t as u32, name: art.string(&rec.name).unwrap_or(""), info, data });
        }
    }
}

fn output_data(dtype: DType, bytes: &[u8]) -> Option<OutputData<'_>> {
    match dtype {
        DType::F32 => <[f32]>::ref_from_bytes(bytes).ok().map(OutputData::F32),
        DType::I32 => <[i32]>::ref_from_bytes(bytes).ok().map(OutputData::I32),
        DType::U8 => Some(OutputData::U8(bytes)),
        DType::I8 => <[i8]>::ref_from_bytes(bytes).ok().map(OutputData::I8),
        DType::F16 => None,
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
    /// A session that allocates its own arena and op tables (once, here; `run` allocates nothing).
    pub fn new(model: &'m Model<'a>) -> Result<Self> {
        Self::with_options(model, SessionOptions::default())
    }

    /// [`Session::new`] with options (a forced kernel tier).
    pub fn with_options(model: &'m Model<'a>, opts: SessionOptions) -> Result<Self> {
        let len = model.arena_len();
        let blocks = len.div_ceil(ARENA_ALIGN);
        // The arena size comes from the file: refuse, rather than abort on, an impossible request.
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(blocks).map_err(|_| Error::OutOfMemory { needed: len as u64 })?;
        v.resize(blocks, Block([0; 64]));
        Self::build(model, ArenaBuf::Owned(v, len), owned_tables(model)?, opts)
    }
}

#[cfg(feature = "alloc")]
fn owned_tables(model: &Model<'_>) -> Result<Prepared<'static>> {
    let (no, nr) = (model.op_count(), model.region_count());
    let mut ops = alloc::vec::Vec::new();
    ops.try_reserve_exact(no).map_err(|_| Error::OutOfMemory { needed: no as u64 })?;
    ops.resize(no, PreparedOp::EMPTY);
    let mut regions = alloc::vec::Vec::new();
    regions.try_reserve_exact(nr).map_err(|_| Error::OutOfMemory { needed: nr as u64 })?;
    regions.resize(nr, Region::EMPTY);
    Ok(Prepared::Owned(ops, regions))
}

#[cfg(feature = "alloc")]
impl<'m, 'a, 'b> Session<'m, 'a, 'b> {
    /// A session over a caller-provided arena of at least [`Model::arena_len`] bytes, aligned to
    /// [`ARENA_ALIGN`]; the op tables are allocated here (see [`Session::with_buffers`] for none).
    pub fn with_arena(model: &'m Model<'a>, arena: &'b mut [u8]) -> Result<Self> {
        check_arena(model, arena)?;
        Self::build(model, ArenaBuf::Borrowed(arena), owned_tables(model)?, SessionOptions::default())
    }
}

/// The outputs of one run.
pub struct Outputs<'s> {
    art: Artifact<'s>,
    arena: &'s [u8],
    regions: &'s [Region],
}

impl<'s> Outputs<'s> {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.regions.len()
    }
    /// True when the model has no outputs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Output `i`: name, type and shape, values.
    pub fn get(&self, i: usize) -> Option<(&'s str, TensorInfo, OutputData<'s>)> {
        let r = self.regions.get(i)?;
        let rec = self.art.tensors.get(r.tensor as usize)?;
        let info = info_of(rec);
        let data = output_data(info.dtype, self.arena.get(r.offset..r.offset + r.len)?)?;
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

fn write_inputs(art: &Artifact<'_>, arena: &mut [u8], regions: &[Region], inputs: &[Input<'_>]) -> Result<()> {
    let n = art.plan.inputs_len.get() as usize;
    if inputs.len() != n {
        return Err(Error::BadInput { index: inputs.len() as u32, rule: rule!("wrong number of inputs") });
    }
    for (i, (r, input)) in regions.iter().take(n).zip(inputs).enumerate() {
        let index = i as u32;
        let bad = |rule| Error::BadInput { index, rule };
        let rec = art.tensors.get(r.tensor as usize).ok_or(bad(rule!("unknown tensor")))?;
        let info = info_of(rec);
        let dst = arena.get_mut(r.offset..r.offset + r.len).ok_or(bad(rule!("slot outside the arena")))?;
        let n = info.len();
        match (info.dtype, input) {
            (DType::F32, Input::F32(v)) if v.len() == n => {
                dst.copy_from_slice(zerocopy::IntoBytes::as_bytes(*v));
            }
            (DType::I32, Input::I32(v)) if v.len() == n => {
                dst.copy_from_slice(zerocopy::IntoBytes::as_bytes(*v));
            }
            (DType::I32, Input::I64(v)) if v.len() == n => {
                let out = <[i32]>::mut_from_bytes(dst).map_err(|_| bad(rule!("misaligned slot")))?;
                for (o, &x) in out.iter_mut().zip(v.iter()) {
                    *o = i32::try_from(x).map_err(|_| bad(rule!("int64 value does not fit in int32")))?;
                }
            }
            (DType::U8, Input::U8(v)) if v.len() == n => dst.copy_from_slice(v),
            (DType::I8, Input::I8(v)) if v.len() == n => dst.copy_from_slice(zerocopy::IntoBytes::as_bytes(*v)),
            _ => {
                let len_ok = match input {
                    Input::F32(v) => v.len() == n,
                    Input::I32(v) => v.len() == n,
                    Input::I64(v) => v.len() == n,
                    Input::U8(v) => v.len() == n,
                    Input::I8(v) => v.len() == n,
                };
                return Err(bad(if len_ok {
                    rule!("element type does not match the model input")
                } else {
                    rule!("element count does not match the model input")
                }));
            }
        }
    }
    Ok(())
}
