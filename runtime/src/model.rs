//! A validated model: [`Model::from_bytes`] runs every check of the format once, then hands out
//! borrowed views. Loading is O(records), not O(weights): weights are never touched except by
//! the optional checksum pass.

use crate::error::{Error, Result};
use crate::format::{Artifact, DType, OpRecord, Storage, TensorRecord, MAX_RANK, NO_OP, NO_TENSOR, SECTION_ALIGN};
use crate::ops::{self, OpCode, OpTensors, Params, TensorInfo};
use crate::preprocess::Preprocessing;

/// Most inputs (or outputs) one op may have; bounds the fixed-size buffers of a session.
pub const MAX_IO: usize = 32;
/// Most arena tensors an artifact may have (bounds the O(n²) overlap check on hostile files).
pub const MAX_ARENA_TENSORS: usize = 16384;

/// How to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Verify the CRC-32 over the whole file (O(file size)); on by default.
    pub verify_checksum: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { verify_checksum: true }
    }
}

enum Data<'a> {
    Borrowed(&'a [u8]),
    #[cfg(feature = "std")]
    Mapped(memmap2::Mmap),
}

/// A validated model borrowing (or, from [`Model::open`], mapping) its artifact bytes.
pub struct Model<'a> {
    data: Data<'a>,
}

impl core::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model").field("bytes", &self.bytes().len()).finish()
    }
}

/// A graph input or output as the user sees it.
#[derive(Debug, Clone, Copy)]
pub struct TensorDesc<'a> {
    /// Tensor index in the artifact.
    pub index: u32,
    /// Name from the source model.
    pub name: &'a str,
    /// Type and shape.
    pub info: TensorInfo,
}

/// One op, for inspection.
#[derive(Debug, Clone, Copy)]
pub struct OpDesc<'a> {
    /// Op code.
    pub code: OpCode,
    /// Name from the source graph.
    pub name: &'a str,
    /// The op's record (inputs, outputs and attribute ranges).
    pub record: &'a OpRecord,
}

/// Type and shape of a tensor record (validated by `Artifact::parse`).
pub(crate) fn info_of(t: &TensorRecord) -> TensorInfo {
    let mut dims = [1usize; MAX_RANK];
    for (d, v) in dims.iter_mut().zip(t.dims.iter()).take(t.rank as usize) {
        *d = v.get() as usize;
    }
    let quant = if t.quant_kind == 1 {
        crate::ops::Quant { scale_bits: t.scale.get().to_bits(), zero_point: t.zero_point.get() }
    } else {
        crate::ops::Quant::default()
    };
    TensorInfo { dtype: DType::from_u8(t.dtype).unwrap_or(DType::F32), rank: t.rank as usize, dims, quant }
}

impl<'a> Model<'a> {
    /// Validates `bytes` (checksum included) and borrows them. `bytes` must start on a 64-byte
    /// boundary (see [`crate::AlignedBytes`] for heap copies).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, LoadOptions::default())
    }

    /// [`Model::from_bytes`] with options.
    pub fn from_bytes_with(bytes: &'a [u8], opts: LoadOptions) -> Result<Self> {
        validate(bytes, opts)?;
        Ok(Model { data: Data::Borrowed(bytes) })
    }

    /// The artifact bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Borrowed(b) => b,
            #[cfg(feature = "std")]
            Data::Mapped(m) => m,
        }
    }

    /// Structural view of the bytes (cheap: O(sections); the O(n) checks ran at load).
    pub fn artifact(&self) -> Artifact<'_> {
        match Artifact::parse_structure(self.bytes(), false) {
            Ok(a) => a,
            // Unreachable: the same bytes passed the full parse at load, and they are immutable.
            Err(_) => Artifact::empty(),
        }
    }

    /// Bytes of arena a session needs (saturating on 32-bit targets, where such an arena could
    /// not be allocated anyway).
    pub fn arena_len(&self) -> usize {
        usize::try_from(self.artifact().plan.arena_len.get()).unwrap_or(usize::MAX)
    }

    /// The metadata JSON (name, task, labels, model card...).
    pub fn metadata(&self) -> &str {
        self.artifact().metadata
    }

    fn descs(&self, inputs: bool) -> impl Iterator<Item = TensorDesc<'_>> + '_ {
        let art = self.artifact();
        let (start, len) = if inputs {
            (art.plan.inputs_start.get(), art.plan.inputs_len.get())
        } else {
            (art.plan.outputs_start.get(), art.plan.outputs_len.get())
        };
        art.index_range(start, len).unwrap_or(&[]).iter().filter_map(move |i| {
            let t = art.tensors.get(i.get() as usize)?;
            Some(TensorDesc { index: i.get(), name: art.string(&t.name).unwrap_or(""), info: info_of(t) })
        })
    }

    /// Number of class labels (0 when the artifact has none).
    pub fn label_count(&self) -> usize {
        self.artifact().labels.len()
    }

    /// Label of class `i` of the first output, if the artifact has labels.
    pub fn label(&self, i: usize) -> Option<&str> {
        let art = self.artifact();
        art.labels.get(i).and_then(|r| art.string(r).ok())
    }

    /// Labels of the classes of the first output, in class order.
    pub fn labels(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.label_count()).map(|i| self.label(i).unwrap_or(""))
    }

    /// The preprocessing the artifact carries (tokenizer, audio frontend, or none).
    pub fn preprocessing(&self) -> Preprocessing<'_> {
        // Validated at load; `view` is O(1).
        crate::preprocess::view(&self.artifact()).unwrap_or(Preprocessing::None)
    }

    /// Graph inputs, in order.
    pub fn inputs(&self) -> impl Iterator<Item = TensorDesc<'_>> + '_ {
        self.descs(true)
    }

    /// Graph outputs, in order.
    pub fn outputs(&self) -> impl Iterator<Item = TensorDesc<'_>> + '_ {
        self.descs(false)
    }

    /// Ops in execution order.
    pub fn ops(&self) -> impl Iterator<Item = OpDesc<'_>> + '_ {
        let art = self.artifact();
        art.ops.iter().filter_map(move |r| {
            Some(OpDesc { code: OpCode::from_u32(r.opcode.get())?, name: art.string(&r.name).unwrap_or(""), record: r })
        })
    }

    /// Every tensor: name, info, storage.
    pub fn tensors(&self) -> impl Iterator<Item = (TensorDesc<'_>, Storage)> + '_ {
        let art = self.artifact();
        art.tensors.iter().enumerate().map(move |(i, t)| {
            let storage = if t.storage == 1 { Storage::Weights } else { Storage::Arena };
            (TensorDesc { index: i as u32, name: art.string(&t.name).unwrap_or(""), info: info_of(t) }, storage)
        })
    }
}

#[cfg(feature = "std")]
impl Model<'static> {
    /// Maps the file at `path` read-only and validates it (checksum included).
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::open_with(path, LoadOptions::default())
    }

    /// [`Model::open`] with options.
    pub fn open_with(path: impl AsRef<std::path::Path>, opts: LoadOptions) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::Io(e.raw_os_error()))?;
        // SAFETY: the mapping is read-only and private to this process. Another process truncating
        // or rewriting the file while it is mapped could change the bytes under us (or raise
        // SIGBUS); Ferrite documents that artifacts must not be modified while loaded, as every
        // mmap-based loader (safetensors, llama.cpp) does. Validation below runs on the mapped bytes.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::Io(e.raw_os_error()))?;
        validate(&map, opts)?;
        Ok(Model { data: Data::Mapped(map) })
    }
}

fn slot_of<'b>(art: &Artifact<'b>, tensor: u32) -> Option<&'b crate::format::ArenaSlot> {
    let i = art.slots.binary_search_by_key(&tensor, |s| s.tensor.get()).ok()?;
    art.slots.get(i)
}

/// Every check past the structure: plan consistency, op semantics, liveness.
fn validate(bytes: &[u8], opts: LoadOptions) -> Result<()> {
    let art = Artifact::parse(bytes, opts.verify_checksum)?;
    validate_preprocessing(&art)?;
    let n_ops = art.ops.len() as u32;
    let arena_len = art.plan.arena_len.get();

    // Slots: strictly sorted by tensor, one per arena tensor, aligned, inside the arena.
    let arena_tensors = art.tensors.iter().filter(|t| t.storage == Storage::Arena as u8).count();
    if arena_tensors > MAX_ARENA_TENSORS {
        return Err(Error::BadPlan("more than 16384 arena tensors"));
    }
    if art.slots.len() != arena_tensors {
        return Err(Error::BadPlan("slot count differs from the number of arena tensors"));
    }
    let mut prev: Option<u32> = None;
    for s in art.slots {
        let t = s.tensor.get();
        if prev.is_some_and(|p| p >= t) {
            return Err(Error::BadPlan("slots not strictly sorted by tensor"));
        }
        prev = Some(t);
        let rec = art.tensors.get(t as usize).ok_or(Error::BadPlan("slot names a missing tensor"))?;
        if rec.storage != Storage::Arena as u8 {
            return Err(Error::BadPlan("slot names a weight tensor"));
        }
        if s.reserved.get() != 0 {
            return Err(Error::BadPlan("reserved must be 0"));
        }
        if !s.offset.get().is_multiple_of(SECTION_ALIGN) {
            return Err(Error::BadPlan("slot offset not 64-byte aligned"));
        }
        let end = s.offset.get().checked_add(rec.byte_len.get()).ok_or(Error::BadPlan("slot overflows"))?;
        if end > arena_len {
            return Err(Error::BadPlan("slot runs past the arena"));
        }
        let (d, l) = (s.def_op.get(), s.last_op.get());
        if d != NO_OP && (d >= n_ops || l < d) {
            return Err(Error::BadPlan("bad live range"));
        }
        if l > n_ops {
            return Err(Error::BadPlan("last use past the end"));
        }
    }
    // The arena is exactly as large as the slots need: no slack a file could use to ask a
    // session for memory no tensor uses.
    let extent = art
        .slots
        .iter()
        .map(|s| {
            let len = art.tensors.get(s.tensor.get() as usize).map_or(0, |t| t.byte_len.get());
            crate::format::align_up(s.offset.get().saturating_add(len)).unwrap_or(u64::MAX)
        })
        .max()
        .unwrap_or(0);
    if extent != arena_len {
        return Err(Error::BadPlan("arena_len is not the aligned end of the last slot"));
    }
    // Live ranges [def, last] (graph inputs from "-1") that intersect must not share bytes.
    for (i, a) in art.slots.iter().enumerate() {
        let a_len = art.tensors.get(a.tensor.get() as usize).map_or(0, |t| t.byte_len.get());
        for b in art.slots.iter().skip(i + 1) {
            let b_len = art.tensors.get(b.tensor.get() as usize).map_or(0, |t| t.byte_len.get());
            let start =
                |s: &crate::format::ArenaSlot| if s.def_op.get() == NO_OP { -1i64 } else { s.def_op.get() as i64 };
            let live_overlap = start(a) <= b.last_op.get() as i64 && start(b) <= a.last_op.get() as i64;
            let (ao, bo) = (a.offset.get(), b.offset.get());
            let mem_overlap = a_len > 0 && b_len > 0 && ao < bo + b_len && bo < ao + a_len;
            if live_overlap && mem_overlap {
                return Err(Error::BadPlan("tensors live at the same time share arena bytes"));
            }
        }
    }
    // Graph inputs are written by the caller; outputs live to the end.
    for (start, len, is_input) in [
        (art.plan.inputs_start.get(), art.plan.inputs_len.get(), true),
        (art.plan.outputs_start.get(), art.plan.outputs_len.get(), false),
    ] {
        for t in art.index_range(start, len).unwrap_or(&[]) {
            let s = slot_of(&art, t.get()).ok_or(Error::BadPlan("graph input or output is not in the arena"))?;
            if is_input && s.def_op.get() != NO_OP {
                return Err(Error::BadPlan("graph input written by an op"));
            }
            if !is_input && s.last_op.get() != n_ops {
                return Err(Error::BadPlan("graph output not live to the end"));
            }
            let ok = matches!(
                DType::from_u8(art.tensors.get(t.get() as usize).map_or(0, |r| r.dtype)),
                Some(DType::F32 | DType::I32 | DType::U8)
            );
            if !ok {
                return Err(Error::BadPlan("graph inputs and outputs must be f32, i32 or u8"));
            }
        }
    }
    for s in art.slots {
        if s.def_op.get() == NO_OP {
            let listed = art
                .index_range(art.plan.inputs_start.get(), art.plan.inputs_len.get())
                .unwrap_or(&[])
                .iter()
                .any(|t| t.get() == s.tensor.get());
            if !listed {
                return Err(Error::BadPlan("arena tensor never written"));
            }
        }
    }

    for (k, rec) in art.ops.iter().enumerate() {
        let index = k as u32;
        let bad = |rule| Error::BadOp { index, rule };
        let code = OpCode::from_u32(rec.opcode.get()).ok_or(bad("unknown op code"))?;
        let ins = art.index_range(rec.inputs_start.get(), rec.inputs_len.get()).unwrap_or(&[]);
        let outs = art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).unwrap_or(&[]);
        if ins.len() > MAX_IO || outs.len() > MAX_IO {
            return Err(bad("more than 32 inputs or outputs"));
        }
        let mut in_info = [None; MAX_IO];
        let mut in_w = [false; MAX_IO];
        let mut out_info = [None; MAX_IO];
        for (j, t) in ins.iter().enumerate() {
            let t = t.get();
            if t == NO_TENSOR {
                continue;
            }
            let r = art.tensors.get(t as usize).ok_or(bad("input index"))?;
            if r.storage == Storage::Arena as u8 {
                let s = slot_of(&art, t).ok_or(bad("arena input has no slot"))?;
                let def_ok = s.def_op.get() == NO_OP || s.def_op.get() < index;
                if !def_ok || s.last_op.get() < index {
                    return Err(bad("input read outside its live range"));
                }
            }
            if let (Some(i), Some(w)) = (in_info.get_mut(j), in_w.get_mut(j)) {
                *i = Some(info_of(r));
                *w = r.storage == Storage::Weights as u8;
            }
        }
        for (j, t) in outs.iter().enumerate() {
            let t = t.get();
            if t == NO_TENSOR {
                continue;
            }
            let r = art.tensors.get(t as usize).ok_or(bad("output index"))?;
            if r.storage != Storage::Arena as u8 {
                return Err(bad("output stored in weights"));
            }
            let s = slot_of(&art, t).ok_or(bad("output has no slot"))?;
            if s.def_op.get() != index {
                return Err(bad("output's slot names another writer"));
            }
            if ins.iter().any(|i| i.get() == t) || outs.iter().filter(|o| o.get() == t).count() > 1 {
                return Err(bad("output aliases another input or output"));
            }
            if let Some(o) = out_info.get_mut(j) {
                *o = Some(info_of(r));
            }
        }
        let scratch = match rec.scratch.get() {
            NO_TENSOR => None,
            t => {
                let r = art.tensors.get(t as usize).ok_or(bad("scratch index"))?;
                let s = slot_of(&art, t).ok_or(bad("scratch has no slot"))?;
                if s.def_op.get() != index || s.last_op.get() != index {
                    return Err(bad("scratch must live during its op only"));
                }
                Some(info_of(r))
            }
        };
        let words = art.attr_range(rec.attrs_start.get(), rec.attrs_len.get()).unwrap_or(&[]);
        let mut w32 = [0u32; 64];
        if words.len() > w32.len() {
            return Err(bad("more than 64 attribute words"));
        }
        for (d, s) in w32.iter_mut().zip(words) {
            *d = s.get();
        }
        let t = OpTensors {
            inputs: in_info.get(..ins.len()).unwrap_or(&[]),
            outputs: out_info.get(..outs.len()).unwrap_or(&[]),
            input_is_weight: in_w.get(..ins.len()).unwrap_or(&[]),
            scratch,
        };
        let _params: Params = ops::prepare(code, w32.get(..words.len()).unwrap_or(&[]), &t).map_err(bad)?;
    }
    // Every slot written by an op is that op's output (the per-op check saw each output's slot
    // name its writer; this closes the other direction).
    for s in art.slots {
        let d = s.def_op.get();
        if d == NO_OP {
            continue;
        }
        let rec = art.ops.get(d as usize).ok_or(Error::BadPlan("writer out of range"))?;
        let outs = art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).unwrap_or(&[]);
        if !outs.iter().any(|o| o.get() == s.tensor.get()) && rec.scratch.get() != s.tensor.get() {
            return Err(Error::BadPlan("slot's writer does not write it"));
        }
    }
    Ok(())
}

/// Labels resolve to UTF-8 strings and match the first output's last dimension; preprocessing
/// parameters are in range and fit the first input (ids for text, features for audio).
fn validate_preprocessing(art: &Artifact<'_>) -> Result<()> {
    for r in art.labels {
        art.string(r)?;
    }
    let first = |start: u32, len: u32| {
        art.index_range(start, len.min(1))
            .and_then(|i| i.first())
            .and_then(|t| art.tensors.get(t.get() as usize))
            .map(info_of)
    };
    if !art.labels.is_empty() {
        let out = first(art.plan.outputs_start.get(), art.plan.outputs_len.get())
            .ok_or(Error::BadPreprocess("labels without an output"))?;
        let classes = if out.rank == 0 { 1 } else { out.dims.get(out.rank - 1).copied().unwrap_or(0) };
        if classes != art.labels.len() {
            return Err(Error::BadPreprocess("label count differs from the first output's last dimension"));
        }
    }
    let input = first(art.plan.inputs_start.get(), art.plan.inputs_len.get());
    match crate::preprocess::validate(art)? {
        Preprocessing::Text(t) => {
            let i = input.ok_or(Error::BadPreprocess("tokenizer without an input"))?;
            if i.dtype != DType::I32 || i.len() != t.seq_len() {
                return Err(Error::BadPreprocess("first input must hold seq_len integer ids"));
            }
        }
        Preprocessing::Audio(a) => {
            let i = input.ok_or(Error::BadPreprocess("audio frontend without an input"))?;
            if i.dtype != DType::F32 || i.len() != a.feature_len() {
                return Err(Error::BadPreprocess("first input must hold n_frames x n_features f32 values"));
            }
        }
        Preprocessing::None => {}
    }
    Ok(())
}
