//! Vocabularies of tokenizer `words-v1`, as an artifact stores them: a table of
//! [`VocabEntry`] records (16 bytes a word, names in the strings section), or front-coded blocks
//! (`ferrite quantize --strip`: about 4 bytes a word besides the shared prefixes). Both hold the
//! words sorted by their UTF-8 bytes, strictly increasing, each with its id. docs/FORMAT.md
//! gives the layout of the front-coded form:
//!
//! ```text
//! ids:     u16 × count (the id of each word, in sorted order), padded to a multiple of 4 bytes
//! offsets: u32 × ceil(count / 16) (where each block starts in `blocks`)
//! blocks:  per block of up to 16 words: len u8, the first word's bytes; then per further word:
//!          shared u8 (bytes in common with the word before), suffix_len u8, the suffix
//! ```

use super::text::MAX_WORD_BYTES;
use crate::error::{Error, Result};
use crate::format::{StrRef, VocabEntry};
use zerocopy::little_endian::{U16, U32};
use zerocopy::FromBytes;

/// Words per front-coded block.
pub const BLOCK_WORDS: usize = 16;

fn bad(rule: &'static str) -> Error {
    Error::BadPreprocess(rule)
}

/// One stored vocabulary.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vocab<'a> {
    /// [`VocabEntry`] records naming strings in the strings section.
    Entries { entries: &'a [VocabEntry], strings: &'a [u8] },
    /// Front-coded blocks (see the module documentation).
    FrontCoded { ids: &'a [U16], offsets: &'a [U32], blocks: &'a [u8] },
}

fn word_bytes<'a>(strings: &'a [u8], r: &StrRef) -> Option<&'a [u8]> {
    strings.get(r.offset.get() as usize..)?.get(..r.len.get() as usize)
}

/// A word being decoded from a block, kept in a fixed buffer.
struct Word {
    buf: [u8; MAX_WORD_BYTES],
    len: usize,
}

impl Word {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Decodes the words of the block at `pos` in `blocks` (`n` of them), calling `f(word, index)`
/// until it returns false. Returns the position after the block, or `None` when it is malformed
/// (a length of 0 or over 64 bytes, a shared prefix longer than the word before, or bytes past
/// the end).
fn each_word(blocks: &[u8], mut pos: usize, n: usize, mut f: impl FnMut(&[u8], usize) -> bool) -> Option<usize> {
    let mut w = Word { buf: [0; MAX_WORD_BYTES], len: 0 };
    for i in 0..n {
        let shared = if i == 0 {
            0
        } else {
            let s = *blocks.get(pos)? as usize;
            pos += 1;
            s
        };
        let suffix = *blocks.get(pos)? as usize;
        pos += 1;
        let len = shared + suffix;
        if shared > w.len || len == 0 || len > MAX_WORD_BYTES {
            return None;
        }
        w.buf.get_mut(shared..len)?.copy_from_slice(blocks.get(pos..pos + suffix)?);
        w.len = len;
        pos += suffix;
        if !f(w.bytes(), i) {
            return Some(pos);
        }
    }
    Some(pos)
}

impl<'a> Vocab<'a> {
    /// Views a front-coded vocabulary of `count` words (O(1): `validate` checks the words).
    pub(crate) fn front_coded(count: usize, bytes: &'a [u8]) -> Result<Self> {
        let id_bytes = (count * 2).div_ceil(4) * 4;
        let (ids, rest) = bytes.split_at_checked(id_bytes).ok_or(bad(rule!("front-coded ids truncated")))?;
        let ids = <[U16]>::ref_from_bytes(ids).map_err(|_| bad(rule!("front-coded ids")))?;
        let ids = ids.get(..count).ok_or(bad(rule!("front-coded ids")))?;
        let n_blocks = count.div_ceil(BLOCK_WORDS);
        let (offsets, blocks) =
            rest.split_at_checked(n_blocks * 4).ok_or(bad(rule!("front-coded offsets truncated")))?;
        let offsets = <[U32]>::ref_from_bytes(offsets).map_err(|_| bad(rule!("front-coded offsets")))?;
        Ok(Vocab::FrontCoded { ids, offsets, blocks })
    }

    /// Number of words.
    pub(crate) fn len(&self) -> usize {
        match self {
            Vocab::Entries { entries, .. } => entries.len(),
            Vocab::FrontCoded { ids, .. } => ids.len(),
        }
    }

    /// O(vocabulary) checks run once at load: every word resolves, is 1 to 64 bytes of UTF-8, and
    /// the words are strictly increasing (so binary search is exact and there are no duplicates).
    pub(crate) fn validate(&self) -> Result<()> {
        let mut prev = Word { buf: [0; MAX_WORD_BYTES], len: 0 };
        let mut check = |w: &[u8]| -> Result<()> {
            // ASCII first: most vocabularies are, and it is cheaper than a UTF-8 decode per word.
            if w.is_empty() || w.len() > MAX_WORD_BYTES || !(w.is_ascii() || core::str::from_utf8(w).is_ok()) {
                return Err(bad(rule!("vocabulary word must be 1 to 64 bytes of UTF-8")));
            }
            if prev.len > 0 && prev.bytes() >= w {
                return Err(bad(rule!("vocabulary not sorted by bytes or has duplicates")));
            }
            prev.buf.get_mut(..w.len()).ok_or(bad(rule!("vocabulary word")))?.copy_from_slice(w);
            prev.len = w.len();
            Ok(())
        };
        match *self {
            Vocab::Entries { entries, strings } => {
                for e in entries {
                    check(word_bytes(strings, &e.word).ok_or(bad(rule!("vocabulary word out of range")))?)?;
                    if e.reserved.get() != 0 {
                        return Err(bad(rule!("vocabulary reserved field must be 0")));
                    }
                }
            }
            Vocab::FrontCoded { ids, offsets, blocks } => {
                let mut end = 0usize;
                let mut result = Ok(());
                for (b, off) in offsets.iter().enumerate() {
                    if off.get() as usize != end {
                        return Err(bad(rule!("front-coded block does not start where the one before ends")));
                    }
                    let n = (ids.len() - b * BLOCK_WORDS).min(BLOCK_WORDS);
                    end = each_word(blocks, end, n, |w, _| {
                        result = check(w);
                        result.is_ok()
                    })
                    .ok_or(bad(rule!("front-coded block is malformed")))?;
                    result?;
                }
                if end != blocks.len() {
                    return Err(bad(rule!("bytes after the last front-coded block")));
                }
            }
        }
        Ok(())
    }

    /// The id of `word`, or `None` when it is not in the vocabulary.
    pub(crate) fn lookup(&self, word: &[u8]) -> Option<u32> {
        match *self {
            Vocab::Entries { entries, strings } => entries
                .binary_search_by(|e| word_bytes(strings, &e.word).unwrap_or(&[]).cmp(word))
                .ok()
                .and_then(|i| entries.get(i))
                .map(|e| e.id.get()),
            Vocab::FrontCoded { ids, offsets, blocks } => {
                let first = |b: &U32| -> &[u8] {
                    let at = b.get() as usize;
                    let len = blocks.get(at).copied().unwrap_or(0) as usize;
                    blocks.get(at + 1..at + 1 + len).unwrap_or(&[])
                };
                // The last block whose first word is at most `word`.
                let b = match offsets.binary_search_by(|o| first(o).cmp(word)) {
                    Ok(b) => return ids.get(b * BLOCK_WORDS).map(|i| u32::from(i.get())),
                    Err(0) => return None,
                    Err(b) => b - 1,
                };
                let n = (ids.len().saturating_sub(b * BLOCK_WORDS)).min(BLOCK_WORDS);
                let mut found = None;
                each_word(blocks, offsets.get(b)?.get() as usize, n, |w, i| match w.cmp(word) {
                    core::cmp::Ordering::Less => true,
                    core::cmp::Ordering::Equal => {
                        found = Some(i);
                        false
                    }
                    core::cmp::Ordering::Greater => false,
                })?;
                ids.get(b * BLOCK_WORDS + found?).map(|i| u32::from(i.get()))
            }
        }
    }
}
