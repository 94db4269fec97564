//! Serialises a [`Graph`] into a format-v1 artifact with the runtime's own record types, so the
//! writer and the reader cannot disagree on a layout.

use crate::alias::{fold_copies, Aliases};
use crate::config::Preprocess;
use crate::ir::{Data, Graph, TensorQuant};
use crate::plan::{plan, Plan};
use ferrite_runtime::format::{
    align_up, checksum, ArenaSlot, Header, OpRecord, PlanHeader, PreprocessHeader, SectionEntry, SectionKind, StrRef,
    TensorRecord, TextParams, VocabEntry, WordPieceParams, CHECKSUM_CRC32, CONTAINER_VERSION, ENDIAN_MARKER, MAGIC,
    MAX_RANK, NO_TENSOR, PREPROCESS_AUDIO, PREPROCESS_TEXT, PREPROCESS_TEXT_FRONT_CODED, PREPROCESS_WORDPIECE,
    PREPROCESS_WORDPIECE_FRONT_CODED, QUANT_VERSION, QUANT_VERSION_INT8,
};
use zerocopy::little_endian::{F32, I32, U16, U32, U64};
use zerocopy::IntoBytes;

/// Drops tensors nothing refers to and renumbers the rest (keeps order); alias targets count as
/// used and are renumbered too.
fn compact(g: &Graph, alias: &Aliases) -> (Graph, Aliases) {
    let mut used = vec![false; g.tensors.len()];
    for op in &g.ops {
        for t in op.inputs.iter().chain(op.outputs.iter()).flatten().chain(op.scratch.iter()) {
            used[*t] = true;
        }
    }
    for &t in g.inputs.iter().chain(g.outputs.iter()) {
        used[t] = true;
    }
    for t in &g.tensors {
        if let Some(TensorQuant::PerAxis { scales: Some(s), .. }) = t.quant {
            used[s] = true;
        }
    }
    for t in 0..g.tensors.len() {
        if let (true, Some(Some(view))) = (used[t], alias.get(t)) {
            used[view.target] = true;
        }
    }
    let mut map = vec![usize::MAX; g.tensors.len()];
    let mut out = Graph::default();
    for (i, t) in g.tensors.iter().enumerate() {
        if used[i] {
            map[i] = out.tensors.len();
            out.tensors.push(t.clone());
        }
    }
    for t in &mut out.tensors {
        if let Some(TensorQuant::PerAxis { scales: Some(s), .. }) = &mut t.quant {
            *s = map[*s];
        }
    }
    let m = |t: &Option<usize>| t.map(|t| map[t]);
    for op in &g.ops {
        let mut o = op.clone();
        o.inputs = op.inputs.iter().map(m).collect();
        o.outputs = op.outputs.iter().map(m).collect();
        o.scratch = op.scratch.map(|t| map[t]);
        out.ops.push(o);
    }
    out.inputs = g.inputs.iter().map(|&t| map[t]).collect();
    out.outputs = g.outputs.iter().map(|&t| map[t]).collect();
    let mut new_alias = vec![None; out.tensors.len()];
    for (t, a) in alias.iter().enumerate() {
        if let (Some(view), true) = (a, map.get(t).is_some_and(|&m| m != usize::MAX)) {
            new_alias[map[t]] = Some(crate::alias::View { target: map[view.target], ..*view });
        }
    }
    (out, new_alias)
}

struct Strings {
    bytes: Vec<u8>,
}

impl Strings {
    fn add(&mut self, s: &str) -> StrRef {
        let r = StrRef { offset: U32::new(self.bytes.len() as u32), len: U32::new(s.len() as u32) };
        self.bytes.extend_from_slice(s.as_bytes());
        r
    }
}

fn idx(t: Option<usize>) -> U32 {
    U32::new(t.map_or(NO_TENSOR, |t| t as u32))
}

/// What the writer produced, for reports.
#[derive(Debug, Clone)]
pub struct Written {
    /// The artifact bytes.
    pub bytes: Vec<u8>,
    /// The memory plan.
    pub plan: Plan,
    /// Bytes of weight data.
    pub weight_bytes: u64,
}

/// The optional sections: labels and preprocessing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Class labels (no labels section when empty).
    pub labels: &'a [String],
    /// Preprocessing (no preprocessing section when `None`).
    pub preprocess: Option<&'a Preprocess>,
    /// Store a text vocabulary front-coded (`--strip`; vocabularies of up to 65,533 words, whose
    /// ids fit u16; larger ones keep the record table).
    pub front_coded_vocab: bool,
    /// Write the tensor, op and slot tables as compact records (`--strip`; capability `compact`),
    /// when every record fits them (rank ≤ 4, dims and indices below 65,535, arena below 4 MiB);
    /// otherwise the full records.
    pub compact_records: bool,
    /// Default streaming parameters: the Stream section (skippable).
    pub stream: Option<&'a ferrite_runtime::format::StreamRecord>,
}

/// The front-coded form of sorted `(index, word)` pairs (ids `index + 2`): docs/FORMAT.md.
fn front_code(entries: &[(usize, &String)], first_id: usize) -> Vec<u8> {
    let block = ferrite_runtime::preprocess::BLOCK_WORDS;
    let mut ids: Vec<u8> = entries.iter().flat_map(|(i, _)| ((*i + first_id) as u16).to_le_bytes()).collect();
    ids.resize(ids.len().div_ceil(4) * 4, 0);
    let (mut offsets, mut blocks) = (Vec::new(), Vec::new());
    for chunk in entries.chunks(block) {
        offsets.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
        let mut prev: &[u8] = &[];
        for (k, (_, w)) in chunk.iter().enumerate() {
            let w = w.as_bytes();
            let shared = if k == 0 { 0 } else { prev.iter().zip(w).take_while(|(a, b)| a == b).count() };
            if k > 0 {
                blocks.push(shared as u8);
            }
            blocks.push((w.len() - shared) as u8);
            blocks.extend_from_slice(&w[shared..]);
            prev = w;
        }
    }
    [ids, offsets, blocks].concat()
}

fn preprocess_section(p: &Preprocess, strings: &mut Strings, front_coded: bool) -> Vec<u8> {
    let mut out = Vec::new();
    match p {
        Preprocess::Text { seq_len, pad_side, vocab, wordpiece } => {
            // words-v1 numbers its words from 2 (0 padding, 1 unknown); wordpiece-v1 from 0.
            let first_id = if wordpiece.is_some() { 0 } else { 2 };
            let front_coded = front_coded && vocab.len() + first_id <= usize::from(u16::MAX) + 1;
            let kind = match (wordpiece.is_some(), front_coded) {
                (false, false) => PREPROCESS_TEXT,
                (false, true) => PREPROCESS_TEXT_FRONT_CODED,
                (true, false) => PREPROCESS_WORDPIECE,
                (true, true) => PREPROCESS_WORDPIECE_FRONT_CODED,
            };
            let header = PreprocessHeader {
                kind: U32::new(kind),
                version: U32::new(1),
                count: U32::new(vocab.len() as u32),
                reserved: U32::ZERO,
            };
            out.extend_from_slice(header.as_bytes());
            let params = TextParams {
                seq_len: U32::new(*seq_len as u32),
                pad_side: U32::new(*pad_side),
                pad_id: U32::new(wordpiece.map_or(0, |w| w.pad_id)),
                unk_id: U32::new(wordpiece.map_or(1, |w| w.unk_id)),
            };
            out.extend_from_slice(params.as_bytes());
            if let Some(w) = wordpiece {
                let wp = WordPieceParams {
                    cls_id: U32::new(w.cls_id),
                    sep_id: U32::new(w.sep_id),
                    max_chars: U32::new(w.max_chars),
                    reserved: U32::ZERO,
                };
                out.extend_from_slice(wp.as_bytes());
            }
            // Sorted by bytes for binary search; ids follow the vocabulary file's order.
            let mut entries: Vec<(usize, &String)> = vocab.iter().enumerate().collect();
            entries.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
            if front_coded {
                out.extend_from_slice(&front_code(&entries, first_id));
            } else {
                for (i, w) in entries {
                    let id = U32::new((i + first_id) as u32);
                    let e = VocabEntry { word: strings.add(w), id, reserved: U32::ZERO };
                    out.extend_from_slice(e.as_bytes());
                }
            }
        }
        Preprocess::Audio(a) => {
            let header = PreprocessHeader {
                kind: U32::new(PREPROCESS_AUDIO),
                version: U32::new(1),
                count: U32::ZERO,
                reserved: U32::ZERO,
            };
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(a.as_bytes());
        }
    }
    out
}

/// The capability bits `g` needs (docs/FORMAT.md).
fn used_caps(g: &Graph, alias: &Aliases) -> u32 {
    use ferrite_runtime::format::{caps, DType, Layout};
    let mut bits = 0;
    for t in &g.tensors {
        bits |= match t.layout {
            Layout::RowMajor => 0,
            Layout::ChannelsLast => caps::CHANNELS_LAST,
            _ => caps::PACKED_WEIGHTS,
        };
    }
    if g.inputs.iter().chain(&g.outputs).any(|&t| g.tensors[t].dtype == DType::I8) {
        bits |= caps::INT8_IO;
    }
    if alias.iter().any(Option::is_some) {
        bits |= caps::ALIASES;
    }
    bits
}

/// The compact records of the three tables, as bytes.
struct CompactTables {
    tensors: Vec<u8>,
    ops: Vec<u8>,
    slots: Vec<u8>,
}

/// Every record in its compact form, or `None` when one does not fit (the file then keeps full
/// records throughout: the capability covers all three tables).
fn compact_tables(tensors: &[TensorRecord], ops: &[OpRecord], slots: &[ArenaSlot]) -> Option<CompactTables> {
    use ferrite_runtime::format::compact::{encode_op, encode_slot, encode_tensor};
    // Names must be gone already (compact records have none): `--strip` drops them first.
    let t: Option<Vec<_>> = tensors.iter().map(encode_tensor).collect();
    let o: Option<Vec<_>> = ops.iter().map(encode_op).collect();
    let s: Option<Vec<_>> = slots.iter().map(encode_slot).collect();
    Some(CompactTables { tensors: t?.as_bytes().to_vec(), ops: o?.as_bytes().to_vec(), slots: s?.as_bytes().to_vec() })
}

/// Lays out `g` with `metadata` (UTF-8 JSON) and the optional sections as one artifact: in the
/// compact form when `extras.compact_records` asks and every record fits it, else full-width.
pub fn write(g: &Graph, metadata: &str, extras: Extras<'_>) -> Written {
    let (folded, alias) = fold_copies(g);
    let (g, alias) = compact(&folded, &alias);
    let plan = plan(&g, &alias);
    let laid = if extras.compact_records { assemble(&g, &alias, &plan, metadata, extras, true) } else { None };
    // The full-width form always fits (u32 and u64 fields): `None` cannot come back from it.
    let (bytes, weight_bytes) =
        laid.or_else(|| assemble(&g, &alias, &plan, metadata, extras, false)).unwrap_or_default();
    Written { bytes, plan, weight_bytes }
}

/// `x` rounded up to a multiple of `align` (a power of two).
fn align_to(x: u64, align: u64) -> u64 {
    x.div_ceil(align) * align
}

/// The stored bytes of a weight: lean packed (no row sums, no padding rows) in a compact file.
fn weight_data(t: &crate::ir::Tensor, data: &Data, compact: bool) -> Option<Vec<u8>> {
    use ferrite_runtime::format::{k4n16_geometry, Layout};
    let bytes = data.to_le_bytes();
    if !(compact && matches!(t.layout, Layout::K4N16 | Layout::K4N16Hwc)) {
        return Some(bytes);
    }
    let (rows, k) = k4n16_geometry(t.layout, &t.shape)?;
    ferrite_runtime::kernels::generic::qgemm::lean_k4n16(&bytes, rows, k)
}

/// The artifact's bytes and its weight bytes; `None` when `compact` and a record, index or offset
/// does not fit the compact form.
fn assemble(
    g: &Graph,
    alias: &Aliases,
    plan: &Plan,
    metadata: &str,
    extras: Extras<'_>,
    compact: bool,
) -> Option<(Vec<u8>, u64)> {
    use ferrite_runtime::format::{caps, COMPACT_SECTION_ALIGN, COMPACT_WEIGHT_ALIGN, SECTION_ALIGN};
    let weight_align = if compact { COMPACT_WEIGHT_ALIGN } else { SECTION_ALIGN };
    let mut strings = Strings { bytes: Vec::new() };
    let mut weights: Vec<u8> = Vec::new();
    let mut tensors: Vec<TensorRecord> = Vec::new();
    for (ti, t) in g.tensors.iter().enumerate() {
        let mut dims = [U32::ZERO; MAX_RANK];
        for (d, &v) in dims.iter_mut().zip(&t.shape) {
            *d = U32::new(v as u32);
        }
        let mut stored_len = t.byte_len() as u64;
        let (storage, offset) = match (&t.data, alias[ti]) {
            (None, Some(view)) => (3u8, view.offset),
            (Some(data), _) => {
                let off = align_to(weights.len() as u64, weight_align);
                weights.resize(off as usize, 0);
                let bytes = weight_data(t, data, compact)?;
                stored_len = bytes.len() as u64;
                weights.extend_from_slice(&bytes);
                (1u8, off)
            }
            (None, None) => (0u8, 0),
        };
        let dtype = t.data.as_ref().map_or(t.dtype, Data::dtype);
        let (quant_kind, axis, scale, zp, axis_scales) = match t.quant {
            None => (0u8, 0u16, 0.0f32, 0i32, NO_TENSOR),
            Some(TensorQuant::PerTensor { scale, zero_point }) => (1, 0, scale, zero_point, NO_TENSOR),
            Some(TensorQuant::PerAxis { axis, scales }) => {
                (2, axis as u16, 0.0, 0, scales.map_or(NO_TENSOR, |s| s as u32))
            }
        };
        tensors.push(TensorRecord {
            name: strings.add(&t.name),
            dtype: dtype as u8,
            rank: t.shape.len() as u8,
            storage,
            quant_kind,
            quant_axis: U16::new(axis),
            layout: t.layout as u8,
            reserved0: 0,
            dims,
            offset: U64::new(offset),
            byte_len: U64::new(stored_len),
            scale: F32::new(scale),
            zero_point: I32::new(zp),
            axis_scales: U32::new(axis_scales),
            axis_zero_points: U32::new(NO_TENSOR),
            alias_of: U32::new(alias[ti].map_or(NO_TENSOR, |a| a.target as u32)),
            reserved1: U32::ZERO,
        });
    }
    let weight_bytes = weights.len() as u64;
    let mut indices: Vec<U32> = Vec::new();
    let mut attrs: Vec<u32> = Vec::new();
    let mut ops: Vec<OpRecord> = Vec::new();
    for op in &g.ops {
        let inputs_start = indices.len() as u32;
        indices.extend(op.inputs.iter().map(|&t| idx(t)));
        let outputs_start = indices.len() as u32;
        indices.extend(op.outputs.iter().map(|&t| idx(t)));
        let attrs_start = attrs.len() as u32;
        attrs.extend(op.attrs.iter().copied());
        ops.push(OpRecord {
            opcode: U32::new(op.code as u32),
            flags: U32::ZERO,
            name: strings.add(&op.name),
            inputs_start: U32::new(inputs_start),
            inputs_len: U32::new(op.inputs.len() as u32),
            outputs_start: U32::new(outputs_start),
            outputs_len: U32::new(op.outputs.len() as u32),
            attrs_start: U32::new(attrs_start),
            attrs_len: U32::new(op.attrs.len() as u32),
            scratch: idx(op.scratch),
            reserved: U32::ZERO,
        });
    }
    let inputs_start = indices.len() as u32;
    indices.extend(g.inputs.iter().map(|&t| idx(Some(t))));
    let outputs_start = indices.len() as u32;
    indices.extend(g.outputs.iter().map(|&t| idx(Some(t))));
    let mut plan_bytes = PlanHeader {
        arena_len: U64::new(plan.arena_len),
        slot_count: U32::new(plan.slots.len() as u32),
        inputs_start: U32::new(inputs_start),
        inputs_len: U32::new(g.inputs.len() as u32),
        outputs_start: U32::new(outputs_start),
        outputs_len: U32::new(g.outputs.len() as u32),
        reserved: U32::ZERO,
    }
    .as_bytes()
    .to_vec();

    let slots: Vec<ArenaSlot> = plan
        .slots
        .iter()
        .map(|s| ArenaSlot {
            tensor: U32::new(s.tensor as u32),
            def_op: U32::new(s.def_op),
            last_op: U32::new(s.last_op),
            reserved: U32::ZERO,
            offset: U64::new(s.offset),
        })
        .collect();
    let tables = if compact { Some(compact_tables(&tensors, &ops, &slots)?) } else { None };
    let (tensor_bytes, op_bytes) = match &tables {
        Some(c) => (c.tensors.clone(), c.ops.clone()),
        None => (tensors.as_bytes().to_vec(), ops.as_bytes().to_vec()),
    };
    plan_bytes.extend_from_slice(tables.as_ref().map_or(slots.as_bytes(), |c| &c.slots));
    // Compact files: 16-bit indices (0xFFFF: none), and 16-bit attribute words when every word
    // is a small integer (f32 attributes keep the 32-bit section).
    let index_bytes = if compact {
        let narrow: Option<Vec<U16>> = indices
            .iter()
            .map(|i| match i.get() {
                NO_TENSOR => Some(U16::new(u16::MAX)),
                v => u16::try_from(v).ok().filter(|&v| v != u16::MAX).map(U16::new),
            })
            .collect();
        narrow?.as_bytes().to_vec()
    } else {
        indices.as_bytes().to_vec()
    };
    let narrow_attrs: Option<Vec<zerocopy::little_endian::I16>> = match compact {
        true => attrs.iter().map(|&w| i16::try_from(w as i32).ok().map(zerocopy::little_endian::I16::new)).collect(),
        false => None,
    };
    let attr_bytes = match &narrow_attrs {
        Some(n) => n.as_bytes().to_vec(),
        None => attrs.iter().map(|&w| U32::new(w)).collect::<Vec<_>>().as_bytes().to_vec(),
    };

    let labels: Vec<StrRef> = extras.labels.iter().map(|l| strings.add(l)).collect();
    let mut preprocess = extras.preprocess.map(|p| preprocess_section(p, &mut strings, extras.front_coded_vocab));
    // Order: the required sections with the optional ones just before the weights.
    let mut kinds: Vec<SectionKind> = SectionKind::REQUIRED.to_vec();
    let weights_at = kinds.len() - 1;
    if extras.stream.is_some() {
        kinds.insert(weights_at, SectionKind::Stream);
    }
    if preprocess.is_some() {
        kinds.insert(weights_at, SectionKind::Preprocess);
    }
    if !labels.is_empty() {
        kinds.insert(weights_at, SectionKind::Labels);
    }
    let bodies: Vec<(SectionKind, Vec<u8>)> = kinds
        .iter()
        .map(|&k| {
            let b = match k {
                SectionKind::Strings => strings.bytes.clone(),
                SectionKind::Tensors => tensor_bytes.clone(),
                SectionKind::Ops => op_bytes.clone(),
                SectionKind::Indices => index_bytes.clone(),
                SectionKind::Attrs => attr_bytes.clone(),
                SectionKind::Plan => plan_bytes.clone(),
                SectionKind::Metadata => metadata.as_bytes().to_vec(),
                SectionKind::Weights => std::mem::take(&mut weights),
                SectionKind::Labels => labels.as_bytes().to_vec(),
                SectionKind::Preprocess => preprocess.take().unwrap_or_default(),
                SectionKind::Signature => Vec::new(),
                SectionKind::Stream => extras.stream.map(|r| r.as_bytes().to_vec()).unwrap_or_default(),
            };
            (k, b)
        })
        .collect();
    let table_len = bodies.len() * std::mem::size_of::<SectionEntry>();
    let mut cursor = 64 + table_len as u64;
    let mut entries = Vec::new();
    for (k, b) in &bodies {
        let off = match (compact, k) {
            (false, _) => align_up(cursor).unwrap_or(cursor),
            (true, SectionKind::Weights) => align_to(cursor, COMPACT_WEIGHT_ALIGN),
            (true, _) => align_to(cursor, COMPACT_SECTION_ALIGN),
        };
        entries.push(SectionEntry {
            kind: U32::new(*k as u32),
            flags: U32::new(if k.skippable() { ferrite_runtime::format::SECTION_SKIPPABLE } else { 0 }),
            offset: U64::new(off),
            len: U64::new(b.len() as u64),
            reserved: U64::ZERO,
        });
        cursor = off + b.len() as u64;
    }
    let total = cursor;
    let mut out = vec![0u8; total as usize];
    out[64..64 + table_len].copy_from_slice(entries.as_bytes());
    for (e, (_, b)) in entries.iter().zip(&bodies) {
        let o = e.offset.get() as usize;
        out[o..o + b.len()].copy_from_slice(b);
    }
    let mut header = Header {
        magic: MAGIC,
        endian: U32::new(ENDIAN_MARKER),
        container_version: U16::new(CONTAINER_VERSION),
        quant_version: U16::new(if g.tensors.iter().any(|t| t.quant.is_some()) {
            QUANT_VERSION_INT8
        } else {
            QUANT_VERSION
        }),
        header_len: U32::new(64),
        flags: U32::new(
            used_caps(g, alias)
                | if compact { caps::COMPACT } else { 0 }
                | if narrow_attrs.is_some() { caps::NARROW_ATTRS } else { 0 },
        ),
        total_len: U64::new(total),
        section_table_offset: U64::new(64),
        section_count: U32::new(entries.len() as u32),
        checksum_algo: U32::new(CHECKSUM_CRC32),
        checksum: U32::ZERO,
        reserved: [0; 12],
    };
    header.checksum = U32::new(checksum(&out));
    out[..64].copy_from_slice(header.as_bytes());
    Some((out, weight_bytes))
}

/// Writes `g`, loads it and runs it once on f32 `inputs` (the first `g.inputs.len()` of them):
/// its first output, which must be f32. For unit tests of graph rewrites.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn run_f32(g: &Graph, inputs: &[&[f32]]) -> Vec<f32> {
    use ferrite_runtime::{AlignedBytes, Input, Model, OutputData, Session};
    let bytes = AlignedBytes::copy_from(&write(g, "{}", Default::default()).bytes);
    let m = Model::from_bytes(&bytes).unwrap();
    let mut s = Session::new(&m).unwrap();
    let inputs: Vec<Input<'_>> = inputs.iter().take(g.inputs.len()).map(|x| Input::F32(x)).collect();
    match s.run(&inputs).unwrap().get(0).unwrap().2 {
        OutputData::F32(v) => v.to_vec(),
        _ => panic!("f32 output"),
    }
}
