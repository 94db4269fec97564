//! The runtime's one error type. Every variant names the rule that was broken, so a user who gets a
//! bad artifact knows which check failed; none of them allocates, so the same type serves firmware.

use core::fmt;

/// The text of a broken rule, for the `&'static str` fields below. Built without the
/// `error-text` feature (firmware that never prints an error's text, as TFLite Micro's
/// `TF_LITE_STRIP_ERROR_STRINGS`), every rule's text is empty: some 5 kB of strings leave flash,
/// while the variant, its indices and numbers stay, so errors are as typed as before.
macro_rules! rule {
    ($text:literal) => {
        if cfg!(feature = "error-text") {
            $text
        } else {
            ""
        }
    };
}

/// Everything that can go wrong when parsing an artifact, building a session or running it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than the record or section it must hold.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The first eight bytes are not Ferrite's magic.
    BadMagic,
    /// The endianness marker is not the little-endian one this runtime reads.
    BadEndianMarker(u32),
    /// The container version is not one this runtime reads.
    UnsupportedVersion(u16),
    /// The quantization scheme version is not one this runtime reads.
    UnsupportedQuantVersion(u16),
    /// The file needs capabilities (bits of `format::caps`) this runtime does not have.
    UnsupportedCapability(u32),
    /// A kernel tier was asked for that this CPU (or this build) does not have.
    TierUnavailable(crate::kernels::Tier),
    /// A `FERRITE_KERNELS` value or tier name that names no tier.
    UnknownTier,
    /// The second executor of [`Session::run_split`](crate::Session::run_split) (a GPU backend)
    /// failed; it keeps the cause.
    Offload,
    /// A header field has a value the format forbids.
    BadHeaderField(&'static str),
    /// The header's total length does not match the buffer length.
    LengthMismatch {
        /// Length recorded in the header.
        header: u64,
        /// Actual buffer length.
        actual: u64,
    },
    /// The checksum over everything after the header does not match.
    ChecksumMismatch {
        /// Checksum recorded in the header.
        expected: u32,
        /// Checksum computed over the bytes.
        actual: u32,
    },
    /// The checksum algorithm id is unknown.
    UnknownChecksum(u32),
    /// The buffer does not start at the alignment the format requires.
    MisalignedBuffer {
        /// Required alignment in bytes.
        required: usize,
    },
    /// A section is malformed (out of range, misaligned, overlapping, duplicated, missing, or sized wrongly).
    BadSection {
        /// The section kind number.
        kind: u32,
        /// The rule broken.
        rule: &'static str,
    },
    /// A string reference points outside the string table or is not UTF-8.
    BadString(&'static str),
    /// A tensor record is malformed.
    BadTensor {
        /// Tensor index.
        index: u32,
        /// The rule broken.
        rule: &'static str,
    },
    /// An op record is malformed or inconsistent with its tensors.
    BadOp {
        /// Op index in execution order.
        index: u32,
        /// The rule broken.
        rule: &'static str,
    },
    /// The artifact uses an op this build of the runtime left out (op selection features).
    OpNotBuilt {
        /// Op index in execution order.
        index: u32,
        /// The op's name.
        op: &'static str,
        /// The `ferrite-runtime` cargo feature that builds it.
        feature: &'static str,
    },
    /// The memory plan is malformed (slot out of arena, overlap of live tensors, missing slot).
    BadPlan(&'static str),
    /// The metadata section is not valid UTF-8.
    BadMetadata,
    /// The arena handed to a session is too small.
    ArenaTooSmall {
        /// Bytes the artifact's plan needs.
        needed: u64,
        /// Bytes given.
        given: u64,
    },
    /// The arena could not be allocated (`Session::new`).
    OutOfMemory {
        /// Bytes requested.
        needed: u64,
    },
    /// The arena handed to a session is not aligned to [`crate::ARENA_ALIGN`].
    ArenaMisaligned,
    /// The inputs given to `run` do not match the model's inputs.
    BadInput {
        /// Input index.
        index: u32,
        /// The rule broken.
        rule: &'static str,
    },
    /// No output or input of that name.
    UnknownName,
    /// An I/O error while opening or mapping a file (std only); the OS error code when known.
    Io(Option<i32>),
    /// The preprocessing or labels section is malformed.
    BadPreprocess(&'static str),
    /// A WAV file is malformed or truncated.
    BadWav(&'static str),
    /// A well-formed WAV file in a format Ferrite does not read (the field and its value).
    UnsupportedWav {
        /// The field, with what is supported.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// Text with no word in it (empty, or only separators).
    EmptyText,
    /// Text that cannot be tokenized (e.g. not UTF-8).
    BadText(&'static str),
    /// The Stream section breaks a rule (docs/FORMAT.md).
    BadStream(&'static str),
    /// Trusted keys were given and the artifact carries no signature.
    Unsigned,
    /// The artifact is signed by a key that is not among the trusted ones.
    UntrustedKey,
    /// The Signature section is malformed (or signature checks are not built in).
    BadSignature(&'static str),
    /// The signature does not match the bytes: the artifact changed after it was signed, or the
    /// signature was made for another file.
    SignatureMismatch,
    /// An explanation was asked of a model it does not fit (no preprocessing of that kind, a label
    /// out of range, no f32 scores).
    BadExplain(&'static str),
    /// A caller's buffer has the wrong length.
    BufferSize {
        /// Elements needed.
        needed: u64,
        /// Elements given.
        given: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { what, needed, available } => {
                write!(f, "truncated {}: needs {needed} bytes, {available} available", Text(what))
            }
            Error::BadMagic => write!(f, "not a Ferrite artifact (bad magic)"),
            Error::BadEndianMarker(v) => write!(f, "bad endianness marker 0x{v:08x}"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported container version {v}"),
            Error::UnsupportedQuantVersion(v) => write!(f, "unsupported quantization version {v}"),
            Error::UnsupportedCapability(bits) => {
                write!(f, "the artifact needs capabilities this runtime lacks (bits 0x{bits:x}); update ferrite")
            }
            Error::TierUnavailable(t) => {
                write!(f, "kernel tier '{}' is not available on this CPU or in this build", t.name())
            }
            Error::UnknownTier => {
                write!(f, "unknown kernel tier (expected one of: generic, avx2, avx512, amx, neon, dotprod, i8mm)")
            }
            Error::Offload => write!(f, "the executor an op was offloaded to failed"),
            Error::BadHeaderField(what) => write!(f, "bad header field: {}", Text(what)),
            Error::LengthMismatch { header, actual } => {
                write!(f, "length mismatch: header says {header} bytes, buffer has {actual}")
            }
            Error::ChecksumMismatch { expected, actual } => {
                write!(f, "checksum mismatch: header 0x{expected:08x}, computed 0x{actual:08x}")
            }
            Error::UnknownChecksum(v) => write!(f, "unknown checksum algorithm {v}"),
            Error::MisalignedBuffer { required } => {
                write!(f, "artifact buffer must be aligned to {required} bytes")
            }
            Error::BadSection { kind, rule } => write!(f, "bad section (kind {kind}): {}", Text(rule)),
            Error::BadString(rule) => write!(f, "bad string reference: {}", Text(rule)),
            Error::BadTensor { index, rule } => write!(f, "bad tensor #{index}: {}", Text(rule)),
            Error::BadOp { index, rule } => write!(f, "bad op #{index}: {}", Text(rule)),
            Error::OpNotBuilt { index, op, feature } => write!(
                f,
                "op #{index} ({op}) is not built into this runtime: enable the ferrite-runtime feature `{feature}`"
            ),
            Error::BadPlan(rule) => write!(f, "bad memory plan: {}", Text(rule)),
            Error::BadMetadata => write!(f, "metadata is not valid UTF-8"),
            Error::ArenaTooSmall { needed, given } => {
                write!(f, "arena too small: needs {needed} bytes, given {given}")
            }
            Error::OutOfMemory { needed } => write!(f, "cannot allocate an arena of {needed} bytes"),
            Error::ArenaMisaligned => {
                write!(f, "arena must be aligned to {} bytes", crate::ARENA_ALIGN)
            }
            Error::BadInput { index, rule } => write!(f, "bad input #{index}: {}", Text(rule)),
            Error::UnknownName => write!(f, "no tensor of that name"),
            Error::Io(Some(code)) => write!(f, "I/O error (os error {code})"),
            Error::Io(None) => write!(f, "I/O error"),
            Error::BadPreprocess(rule) => write!(f, "bad preprocessing section: {}", Text(rule)),
            Error::BadWav(rule) => write!(f, "bad WAV file: {}", Text(rule)),
            Error::UnsupportedWav { what, value } => write!(f, "unsupported WAV: {}, found {value}", Text(what)),
            Error::EmptyText => write!(f, "the text has no words"),
            Error::BadText(rule) => write!(f, "bad text: {}", Text(rule)),
            Error::BadStream(rule) => write!(f, "bad stream section: {}", Text(rule)),
            Error::Unsigned => write!(f, "the artifact is not signed, and trusted keys were given"),
            Error::UntrustedKey => write!(f, "the artifact is signed by a key that is not trusted"),
            Error::BadSignature(rule) => write!(f, "bad signature section: {}", Text(rule)),
            Error::SignatureMismatch => {
                write!(f, "the signature does not match the artifact: it was changed after signing")
            }
            Error::BadExplain(rule) => write!(f, "cannot explain: {}", Text(rule)),
            Error::BufferSize { needed, given } => write!(f, "buffer has {given} elements, {needed} needed"),
        }
    }
}

impl core::error::Error for Error {}

/// A rule's text, or a note that this build left the texts out (feature `error-text`).
struct Text(&'static str);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "(rule text not built in: feature error-text)" } else { self.0 })
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = core::result::Result<T, Error>;
