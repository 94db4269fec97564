//! Tokenizer `words-v1`: separators split words and are dropped, every word character is lower-cased
//! on its own (full Unicode mapping), each word is looked up in the artifact's vocabulary (unknown or
//! longer than 64 bytes: the unknown id), the first `seq_len` words are kept and the rest of the
//! sequence is padding, before or after the words. docs/PREPROCESSING.md is the normative text;
//! models/common/ferrite_text.py is the same specification in Python.

use super::vocab::Vocab;
use crate::error::{Error, Result};
use crate::format::{TextParams, PAD_LEFT, PAD_RIGHT};

/// Lower-cased words longer than this many UTF-8 bytes are never in a vocabulary (they read as
/// unknown); it bounds the word buffer, so tokenizing needs no allocation.
pub const MAX_WORD_BYTES: usize = 64;

/// Whether `c` separates words (and is dropped): ASCII other than letters and digits, the Latin-1
/// punctuation and symbols U+0080–U+00BF, × and ÷, General Punctuation U+2000–U+206F, CJK
/// punctuation U+3000–U+303F, and the byte-order mark. Every other character is part of a word.
pub fn is_separator(c: char) -> bool {
    let o = c as u32;
    if o < 0x80 {
        return !c.is_ascii_alphanumeric();
    }
    matches!(o, 0x80..=0xBF | 0xD7 | 0xF7 | 0x2000..=0x206F | 0x3000..=0x303F | 0xFEFF)
}

/// The tokenizer of an artifact (borrowing its vocabulary).
#[derive(Debug, Clone, Copy)]
pub struct Tokenizer<'a> {
    seq_len: usize,
    pad_left: bool,
    pad_id: u32,
    unk_id: u32,
    vocab: Vocab<'a>,
}

/// What [`Tokenizer::encode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// Words in the text (before truncation).
    pub words: usize,
    /// Words that were not in the vocabulary (among the kept ones).
    pub unknown: usize,
    /// Whether words past `seq_len` were dropped.
    pub truncated: bool,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(p: &TextParams, vocab: Vocab<'a>) -> Result<Self> {
        let seq_len = p.seq_len.get() as usize;
        if seq_len == 0 || seq_len > 1 << 20 {
            return Err(Error::BadPreprocess(rule!("seq_len must be 1 to 2^20")));
        }
        let pad_left = match p.pad_side.get() {
            PAD_LEFT => true,
            PAD_RIGHT => false,
            _ => return Err(Error::BadPreprocess(rule!("pad_side must be 0 (left) or 1 (right)"))),
        };
        Ok(Tokenizer { seq_len, pad_left, pad_id: p.pad_id.get(), unk_id: p.unk_id.get(), vocab })
    }

    /// O(vocabulary) checks run once at load: every word resolves, is 1 to 64 bytes of UTF-8, and the
    /// words are strictly increasing (so binary search is exact and there are no duplicates).
    pub(crate) fn validate(&self) -> Result<()> {
        self.vocab.validate()
    }

    /// Number of ids the model reads.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Number of vocabulary words (padding and unknown not counted).
    pub fn vocab_len(&self) -> usize {
        self.vocab.len()
    }

    /// Whether the vocabulary is stored front-coded (`ferrite quantize --strip`).
    pub fn vocab_is_front_coded(&self) -> bool {
        matches!(self.vocab, Vocab::FrontCoded { .. })
    }

    /// Id of padding.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Id of an unknown word.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Whether padding goes before the words.
    pub fn pads_left(&self) -> bool {
        self.pad_left
    }

    /// The id of a (lower-cased) word, or `None` when it is not in the vocabulary.
    pub fn lookup(&self, word: &[u8]) -> Option<u32> {
        self.vocab.lookup(word)
    }

    /// Splits `text` into words, lower-cased, as the specification says, calling `f(word, too_long)`;
    /// a word over [`MAX_WORD_BYTES`] comes with `too_long` set (and its bytes cut short).
    pub fn for_each_word(text: &str, mut f: impl FnMut(&[u8], bool)) {
        for word in text.split(is_separator).filter(|w| !w.is_empty()) {
            let mut buf = [0u8; MAX_WORD_BYTES];
            let mut len = 0usize;
            let mut overflow = false;
            for lc in word.chars().flat_map(char::to_lowercase) {
                let mut tmp = [0u8; 4];
                let s = lc.encode_utf8(&mut tmp).as_bytes();
                match buf.get_mut(len..len + s.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(s);
                        len += s.len();
                    }
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            f(buf.get(..len).unwrap_or(&[]), overflow);
        }
    }

    /// The words of `text` as the tokenizer splits them, as byte ranges of `text` (before
    /// lower-casing): word `i` here is the word that becomes id `i` of [`Tokenizer::encode`].
    pub fn word_spans(text: &str) -> impl Iterator<Item = core::ops::Range<usize>> + '_ {
        let base = text.as_ptr() as usize;
        text.split(is_separator).filter(|w| !w.is_empty()).map(move |w| {
            // `split` yields subslices of `text`, so the pointer difference is the byte offset.
            let start = w.as_ptr() as usize - base;
            start..start + w.len()
        })
    }

    /// Token ids of `text` into `out` (exactly `seq_len` long): the first `seq_len` words, padded.
    /// Text without any word is [`Error::EmptyText`]; longer text is truncated (reported in
    /// [`Encoded::truncated`]), never an error.
    pub fn encode(&self, text: &str, out: &mut [i32]) -> Result<Encoded> {
        self.encode_masking(text, None, out)
    }

    /// [`Tokenizer::encode`] with word `mask` (counted from 0, as [`Tokenizer::word_spans`]
    /// yields them) read as unknown: the occlusion [`crate::explain`] measures.
    pub fn encode_masking(&self, text: &str, mask: Option<usize>, out: &mut [i32]) -> Result<Encoded> {
        if out.len() != self.seq_len {
            return Err(Error::BufferSize { needed: self.seq_len as u64, given: out.len() as u64 });
        }
        let mut n = 0usize;
        let mut unknown = 0usize;
        Self::for_each_word(text, |w, overflow| {
            let id = if overflow || mask == Some(n) { None } else { self.lookup(w) };
            if let Some(slot) = out.get_mut(n) {
                if id.is_none() {
                    unknown += 1;
                }
                *slot = id.unwrap_or(self.unk_id) as i32;
            }
            n += 1;
        });
        if n == 0 {
            return Err(Error::EmptyText);
        }
        let kept = n.min(self.seq_len);
        let pad = self.pad_id as i32;
        if self.pad_left {
            out.copy_within(..kept, self.seq_len - kept);
            out.iter_mut().take(self.seq_len - kept).for_each(|v| *v = pad);
        } else {
            out.iter_mut().skip(kept).for_each(|v| *v = pad);
        }
        Ok(Encoded { words: n, unknown, truncated: n > self.seq_len })
    }

    /// [`Tokenizer::encode`] of raw bytes, which must be UTF-8 ([`Error::BadText`] otherwise).
    pub fn encode_bytes(&self, text: &[u8], out: &mut [i32]) -> Result<Encoded> {
        let s = core::str::from_utf8(text).map_err(|_| Error::BadText(rule!("not valid UTF-8")))?;
        self.encode(s, out)
    }
}
