//! Raw input to model input, on the device: the tokenizer `words-v1` and the audio frontend
//! `logmel-v1` (docs/PREPROCESSING.md), with their parameters and vocabulary read from the artifact,
//! plus the WAV reader and resampler the frontend is fed by. Everything here is `no_std` and
//! allocation-free: callers hand in the output and scratch buffers (helpers that allocate them
//! exist with feature `alloc`).
//!
//! The Python reference implementations in models/common/ are the same specification; tests prove
//! the two agree (identical token ids; features within 1e-4 relative error).

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

pub mod audio;
pub mod resample;
pub mod text;
mod vocab;
pub mod wav;
#[cfg(feature = "wordpiece")]
pub mod wordpiece;

pub use audio::AudioFrontend;
pub use text::{Encoded, Tokenizer};
pub use vocab::BLOCK_WORDS;

use crate::error::{Error, Result};
use crate::format::{
    Artifact, AudioParams, PreprocessHeader, TextParams, VocabEntry, WordPieceParams, PREPROCESS_AUDIO,
    PREPROCESS_TEXT, PREPROCESS_TEXT_FRONT_CODED, PREPROCESS_WORDPIECE, PREPROCESS_WORDPIECE_FRONT_CODED,
};
use vocab::Vocab;
use zerocopy::FromBytes;

/// What an artifact says to do with raw input before the model sees it.
#[derive(Debug, Clone, Copy)]
pub enum Preprocessing<'a> {
    /// No preprocessing section: the caller feeds tensors.
    None,
    /// Text in: tokenizer `words-v1` or `wordpiece-v1`.
    Text(Tokenizer<'a>),
    /// Audio in: frontend `logmel-v1`.
    Audio(AudioFrontend),
}

fn bad(rule: &'static str) -> Error {
    Error::BadPreprocess(rule)
}

/// Views the preprocessing section (O(1)); `validate` has run the O(vocabulary) checks at load.
pub(crate) fn view<'a>(art: &Artifact<'a>) -> Result<Preprocessing<'a>> {
    if art.preprocess.is_empty() {
        return Ok(Preprocessing::None);
    }
    let (head, rest) =
        PreprocessHeader::ref_from_prefix(art.preprocess).map_err(|_| bad(rule!("shorter than its header")))?;
    if head.version.get() != 1 || head.reserved.get() != 0 {
        return Err(bad(rule!("version must be 1 and reserved 0")));
    }
    match head.kind.get() {
        PREPROCESS_TEXT => {
            let (params, rest) =
                TextParams::ref_from_prefix(rest).map_err(|_| bad(rule!("text parameters truncated")))?;
            let vocab =
                <[VocabEntry]>::ref_from_bytes(rest).map_err(|_| bad(rule!("vocabulary is not whole records")))?;
            if vocab.len() != head.count.get() as usize {
                return Err(bad(rule!("vocabulary count does not match the section length")));
            }
            Ok(Preprocessing::Text(Tokenizer::new(params, Vocab::Entries { entries: vocab, strings: art.strings })?))
        }
        PREPROCESS_TEXT_FRONT_CODED => {
            let (params, rest) =
                TextParams::ref_from_prefix(rest).map_err(|_| bad(rule!("text parameters truncated")))?;
            let vocab = Vocab::front_coded(head.count.get() as usize, rest)?;
            Ok(Preprocessing::Text(Tokenizer::new(params, vocab)?))
        }
        kind @ (PREPROCESS_WORDPIECE | PREPROCESS_WORDPIECE_FRONT_CODED) => {
            let (params, rest) =
                TextParams::ref_from_prefix(rest).map_err(|_| bad(rule!("text parameters truncated")))?;
            let (wp, rest) =
                WordPieceParams::ref_from_prefix(rest).map_err(|_| bad(rule!("wordpiece parameters truncated")))?;
            if wp.reserved.get() != 0 {
                return Err(bad(rule!("wordpiece reserved field must be 0")));
            }
            let count = head.count.get() as usize;
            let vocab = if kind == PREPROCESS_WORDPIECE {
                let entries =
                    <[VocabEntry]>::ref_from_bytes(rest).map_err(|_| bad(rule!("vocabulary is not whole records")))?;
                if entries.len() != count {
                    return Err(bad(rule!("vocabulary count does not match the section length")));
                }
                Vocab::Entries { entries, strings: art.strings }
            } else {
                Vocab::front_coded(count, rest)?
            };
            let special = text::WordPiece {
                cls_id: wp.cls_id.get(),
                sep_id: wp.sep_id.get(),
                max_chars: wp.max_chars.get() as usize,
            };
            Ok(Preprocessing::Text(Tokenizer::new_wordpiece(params, special, vocab)?))
        }
        PREPROCESS_AUDIO => {
            let params =
                AudioParams::ref_from_bytes(rest).map_err(|_| bad(rule!("audio parameters have the wrong length")))?;
            if head.count.get() != 0 {
                return Err(bad(rule!("audio preprocessing has no vocabulary")));
            }
            Ok(Preprocessing::Audio(AudioFrontend::from_params(params)?))
        }
        _ => Err(bad(rule!("unknown preprocessing kind"))),
    }
}

/// Full validation at load: [`view`]'s checks plus the O(vocabulary) ones (sorted, resolvable).
pub(crate) fn validate<'a>(art: &Artifact<'a>) -> Result<Preprocessing<'a>> {
    let p = view(art)?;
    if let Preprocessing::Text(t) = &p {
        t.validate()?;
    }
    Ok(p)
}
