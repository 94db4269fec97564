//! Structural validation of artifact bytes. `Artifact::parse` checks the header, the section table
//! and every record-level rule (offsets, lengths, alignment, enum values, string references) before
//! it hands out any view; op semantics and the memory plan are checked by [`crate::Model`].
//!
//! Every slice access here is `.get()` and every sum is checked: arbitrary bytes give an `Error`,
//! never a panic.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::arithmetic_side_effects)]

use super::compact::COMPACT_RANK;
use super::*;
use crate::error::{Error, Result};

/// Caps that bound validation work on hostile files (validation is linear in the records).
pub(crate) const MAX_TENSORS: usize = 1 << 16;
pub(crate) const MAX_OPS: usize = 1 << 16;
/// Most sections a container-version-2 file may have.
pub const MAX_SECTIONS: usize = 32;
/// Known section kinds are 1..=11; index 0 unused.
const KIND_SLOTS: usize = 13;

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
    /// Tensor table (full or compact records).
    pub tensors: Tensors<'a>,
    /// Ops in execution order (full or compact records).
    pub ops: Ops<'a>,
    /// Index words (16-bit in a compact file).
    pub indices: Words<'a>,
    /// Attribute words (16-bit with capability `narrow-attrs`).
    pub attrs: Words<'a>,
    /// Plan header.
    pub plan: &'a PlanHeader,
    /// Arena slots (full or compact records).
    pub slots: Slots<'a>,
    /// Weight bytes.
    pub weights: &'a [u8],
    /// Metadata JSON text.
    pub metadata: &'a str,
    /// Label of each class (empty when the artifact has no labels section).
    pub labels: &'a [StrRef],
    /// Preprocessing section bytes (empty when absent); validated by [`crate::preprocess`].
    pub preprocess: &'a [u8],
    /// Signature section bytes (empty when absent); not interpreted by this version.
    pub signature: &'a [u8],
    /// Stream section bytes (empty when absent); validated by the model's loader.
    pub stream: &'a [u8],
}

fn truncated(what: &'static str, needed: u64, available: usize) -> Error {
    Error::Truncated { what, needed, available: available as u64 }
}

fn bad_section(kind: SectionKind, rule: &'static str) -> Error {
    Error::BadSection { kind: kind as u32, rule }
}

/// Views `bytes` as a slice of records; the length must be a whole number of records.
fn records<T: FromBytes + Immutable + KnownLayout + Unaligned>(kind: SectionKind, bytes: &[u8]) -> Result<&[T]> {
    <[T]>::ref_from_bytes(bytes).map_err(|_| bad_section(kind, rule!("length is not a whole number of records")))
}

/// Where [`Artifact::parse_with`] gets the checksum of the bytes it parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crc {
    /// Not verified.
    Skip,
    /// Computed by the parser ([`checksum`]).
    Compute,
    /// Already computed over the same bytes by the caller.
    Known(u32),
}

/// Computes the header's checksum field: CRC-32 (IEEE, as zlib) of everything after the 64-byte
/// header. Hosted builds use crc32fast (SIMD); bare-metal ones the half-byte-table form below,
/// whose 64-byte table costs far less flash than crc32fast's 16 KiB (or a 1 KiB byte table).
pub fn checksum(bytes: &[u8]) -> u32 {
    let body = bytes.get(core::mem::size_of::<Header>()..).unwrap_or(&[]);
    #[cfg(feature = "std")]
    {
        let mut h = crc32fast::Hasher::new();
        h.update(body);
        h.finalize()
    }
    #[cfg(not(feature = "std"))]
    crc32_nibblewise(body)
}

/// The half-byte table of CRC-32 (reflected polynomial 0xEDB88320), built at compile time (where
/// an out-of-range index would be a build error, not a panic).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn crc32_nibble_table() -> [u32; 16] {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// CRC-32 (reflected polynomial 0xEDB88320), two lookups in a 16-entry table per byte (twice the
/// byte table's work, once per load).
#[cfg_attr(feature = "std", allow(dead_code))]
fn crc32_nibblewise(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 16] = crc32_nibble_table();
    // The index is below 16, so `get` never fails (and compiles to a plain load).
    let step = |c: u32, nibble: u32| TABLE.get(((c ^ nibble) & 0xF) as usize).copied().unwrap_or(0) ^ (c >> 4);
    let mut c = !0u32;
    for &b in bytes {
        c = step(step(c, u32::from(b)), u32::from(b) >> 4);
    }
    !c
}

/// Element count and row-major byte length of a record's dims.
fn sizes<E>(t: &TensorRecord, dtype: DType, bad: impl Fn(&'static str) -> E) -> core::result::Result<(u64, u64), E> {
    let mut elems: u64 = 1;
    for d in t.dims.iter().take(t.rank as usize) {
        elems = elems.checked_mul(u64::from(d.get())).ok_or(bad(rule!("element count overflows")))?;
    }
    let bytes = elems.checked_mul(dtype.size() as u64).ok_or(bad(rule!("byte length overflows")))?;
    Ok((elems, bytes))
}

/// The byte length `t` must have with its layout (packed weights lean in compact files).
pub(crate) fn layout_len<E>(
    t: &TensorRecord,
    dtype: DType,
    layout: Layout,
    lean: bool,
    bad: impl Fn(&'static str) -> E,
) -> core::result::Result<u64, E> {
    let (_, plain) = sizes(t, dtype, &bad)?;
    let rank = t.rank as usize;
    let weight_i8 = t.storage == Storage::Weights as u8 && dtype == DType::I8 && t.quant_kind == 2;
    match layout {
        Layout::RowMajor => Ok(plain),
        Layout::ChannelsLast => {
            if t.storage == Storage::Weights as u8 || !(3..=4).contains(&rank) {
                return Err(bad(rule!("channels-last is for rank-3 or rank-4 activations")));
            }
            Ok(plain)
        }
        Layout::K4N16 | Layout::K4N16Hwc => {
            if !weight_i8 || rank < 2 {
                return Err(bad(rule!("k4n16 layouts are for per-axis int8 weights of rank 2 or more")));
            }
            let mut dims = [0usize; MAX_RANK];
            for (d, v) in dims.iter_mut().zip(t.dims.iter()) {
                *d = v.get() as usize;
            }
            let (rows, k) = k4n16_geometry(layout, dims.get(..rank).unwrap_or(&[]))
                .ok_or(bad(rule!("k4n16 geometry: bad rank or overflow")))?;
            if rows == 0 || k == 0 {
                return Err(bad(rule!("k4n16 weight with no rows or an empty reduction")));
            }
            Ok(k4n16_len(rows, k, lean).ok_or(bad(rule!("packed length overflows")))? as u64)
        }
        Layout::DepthwiseHwc => {
            if !weight_i8 || !(3..=4).contains(&rank) || t.dims.get(1).map(|d| d.get()) != Some(1) {
                return Err(bad(rule!("depthwise-hwc is for int8 weights [M, 1, kH, kW] or [M, 1, kW]")));
            }
            Ok(plain)
        }
    }
}

impl<'a> Artifact<'a> {
    /// Parses and validates `bytes`. With `verify_checksum` false, the O(file) checksum pass is
    /// skipped (for trusted storage where load time matters); every other check still runs.
    pub fn parse(bytes: &'a [u8], verify_checksum: bool) -> Result<Self> {
        Self::parse_with(bytes, if verify_checksum { Crc::Compute } else { Crc::Skip })
    }

    /// [`Artifact::parse`] with the checksum's source: skipped, computed here, or computed by the
    /// caller over these same bytes (`Model::open` does, a chunk at a time, so that a mapped file
    /// need not stay resident to be verified). Errors come in the same order either way.
    pub(crate) fn parse_with(bytes: &'a [u8], crc: Crc) -> Result<Self> {
        let art = Self::parse_structure(bytes, crc)?;
        let mut used = art.check_tensors()?;
        used |= art.check_op_records()?;
        if used != art.caps() {
            return Err(Error::BadHeaderField(rule!("capability bits differ from the features the file uses")));
        }
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
            tensors: Tensors::Compact(&[]),
            ops: Ops::Compact(&[]),
            indices: Words::EMPTY,
            attrs: Words::EMPTY,
            plan: &PLAN,
            slots: Slots::Compact(&[]),
            weights: &[],
            metadata: "",
            labels: &[],
            preprocess: &[],
            signature: &[],
            stream: &[],
        }
    }

    /// Header and section checks only: O(sections), plus O(file) when verifying the checksum.
    pub(crate) fn parse_structure(bytes: &'a [u8], crc: Crc) -> Result<Self> {
        let (header, _) = Header::ref_from_prefix(bytes)
            .map_err(|_| truncated(rule!("header"), core::mem::size_of::<Header>() as u64, bytes.len()))?;
        if header.magic != MAGIC {
            return Err(Error::BadMagic);
        }
        if header.endian.get() != ENDIAN_MARKER {
            return Err(Error::BadEndianMarker(header.endian.get()));
        }
        let version = header.container_version.get();
        if version != CONTAINER_VERSION && version != CONTAINER_VERSION_V1 {
            return Err(Error::UnsupportedVersion(version));
        }
        if header.quant_version.get() != QUANT_VERSION && header.quant_version.get() != QUANT_VERSION_INT8 {
            return Err(Error::UnsupportedQuantVersion(header.quant_version.get()));
        }
        if header.header_len.get() as usize != core::mem::size_of::<Header>() {
            return Err(Error::BadHeaderField(rule!("header_len must be 64")));
        }
        let caps_word = header.flags.get();
        if version == CONTAINER_VERSION_V1 && caps_word != 0 {
            return Err(Error::BadHeaderField(rule!("flags must be 0 in container version 1")));
        }
        if caps_word & !caps::KNOWN != 0 {
            return Err(Error::UnsupportedCapability(caps_word & !caps::KNOWN));
        }
        if header.reserved != [0; 12] {
            return Err(Error::BadHeaderField(rule!("reserved bytes must be 0")));
        }
        if header.total_len.get() != bytes.len() as u64 {
            return Err(Error::LengthMismatch { header: header.total_len.get(), actual: bytes.len() as u64 });
        }
        if header.checksum_algo.get() != CHECKSUM_CRC32 {
            return Err(Error::UnknownChecksum(header.checksum_algo.get()));
        }
        if crc != Crc::Skip {
            let actual = if let Crc::Known(c) = crc { c } else { checksum(bytes) };
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
            return Err(Error::BadHeaderField(rule!("section_table_offset must be 64")));
        }
        let count = header.section_count.get() as usize;
        let max_count = if version == CONTAINER_VERSION_V1 { 10 } else { MAX_SECTIONS };
        if !(SectionKind::REQUIRED.len()..=max_count).contains(&count) {
            return Err(Error::BadHeaderField(if version == CONTAINER_VERSION_V1 {
                rule!("section_count must be 8 to 10 in container version 1")
            } else {
                rule!("section_count must be 8 to 32")
            }));
        }
        let table_len = count
            .checked_mul(core::mem::size_of::<SectionEntry>())
            .ok_or(Error::BadHeaderField(rule!("section_count")))?;
        let table_bytes = bytes
            .get(64..)
            .and_then(|b| b.get(..table_len))
            .ok_or_else(|| truncated(rule!("section table"), 64u64.saturating_add(table_len as u64), bytes.len()))?;
        let sections =
            <[SectionEntry]>::ref_from_bytes(table_bytes).map_err(|_| Error::BadHeaderField(rule!("section table")))?;

        // Sections: each known kind at most once, 64-aligned (compact files: 8, the weights 16), in
        // file order, not overlapping, inside the file, with only zero padding between them (no
        // unindexed bytes). Unknown kinds are skipped when flagged skippable (container version 2)
        // and refused otherwise.
        let compact = caps_word & caps::COMPACT != 0;
        let mut seen = [false; KIND_SLOTS];
        let mut cursor = 64u64.checked_add(table_len as u64).ok_or(Error::BadHeaderField(rule!("section table")))?;
        let mut found: [Section; KIND_SLOTS] = [Section { offset: 0, len: 0 }; KIND_SLOTS];
        let mut last_kind: Option<SectionKind> = None;
        for entry in sections {
            let kind_raw = entry.kind.get();
            let flags = entry.flags.get();
            let kind = SectionKind::from_u32(kind_raw);
            if version == CONTAINER_VERSION_V1
                && (flags != 0 || matches!(kind, Some(SectionKind::Signature | SectionKind::Stream)))
            {
                return Err(Error::BadSection {
                    kind: kind_raw,
                    rule: rule!("unknown section kind or flags in version 1"),
                });
            }
            if flags & !SECTION_SKIPPABLE != 0 || entry.reserved.get() != 0 {
                return Err(Error::BadSection { kind: kind_raw, rule: rule!("unknown flags, or reserved not 0") });
            }
            match kind {
                Some(k) => {
                    if (flags == SECTION_SKIPPABLE) != k.skippable() && version != CONTAINER_VERSION_V1 {
                        return Err(bad_section(k, rule!("skippable flag does not match the kind")));
                    }
                    let slot = k as usize;
                    if *seen.get(slot).ok_or(bad_section(k, rule!("kind")))? {
                        return Err(bad_section(k, rule!("duplicate section")));
                    }
                    if let Some(s) = seen.get_mut(slot) {
                        *s = true;
                    }
                }
                None if flags == SECTION_SKIPPABLE => {}
                None => {
                    return Err(Error::BadSection {
                        kind: kind_raw,
                        rule: rule!("unknown section kind that is not skippable (written by a newer tool?)"),
                    })
                }
            }
            if last_kind == Some(SectionKind::Signature) {
                return Err(bad_section(SectionKind::Signature, rule!("the signature must be the last section")));
            }
            last_kind = kind;
            let offset = entry.offset.get();
            let len = entry.len.get();
            let align = match (compact, kind) {
                (false, _) => SECTION_ALIGN,
                (true, Some(SectionKind::Weights)) => COMPACT_WEIGHT_ALIGN,
                (true, _) => COMPACT_SECTION_ALIGN,
            };
            if !offset.is_multiple_of(align) {
                return Err(Error::BadSection {
                    kind: kind_raw,
                    rule: rule!("offset not aligned (64 bytes; compact files 8, their weights 16)"),
                });
            }
            if offset < cursor {
                return Err(Error::BadSection {
                    kind: kind_raw,
                    rule: rule!("overlaps the previous section or is out of order"),
                });
            }
            let padding = bytes
                .get(cursor as usize..offset as usize)
                .ok_or_else(|| truncated(rule!("section"), offset, bytes.len()))?;
            if padding.iter().any(|&b| b != 0) {
                return Err(Error::BadSection { kind: kind_raw, rule: rule!("non-zero padding before section") });
            }
            let end =
                offset.checked_add(len).ok_or(Error::BadSection { kind: kind_raw, rule: rule!("length overflows") })?;
            if end > bytes.len() as u64 {
                return Err(truncated(rule!("section"), end, bytes.len()));
            }
            cursor = end;
            if let Some(f) = kind.and_then(|k| found.get_mut(k as usize)) {
                *f = Section { offset, len };
            }
        }
        if cursor != bytes.len() as u64 {
            return Err(Error::BadHeaderField(rule!("bytes after the last section")));
        }
        let body = |kind: SectionKind| -> Result<&'a [u8]> {
            if !seen.get(kind as usize).copied().unwrap_or(false) && !SectionKind::OPTIONAL.contains(&kind) {
                return Err(bad_section(kind, rule!("missing")));
            }
            // An absent optional section reads as empty.
            let s = found.get(kind as usize).ok_or(bad_section(kind, rule!("missing")))?;
            let start = usize::try_from(s.offset).map_err(|_| bad_section(kind, rule!("offset")))?;
            let len = usize::try_from(s.len).map_err(|_| bad_section(kind, rule!("length")))?;
            bytes.get(start..).and_then(|b| b.get(..len)).ok_or(bad_section(kind, rule!("out of range")))
        };

        let strings = body(SectionKind::Strings)?;
        #[cfg(not(feature = "full-records"))]
        if !compact {
            return Err(Error::BadHeaderField(rule!(
                "full-width records are not built into this runtime (feature full-records; `--strip` writes compact ones)"
            )));
        }
        let tensors_body = body(SectionKind::Tensors)?;
        let ops_body = body(SectionKind::Ops)?;
        let (tensors, ops) = match compact {
            #[cfg(feature = "full-records")]
            false => (
                Tensors::Full(records(SectionKind::Tensors, tensors_body)?),
                Ops::Full(records(SectionKind::Ops, ops_body)?),
            ),
            _ => (
                Tensors::Compact(records(SectionKind::Tensors, tensors_body)?),
                Ops::Compact(records(SectionKind::Ops, ops_body)?),
            ),
        };
        let indices = match compact {
            true => Words::Index16(records(SectionKind::Indices, body(SectionKind::Indices)?)?),
            false => Words::Wide(records(SectionKind::Indices, body(SectionKind::Indices)?)?),
        };
        let narrow_attrs = caps_word & caps::NARROW_ATTRS != 0;
        if narrow_attrs && !compact {
            return Err(Error::BadHeaderField(rule!("narrow-attrs is a capability of compact files only")));
        }
        let attrs = match narrow_attrs {
            true => Words::Attr16(records(SectionKind::Attrs, body(SectionKind::Attrs)?)?),
            false => Words::Wide(records(SectionKind::Attrs, body(SectionKind::Attrs)?)?),
        };
        let plan_bytes = body(SectionKind::Plan)?;
        let (plan, rest) = PlanHeader::ref_from_prefix(plan_bytes)
            .map_err(|_| bad_section(SectionKind::Plan, rule!("shorter than the plan header")))?;
        let slots = match compact {
            #[cfg(feature = "full-records")]
            false => Slots::Full(records(SectionKind::Plan, rest)?),
            _ => Slots::Compact(records(SectionKind::Plan, rest)?),
        };
        let weights = body(SectionKind::Weights)?;
        let metadata = core::str::from_utf8(body(SectionKind::Metadata)?).map_err(|_| Error::BadMetadata)?;
        let labels: &[StrRef] = records(SectionKind::Labels, body(SectionKind::Labels)?)?;
        let preprocess = body(SectionKind::Preprocess)?;
        let signature = body(SectionKind::Signature)?;
        let stream = body(SectionKind::Stream)?;

        if tensors.len() > MAX_TENSORS {
            return Err(bad_section(SectionKind::Tensors, rule!("more than 65536 tensors")));
        }
        if ops.len() > MAX_OPS {
            return Err(bad_section(SectionKind::Ops, rule!("more than 65536 ops")));
        }
        if slots.len() != plan.slot_count.get() as usize {
            return Err(Error::BadPlan(rule!("slot_count does not match the section length")));
        }
        if plan.reserved.get() != 0 {
            return Err(Error::BadPlan(rule!("reserved must be 0")));
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
            signature,
            stream,
        })
    }

    /// The container version (1 or 2).
    pub fn version(&self) -> u16 {
        self.header.container_version.get()
    }

    /// The required capability bits ([`caps`]).
    pub fn caps(&self) -> u32 {
        self.header.flags.get()
    }

    /// Resolves a string reference.
    pub fn string(&self, r: &StrRef) -> Result<&'a str> {
        let start = r.offset.get() as usize;
        let len = r.len.get() as usize;
        let b = self
            .strings
            .get(start..)
            .and_then(|b| b.get(..len))
            .ok_or(Error::BadString(rule!("out of the strings section")))?;
        core::str::from_utf8(b).map_err(|_| Error::BadString(rule!("not UTF-8")))
    }

    /// Resolves a range of the index section.
    pub fn index_range(&self, start: u32, len: u32) -> Option<Words<'a>> {
        self.indices.range(start, len)
    }

    /// Resolves a range of the attribute section.
    pub fn attr_range(&self, start: u32, len: u32) -> Option<Words<'a>> {
        self.attrs.range(start, len)
    }

    /// The data bytes of a weight tensor (validated in range by `parse`).
    pub fn weight_bytes(&self, t: &TensorRecord) -> Option<&'a [u8]> {
        let start = usize::try_from(t.offset.get()).ok()?;
        let len = usize::try_from(t.byte_len.get()).ok()?;
        self.weights.get(start..)?.get(..len)
    }

    fn check_tensors(&self) -> Result<u32> {
        let v1 = self.version() == CONTAINER_VERSION_V1;
        let compact = matches!(self.tensors, Tensors::Compact(_));
        let mut used = if compact { caps::COMPACT } else { 0 };
        if matches!(self.attrs, Words::Attr16(_)) {
            used |= caps::NARROW_ATTRS;
        }
        let weight_align = if compact { COMPACT_WEIGHT_ALIGN } else { SECTION_ALIGN };
        for (i, t) in self.tensors.iter().enumerate() {
            let index = i as u32;
            let bad = |rule| Error::BadTensor { index, rule };
            let t = &t;
            self.string(&t.name)?;
            let dtype = DType::from_u8(t.dtype).ok_or(bad(rule!("unknown dtype")))?;
            let rank = t.rank as usize;
            if rank > MAX_RANK {
                return Err(bad(rule!("rank above 6")));
            }
            if compact && rank > COMPACT_RANK {
                return Err(bad(rule!("a compact record holds rank 4 at most")));
            }
            if t.dims.iter().skip(rank).any(|d| d.get() != 0) {
                return Err(bad(rule!("dims past rank must be 0")));
            }
            let storage = Storage::from_u8(t.storage).ok_or(bad(rule!("unknown storage")))?;
            let layout = Layout::from_u8(t.layout).ok_or(bad(rule!("unknown layout")))?;
            if v1 && (storage as u8 > 1 || t.layout != 0 || t.alias_of.get() != 0) {
                return Err(bad(rule!("reserved fields must be 0 in container version 1")));
            }
            if t.reserved0 != 0 || t.reserved1.get() != 0 {
                return Err(bad(rule!("reserved fields must be 0")));
            }
            let bytes = layout_len(t, dtype, layout, compact, bad)?;
            if bytes != t.byte_len.get() {
                return Err(bad(rule!("byte_len does not match dims, dtype and layout")));
            }
            used |= match layout {
                Layout::RowMajor => 0,
                Layout::ChannelsLast => caps::CHANNELS_LAST,
                _ => caps::PACKED_WEIGHTS,
            };
            self.check_quant(t, dtype, bad, &mut used)?;
            match storage {
                Storage::Arena | Storage::State => {
                    if t.offset.get() != 0 {
                        return Err(bad(rule!("arena and state tensors must have offset 0 (the plan places them)")));
                    }
                    if !v1 && t.alias_of.get() != NO_TENSOR {
                        return Err(bad(rule!("alias_of must be 0xFFFFFFFF unless the storage is alias")));
                    }
                    if storage == Storage::State {
                        used |= caps::STATE;
                    }
                }
                Storage::Weights => {
                    if !v1 && t.alias_of.get() != NO_TENSOR {
                        return Err(bad(rule!("alias_of must be 0xFFFFFFFF unless the storage is alias")));
                    }
                    if !t.offset.get().is_multiple_of(weight_align) {
                        return Err(bad(rule!("weight offset not aligned (64 bytes; compact files 16)")));
                    }
                    let end = t.offset.get().checked_add(bytes).ok_or(bad(rule!("weight range overflows")))?;
                    if end > self.weights.len() as u64 {
                        return Err(bad(rule!("weight data out of the weights section")));
                    }
                }
                Storage::Alias => {
                    used |= caps::ALIASES;
                    let target =
                        self.tensors.get(t.alias_of.get() as usize).ok_or(bad(rule!("alias target out of range")))?;
                    if target.storage != Storage::Arena as u8 && target.storage != Storage::State as u8 {
                        return Err(bad(rule!("an alias views an arena or state tensor")));
                    }
                    if layout.is_packed() {
                        return Err(bad(rule!("an alias cannot have a packed layout")));
                    }
                    let end = t.offset.get().checked_add(bytes).ok_or(bad(rule!("alias range overflows")))?;
                    if end > target.byte_len.get() {
                        return Err(bad(rule!("alias runs past its target")));
                    }
                    if !t.offset.get().is_multiple_of(dtype.size() as u64) {
                        return Err(bad(rule!("alias offset not a multiple of the element size")));
                    }
                }
            }
        }
        Ok(used)
    }

    /// Quantization fields of one tensor record.
    fn check_quant(
        &self,
        t: &TensorRecord,
        dtype: DType,
        bad: impl Fn(&'static str) -> Error,
        used: &mut u32,
    ) -> Result<()> {
        let rank = t.rank as usize;
        match t.quant_kind {
            0 => {
                if t.scale.get() != 0.0
                    || t.zero_point.get() != 0
                    || t.axis_scales.get() != NO_TENSOR
                    || t.axis_zero_points.get() != NO_TENSOR
                    || t.quant_axis.get() != 0
                {
                    return Err(bad(rule!("quantization fields set on an unquantized tensor")));
                }
            }
            _ if self.header.quant_version.get() < QUANT_VERSION_INT8 => {
                return Err(bad(rule!("quantization kind not supported by quantization version 1")))
            }
            1 => {
                // Int8 activations and weights with one scale and zero point.
                let s = t.scale.get();
                if dtype != DType::I8 || !(s.is_finite() && s > 0.0) || !(-128..=127).contains(&t.zero_point.get()) {
                    return Err(bad(rule!("per-tensor quantization needs an i8 tensor, scale > 0, zero point in i8")));
                }
                if t.axis_scales.get() != NO_TENSOR || t.axis_zero_points.get() != NO_TENSOR || t.quant_axis.get() != 0
                {
                    return Err(bad(rule!("per-axis fields set on a per-tensor quantized tensor")));
                }
            }
            2 => {
                // Int8 weights with one scale (and, asymmetric, one zero point) per slice along
                // `quant_axis`; the scales live in an f32 weight tensor, or are folded into the
                // consuming op's requantization (NO_TENSOR).
                if dtype != DType::I8 || t.storage != Storage::Weights as u8 {
                    return Err(bad(rule!("per-axis quantization needs an i8 weight")));
                }
                let axis = t.quant_axis.get() as usize;
                if axis >= rank || t.scale.get() != 0.0 || t.zero_point.get() != 0 {
                    return Err(bad(rule!("per-axis quantization: bad axis, or per-tensor fields set")));
                }
                let len = t.dims.get(axis).map_or(0, |d| d.get());
                let per_slice = |idx: u32, dt: DType| {
                    self.tensors.get(idx as usize).is_some_and(|st| {
                        st.dtype == dt as u8
                            && st.storage == Storage::Weights as u8
                            && st.layout == 0
                            && st.rank == 1
                            && st.dims.first().map(|d| d.get()) == Some(len)
                    })
                };
                let z = t.axis_zero_points.get();
                if z != NO_TENSOR {
                    if self.version() == CONTAINER_VERSION_V1 {
                        return Err(bad(rule!("per-axis weights are symmetric in container version 1")));
                    }
                    if !per_slice(z, DType::I32) {
                        return Err(bad(rule!("axis zero points must be an i32 weight with one value per slice")));
                    }
                    *used |= caps::ZERO_POINTS;
                }
                let s = t.axis_scales.get();
                if s != NO_TENSOR && !per_slice(s, DType::F32) {
                    return Err(bad(rule!("axis scales must be an f32 weight with one value per slice")));
                }
            }
            _ => return Err(bad(rule!("unknown quantization kind"))),
        }
        if dtype == DType::I8 && t.quant_kind == 0 {
            return Err(bad(rule!("i8 tensors must be quantized")));
        }
        Ok(())
    }

    fn check_op_records(&self) -> Result<u32> {
        let n = self.tensors.len() as u32;
        for (i, op) in self.ops.iter().enumerate() {
            let index = i as u32;
            let bad = |rule| Error::BadOp { index, rule };
            let op = &op;
            self.string(&op.name)?;
            if op.flags.get() != 0 || op.reserved.get() != 0 {
                return Err(bad(rule!("flags and reserved must be 0")));
            }
            let ins = self
                .index_range(op.inputs_start.get(), op.inputs_len.get())
                .ok_or(bad(rule!("inputs out of the index section")))?;
            let outs = self
                .index_range(op.outputs_start.get(), op.outputs_len.get())
                .ok_or(bad(rule!("outputs out of the index section")))?;
            self.attr_range(op.attrs_start.get(), op.attrs_len.get())
                .ok_or(bad(rule!("attributes out of the attribute section")))?;
            for t in ins.iter().chain(outs.iter()) {
                if t != NO_TENSOR && t >= n {
                    return Err(bad(rule!("tensor index out of range")));
                }
            }
            let s = op.scratch.get();
            if s != NO_TENSOR && s >= n {
                return Err(bad(rule!("scratch tensor index out of range")));
            }
        }
        for (what, start, len) in [
            (rule!("graph inputs"), self.plan.inputs_start.get(), self.plan.inputs_len.get()),
            (rule!("graph outputs"), self.plan.outputs_start.get(), self.plan.outputs_len.get()),
        ] {
            let r = self.index_range(start, len).ok_or(Error::BadPlan(what))?;
            if r.iter().any(|t| t >= n) {
                return Err(Error::BadPlan(rule!("graph input or output index out of range")));
            }
        }
        // int8 graph inputs and outputs (their other rules are the plan's).
        let io = |start: u32, len: u32| self.index_range(start, len).unwrap_or(Words::EMPTY);
        let int8_io = io(self.plan.inputs_start.get(), self.plan.inputs_len.get())
            .iter()
            .chain(io(self.plan.outputs_start.get(), self.plan.outputs_len.get()).iter())
            .any(|t| self.tensors.get(t as usize).is_some_and(|r| r.dtype == DType::I8 as u8));
        Ok(if int8_io { caps::INT8_IO } else { 0 })
    }
}

#[cfg(all(test, feature = "std"))]
#[allow(clippy::indexing_slicing)]
mod tests {
    /// The bare-metal CRC is the same function as crc32fast's (the check value and random data).
    #[test]
    fn nibblewise_crc_matches_crc32fast() {
        assert_eq!(super::crc32_nibblewise(b"123456789"), 0xCBF4_3926);
        let mut x = 0x1234_5678u32;
        let data: Vec<u8> = (0..4099)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        for len in [0, 1, 15, 16, 17, 1000, 4099] {
            assert_eq!(super::crc32_nibblewise(&data[..len]), crc32fast::hash(&data[..len]), "{len} bytes");
        }
    }
}
