//! A validated model: [`Model::from_bytes`] runs every check of the format once, then hands out
//! borrowed views. Loading is O(records), not O(weights): weights are never touched except by
//! the optional checksum pass.

use crate::error::{Error, Result};
use crate::format::{
    Artifact, DType, Layout, OpRecord, Storage, TensorRecord, MAX_RANK, NO_OP, NO_TENSOR, SECTION_ALIGN,
};
use crate::ops::{self, OpCode, OpTensors, Params, TensorInfo};
use crate::preprocess::Preprocessing;

/// Most inputs and outputs together one op may have; bounds the fixed-size buffers of a session.
pub const MAX_IO: usize = 32;
/// Most arena and state tensors an artifact may have.
pub const MAX_ARENA_TENSORS: usize = 16384;

/// How to load.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'k> {
    /// Verify the CRC-32 over the whole file (O(file size)); on by default. A load with trusted
    /// keys always verifies it (the checksum field is the one part of the file the signature
    /// does not cover).
    pub verify_checksum: bool,
    /// Public keys whose signatures are trusted (docs/FORMAT.md, "Signature"). When there are
    /// any, an artifact must carry a valid signature by one of them: an unsigned one is refused
    /// ([`Error::Unsigned`]), one signed by another key too ([`Error::UntrustedKey`]), and one
    /// changed after signing ([`Error::SignatureMismatch`]). Empty (the default): signatures are
    /// not checked.
    pub trusted_keys: &'k [crate::format::signature::PublicKey],
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions { verify_checksum: true, trusted_keys: &[] }
    }
}

enum Data<'a> {
    Borrowed(&'a [u8]),
    #[cfg(feature = "std")]
    Mapped(memmap2::Mmap),
    /// A private copy (a file loaded with trusted keys: what was verified is what runs).
    #[cfg(feature = "std")]
    Owned(crate::AlignedBytes),
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
    /// Bytes of the tensor's data (packed weights: their layout's size).
    pub byte_len: u64,
}

/// One op, for inspection.
#[derive(Debug, Clone, Copy)]
pub struct OpDesc<'a> {
    /// Op code.
    pub code: OpCode,
    /// Name from the source graph.
    pub name: &'a str,
    /// The op's record (inputs, outputs and attribute ranges).
    pub record: OpRecord,
}

/// Type and shape of a tensor record (validated by `Artifact::parse`).
pub(crate) fn info_of(t: impl core::borrow::Borrow<TensorRecord>) -> TensorInfo {
    let t = t.borrow();
    let mut dims = [1usize; MAX_RANK];
    for (d, v) in dims.iter_mut().zip(t.dims.iter()).take(t.rank as usize) {
        *d = v.get() as usize;
    }
    let quant = if t.quant_kind == 1 {
        crate::ops::Quant { scale_bits: t.scale.get().to_bits(), zero_point: t.zero_point.get() }
    } else {
        crate::ops::Quant::default()
    };
    TensorInfo {
        dtype: DType::from_u8(t.dtype).unwrap_or(DType::F32),
        rank: t.rank as usize,
        dims,
        quant,
        layout: Layout::from_u8(t.layout).unwrap_or(Layout::RowMajor),
    }
}

/// [`info_of`] tensor `i` of `t`, read in place from either record form (no widening: the
/// session's and the loader's most frequent read, kept small for firmware).
#[inline]
pub(crate) fn info_at(t: &crate::format::Tensors<'_>, i: usize) -> Option<TensorInfo> {
    let c = match t {
        #[cfg(feature = "full-records")]
        crate::format::Tensors::Full(r) => return r.get(i).map(info_of),
        crate::format::Tensors::Compact(r) => r.get(i)?,
    };
    let (dtype, rank, _, quant_kind, _, layout) = crate::format::compact::unpack_desc(c.desc.get());
    let mut dims = [1usize; MAX_RANK];
    for (d, v) in dims.iter_mut().zip(c.dims.iter()).take(rank as usize) {
        *d = v.get() as usize;
    }
    let quant = if quant_kind == 1 {
        crate::ops::Quant { scale_bits: c.scale.get().to_bits(), zero_point: c.zero_point as i32 }
    } else {
        crate::ops::Quant::default()
    };
    Some(TensorInfo {
        dtype: DType::from_u8(dtype).unwrap_or(DType::F32),
        rank: rank as usize,
        dims,
        quant,
        layout: Layout::from_u8(layout).unwrap_or(Layout::RowMajor),
    })
}

impl<'a> Model<'a> {
    /// Validates `bytes` (checksum included) and borrows them. `bytes` must start on a 64-byte
    /// boundary (see [`crate::AlignedBytes`] for heap copies).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, LoadOptions::default())
    }

    /// [`Model::from_bytes`] with options.
    pub fn from_bytes_with(bytes: &'a [u8], opts: LoadOptions<'_>) -> Result<Self> {
        validate(bytes, opts)?;
        Ok(Model { data: Data::Borrowed(bytes) })
    }

    /// The artifact bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Borrowed(b) => b,
            #[cfg(feature = "std")]
            Data::Mapped(m) => m,
            #[cfg(feature = "std")]
            Data::Owned(b) => b.as_slice(),
        }
    }

    /// Structural view of the bytes (cheap: O(sections); the O(n) checks ran at load).
    pub fn artifact(&self) -> Artifact<'_> {
        match Artifact::parse_structure(self.bytes(), crate::format::parse::Crc::Skip) {
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

    /// Number of ops (the length of the op table [`crate::Session::with_buffers`] takes).
    pub fn op_count(&self) -> usize {
        self.artifact().ops.len()
    }

    /// Number of region entries a session needs ([`crate::Session::with_buffers`]).
    pub fn region_count(&self) -> usize {
        crate::session::region_count(&self.artifact())
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
        art.index_range(start, len).unwrap_or(crate::format::Words::EMPTY).iter().filter_map(move |i| {
            let t = art.tensors.get(i as usize)?;
            Some(TensorDesc {
                index: i,
                name: art.string(&t.name).unwrap_or(""),
                info: info_of(t),
                byte_len: t.byte_len.get(),
            })
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

    /// The default streaming parameters the artifact carries (its Stream section, from the
    /// model's `ferrite.toml`), if any; [`crate::stream::StreamParams::defaults_for`] otherwise.
    pub fn stream_params(&self) -> Option<crate::stream::StreamParams> {
        let art = self.artifact();
        let Preprocessing::Audio(_) = self.preprocessing() else { return None };
        stream_params_of(art.stream)
    }

    /// Examples one run takes (`ferrite quantize --batch`): how many of the preprocessing's
    /// examples the first input holds, along its first axis; 1 without preprocessing. A caller
    /// fills example `e` at `e · len / batch` of every input and reads it there in every output.
    pub fn batch(&self) -> usize {
        let per = match self.preprocessing() {
            Preprocessing::Text(t) => t.seq_len(),
            Preprocessing::Audio(a) => a.feature_len(),
            Preprocessing::None => return 1,
        };
        self.inputs().next().map_or(1, |d| (d.info.len() / per.max(1)).max(1))
    }

    /// Whether the first output is made by a Softmax (class probabilities); otherwise a classifier
    /// reads it as logits.
    pub fn first_output_is_probabilities(&self) -> bool {
        let Some(first) = self.outputs().next().map(|d| d.index) else { return false };
        let art = self.artifact();
        self.ops().any(|op| {
            op.code == OpCode::Softmax
                && art
                    .index_range(op.record.outputs_start.get(), op.record.outputs_len.get())
                    .is_some_and(|o| o.iter().any(|t| t == first))
        })
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
            let storage = storage_of(t);
            let desc = TensorDesc {
                index: i as u32,
                name: art.string(&t.name).unwrap_or(""),
                info: info_of(t),
                byte_len: t.byte_len.get(),
            };
            (desc, storage)
        })
    }
}

#[cfg(feature = "std")]
impl Model<'static> {
    /// Maps the file at `path` read-only and validates it (checksum included).
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::open_with(path, LoadOptions::default())
    }

    /// [`Model::open`] with options. With trusted keys the file is read into memory instead of
    /// mapped: a mapping shows whatever another writer puts in the file later, so the bytes that
    /// run could differ from the ones whose signature was checked; a private copy cannot change.
    pub fn open_with(path: impl AsRef<std::path::Path>, opts: LoadOptions<'_>) -> Result<Self> {
        if !opts.trusted_keys.is_empty() {
            let bytes = std::fs::read(path).map_err(|e| Error::Io(e.raw_os_error()))?;
            let copy = crate::AlignedBytes::copy_from(&bytes);
            validate(copy.as_slice(), opts)?;
            return Ok(Model { data: Data::Owned(copy) });
        }
        let file = std::fs::File::open(path).map_err(|e| Error::Io(e.raw_os_error()))?;
        // SAFETY: the mapping is read-only and private to this process. Another process truncating
        // or rewriting the file while it is mapped could change the bytes under us (or raise
        // SIGBUS); Ferrite documents that artifacts must not be modified while loaded, as every
        // mmap-based loader (safetensors, llama.cpp) does. Validation below runs on the mapped bytes.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::Io(e.raw_os_error()))?;
        let crc = opts.verify_checksum.then(|| checksum_not_resident(&map));
        validate_with(&map, opts, crc)?;
        Ok(Model { data: Data::Mapped(map) })
    }
}

/// The checksum of a mapped artifact ([`crate::format::checksum`]), computed a megabyte at a
/// time, each megabyte's pages released from this process once read (Unix): verifying a file
/// then does not make all of it resident. Only what runs is faulted back in (from the page cache,
/// no disk read): a 30,522-row embedding table is read a few rows per sentence, so its 11.7 MB
/// need not count in the process's memory (benches/encoder_side_by_side.py measures it).
#[cfg(feature = "std")]
fn checksum_not_resident(map: &memmap2::Mmap) -> u32 {
    const CHUNK: usize = 1 << 20;
    let header = core::mem::size_of::<crate::format::Header>();
    let mut h = crc32fast::Hasher::new();
    let mut at = header.min(map.len());
    while at < map.len() {
        let end = (at + CHUNK).min(map.len());
        h.update(map.get(at..end).unwrap_or(&[]));
        #[cfg(unix)]
        // SAFETY: the mapping is read-only and private, and no reference into it is alive here
        // but the one this function borrows, which reads the bytes again only through the
        // mapping: MADV_DONTNEED on such a mapping drops the pages from this process, and the
        // next read faults them in again from the file, with the same contents (the file must
        // not change while loaded, as `open_with` says). Advice is a hint: a failure is ignored.
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, end - at) };
        at = end;
    }
    h.finalize()
}

fn slot_of(art: &Artifact<'_>, tensor: u32) -> Option<crate::format::ArenaSlot> {
    art.slots.get(art.slots.find(tensor)?)
}

/// Most arena and state tensors live at the same time (bounds the plan check: validation stays
/// linear in the records, with a fixed 1 KiB of stack).
pub const MAX_LIVE: usize = 256;

fn storage_of(r: impl core::borrow::Borrow<TensorRecord>) -> Storage {
    let r = r.borrow();
    Storage::from_u8(r.storage).unwrap_or(Storage::Weights)
}

/// The Stream section's record as parameters (`None` when it is not exactly one record or a
/// reserved word is set).
fn stream_params_of(bytes: &[u8]) -> Option<crate::stream::StreamParams> {
    use zerocopy::FromBytes;
    let r = crate::format::StreamRecord::ref_from_bytes(bytes).ok()?;
    if r.reserved.iter().any(|w| w.get() != 0) {
        return None;
    }
    let background = r.background.get();
    Some(crate::stream::StreamParams {
        hop_frames: r.hop_frames.get(),
        smooth: r.smooth.get(),
        threshold: r.threshold.get(),
        refractory: r.refractory.get(),
        background: (background != NO_TENSOR).then_some(background),
    })
}

/// Every check past the structure: plan consistency, op semantics, liveness.
fn validate(bytes: &[u8], opts: LoadOptions<'_>) -> Result<()> {
    validate_with(bytes, opts, None)
}

/// [`validate`], with the checksum of `bytes` already computed when `known` is given.
fn validate_with(bytes: &[u8], opts: LoadOptions<'_>, known: Option<u32>) -> Result<()> {
    use crate::format::parse::Crc;
    // The signature first: nothing it vouches for is read before it holds.
    let keyed = !opts.trusted_keys.is_empty();
    if keyed {
        let body = crate::format::signature::locate(bytes)?;
        crate::format::signature::verify(bytes, body, opts.trusted_keys)?;
    }
    let crc = match (opts.verify_checksum || keyed, known) {
        (false, _) => Crc::Skip,
        (true, Some(c)) => Crc::Known(c),
        (true, None) => Crc::Compute,
    };
    let art = Artifact::parse_with(bytes, crc)?;
    validate_preprocessing(&art)?;
    check_slots(&art)?;
    check_graph_io(&art)?;
    check_ops(&art)
}

/// Slots: strictly sorted by tensor, one per arena and state tensor, aligned, inside an arena of
/// exactly the size they need, with sane live ranges.
fn check_slots(art: &Artifact<'_>) -> Result<()> {
    let n_ops = art.ops.len() as u32;
    let arena_len = art.plan.arena_len.get();
    let placed = art.tensors.iter().filter(|t| matches!(storage_of(t), Storage::Arena | Storage::State)).count();
    if placed > MAX_ARENA_TENSORS {
        return Err(Error::BadPlan(rule!("more than 16384 arena tensors")));
    }
    if art.slots.len() != placed {
        return Err(Error::BadPlan(rule!("slot count differs from the number of arena and state tensors")));
    }
    let mut prev: Option<u32> = None;
    let mut extent = 0u64;
    for s in art.slots.iter() {
        let t = s.tensor.get();
        if prev.is_some_and(|p| p >= t) {
            return Err(Error::BadPlan(rule!("slots not strictly sorted by tensor")));
        }
        prev = Some(t);
        let rec = art.tensors.get(t as usize).ok_or(Error::BadPlan(rule!("slot names a missing tensor")))?;
        let storage = storage_of(rec);
        if !matches!(storage, Storage::Arena | Storage::State) {
            return Err(Error::BadPlan(rule!("slot names a tensor that is not in the arena")));
        }
        if s.reserved.get() != 0 {
            return Err(Error::BadPlan(rule!("reserved must be 0")));
        }
        if !s.offset.get().is_multiple_of(SECTION_ALIGN) {
            return Err(Error::BadPlan(rule!("slot offset not 64-byte aligned")));
        }
        let end = s.offset.get().checked_add(rec.byte_len.get()).ok_or(Error::BadPlan(rule!("slot overflows")))?;
        if end > arena_len {
            return Err(Error::BadPlan(rule!("slot runs past the arena")));
        }
        extent = extent.max(crate::format::align_up(end).unwrap_or(u64::MAX));
        let (d, l) = (s.def_op.get(), s.last_op.get());
        if d != NO_OP && (d >= n_ops || l < d) {
            return Err(Error::BadPlan(rule!("bad live range")));
        }
        if l > n_ops {
            return Err(Error::BadPlan(rule!("last use past the end")));
        }
        if storage == Storage::State && l != n_ops {
            return Err(Error::BadPlan(rule!("state tensors live to the end of the run")));
        }
    }
    // The arena is exactly as large as the slots need: no slack a file could use to ask a
    // session for memory no tensor uses.
    if extent != arena_len {
        return Err(Error::BadPlan(rule!("arena_len is not the aligned end of the last slot")));
    }
    Ok(())
}

/// Graph inputs are arena tensors written by the caller; outputs (arena tensors or aliases of
/// one) live to the end; both have a type a caller can read or write.
fn check_graph_io(art: &Artifact<'_>) -> Result<()> {
    let n_ops = art.ops.len() as u32;
    let inputs =
        art.index_range(art.plan.inputs_start.get(), art.plan.inputs_len.get()).unwrap_or(crate::format::Words::EMPTY);
    let outputs = art
        .index_range(art.plan.outputs_start.get(), art.plan.outputs_len.get())
        .unwrap_or(crate::format::Words::EMPTY);
    for (t, is_input) in inputs.iter().map(|t| (t, true)).chain(outputs.iter().map(|t| (t, false))) {
        let rec = art.tensors.get(t as usize).ok_or(Error::BadPlan(rule!("graph input or output index")))?;
        let placed = match storage_of(rec) {
            Storage::Arena => t,
            Storage::Alias if !is_input => rec.alias_of.get(),
            _ => return Err(Error::BadPlan(rule!("graph inputs are arena tensors; outputs arena tensors or aliases"))),
        };
        let s = slot_of(art, placed).ok_or(Error::BadPlan(rule!("graph input or output is not in the arena")))?;
        if is_input && s.def_op.get() != NO_OP {
            return Err(Error::BadPlan(rule!("graph input written by an op")));
        }
        if !is_input && s.last_op.get() != n_ops {
            return Err(Error::BadPlan(rule!("graph output not live to the end")));
        }
        if !matches!(DType::from_u8(rec.dtype), Some(DType::F32 | DType::I32 | DType::U8 | DType::I8)) {
            return Err(Error::BadPlan(rule!("graph inputs and outputs must be f32, i32, u8 or i8")));
        }
    }
    for s in art.slots.iter() {
        let state = art.tensors.storage(s.tensor.get() as usize) == Some(Storage::State as u8);
        if s.def_op.get() == NO_OP && !state && !inputs.iter().any(|t| t == s.tensor.get()) {
            return Err(Error::BadPlan(rule!("arena tensor never written")));
        }
    }
    Ok(())
}

/// The bytes `[offset, end)` of an arena or state tensor's slot.
fn span(art: &Artifact<'_>, s: impl core::borrow::Borrow<crate::format::ArenaSlot>) -> (u64, u64) {
    let s = s.borrow();
    let len = art.tensors.byte_len(s.tensor.get() as usize).unwrap_or(0);
    (s.offset.get(), s.offset.get().saturating_add(len))
}

/// Tensors live at the same time never share bytes. One sweep in op order keeps the set of live
/// slots (at most [`MAX_LIVE`]) and checks each newly written tensor against it: linear in the
/// records, where comparing every pair would be quadratic.
struct LiveSet {
    slots: [u32; MAX_LIVE],
    len: usize,
}

impl LiveSet {
    fn add(&mut self, art: &Artifact<'_>, i: usize) -> Result<()> {
        let s = art.slots.get(i).ok_or(Error::BadPlan(rule!("slot index")))?;
        let (a0, a1) = span(art, s);
        for &j in self.slots.get(..self.len).unwrap_or(&[]) {
            let o = art.slots.get(j as usize).ok_or(Error::BadPlan(rule!("slot index")))?;
            let (b0, b1) = span(art, o);
            if a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1 {
                return Err(Error::BadPlan(rule!("tensors live at the same time share arena bytes")));
            }
        }
        let slot = self.slots.get_mut(self.len).ok_or(Error::BadPlan(rule!("more than 256 tensors live at once")))?;
        *slot = i as u32;
        self.len += 1;
        Ok(())
    }

    /// Drops the slots whose last reader is before op `k`.
    fn retire(&mut self, art: &Artifact<'_>, k: u32) {
        let mut w = 0;
        for r in 0..self.len {
            let Some(&i) = self.slots.get(r) else { break };
            if art.slots.get(i as usize).is_some_and(|s| s.last_op.get() >= k) {
                if let Some(d) = self.slots.get_mut(w) {
                    *d = i;
                }
                w += 1;
            }
        }
        self.len = w;
    }
}

/// Where op `index` finds tensor `t`: its slot (arena and state tensors, or an alias's target),
/// which must be live at the op.
fn live_slot(
    art: &Artifact<'_>,
    t: u32,
    index: u32,
) -> core::result::Result<Option<crate::format::ArenaSlot>, &'static str> {
    let r = art.tensors.get(t as usize).ok_or(rule!("tensor index"))?;
    let placed = match storage_of(r) {
        Storage::Weights => return Ok(None),
        Storage::Alias => r.alias_of.get(),
        _ => t,
    };
    let s = slot_of(art, placed).ok_or(rule!("arena input has no slot"))?;
    // A state tensor holds the previous run's value until its writer runs: readable at any op.
    let state = art.tensors.storage(placed as usize) == Some(Storage::State as u8);
    let def_ok = state || s.def_op.get() == NO_OP || s.def_op.get() < index;
    if !def_ok || s.last_op.get() < index {
        return Err(rule!("input read outside its live range"));
    }
    Ok(Some(s))
}

/// Op semantics (`ops::prepare` on every op), live ranges of what each op reads and writes, and
/// the plan's overlap rule.
fn check_ops(art: &Artifact<'_>) -> Result<()> {
    let mut live = LiveSet { slots: [0; MAX_LIVE], len: 0 };
    for (i, s) in art.slots.iter().enumerate() {
        let state = art.tensors.storage(s.tensor.get() as usize) == Some(Storage::State as u8);
        if s.def_op.get() == NO_OP || state {
            live.add(art, i)?;
        }
    }
    for (k, rec) in art.ops.iter().enumerate() {
        let index = k as u32;
        let bad = |rule| Error::BadOp { index, rule };
        live.retire(art, index);
        let code = OpCode::from_u32(rec.opcode.get()).ok_or(bad(rule!("unknown op code")))?;
        if let (false, Some(feature)) = (code.built(), code.feature()) {
            return Err(Error::OpNotBuilt { index, op: code.name(), feature });
        }
        let ins = art.index_range(rec.inputs_start.get(), rec.inputs_len.get()).unwrap_or(crate::format::Words::EMPTY);
        let outs =
            art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).unwrap_or(crate::format::Words::EMPTY);
        if ins.len() + outs.len() > MAX_IO {
            return Err(bad(rule!("more than 32 inputs and outputs")));
        }
        // Inputs then outputs in one table (not one per side: firmware stacks are small).
        let ni = ins.len();
        let mut info = [None; MAX_IO];
        let mut in_w = [false; MAX_IO];
        for (j, t) in ins.iter().enumerate() {
            if t == NO_TENSOR {
                continue;
            }
            let r = art.tensors.get(t as usize).ok_or(bad(rule!("input index")))?;
            live_slot(art, t, index).map_err(bad)?;
            if r.axis_zero_points.get() != NO_TENSOR {
                return Err(bad(rule!(
                    "asymmetric int8 weights (zero-point tensors) are not supported by this runtime's ops"
                )));
            }
            if let (Some(i), Some(w)) = (info.get_mut(j), in_w.get_mut(j)) {
                *i = Some(info_of(r));
                *w = r.storage == Storage::Weights as u8;
            }
        }
        for (j, t) in outs.iter().enumerate() {
            if t == NO_TENSOR {
                continue;
            }
            let r = art.tensors.get(t as usize).ok_or(bad(rule!("output index")))?;
            let storage = storage_of(r);
            if !matches!(storage, Storage::Arena | Storage::State) {
                return Err(bad(rule!("outputs are arena or state tensors")));
            }
            let si = art.slots.find(t).ok_or(bad(rule!("output has no slot")))?;
            if art.slots.get(si).map(|s| s.def_op.get()) != Some(index) {
                return Err(bad(rule!("output's slot names another writer")));
            }
            if ins.iter().any(|i| i == t) || outs.iter().filter(|&o| o == t).count() > 1 {
                return Err(bad(rule!("output aliases another input or output")));
            }
            let reads_target = |x: u32| {
                art.tensors
                    .get(x as usize)
                    .is_some_and(|xr| xr.storage == Storage::Alias as u8 && xr.alias_of.get() == t)
            };
            if ins.iter().any(reads_target) {
                return Err(bad(rule!("an op cannot read the tensor it writes (in-place update)")));
            }
            if storage == Storage::Arena {
                live.add(art, si)?;
            }
            if let Some(o) = info.get_mut(ni + j) {
                *o = Some(info_of(r));
            }
        }
        let scratch = match rec.scratch.get() {
            NO_TENSOR => None,
            t => {
                let r = art.tensors.get(t as usize).ok_or(bad(rule!("scratch index")))?;
                if storage_of(r) != Storage::Arena {
                    return Err(bad(rule!("scratch must be an arena tensor")));
                }
                let si = art.slots.find(t).ok_or(bad(rule!("scratch has no slot")))?;
                let s = art.slots.get(si).ok_or(bad(rule!("scratch has no slot")))?;
                if s.def_op.get() != index || s.last_op.get() != index {
                    return Err(bad(rule!("scratch must live during its op only")));
                }
                if ins.iter().chain(outs.iter()).any(|x| x == t) {
                    return Err(bad(rule!("scratch is also an input or output")));
                }
                live.add(art, si)?;
                Some(info_of(r))
            }
        };
        let words = art.attr_range(rec.attrs_start.get(), rec.attrs_len.get()).unwrap_or(crate::format::Words::EMPTY);
        let mut w32 = [0u32; 64];
        if words.len() > w32.len() {
            return Err(bad(rule!("more than 64 attribute words")));
        }
        for (d, s) in w32.iter_mut().zip(words.iter()) {
            *d = s;
        }
        let t = OpTensors {
            inputs: info.get(..ni).unwrap_or(&[]),
            outputs: info.get(ni..ni + outs.len()).unwrap_or(&[]),
            input_is_weight: in_w.get(..ni).unwrap_or(&[]),
            scratch,
        };
        let _params: Params = ops::prepare(code, w32.get(..words.len()).unwrap_or(&[]), &t).map_err(bad)?;
    }
    // Every slot written by an op is that op's output or scratch (the per-op check saw each
    // output's slot name its writer; this closes the other direction).
    for s in art.slots.iter() {
        let d = s.def_op.get();
        if d == NO_OP {
            continue;
        }
        let rec = art.ops.get(d as usize).ok_or(Error::BadPlan(rule!("writer out of range")))?;
        let outs =
            art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).unwrap_or(crate::format::Words::EMPTY);
        if !outs.iter().any(|o| o == s.tensor.get()) && rec.scratch.get() != s.tensor.get() {
            return Err(Error::BadPlan(rule!("slot's writer does not write it")));
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
        art.index_range(start, len.min(1)).and_then(|i| i.get(0)).and_then(|t| art.tensors.get(t as usize)).map(info_of)
    };
    if !art.labels.is_empty() {
        let out = first(art.plan.outputs_start.get(), art.plan.outputs_len.get())
            .ok_or(Error::BadPreprocess(rule!("labels without an output")))?;
        let classes = if out.rank == 0 { 1 } else { out.dims.get(out.rank - 1).copied().unwrap_or(0) };
        if classes != art.labels.len() {
            return Err(Error::BadPreprocess(rule!("label count differs from the first output's last dimension")));
        }
    }
    let input = first(art.plan.inputs_start.get(), art.plan.inputs_len.get());
    let output = first(art.plan.outputs_start.get(), art.plan.outputs_len.get());
    let preprocessing = crate::preprocess::validate(art)?;
    if !art.stream.is_empty() {
        let Preprocessing::Audio(_) = preprocessing else {
            return Err(Error::BadStream(rule!("stream parameters need an audio frontend")));
        };
        let p =
            stream_params_of(art.stream).ok_or(Error::BadStream(rule!("the section must be one 32-byte record")))?;
        p.check()
            .map_err(|_| Error::BadStream(rule!("hop_frames 1 to 65536, smooth 1 to 256, threshold in (0, 1]")))?;
        let classes = output.map_or(0, |o| o.len());
        if p.background.is_some_and(|b| b as usize >= classes) {
            return Err(Error::BadStream(rule!("background must be a class of the first output")));
        }
    }
    // The first input holds one example, or a batch of them along its first axis.
    let batched = |i: &crate::TensorInfo, per: usize| {
        per > 0 && i.len().is_multiple_of(per) && (i.len() == per || (i.rank > 0 && i.dim(0) == i.len() / per))
    };
    match preprocessing {
        Preprocessing::Text(t) => {
            let i = input.ok_or(Error::BadPreprocess(rule!("tokenizer without an input")))?;
            if i.dtype != DType::I32 || !batched(&i, t.seq_len()) {
                return Err(Error::BadPreprocess(rule!("first input must hold seq_len integer ids (per example)")));
            }
        }
        Preprocessing::Audio(a) => {
            let i = input.ok_or(Error::BadPreprocess(rule!("audio frontend without an input")))?;
            if i.dtype != DType::F32 || !batched(&i, a.feature_len()) {
                return Err(Error::BadPreprocess(rule!(
                    "first input must hold n_frames x n_features f32 values (per example)"
                )));
            }
            if !art.stream.is_empty() && i.len() != a.feature_len() {
                return Err(Error::BadStream(rule!("a stream runs one example at a time, not a batch")));
            }
        }
        Preprocessing::None => {}
    }
    Ok(())
}
