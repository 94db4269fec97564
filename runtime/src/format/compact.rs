//! Compact records (capability `compact`, container version 2): the tensor, op and arena-slot
//! tables in 36, 16 and 8 bytes a record instead of 80, 48 and 24, for firmware artifacts
//! (`ferrite quantize --strip`), where the fixed-width tables were the largest part of a small
//! model after its weights. Narrower fields, no op names (a stripped file has none; its graph
//! inputs and outputs keep theirs); nothing else changes.
//!
//! A reader never trusts a compact record more than a full one: [`Tensors::get`], [`Ops::get`]
//! and [`Slots::get`] widen each record to its full form (16-bit "none" sentinels to 32-bit ones),
//! and every rule of docs/FORMAT.md is then checked on the widened record, exactly as for a
//! full-width file. [`encode_tensor`], [`encode_op`] and [`encode_slot`] are the writer's side:
//! `None` when a record does not fit, and the writer then keeps the full form.

use super::{ArenaSlot, OpRecord, StrRef, TensorRecord, NO_OP, NO_TENSOR};
use zerocopy::little_endian::{F32, I16, I32, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The 16-bit "none" of compact index fields (a tensor, op or scratch index).
pub const NONE16: u16 = u16::MAX;
/// The largest rank a compact tensor record holds.
pub const COMPACT_RANK: usize = 4;

/// A tensor record in 24 bytes (capability `compact`). Its byte length is not stored: it is what
/// the dims, dtype and layout give (packed weights in their lean form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CompactTensor {
    /// Six small fields in one word: bits 0–3 [`super::DType`], 4–6 rank (at most
    /// [`COMPACT_RANK`]), 7–8 [`super::Storage`], 9–10 [`super::QuantKind`], 11–12 quantization
    /// axis, 13–15 [`super::Layout`].
    pub desc: U16,
    /// Per-tensor zero point (an i8 activation's), else 0.
    pub zero_point: i8,
    /// Length of the name in the strings section (0: no name).
    pub name_len: u8,
    /// Offset of the name in the strings section.
    pub name_offset: U16,
    /// Dimensions; entries at and past the rank MUST be 0.
    pub dims: [U16; COMPACT_RANK],
    /// As [`TensorRecord::offset`].
    pub offset: U32,
    /// As [`TensorRecord::scale`].
    pub scale: F32,
    /// Storage alias: the tensor it views ([`TensorRecord::alias_of`]); otherwise the per-axis
    /// scales ([`TensorRecord::axis_scales`]); [`NONE16`] for none. Compact files carry no
    /// per-axis zero points (capability `zero-points` takes full records).
    pub link: U16,
}

/// The six fields of [`CompactTensor::desc`] in one word (`None` when one does not fit its bits).
pub fn pack_desc(dtype: u8, rank: u8, storage: u8, quant_kind: u8, quant_axis: u16, layout: u8) -> Option<u16> {
    if dtype > 15 || rank > 7 || storage > 3 || quant_kind > 3 || quant_axis > 3 || layout > 7 {
        return None;
    }
    Some(
        dtype as u16
            | (rank as u16) << 4
            | (storage as u16) << 7
            | (quant_kind as u16) << 9
            | quant_axis << 11
            | (layout as u16) << 13,
    )
}

/// The fields of [`CompactTensor::desc`]: dtype, rank, storage, quantization kind and axis, layout.
pub fn unpack_desc(d: u16) -> (u8, u8, u8, u8, u16, u8) {
    let bits = |shift: u16, width: u16| (d >> shift) & ((1 << width) - 1);
    (bits(0, 4) as u8, bits(4, 3) as u8, bits(7, 2) as u8, bits(9, 2) as u8, bits(11, 2), bits(13, 3) as u8)
}

/// An op record in 16 bytes (capability `compact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CompactOp {
    /// An [`crate::ops::OpCode`] value.
    pub opcode: U16,
    /// Number of inputs.
    pub inputs_len: u8,
    /// Number of outputs.
    pub outputs_len: u8,
    /// First input in the index section.
    pub inputs_start: U16,
    /// First output in the index section.
    pub outputs_start: U16,
    /// First attribute word.
    pub attrs_start: U16,
    /// Number of attribute words.
    pub attrs_len: u8,
    /// MUST be 0.
    pub reserved0: u8,
    /// Scratch tensor, or [`NONE16`].
    pub scratch: U16,
    /// MUST be 0.
    pub reserved1: U16,
}

/// An arena slot in 8 bytes (capability `compact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CompactSlot {
    /// As [`ArenaSlot::tensor`].
    pub tensor: U16,
    /// As [`ArenaSlot::def_op`], [`NONE16`] for a graph input.
    pub def_op: U16,
    /// As [`ArenaSlot::last_op`].
    pub last_op: U16,
    /// The arena offset in units of 64 bytes.
    pub offset_64: U16,
}

const _: () = assert!(core::mem::size_of::<CompactTensor>() == 24);
const _: () = assert!(core::mem::size_of::<CompactOp>() == 16);
const _: () = assert!(core::mem::size_of::<CompactSlot>() == 8);

fn widen(v: u16, none: u32) -> u32 {
    if v == NONE16 {
        none
    } else {
        v as u32
    }
}

/// A 32-bit index as a compact one: `none` becomes [`NONE16`]; `None` when it does not fit.
fn narrow(v: u32, none: u32) -> Option<u16> {
    if v == none {
        return Some(NONE16);
    }
    u16::try_from(v).ok().filter(|&x| x != NONE16)
}

/// The full record of a compact one. Its byte length is derived ([`super::parse::layout_len`],
/// lean); a record whose fields give none gets `u64::MAX`, which the loader's check of the same
/// rule then refuses with its reason.
pub fn decode_tensor(c: &CompactTensor) -> TensorRecord {
    let mut dims = [U32::ZERO; super::MAX_RANK];
    for (d, v) in dims.iter_mut().zip(c.dims) {
        *d = U32::new(v.get() as u32);
    }
    let (dtype, rank, storage, quant_kind, quant_axis, layout) = unpack_desc(c.desc.get());
    let link = widen(c.link.get(), NO_TENSOR);
    let alias = storage == super::Storage::Alias as u8;
    let mut t = TensorRecord {
        name: StrRef { offset: U32::new(c.name_offset.get() as u32), len: U32::new(c.name_len as u32) },
        dtype,
        rank,
        storage,
        quant_kind,
        quant_axis: U16::new(quant_axis),
        layout,
        reserved0: 0,
        dims,
        offset: U64::new(c.offset.get() as u64),
        byte_len: U64::ZERO,
        scale: c.scale,
        zero_point: I32::new(c.zero_point as i32),
        axis_scales: U32::new(if alias { NO_TENSOR } else { link }),
        axis_zero_points: U32::new(NO_TENSOR),
        alias_of: U32::new(if alias { link } else { NO_TENSOR }),
        reserved1: U32::ZERO,
    };
    let len = match (super::DType::from_u8(dtype), super::Layout::from_u8(layout)) {
        (Some(dt), Some(l)) => super::parse::layout_len(&t, dt, l, true, |_| ()).unwrap_or(u64::MAX),
        _ => u64::MAX,
    };
    t.byte_len = U64::new(len);
    t
}

/// The compact form of `t`, if it has one (a name of at most 255 bytes in the first 64 KiB of the
/// strings; rank, dims, offsets and indices in range; no zero-point tensor; not both an alias
/// target and axis scales). The byte length is not stored: the writer gives lean packed weights.
pub fn encode_tensor(t: &TensorRecord) -> Option<CompactTensor> {
    let rank = t.rank as usize;
    if rank > COMPACT_RANK || t.dims.iter().skip(COMPACT_RANK).any(|d| d.get() != 0) {
        return None;
    }
    if t.axis_zero_points.get() != NO_TENSOR || t.reserved0 != 0 || t.reserved1.get() != 0 {
        return None;
    }
    let alias = t.storage == super::Storage::Alias as u8;
    let (link, other) = if alias { (t.alias_of, t.axis_scales) } else { (t.axis_scales, t.alias_of) };
    if other.get() != NO_TENSOR {
        return None;
    }
    let mut dims = [U16::ZERO; COMPACT_RANK];
    for (d, v) in dims.iter_mut().zip(t.dims) {
        *d = U16::new(u16::try_from(v.get()).ok()?);
    }
    Some(CompactTensor {
        desc: U16::new(pack_desc(t.dtype, t.rank, t.storage, t.quant_kind, t.quant_axis.get(), t.layout)?),
        zero_point: i8::try_from(t.zero_point.get()).ok()?,
        name_len: u8::try_from(t.name.len.get()).ok()?,
        name_offset: U16::new(u16::try_from(t.name.offset.get()).ok()?),
        dims,
        offset: U32::new(u32::try_from(t.offset.get()).ok()?),
        scale: t.scale,
        link: U16::new(narrow(link.get(), NO_TENSOR)?),
    })
}

/// The full record of a compact one (no name, flags 0).
pub fn decode_op(c: &CompactOp) -> OpRecord {
    OpRecord {
        opcode: U32::new(c.opcode.get() as u32),
        // A reserved byte that is not zero becomes a flag that is not zero: the loader's
        // "flags MUST be 0" refuses it.
        flags: U32::new(c.reserved0 as u32 | (c.reserved1.get() as u32) << 8),
        name: StrRef { offset: U32::ZERO, len: U32::ZERO },
        inputs_start: U32::new(c.inputs_start.get() as u32),
        inputs_len: U32::new(c.inputs_len as u32),
        outputs_start: U32::new(c.outputs_start.get() as u32),
        outputs_len: U32::new(c.outputs_len as u32),
        attrs_start: U32::new(c.attrs_start.get() as u32),
        attrs_len: U32::new(c.attrs_len as u32),
        scratch: U32::new(widen(c.scratch.get(), NO_TENSOR)),
        reserved: U32::ZERO,
    }
}

/// The compact form of `op`, if it has one.
pub fn encode_op(op: &OpRecord) -> Option<CompactOp> {
    if op.name.len.get() != 0 || op.flags.get() != 0 || op.reserved.get() != 0 {
        return None;
    }
    let u8_of = |v: U32| u8::try_from(v.get()).ok();
    let u16_of = |v: U32| u16::try_from(v.get()).ok();
    Some(CompactOp {
        opcode: U16::new(u16_of(op.opcode)?),
        inputs_len: u8_of(op.inputs_len)?,
        outputs_len: u8_of(op.outputs_len)?,
        inputs_start: U16::new(u16_of(op.inputs_start)?),
        outputs_start: U16::new(u16_of(op.outputs_start)?),
        attrs_start: U16::new(u16_of(op.attrs_start)?),
        attrs_len: u8_of(op.attrs_len)?,
        reserved0: 0,
        scratch: U16::new(narrow(op.scratch.get(), NO_TENSOR)?),
        reserved1: U16::ZERO,
    })
}

/// The full record of a compact slot.
pub fn decode_slot(c: &CompactSlot) -> ArenaSlot {
    ArenaSlot {
        tensor: U32::new(widen(c.tensor.get(), NO_TENSOR)),
        def_op: U32::new(widen(c.def_op.get(), NO_OP)),
        last_op: U32::new(c.last_op.get() as u32),
        reserved: U32::ZERO,
        offset: U64::new(c.offset_64.get() as u64 * super::SECTION_ALIGN),
    }
}

/// The compact form of `s`, if it has one (offset a multiple of 64 below 4 MiB).
pub fn encode_slot(s: &ArenaSlot) -> Option<CompactSlot> {
    let off = s.offset.get();
    if !off.is_multiple_of(super::SECTION_ALIGN) || s.reserved.get() != 0 || s.last_op.get() == NO_OP {
        return None;
    }
    Some(CompactSlot {
        tensor: U16::new(narrow(s.tensor.get(), NO_TENSOR).filter(|&t| t != NONE16)?),
        def_op: U16::new(narrow(s.def_op.get(), NO_OP)?),
        last_op: U16::new(narrow(s.last_op.get(), NO_OP)?),
        offset_64: U16::new(u16::try_from(off / super::SECTION_ALIGN).ok()?),
    })
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $full:ty, $compact:ty, $decode:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub enum $name<'a> {
            /// Full-width records (feature `full-records`).
            #[cfg(feature = "full-records")]
            Full(&'a [$full]),
            /// Compact records (capability `compact`).
            Compact(&'a [$compact]),
        }

        impl<'a> $name<'a> {
            /// Record `i`, widened to its full form.
            #[inline]
            pub fn get(&self, i: usize) -> Option<$full> {
                match self {
                    #[cfg(feature = "full-records")]
                    $name::Full(r) => r.get(i).copied(),
                    $name::Compact(r) => r.get(i).map($decode),
                }
            }
            /// Number of records.
            pub fn len(&self) -> usize {
                match self {
                    #[cfg(feature = "full-records")]
                    $name::Full(r) => r.len(),
                    $name::Compact(r) => r.len(),
                }
            }
            /// True when there are no records.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
            /// Every record, widened, in order.
            pub fn iter(self) -> impl Iterator<Item = $full> + 'a {
                (0..self.len()).filter_map(move |i| self.get(i))
            }
        }
    };
}

table!(
    /// The tensor table, full or compact.
    Tensors,
    TensorRecord,
    CompactTensor,
    decode_tensor
);
table!(
    /// The op list, full or compact.
    Ops,
    OpRecord,
    CompactOp,
    decode_op
);
table!(
    /// The arena slots, full or compact (sorted by tensor either way).
    Slots,
    ArenaSlot,
    CompactSlot,
    decode_slot
);

impl Tensors<'_> {
    /// The storage byte of tensor `i`, read in place (no widening).
    #[inline]
    pub fn storage(&self, i: usize) -> Option<u8> {
        match self {
            #[cfg(feature = "full-records")]
            Tensors::Full(r) => r.get(i).map(|t| t.storage),
            Tensors::Compact(r) => r.get(i).map(|t| unpack_desc(t.desc.get()).2),
        }
    }
    /// The byte length of tensor `i` (derived from the record in a compact file).
    #[inline]
    pub fn byte_len(&self, i: usize) -> Option<u64> {
        self.get(i).map(|t| t.byte_len.get())
    }
}

/// Index or attribute words: 32-bit, or 16-bit in a compact file (indices always, attributes with
/// capability `narrow-attrs`). Readers see every word widened to 32 bits.
#[derive(Debug, Clone, Copy)]
pub enum Words<'a> {
    /// 32-bit words.
    Wide(&'a [U32]),
    /// 16-bit tensor indices: [`NONE16`] widens to `0xFFFFFFFF` (no tensor).
    Index16(&'a [U16]),
    /// 16-bit attribute words, sign-extended to 32 bits.
    Attr16(&'a [I16]),
}

impl<'a> Words<'a> {
    /// No words (what an out-of-range lookup reads as, once validation has refused it).
    pub const EMPTY: Words<'static> = Words::Wide(&[]);

    /// Word `i`, widened.
    #[inline]
    pub fn get(&self, i: usize) -> Option<u32> {
        match self {
            Words::Wide(w) => w.get(i).map(|v| v.get()),
            Words::Index16(w) => w.get(i).map(|v| widen(v.get(), NO_TENSOR)),
            Words::Attr16(w) => w.get(i).map(|v| v.get() as i32 as u32),
        }
    }
    /// Number of words.
    pub fn len(&self) -> usize {
        match self {
            Words::Wide(w) => w.len(),
            Words::Index16(w) => w.len(),
            Words::Attr16(w) => w.len(),
        }
    }
    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Words `[start, start + len)`, if inside.
    pub fn range(&self, start: u32, len: u32) -> Option<Words<'a>> {
        let (s, n) = (start as usize, len as usize);
        Some(match self {
            Words::Wide(w) => Words::Wide(w.get(s..)?.get(..n)?),
            Words::Index16(w) => Words::Index16(w.get(s..)?.get(..n)?),
            Words::Attr16(w) => Words::Attr16(w.get(s..)?.get(..n)?),
        })
    }
    /// Every word, widened, in order.
    pub fn iter(self) -> WordsIter<'a> {
        WordsIter { words: self, next: 0 }
    }
}

/// The words of a [`Words`], widened, in order.
#[derive(Debug, Clone)]
pub struct WordsIter<'a> {
    words: Words<'a>,
    next: usize,
}

impl Iterator for WordsIter<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let v = self.words.get(self.next)?;
        self.next += 1;
        Some(v)
    }
}

impl<'a> IntoIterator for Words<'a> {
    type Item = u32;
    type IntoIter = WordsIter<'a>;
    fn into_iter(self) -> WordsIter<'a> {
        self.iter()
    }
}

impl Slots<'_> {
    /// The index of the slot of `tensor` (slots are sorted by tensor, strictly: checked at load).
    pub fn find(&self, tensor: u32) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let t = self.get(mid)?.tensor.get();
            match t.cmp(&tensor) {
                core::cmp::Ordering::Equal => return Some(mid),
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor() -> TensorRecord {
        let mut dims = [U32::ZERO; super::super::MAX_RANK];
        for (d, v) in dims.iter_mut().zip([1u32, 25, 5, 64]) {
            *d = U32::new(v);
        }
        TensorRecord {
            name: StrRef { offset: U32::ZERO, len: U32::ZERO },
            dtype: 3,
            rank: 4,
            storage: 0,
            quant_kind: 1,
            quant_axis: U16::ZERO,
            layout: 1,
            reserved0: 0,
            dims,
            offset: U64::ZERO,
            byte_len: U64::new(8000),
            scale: F32::new(0.05),
            zero_point: I32::new(-7),
            axis_scales: U32::new(NO_TENSOR),
            axis_zero_points: U32::new(NO_TENSOR),
            alias_of: U32::new(NO_TENSOR),
            reserved1: U32::ZERO,
        }
    }

    /// Encoding then decoding gives back the same bytes, for what fits; what does not fit has no
    /// compact form (never a silently different record).
    #[test]
    fn records_round_trip_or_refuse() {
        let t = tensor();
        assert_eq!(decode_tensor(&encode_tensor(&t).unwrap()).as_bytes(), t.as_bytes());
        let named = TensorRecord { name: StrRef { offset: U32::new(9), len: U32::new(8) }, ..t };
        assert_eq!(decode_tensor(&encode_tensor(&named).unwrap()).as_bytes(), named.as_bytes());
        let mut alias = t;
        alias.storage = 3;
        alias.alias_of = U32::new(12);
        alias.offset = U64::new(64);
        assert_eq!(decode_tensor(&encode_tensor(&alias).unwrap()).as_bytes(), alias.as_bytes());
        // Not an alias: the link is the per-axis scales.
        let scaled = TensorRecord { axis_scales: U32::new(7), ..t };
        assert_eq!(decode_tensor(&encode_tensor(&scaled).unwrap()).as_bytes(), scaled.as_bytes());
        // The byte length is derived: a packed weight's is its lean length; fields that give no
        // length widen to u64::MAX, which the loader refuses.
        let mut packed = t;
        (packed.storage, packed.quant_kind, packed.layout, packed.rank) = (1, 2, 2, 2);
        packed.dims = [U32::ZERO; super::super::MAX_RANK];
        (packed.dims[0], packed.dims[1]) = (U32::new(10), U32::new(63));
        (packed.scale, packed.zero_point) = (F32::ZERO, I32::ZERO);
        assert_eq!(decode_tensor(&encode_tensor(&packed).unwrap()).byte_len.get(), 10 * 64);
        let unknown = CompactTensor {
            desc: U16::new(encode_tensor(&t).unwrap().desc.get() | 7 << 13),
            ..encode_tensor(&t).unwrap()
        };
        assert_eq!(decode_tensor(&unknown).byte_len.get(), u64::MAX);
        for broken in [
            TensorRecord { rank: 5, ..t },
            TensorRecord { zero_point: I32::new(300), ..t },
            TensorRecord { quant_axis: U16::new(4), ..t },
            TensorRecord { dtype: 16, ..t },
            TensorRecord { alias_of: U32::new(3), axis_scales: U32::new(4), ..t },
            TensorRecord { alias_of: U32::new(70_000), ..t },
            TensorRecord { axis_zero_points: U32::new(3), ..t },
            TensorRecord { name: StrRef { offset: U32::ZERO, len: U32::new(256) }, ..t },
            TensorRecord { name: StrRef { offset: U32::new(70_000), len: U32::new(1) }, ..t },
            TensorRecord { reserved0: 1, ..t },
        ] {
            assert!(encode_tensor(&broken).is_none(), "{broken:?}");
        }
        let mut big = t;
        big.dims[1] = U32::new(70_000);
        assert!(encode_tensor(&big).is_none());

        let op = OpRecord {
            opcode: U32::new(23),
            flags: U32::ZERO,
            name: StrRef { offset: U32::ZERO, len: U32::ZERO },
            inputs_start: U32::new(4),
            inputs_len: U32::new(4),
            outputs_start: U32::new(8),
            outputs_len: U32::new(1),
            attrs_start: U32::new(15),
            attrs_len: U32::new(15),
            scratch: U32::new(NO_TENSOR),
            reserved: U32::ZERO,
        };
        assert_eq!(decode_op(&encode_op(&op).unwrap()).as_bytes(), op.as_bytes());
        assert!(encode_op(&OpRecord { attrs_len: U32::new(300), ..op }).is_none());
        assert!(encode_op(&OpRecord { scratch: U32::new(65_535), ..op }).is_none());

        let slot = ArenaSlot {
            tensor: U32::new(5),
            def_op: U32::new(NO_OP),
            last_op: U32::new(13),
            reserved: U32::ZERO,
            offset: U64::new(8064),
        };
        assert_eq!(decode_slot(&encode_slot(&slot).unwrap()).as_bytes(), slot.as_bytes());
        assert!(encode_slot(&ArenaSlot { offset: U64::new(8032), ..slot }).is_none());
        assert!(encode_slot(&ArenaSlot { offset: U64::new(64 << 16), ..slot }).is_none());
    }

    /// A reserved byte of a compact op that is not zero must not vanish in the widening.
    #[test]
    fn reserved_op_bytes_surface_as_flags() {
        let c = CompactOp {
            opcode: U16::new(1),
            inputs_len: 1,
            outputs_len: 1,
            inputs_start: U16::ZERO,
            outputs_start: U16::new(1),
            attrs_start: U16::ZERO,
            attrs_len: 0,
            reserved0: 0,
            scratch: U16::new(NONE16),
            reserved1: U16::new(1),
        };
        assert_ne!(decode_op(&c).flags.get(), 0);
        assert_ne!(decode_op(&CompactOp { reserved0: 2, reserved1: U16::ZERO, ..c }).flags.get(), 0);
    }

    #[test]
    fn slots_are_found_by_tensor() {
        let s =
            |t: u16| CompactSlot { tensor: U16::new(t), def_op: U16::ZERO, last_op: U16::ZERO, offset_64: U16::ZERO };
        let table = [s(0), s(3), s(4), s(9)];
        let slots = Slots::Compact(&table);
        for (i, t) in [0u32, 3, 4, 9].into_iter().enumerate() {
            assert_eq!(slots.find(t), Some(i));
        }
        assert_eq!(slots.find(5), None);
        assert_eq!(slots.find(10), None);
    }
}
