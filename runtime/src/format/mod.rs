//! The artifact format: the little-endian record types shared by the reader (here) and the writer
//! (in the quantizer). `docs/FORMAT.md` is the normative description; the `const` assertions below
//! lock every record size to it. All records have alignment 1 (zerocopy's little-endian integer
//! types), so they can be viewed in place in any buffer without copying.
//!
//! Container version 2 keeps every record size of version 1 and gives meaning to fields version 1
//! kept reserved: required capability bits in the header, a skippable flag on sections, a layout id
//! and an alias target on tensors, and two more storage classes (state, alias). Version-1 files
//! still load: a version-1 reader's rules are a subset (every new field was zero).

pub mod compact;
pub(crate) mod parse;
pub mod signature;

pub use compact::{Ops, Slots, Tensors, Words};
pub use parse::{checksum, Artifact, Section};

use zerocopy::little_endian::{F32, I32, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// File magic: `\x89FER\r\n\x1a\n` (the PNG trick: catches 7-bit and newline-translating transfers).
pub const MAGIC: [u8; 8] = *b"\x89FER\r\n\x1a\n";
/// Written as a little-endian u32; a reader on any host that sees other bytes knows the byte order.
pub const ENDIAN_MARKER: u32 = 0x0102_0304;
/// Container version this runtime writes (bumped only for structural change). It reads
/// [`CONTAINER_VERSION_V1`] too.
pub const CONTAINER_VERSION: u16 = 2;
/// The first container version (issues 1-4), still read.
pub const CONTAINER_VERSION_V1: u16 = 1;
/// Quantization scheme version of artifacts without quantized tensors (f32 and fp16).
pub const QUANT_VERSION: u16 = 1;
/// Quantization scheme version of artifacts with int8 tensors (docs/QUANTIZATION.md). A reader of
/// version 2 reads version 1 too; a file with quantized tensors must declare 2.
pub const QUANT_VERSION_INT8: u16 = 2;
/// Alignment of every section and every weight tensor, in bytes (compact files: see
/// [`COMPACT_SECTION_ALIGN`] and [`COMPACT_WEIGHT_ALIGN`]).
pub const SECTION_ALIGN: u64 = 64;
/// Alignment of the sections of a compact file (capability `compact`), but its Weights section's.
pub const COMPACT_SECTION_ALIGN: u64 = 8;
/// Alignment of a compact file's Weights section and of each weight tensor in it.
pub const COMPACT_WEIGHT_ALIGN: u64 = 16;
/// Checksum algorithm id: CRC-32/ISO-HDLC (the zlib/PNG CRC) over bytes `[64, total_len)`.
pub const CHECKSUM_CRC32: u32 = 1;
/// Index value meaning "no tensor" (an absent optional input or output).
pub const NO_TENSOR: u32 = u32::MAX;
/// Maximum tensor rank.
pub const MAX_RANK: usize = 6;

/// Rounds `x` up to the next multiple of [`SECTION_ALIGN`] (`(x + 63) & !63`); `None` on overflow.
pub const fn align_up(x: u64) -> Option<u64> {
    match x.checked_add(SECTION_ALIGN - 1) {
        Some(v) => Some(v & !(SECTION_ALIGN - 1)),
        None => None,
    }
}

/// The fixed 64-byte file header.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`ENDIAN_MARKER`].
    pub endian: U32,
    /// [`CONTAINER_VERSION`].
    pub container_version: U16,
    /// [`QUANT_VERSION`].
    pub quant_version: U16,
    /// Size of this header: 64.
    pub header_len: U32,
    /// Required capabilities ([`caps`]): bits a reader MUST understand, or refuse the file. MUST be
    /// 0 in container version 1.
    pub flags: U32,
    /// Length of the whole file in bytes.
    pub total_len: U64,
    /// Offset of the section table (64 in v1).
    pub section_table_offset: U64,
    /// Number of section table entries.
    pub section_count: U32,
    /// Checksum algorithm, [`CHECKSUM_CRC32`].
    pub checksum_algo: U32,
    /// Checksum of bytes `[header_len, total_len)`.
    pub checksum: U32,
    /// MUST be zero.
    pub reserved: [u8; 12],
}

/// One entry of the section table.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SectionEntry {
    /// A [`SectionKind`] value.
    pub kind: U32,
    /// [`SECTION_SKIPPABLE`] or 0 (container version 1: MUST be 0).
    pub flags: U32,
    /// Absolute file offset, a multiple of [`SECTION_ALIGN`].
    pub offset: U64,
    /// Length in bytes.
    pub len: U64,
    /// MUST be 0.
    pub reserved: U64,
}

/// A reference to a UTF-8 string in the strings section.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct StrRef {
    /// Offset in the strings section.
    pub offset: U32,
    /// Length in bytes.
    pub len: U32,
}

/// One record of the tensor table.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TensorRecord {
    /// Tensor name.
    pub name: StrRef,
    /// A [`DType`] value.
    pub dtype: u8,
    /// Number of dimensions, at most [`MAX_RANK`].
    pub rank: u8,
    /// A [`Storage`] value.
    pub storage: u8,
    /// A [`QuantKind`] value.
    pub quant_kind: u8,
    /// Axis of per-axis quantization parameters (0 otherwise).
    pub quant_axis: U16,
    /// A [`Layout`] value: how the bytes hold the elements (0, row-major, in container version 1).
    pub layout: u8,
    /// MUST be 0.
    pub reserved0: u8,
    /// Dimensions; entries at and past `rank` MUST be 0.
    pub dims: [U32; MAX_RANK],
    /// Weights: offset in the weights section (multiple of 64). Aliases: byte offset in the target
    /// tensor. Arena and state tensors: 0 (the plan holds it).
    pub offset: U64,
    /// Size of the data in bytes: `product(dims) * dtype size`, or the packed size of its [`Layout`].
    pub byte_len: U64,
    /// Per-tensor scale (quantized tensors), else 0.
    pub scale: F32,
    /// Per-tensor zero point (quantized tensors), else 0.
    pub zero_point: I32,
    /// Tensor holding per-axis scales, or [`NO_TENSOR`].
    pub axis_scales: U32,
    /// Tensor holding per-axis zero points, or [`NO_TENSOR`].
    pub axis_zero_points: U32,
    /// Storage [`Storage::Alias`]: the tensor whose bytes this one views. Otherwise [`NO_TENSOR`]
    /// (0 in container version 1).
    pub alias_of: U32,
    /// MUST be 0.
    pub reserved1: U32,
}

/// One record of the op list (ops are stored in execution order).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct OpRecord {
    /// An [`crate::ops::OpCode`] value.
    pub opcode: U32,
    /// MUST be 0.
    pub flags: U32,
    /// Op name (from the source graph).
    pub name: StrRef,
    /// First input in the index section.
    pub inputs_start: U32,
    /// Number of inputs.
    pub inputs_len: U32,
    /// First output in the index section.
    pub outputs_start: U32,
    /// Number of outputs.
    pub outputs_len: U32,
    /// First attribute word in the attribute section.
    pub attrs_start: U32,
    /// Number of attribute words.
    pub attrs_len: U32,
    /// Scratch tensor (an arena tensor live only during this op), or [`NO_TENSOR`].
    pub scratch: U32,
    /// MUST be 0.
    pub reserved: U32,
}

/// Start of the plan section; followed by `slot_count` [`ArenaSlot`]s.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PlanHeader {
    /// Bytes of arena a session needs.
    pub arena_len: U64,
    /// Number of [`ArenaSlot`] records that follow.
    pub slot_count: U32,
    /// First graph input in the index section.
    pub inputs_start: U32,
    /// Number of graph inputs.
    pub inputs_len: U32,
    /// First graph output in the index section.
    pub outputs_start: U32,
    /// Number of graph outputs.
    pub outputs_len: U32,
    /// MUST be 0.
    pub reserved: U32,
}

/// Where one activation lives in the arena, and when it is live.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ArenaSlot {
    /// Tensor index (its storage MUST be [`Storage::Arena`]); slots are sorted by it, strictly.
    pub tensor: U32,
    /// Index of the op that writes the tensor, or [`NO_OP`] for a graph input.
    pub def_op: U32,
    /// Index of the last op that reads it; the op count for graph outputs (live to the end).
    pub last_op: U32,
    /// MUST be 0.
    pub reserved: U32,
    /// Byte offset in the arena, a multiple of 64.
    pub offset: U64,
}

/// `def_op` of graph inputs (written by the caller before op 0).
pub const NO_OP: u32 = u32::MAX;

/// Section flag: a reader that does not know the section's kind may skip it (container version 2).
pub const SECTION_SKIPPABLE: u32 = 1;

/// Required capability bits of the header's `flags` (container version 2). A writer sets a bit
/// exactly when the file uses the feature; a reader refuses a file with a bit it does not know, so
/// a runtime built without a feature (firmware) says so before reading anything else.
pub mod caps {
    /// Some weight has a packed [`super::Layout`] (not row-major).
    pub const PACKED_WEIGHTS: u32 = 1 << 0;
    /// Some activation is channels-last ([`super::Layout::ChannelsLast`]).
    pub const CHANNELS_LAST: u32 = 1 << 1;
    /// Some tensor has storage [`super::Storage::Alias`].
    pub const ALIASES: u32 = 1 << 2;
    /// Some tensor has storage [`super::Storage::State`].
    pub const STATE: u32 = 1 << 3;
    /// Some graph input or output is int8.
    pub const INT8_IO: u32 = 1 << 4;
    /// Some per-axis quantized weight has a zero-point tensor (asymmetric weights).
    pub const ZERO_POINTS: u32 = 1 << 5;
    /// Retired (never reused): the first compact records (2026-11), superseded by [`COMPACT`].
    /// This reader refuses such files as it refuses any unknown bit.
    pub const RETIRED_COMPACT_V1: u32 = 1 << 6;
    /// The compact form ([`super::compact`]): compact tensor, op and slot records, 16-bit indices,
    /// lean packed weights (no row sums, no padding rows) and tighter alignment.
    pub const COMPACT: u32 = 1 << 7;
    /// The attribute words are 16-bit (sign-extended); only with [`COMPACT`].
    pub const NARROW_ATTRS: u32 = 1 << 8;
    /// Every bit this reader knows.
    pub const KNOWN: u32 =
        PACKED_WEIGHTS | CHANNELS_LAST | ALIASES | STATE | INT8_IO | ZERO_POINTS | COMPACT | NARROW_ATTRS;
    /// Names, for messages (`inspect`, errors).
    pub const NAMES: [(u32, &str); 8] = [
        (PACKED_WEIGHTS, "packed-weights"),
        (CHANNELS_LAST, "channels-last"),
        (ALIASES, "aliases"),
        (STATE, "state"),
        (INT8_IO, "int8-io"),
        (ZERO_POINTS, "zero-points"),
        (COMPACT, "compact"),
        (NARROW_ATTRS, "narrow-attrs"),
    ];
}

/// The Stream section (32 bytes): a keyword model's default streaming parameters
/// ([`crate::stream::StreamParams`]; docs/FORMAT.md).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct StreamRecord {
    /// Audio frames between runs of the model, 1 to 65536.
    pub hop_frames: U32,
    /// Runs whose posteriors are averaged, 1 to 256.
    pub smooth: U32,
    /// Smoothed posterior a keyword must reach, in (0, 1].
    pub threshold: F32,
    /// Samples after a detection's window end before another may fire.
    pub refractory: U32,
    /// The class that means "no keyword", or [`NO_TENSOR`] (`0xFFFFFFFF`) for none.
    pub background: U32,
    /// MUST be 0.
    pub reserved: [U32; 3],
}

/// Start of the preprocessing section; followed by [`TextParams`] and `count` [`VocabEntry`]s
/// (kind [`PREPROCESS_TEXT`]), by [`TextParams`] and a front-coded vocabulary of `count` words
/// (kind [`PREPROCESS_TEXT_FRONT_CODED`]), by [`AudioParams`] (kind [`PREPROCESS_AUDIO`]), or by
/// [`TextParams`], [`WordPieceParams`] and the vocabulary as records or front-coded (kinds
/// [`PREPROCESS_WORDPIECE`], [`PREPROCESS_WORDPIECE_FRONT_CODED`]).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PreprocessHeader {
    /// [`PREPROCESS_TEXT`], [`PREPROCESS_TEXT_FRONT_CODED`] or [`PREPROCESS_AUDIO`].
    pub kind: U32,
    /// Version of that specification: 1.
    pub version: U32,
    /// Number of [`VocabEntry`] records (text), 0 (audio).
    pub count: U32,
    /// MUST be 0.
    pub reserved: U32,
}

/// Preprocessing kind: tokenizer `words-v1` (docs/PREPROCESSING.md).
pub const PREPROCESS_TEXT: u32 = 1;
/// Preprocessing kind: audio frontend `logmel-v1` (docs/PREPROCESSING.md).
pub const PREPROCESS_AUDIO: u32 = 2;
/// Preprocessing kind: tokenizer `words-v1` with its vocabulary front-coded (`count` words in
/// blocks of 16 with u16 ids: docs/FORMAT.md; what `ferrite quantize --strip` writes).
pub const PREPROCESS_TEXT_FRONT_CODED: u32 = 3;
/// Preprocessing kind: tokenizer `wordpiece-v1` (BERT's uncased WordPiece), vocabulary as
/// [`VocabEntry`] records.
pub const PREPROCESS_WORDPIECE: u32 = 4;
/// Preprocessing kind: tokenizer `wordpiece-v1`, vocabulary front-coded as in
/// [`PREPROCESS_TEXT_FRONT_CODED`].
pub const PREPROCESS_WORDPIECE_FRONT_CODED: u32 = 5;
/// [`TextParams::pad_side`]: padding before the words.
pub const PAD_LEFT: u32 = 0;
/// [`TextParams::pad_side`]: padding after the words.
pub const PAD_RIGHT: u32 = 1;
/// [`AudioParams::window`]: periodic Hann.
pub const WINDOW_HANN: u32 = 1;
/// `AudioParams::normalize`: the features as computed.
pub const NORMALIZE_NONE: u32 = 0;
/// `AudioParams::normalize`: each feature's mean over the window's frames subtracted from it
/// (cepstral mean normalisation over one model input; docs/PREPROCESSING.md).
pub const NORMALIZE_WINDOW_MEAN: u32 = 1;

/// Parameters of tokenizer `words-v1`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TextParams {
    /// Number of ids the model reads (its input length).
    pub seq_len: U32,
    /// [`PAD_LEFT`] or [`PAD_RIGHT`].
    pub pad_side: U32,
    /// Id of padding.
    pub pad_id: U32,
    /// Id of a word not in the vocabulary.
    pub unk_id: U32,
}

/// What tokenizer `wordpiece-v1` adds to [`TextParams`] (whose `pad_side` must be
/// [`PAD_RIGHT`]): the ids that open and close a sequence and the longest word it splits.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct WordPieceParams {
    /// Id of `[CLS]`, the first id of every sequence.
    pub cls_id: U32,
    /// Id of `[SEP]`, after the last subword.
    pub sep_id: U32,
    /// Words of more normalized code points than this (1 to 100) are one unknown token.
    pub max_chars: U32,
    /// MUST be 0 (normalization flags of later versions: `wordpiece-v1` is the uncased one).
    pub reserved: U32,
}

/// One vocabulary word; entries are sorted by the word's UTF-8 bytes, strictly increasing.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct VocabEntry {
    /// The word (lower-case, 1 to 64 bytes).
    pub word: StrRef,
    /// Its id.
    pub id: U32,
    /// MUST be 0.
    pub reserved: U32,
}

/// Parameters of audio frontend `logmel-v1`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AudioParams {
    /// Sample rate the features are computed at (Hz).
    pub sample_rate: U32,
    /// Samples per clip (the first ones are kept, zero-padded at the end).
    pub clip_samples: U32,
    /// Samples per frame.
    pub frame_len: U32,
    /// Samples between frame starts.
    pub hop: U32,
    /// FFT size (power of two, at least `frame_len`).
    pub n_fft: U32,
    /// Mel filters.
    pub n_mels: U32,
    /// MFCC coefficients kept (0: the features are the log-mel energies).
    pub n_mfcc: U32,
    /// [`WINDOW_HANN`].
    pub window: U32,
    /// Lowest filter edge (Hz).
    pub fmin: F32,
    /// Highest filter edge (Hz).
    pub fmax: F32,
    /// Added to each mel energy before the natural logarithm.
    pub log_floor: F32,
    /// [`NORMALIZE_NONE`] or [`NORMALIZE_WINDOW_MEAN`] (the field was reserved, 0, before).
    pub normalize: U32,
}

const _: () = assert!(core::mem::size_of::<PreprocessHeader>() == 16);
const _: () = assert!(core::mem::size_of::<TextParams>() == 16);
const _: () = assert!(core::mem::size_of::<VocabEntry>() == 16);
const _: () = assert!(core::mem::size_of::<AudioParams>() == 48);
const _: () = assert!(core::mem::size_of::<Header>() == 64);
const _: () = assert!(core::mem::size_of::<SectionEntry>() == 32);
const _: () = assert!(core::mem::size_of::<StrRef>() == 8);
const _: () = assert!(core::mem::size_of::<TensorRecord>() == 80);
const _: () = assert!(core::mem::size_of::<OpRecord>() == 48);
const _: () = assert!(core::mem::size_of::<PlanHeader>() == 32);
const _: () = assert!(core::mem::size_of::<ArenaSlot>() == 24);

/// Section kinds. Values are never reused; retired ones stay reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SectionKind {
    /// UTF-8 string bytes referenced by [`StrRef`].
    Strings = 1,
    /// [`TensorRecord`] array.
    Tensors = 2,
    /// [`OpRecord`] array in execution order.
    Ops = 3,
    /// Little-endian u32 tensor indices (op and graph inputs/outputs).
    Indices = 4,
    /// Little-endian 32-bit attribute words (integers or f32 bits).
    Attrs = 5,
    /// [`PlanHeader`] followed by [`ArenaSlot`]s.
    Plan = 6,
    /// Raw tensor data.
    Weights = 7,
    /// UTF-8 JSON metadata and model card.
    Metadata = 8,
    /// Optional: [`StrRef`] array, the label of each class of the first output.
    Labels = 9,
    /// Optional: [`PreprocessHeader`] and its parameters (tokenizer or audio frontend).
    Preprocess = 10,
    /// Optional, skippable (container version 2): a signature over the file. Its body is reserved
    /// for the signing capability; its place is fixed now: the last section of the file.
    Signature = 11,
    /// Optional, skippable (container version 2): [`StreamRecord`], a keyword model's default
    /// streaming parameters (a reader that does not know it loses only the defaults).
    Stream = 12,
}

impl SectionKind {
    /// Kinds every artifact has, in the order a v1 writer emits them.
    pub const REQUIRED: [SectionKind; 8] = [
        SectionKind::Strings,
        SectionKind::Tensors,
        SectionKind::Ops,
        SectionKind::Indices,
        SectionKind::Attrs,
        SectionKind::Plan,
        SectionKind::Metadata,
        SectionKind::Weights,
    ];

    /// Kinds an artifact may leave out (a writer emits them after the metadata, in this order).
    pub const OPTIONAL: [SectionKind; 4] =
        [SectionKind::Labels, SectionKind::Preprocess, SectionKind::Stream, SectionKind::Signature];

    /// Whether a section of this kind carries [`SECTION_SKIPPABLE`] (it must, and only they).
    pub fn skippable(self) -> bool {
        matches!(self, SectionKind::Signature | SectionKind::Stream)
    }

    /// Parses a kind number.
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Strings,
            2 => Self::Tensors,
            3 => Self::Ops,
            4 => Self::Indices,
            5 => Self::Attrs,
            6 => Self::Plan,
            7 => Self::Weights,
            8 => Self::Metadata,
            9 => Self::Labels,
            10 => Self::Preprocess,
            11 => Self::Signature,
            12 => Self::Stream,
            _ => return None,
        })
    }
}

/// Element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE 754 binary32.
    F32 = 1,
    /// IEEE 754 binary16.
    F16 = 2,
    /// Signed 8-bit integer.
    I8 = 3,
    /// Unsigned 8-bit integer (also booleans: 0 or 1).
    U8 = 4,
    /// Signed 32-bit integer.
    I32 = 5,
}

impl DType {
    /// Parses a dtype number.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::F32,
            2 => Self::F16,
            3 => Self::I8,
            4 => Self::U8,
            5 => Self::I32,
            _ => return None,
        })
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F32 | Self::I32 => 4,
            Self::F16 => 2,
            Self::I8 | Self::U8 => 1,
        }
    }
    /// Lower-case name (`f32`, `f16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::I8 => "i8",
            Self::U8 => "u8",
            Self::I32 => "i32",
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Storage {
    /// In the arena, at the offset the plan gives (activations, graph inputs and outputs).
    Arena = 0,
    /// In the weights section (constants).
    Weights = 1,
    /// In the arena, live for the whole run and kept from one run to the next (recurrent state of
    /// a stream); zeroed when a session is created or reset. Container version 2.
    State = 2,
    /// A view of another arena or state tensor's bytes (`alias_of`, at byte `offset`): what
    /// Reshape-like ops become. Never written. Container version 2.
    Alias = 3,
}

impl Storage {
    /// Parses a storage number.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Arena,
            1 => Self::Weights,
            2 => Self::State,
            3 => Self::Alias,
            _ => return None,
        })
    }
}

/// How a tensor's bytes hold its elements (`TensorRecord::layout`). Dims are always the tensor's
/// logical dims; the layout says where each element is. docs/FORMAT.md gives every byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Layout {
    /// Row-major: the last dim varies fastest.
    RowMajor = 0,
    /// Activations of convolutions whose dims are `[N, H, W, C]` (or `[N, W, C]`): row-major bytes,
    /// with the tag telling convolutions and pools that the last axis holds the channels.
    ChannelsLast = 1,
    /// int8 matrix weights packed for dot products of 4: rows in blocks of 16, the reduction in
    /// groups of 4 (every block holds, for each group, 16 rows × 4 bytes), zero-padded, then one i32
    /// sum per (padded) row. Rows are the product of all dims but the last; the reduction is the last.
    K4N16 = 2,
    /// int8 convolution weights `[M, C/group, kH, kW]` packed like [`Layout::K4N16`] with rows `M`
    /// and the reduction in `(ky, kx, c)` order (channels innermost, to match channels-last inputs).
    K4N16Hwc = 3,
    /// int8 depthwise convolution weights `[M, 1, kH, kW]` stored as `[kH, kW, M]`.
    DepthwiseHwc = 4,
}

impl Layout {
    /// Parses a layout number.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::RowMajor,
            1 => Self::ChannelsLast,
            2 => Self::K4N16,
            3 => Self::K4N16Hwc,
            4 => Self::DepthwiseHwc,
            _ => return None,
        })
    }
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RowMajor => "row-major",
            Self::ChannelsLast => "channels-last",
            Self::K4N16 => "k4n16",
            Self::K4N16Hwc => "k4n16-hwc",
            Self::DepthwiseHwc => "depthwise-hwc",
        }
    }
    /// True for the packed weight layouts.
    pub fn is_packed(self) -> bool {
        matches!(self, Self::K4N16 | Self::K4N16Hwc | Self::DepthwiseHwc)
    }
}

/// Rows and reduction length of a [`Layout::K4N16`] or [`Layout::K4N16Hwc`] weight with `dims`.
pub fn k4n16_geometry(layout: Layout, dims: &[usize]) -> Option<(usize, usize)> {
    match layout {
        Layout::K4N16 => {
            let (&k, rows) = dims.split_last()?;
            Some((rows.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?, k))
        }
        Layout::K4N16Hwc => {
            let (&m, rest) = dims.split_first()?;
            if !(2..=3).contains(&rest.len()) {
                return None;
            }
            Some((m, rest.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?))
        }
        _ => None,
    }
}

/// Bytes of a [`Layout::K4N16`]-family weight of `rows × k`: `⌈rows/16⌉·16 · ⌈k/4⌉·4` int8 values
/// then `⌈rows/16⌉·16` i32 row sums; lean (compact files), `rows · ⌈k/4⌉·4` values only. `None` on
/// overflow.
pub fn k4n16_len(rows: usize, k: usize, lean: bool) -> Option<usize> {
    let rp = rows.checked_add(15)? / 16 * 16;
    let kp = k.checked_add(3)? / 4 * 4;
    if lean {
        return rows.checked_mul(kp);
    }
    rp.checked_mul(kp)?.checked_add(rp.checked_mul(4)?)
}

/// How a tensor is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum QuantKind {
    /// Not quantized.
    None = 0,
    /// `real = scale * (q - zero_point)` with one scale and zero point.
    PerTensor = 1,
    /// Per-axis scales (and zero points) held in other tensors.
    PerAxis = 2,
}
