//! Structural validation of artifact bytes. `Artifact::parse` checks the header, the section table
//! and every record-level rule (offsets, lengths, alignment, enum values, string references) before
//! it hands out any view; op semantics and the memory plan are checked by [`crate::Model`].
//!
//! Every slice access here is `.get()` and every sum is checked: arbitrary bytes give an `Error`,
//! never a panic.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::arithmetic_side_effects)]

use super::*;
use crate::error::{Error, Result};

/// Caps that bound validation work on hostile files (validation is O(ops + tensors²) at worst).
pub(crate) const MAX_TENSORS: usize = 1 << 16;
pub(crate) const MAX_OPS: usize = 1 << 16;

/// A validated, borrowed view of one section.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// Absolute offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A structurally validated artifact, borrowing the bytes it was parsed from.
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    /// The whole buffer.
    pub bytes: &'a [u8],
    /// The header.
    pub header: &'a Header,
    /// The section table.
    pub sections: &'a [SectionEntry],
    /// String bytes.
    pub strings: &'a [u8],
    /// Tensor table.
    pub tensors: &'a [TensorRecord],
    /// Ops in execution order.
    pub ops: &'a [OpRecord],
    /// Index words.
    pub indices: &'a [U32],
    /// Attribute words.
    pub attrs: &'a [U32],
    /// Plan header.
    pub plan: &'a PlanHeader,
    /// Arena slots.
    pub slots: &'a [ArenaSlot],
    /// Weight bytes.
    pub weights: &'a [u8],
    /// Metadata JSON text.
    pub metadata: &'a str,
    /// Label of each class (empty when the artifact has no labels section).
    pub labels: &'a [StrRef],
    /// Preprocessing section bytes (empty when absent); validated by [`crate::preprocess`].
    pub preprocess: &'a [u8],
}

fn truncated(what: &'static str, needed: u64, available: usize) -> Error {
    Error::Truncated { what, needed, available: available as u64 }
}

fn bad_section(kind: SectionKind, rule: &'static str) -> Error {
    Error::BadSection { kind: kind as u32, rule }
}

/// Views `bytes` as a slice of records; the length must be a whole number of records.
fn records<T: FromBytes + Immutable + KnownLayout + Unaligned>(kind: SectionKind, bytes: &[u8]) -> Result<&[T]> {
    <[T]>::ref_from_bytes(bytes).map_err(|_| bad_section(kind, "length is not a whole number of records"))
}

/// Computes the header's checksum field: CRC-32 of everything after the 64-byte header.
pub fn checksum(bytes: &[u8]) -> u32 {
    let body = bytes.get(core::mem::size_of::<Header>()..).unwrap_or(&[]);
    let mut h = crc32fast::Hasher::new();
    h.update(body);
    h.finalize()
}

impl<'a> Artifact<'a> {
    /// Parses and validates `bytes`. With `verify_checksum` false, the O(file) checksum pass is
    /// skipped (for trusted storage where load time matters); every other check still runs.
    pub fn parse(bytes: &'a [u8], verify_checksum: bool) -> Result<Self> {
        let art = Self::parse_structure(bytes, verify_checksum)?;
        art.check_tensors()?;
        art.check_op_records()?;
        Ok(art)
    }

    /// An artifact with no sections (the fallback of infallible accessors; never parsed).
    pub(crate) fn empty() -> Artifact<'static> {
        static HEADER: Header = Header {
            magic: [0; 8],
            endian: U32::ZERO,
            container_version: U16::ZERO,
            quant_version: U16::ZERO,
            header_len: U32::ZERO,
            flags: U32::ZERO,
            total_len: U64::ZERO,
            section_table_offset: U64::ZERO,
            section_count: U32::ZERO,
            checksum_algo: U32::ZERO,
            checksum: U32::ZERO,
            reserved: [0; 12],
        };
        static PLAN: PlanHeader = PlanHeader {
            arena_len: U64::ZERO,
            slot_count: U32::ZERO,
            inputs_start: U32::ZERO,
            inputs_len: U32::ZERO,
            outputs_start: U32::ZERO,
            outputs_len: U32::ZERO,
            reserved: U32::ZERO,
        };
        Artifact {
            bytes: &[],
            header: &HEADER,
            sections: &[],
            strings: &[],
            tensors: &[],
            ops: &[],
            indices: &[],
            attrs: &[],
            plan: &PLAN,
            slots: &[],
            weights: &[],
            metadata: "",
            labels: &[],
            preprocess: &[],
        }
    }

    /// Header and section checks only: O(sections), plus O(file) when verifying the checksum.
    pub(crate) fn parse_structure(bytes: &'a [u8], verify_checksum: bool) -> Result<Self> {
        let (header, _) = Header::ref_from_prefix(bytes)
            .map_err(|_| truncated("header", core::mem::size_of::<Header>() as u64, bytes.len()))?;
        if header.magic != MAGIC {
            return Err(Error::BadMagic);
        }
        if header.endian.get() != ENDIAN_MARKER {
            return Err(Error::BadEndianMarker(header.endian.get()));
        }
        if header.container_version.get() != CONTAINER_VERSION {
            return Err(Error::UnsupportedVersion(header.container_version.get()));
        }
        if header.quant_version.get() != QUANT_VERSION && header.quant_version.get() != QUANT_VERSION_INT8 {
            return Err(Error::UnsupportedQuantVersion(header.quant_version.get()));
        }
        if header.header_len.get() as usize != core::mem::size_of::<Header>() {
            return Err(Error::BadHeaderField("header_len must be 64"));
        }
        if header.flags.get() != 0 {
            return Err(Error::BadHeaderField("flags must be 0 in v1"));
        }
        if header.reserved != [0; 12] {
            return Err(Error::BadHeaderField("reserved bytes must be 0"));
        }
        if header.total_len.get() != bytes.len() as u64 {
            return Err(Error::LengthMismatch { header: header.total_len.get(), actual: bytes.len() as u64 });
        }
        if header.checksum_algo.get() != CHECKSUM_CRC32 {
            return Err(Error::UnknownChecksum(header.checksum_algo.get()));
        }
        if verify_checksum {
            let actual = checksum(bytes);
            if actual != header.checksum.get() {
                return Err(Error::ChecksumMismatch { expected: header.checksum.get(), actual });
            }
        }
        // Weight views are typed slices borrowed in place: the buffer must start on a 64-byte
        // boundary (mmap and the `AlignedBytes` helper guarantee it; so must firmware linkers).
        if !(bytes.as_ptr() as usize).is_multiple_of(SECTION_ALIGN as usize) {
            return Err(Error::MisalignedBuffer { required: SECTION_ALIGN as usize });
        }

        if header.section_table_offset.get() != core::mem::size_of::<Header>() as u64 {
            return Err(Error::BadHeaderField("section_table_offset must be 64"));
        }
        let count = header.section_count.get() as usize;
        const MAX_COUNT: usize = SectionKind::REQUIRED.len() + SectionKind::OPTIONAL.len();
        if !(SectionKind::REQUIRED.len()..=MAX_COUNT).contains(&count) {
            return Err(Error::BadHeaderField("section_count must be 8 to 10 in v1"));
        }
        let table_len =
            count.checked_mul(core::mem::size_of::<SectionEntry>()).ok_or(Error::BadHeaderField("section_count"))?;
        let table_bytes = bytes
            .get(64..)
            .and_then(|b| b.get(..table_len))
            .ok_or_else(|| truncated("section table", 64u64.saturating_add(table_len as u64), bytes.len()))?;
        let sections =
            <[SectionEntry]>::ref_from_bytes(table_bytes).map_err(|_| Error::BadHeaderField("section table"))?;

        // Sections: known kinds, each once, 64-aligned, in file order, not overlapping, inside the
        // file, with only zero padding between them (no unindexed bytes).
        let mut seen = [false; 11];
        let mut cursor = 64u64.checked_add(table_len as u64).ok_or(Error::BadHeaderField("section table"))?;
        let mut found: [Section; 11] = [Section { offset: 0, len: 0 }; 11];
        for entry in sections {
            let kind_raw = entry.kind.get();
            let kind = SectionKind::from_u32(kind_raw)
                .ok_or(Error::BadSection { kind: kind_raw, rule: "unknown section kind" })?;
            let slot = kind as usize;
            if *seen.get(slot).ok_or(bad_section(kind, "kind"))? {
                return Err(bad_section(kind, "duplicate section"));
            }
            if let Some(s) = seen.get_mut(slot) {
                *s = true;
            }
            if entry.flags.get() != 0 || entry.reserved.get() != 0 {
                return Err(bad_section(kind, "flags and reserved must be 0"));
            }
            let offset = entry.offset.get();
            let len = entry.len.get();
            if !offset.is_multiple_of(SECTION_ALIGN) {
                return Err(bad_section(kind, "offset not 64-byte aligned"));
            }
            if offset < cursor {
                return Err(bad_section(kind, "overlaps the previous section or is out of order"));
            }
            let padding =
                bytes.get(cursor as usize..offset as usize).ok_or_else(|| truncated("section", offset, bytes.len()))?;
            if padding.iter().any(|&b| b != 0) {
                return Err(bad_section(kind, "non-zero padding before section"));
            }
            let end = offset.checked_add(len).ok_or(bad_section(kind, "length overflows"))?;
            if end > bytes.len() as u64 {
                return Err(truncated("section", end, bytes.len()));
            }
            cursor = end;
            if let Some(f) = found.get_mut(slot) {
                *f = Section { offset, len };
            }
        }
        if cursor != bytes.len() as u64 {
            return Err(Error::BadHeaderField("bytes after the last section"));
        }
        let body = |kind: SectionKind| -> Result<&'a [u8]> {
            if !seen.get(kind as usize).copied().unwrap_or(false) && !SectionKind::OPTIONAL.contains(&kind) {
                return Err(bad_section(kind, "missing"));
            }
            // An absent optional section reads as empty.
            let s = found.get(kind as usize).ok_or(bad_section(kind, "missing"))?;
            let start = usize::try_from(s.offset).map_err(|_| bad_section(kind, "offset"))?;
            let len = usize::try_from(s.len).map_err(|_| bad_section(kind, "length"))?;
            bytes.get(start..).and_then(|b| b.get(..len)).ok_or(bad_section(kind, "out of range"))
        };

        let strings = body(SectionKind::Strings)?;
        let tensors: &[TensorRecord] = records(SectionKind::Tensors, body(SectionKind::Tensors)?)?;
        let ops: &[OpRecord] = records(SectionKind::Ops, body(SectionKind::Ops)?)?;
        let indices: &[U32] = records(SectionKind::Indices, body(SectionKind::Indices)?)?;
        let attrs: &[U32] = records(SectionKind::Attrs, body(SectionKind::Attrs)?)?;
        let plan_bytes = body(SectionKind::Plan)?;
        let (plan, rest) = PlanHeader::ref_from_prefix(plan_bytes)
            .map_err(|_| bad_section(SectionKind::Plan, "shorter than the plan header"))?;
        let slots: &[ArenaSlot] = records(SectionKind::Plan, rest)?;
        let weights = body(SectionKind::Weights)?;
        let metadata = core::str::from_utf8(body(SectionKind::Metadata)?).map_err(|_| Error::BadMetadata)?;
        let labels: &[StrRef] = records(SectionKind::Labels, body(SectionKind::Labels)?)?;
        let preprocess = body(SectionKind::Preprocess)?;

        if tensors.len() > MAX_TENSORS {
            return Err(bad_section(SectionKind::Tensors, "more than 65536 tensors"));
        }
        if ops.len() > MAX_OPS {
            return Err(bad_section(SectionKind::Ops, "more than 65536 ops"));
        }
        if slots.len() != plan.slot_count.get() as usize {
            return Err(Error::BadPlan("slot_count does not match the section length"));
        }
        if plan.reserved.get() != 0 {
            return Err(Error::BadPlan("reserved must be 0"));
        }

        Ok(Artifact {
            bytes,
            header,
            sections,
            strings,
            tensors,
            ops,
            indices,
            attrs,
            plan,
            slots,
            weights,
            metadata,
            labels,
            preprocess,
        })
    }

    /// Resolves a string reference.
    pub fn string(&self, r: &StrRef) -> Result<&'a str> {
        let start = r.offset.get() as usize;
        let len = r.len.get() as usize;
        let b = self
            .strings
            .get(start..)
            .and_then(|b| b.get(..len))
            .ok_or(Error::BadString("out of the strings section"))?;
        core::str::from_utf8(b).map_err(|_| Error::BadString("not UTF-8"))
    }

    /// Resolves a range of the index section.
    pub fn index_range(&self, start: u32, len: u32) -> Option<&'a [U32]> {
        self.indices.get(start as usize..)?.get(..len as usize)
    }

    /// Resolves a range of the attribute section.
    pub fn attr_range(&self, start: u32, len: u32) -> Option<&'a [U32]> {
        self.attrs.get(start as usize..)?.get(..len as usize)
    }

    /// The data bytes of a weight tensor (validated in range by `parse`).
    pub fn weight_bytes(&self, t: &TensorRecord) -> Option<&'a [u8]> {
        let start = usize::try_from(t.offset.get()).ok()?;
        let len = usize::try_from(t.byte_len.get()).ok()?;
        self.weights.get(start..)?.get(..len)
    }

    fn check_tensors(&self) -> Result<()> {
        for (i, t) in self.tensors.iter().enumerate() {
            let index = i as u32;
            let bad = |rule| Error::BadTensor { index, rule };
            self.string(&t.name)?;
            let dtype = DType::from_u8(t.dtype).ok_or(bad("unknown dtype"))?;
            let rank = t.rank as usize;
            if rank > MAX_RANK {
                return Err(bad("rank above 6"));
            }
            if t.dims.iter().skip(rank).any(|d| d.get() != 0) {
                return Err(bad("dims past rank must be 0"));
            }
            let mut elems: u64 = 1;
            for d in t.dims.iter().take(rank) {
                elems = elems.checked_mul(u64::from(d.get())).ok_or(bad("element count overflows"))?;
            }
            let bytes = elems.checked_mul(dtype.size() as u64).ok_or(bad("byte length overflows"))?;
            if bytes != t.byte_len.get() {
                return Err(bad("byte_len does not match dims and dtype"));
            }
            if t.reserved0.get() != 0 || t.reserved1.get() != 0 {
                return Err(bad("reserved fields must be 0"));
            }
            match t.quant_kind {
                0 => {
                    if t.scale.get() != 0.0
                        || t.zero_point.get() != 0
                        || t.axis_scales.get() != NO_TENSOR
                        || t.axis_zero_points.get() != NO_TENSOR
                        || t.quant_axis.get() != 0
                    {
                        return Err(bad("quantization fields set on an unquantized tensor"));
                    }
                }
                _ if self.header.quant_version.get() < QUANT_VERSION_INT8 => {
                    return Err(bad("quantization kind not supported by quantization version 1"))
                }
                1 => {
                    // Int8 activations and weights with one scale and zero point.
                    let s = t.scale.get();
                    if dtype != DType::I8 || !(s.is_finite() && s > 0.0) || !(-128..=127).contains(&t.zero_point.get())
                    {
                        return Err(bad("per-tensor quantization needs an i8 tensor, scale > 0, zero point in i8"));
                    }
                    if t.axis_scales.get() != NO_TENSOR
                        || t.axis_zero_points.get() != NO_TENSOR
                        || t.quant_axis.get() != 0
                    {
                        return Err(bad("per-axis fields set on a per-tensor quantized tensor"));
                    }
                }
                2 => {
                    // Symmetric int8 weights with one scale per slice along `quant_axis`; the scales
                    // live in an f32 weight tensor, or are folded into the consuming op's
                    // requantization (NO_TENSOR).
                    if dtype != DType::I8 || t.storage != Storage::Weights as u8 {
                        return Err(bad("per-axis quantization needs an i8 weight"));
                    }
                    let axis = t.quant_axis.get() as usize;
                    if axis >= rank || t.scale.get() != 0.0 || t.zero_point.get() != 0 {
                        return Err(bad("per-axis quantization: bad axis, or per-tensor fields set"));
                    }
                    if t.axis_zero_points.get() != NO_TENSOR {
                        return Err(bad("per-axis weights are symmetric (no zero-point tensor)"));
                    }
                    let s = t.axis_scales.get();
                    if s != NO_TENSOR {
                        let st = self.tensors.get(s as usize).ok_or(bad("axis scale tensor out of range"))?;
                        let len = t.dims.get(axis).map_or(0, |d| d.get());
                        if st.dtype != DType::F32 as u8
                            || st.storage != Storage::Weights as u8
                            || st.rank != 1
                            || st.dims.first().map(|d| d.get()) != Some(len)
                        {
                            return Err(bad("axis scales must be an f32 weight with one value per slice"));
                        }
                    }
                }
                _ => return Err(bad("unknown quantization kind")),
            }
            if dtype == DType::I8 && t.quant_kind == 0 {
                return Err(bad("i8 tensors must be quantized"));
            }
            match t.storage {
                0 => {
                    if t.offset.get() != 0 {
                        return Err(bad("arena tensors must have offset 0 (the plan places them)"));
                    }
                }
                1 => {
                    if !t.offset.get().is_multiple_of(SECTION_ALIGN) {
                        return Err(bad("weight offset not 64-byte aligned"));
                    }
                    let end = t.offset.get().checked_add(bytes).ok_or(bad("weight range overflows"))?;
                    if end > self.weights.len() as u64 {
                        return Err(bad("weight data out of the weights section"));
                    }
                }
                _ => return Err(bad("unknown storage")),
            }
        }
        Ok(())
    }

    fn check_op_records(&self) -> Result<()> {
        let n = self.tensors.len() as u32;
        for (i, op) in self.ops.iter().enumerate() {
            let index = i as u32;
            let bad = |rule| Error::BadOp { index, rule };
            self.string(&op.name)?;
            if op.flags.get() != 0 || op.reserved.get() != 0 {
                return Err(bad("flags and reserved must be 0"));
            }
            let ins = self
                .index_range(op.inputs_start.get(), op.inputs_len.get())
                .ok_or(bad("inputs out of the index section"))?;
            let outs = self
                .index_range(op.outputs_start.get(), op.outputs_len.get())
                .ok_or(bad("outputs out of the index section"))?;
            self.attr_range(op.attrs_start.get(), op.attrs_len.get())
                .ok_or(bad("attributes out of the attribute section"))?;
            for t in ins.iter().chain(outs.iter()) {
                let t = t.get();
                if t != NO_TENSOR && t >= n {
                    return Err(bad("tensor index out of range"));
                }
            }
            let s = op.scratch.get();
            if s != NO_TENSOR && s >= n {
                return Err(bad("scratch tensor index out of range"));
            }
        }
        for (what, start, len) in [
            ("graph inputs", self.plan.inputs_start.get(), self.plan.inputs_len.get()),
            ("graph outputs", self.plan.outputs_start.get(), self.plan.outputs_len.get()),
        ] {
            let r = self.index_range(start, len).ok_or(Error::BadPlan(what))?;
            if r.iter().any(|t| t.get() >= n) {
                return Err(Error::BadPlan("graph input or output index out of range"));
            }
        }
        Ok(())
    }
}
