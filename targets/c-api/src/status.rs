//! Status codes: what every function of the C API returns, and their messages.

use core::ffi::c_char;
use ferrite_runtime::Error;

/// Success.
pub const FERRITE_OK: i32 = 0;
/// A required pointer argument was null.
pub const FERRITE_E_NULL: i32 = 1;
/// The artifact is malformed, truncated, of an unsupported version, or its checksum is wrong.
pub const FERRITE_E_ARTIFACT: i32 = 2;
/// A buffer (model storage, session memory) is too small or misaligned.
pub const FERRITE_E_BUFFER: i32 = 3;
/// An input has the wrong element type or count, or a value out of range.
pub const FERRITE_E_INPUT: i32 = 4;
/// Text is not UTF-8 or holds no word.
pub const FERRITE_E_TEXT: i32 = 5;
/// Audio at a sample rate the model does not take, or malformed.
pub const FERRITE_E_AUDIO: i32 = 6;
/// An op failed while running.
pub const FERRITE_E_RUN: i32 = 7;
/// The artifact file could not be read.
pub const FERRITE_E_IO: i32 = 8;
/// The artifact uses an op this build of the library left out.
pub const FERRITE_E_OP_NOT_BUILT: i32 = 9;
/// A bug: a panic was caught at the boundary.
pub const FERRITE_E_PANIC: i32 = 10;
/// The model has no preprocessing of the kind asked for (text or audio).
pub const FERRITE_E_NO_PREPROCESSING: i32 = 11;
/// An index (label, output) is out of range.
pub const FERRITE_E_INDEX: i32 = 12;
/// Trusted keys were given and the artifact is not signed.
pub const FERRITE_E_UNSIGNED: i32 = 13;
/// The artifact is signed by a key that is not among the trusted ones.
pub const FERRITE_E_UNTRUSTED_KEY: i32 = 14;
/// The artifact's signature does not hold: it changed after signing, or the section is malformed.
pub const FERRITE_E_BAD_SIGNATURE: i32 = 15;

/// The status for a runtime error.
pub(crate) fn status_of(e: &Error) -> i32 {
    match e {
        Error::ArenaTooSmall { .. } | Error::ArenaMisaligned | Error::BufferSize { .. } | Error::OutOfMemory { .. } => {
            FERRITE_E_BUFFER
        }
        Error::BadInput { .. } | Error::UnknownName | Error::BadExplain(_) => FERRITE_E_INPUT,
        Error::EmptyText | Error::BadText(_) => FERRITE_E_TEXT,
        Error::BadWav(_) | Error::UnsupportedWav { .. } => FERRITE_E_AUDIO,
        Error::Io(_) => FERRITE_E_IO,
        Error::OpNotBuilt { .. } => FERRITE_E_OP_NOT_BUILT,
        Error::TierUnavailable(_) | Error::UnknownTier | Error::Offload => FERRITE_E_RUN,
        Error::Unsigned => FERRITE_E_UNSIGNED,
        Error::UntrustedKey => FERRITE_E_UNTRUSTED_KEY,
        Error::SignatureMismatch | Error::BadSignature(_) => FERRITE_E_BAD_SIGNATURE,
        _ => FERRITE_E_ARTIFACT,
    }
}

/// A NUL-terminated, static English message for `status` (never null; unknown codes get one too).
#[no_mangle]
pub extern "C" fn ferrite_status_message(status: i32) -> *const c_char {
    let s: &'static [u8] = match status {
        FERRITE_OK => b"ok\0",
        FERRITE_E_NULL => b"a required pointer argument is null\0",
        FERRITE_E_ARTIFACT => b"the artifact is malformed, unsupported or fails its checksum\0",
        FERRITE_E_BUFFER => b"a buffer is too small or misaligned\0",
        FERRITE_E_INPUT => b"an input has the wrong type, size or values\0",
        FERRITE_E_TEXT => b"text is not UTF-8 or holds no word\0",
        FERRITE_E_AUDIO => b"audio at a sample rate the model does not take, or malformed\0",
        FERRITE_E_RUN => b"an op failed while running\0",
        FERRITE_E_IO => b"the artifact file could not be read\0",
        FERRITE_E_OP_NOT_BUILT => b"the artifact uses an op this library was built without\0",
        FERRITE_E_PANIC => b"internal error (a panic was caught)\0",
        FERRITE_E_NO_PREPROCESSING => b"the model has no preprocessing of that kind\0",
        FERRITE_E_INDEX => b"index out of range\0",
        FERRITE_E_UNSIGNED => b"the artifact is not signed, and trusted keys were given\0",
        FERRITE_E_UNTRUSTED_KEY => b"the artifact is signed by a key that is not trusted\0",
        FERRITE_E_BAD_SIGNATURE => b"the artifact's signature does not hold: it was changed after signing\0",
        _ => b"unknown status code\0",
    };
    s.as_ptr().cast()
}
