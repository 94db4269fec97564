//! The text tokenizers, over the artifact's vocabulary.
//!
//! `words-v1`: separators split words and are dropped, every word character is lower-cased on its
//! own (full Unicode mapping), each word is looked up in the artifact's vocabulary (unknown or
//! longer than 64 bytes: the unknown id), the first `seq_len` words are kept and the rest of the
//! sequence is padding, before or after the words. models/common/ferrite_text.py is the same
//! specification in Python.
//!
//! `wordpiece-v1` (feature `wordpiece`): BERT's uncased WordPiece, [`super::wordpiece`].
//!
//! docs/PREPROCESSING.md is the normative text of both.

use super::vocab::Vocab;
#[cfg(feature = "wordpiece")]
use super::wordpiece;
use crate::error::{Error, Result};
use crate::format::{TextParams, PAD_LEFT, PAD_RIGHT};

/// `wordpiece-v1`: words of more normalized code points than this are one unknown token (the
/// `tokenizers` default `max_input_chars_per_word`; an artifact may set fewer, never more).
pub const MAX_WORD_CHARS: usize = 100;

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
    /// `Some` for `wordpiece-v1`.
    wordpiece: Option<WordPiece>,
}

/// The special tokens and word limit of `wordpiece-v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordPiece {
    pub(crate) cls_id: u32,
    pub(crate) sep_id: u32,
    pub(crate) max_chars: usize,
}

/// What [`Tokenizer::encode`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// Words in the text (before truncation; for `wordpiece-v1`, punctuation marks count as words).
    pub words: usize,
    /// Words that were not in the vocabulary (among the kept ones).
    pub unknown: usize,
    /// Whether words (or, for `wordpiece-v1`, subwords) past the sequence length were dropped.
    pub truncated: bool,
    /// Words the model reads (all or part of): the first `kept` of `words`.
    pub kept: usize,
    /// Ids before the padding (special tokens included): the attention mask's ones.
    pub tokens: usize,
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
        Ok(Tokenizer { seq_len, pad_left, pad_id: p.pad_id.get(), unk_id: p.unk_id.get(), vocab, wordpiece: None })
    }

    /// Tokenizer `wordpiece-v1`: `words-v1`'s parameters with padding on the right, plus the
    /// special tokens and the word limit.
    pub(crate) fn new_wordpiece(p: &TextParams, wp: WordPiece, vocab: Vocab<'a>) -> Result<Self> {
        let mut t = Self::new(p, vocab)?;
        if t.seq_len < 2 || t.pad_left {
            return Err(Error::BadPreprocess(rule!("wordpiece-v1 needs seq_len of at least 2 and right padding")));
        }
        if wp.max_chars == 0 || wp.max_chars > MAX_WORD_CHARS {
            return Err(Error::BadPreprocess(rule!("wordpiece-v1 max_chars must be 1 to 100")));
        }
        if !cfg!(feature = "wordpiece") {
            return Err(Error::BadPreprocess(rule!(
                "tokenizer wordpiece-v1 is not built into this runtime (feature wordpiece)"
            )));
        }
        t.wordpiece = Some(wp);
        Ok(t)
    }

    /// The specification's name: `words-v1` or `wordpiece-v1`.
    pub fn scheme(&self) -> &'static str {
        if self.wordpiece.is_some() {
            "wordpiece-v1"
        } else {
            "words-v1"
        }
    }

    /// `wordpiece-v1`'s `[CLS]` and `[SEP]` ids (`None` for `words-v1`).
    pub fn special_ids(&self) -> Option<(u32, u32)> {
        self.wordpiece.map(|w| (w.cls_id, w.sep_id))
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

    /// Number of vocabulary words (for `words-v1`, padding and unknown not counted).
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

    /// Calls `f(span, known)` for each word of `text` as this tokenizer splits it, in order: its
    /// byte range in `text` (before normalization) and whether the vocabulary has it (for
    /// `wordpiece-v1`: whether it becomes subwords rather than the unknown token). Word `i` is
    /// the word [`Tokenizer::encode_masking`] masks for `Some(i)`.
    pub fn each_word(&self, text: &str, mut f: impl FnMut(core::ops::Range<usize>, bool)) {
        #[cfg(feature = "wordpiece")]
        if let Some(wp) = self.wordpiece {
            let mut ids = [0u32; MAX_WORD_CHARS];
            wordpiece::for_each_word(text, |w| {
                f(w.span(), wordpiece::pieces(&self.vocab, w, wp.max_chars, &mut ids).is_some())
            });
            return;
        }
        let mut spans = Self::word_spans(text);
        Self::for_each_word(text, |w, too_long| {
            if let Some(span) = spans.next() {
                f(span, !too_long && self.lookup(w).is_some());
            }
        });
    }

    /// The words of `text` as `words-v1` splits them, as byte ranges of `text` (before
    /// lower-casing): word `i` here is the word that becomes id `i` of [`Tokenizer::encode`].
    pub fn word_spans(text: &str) -> impl Iterator<Item = core::ops::Range<usize>> + '_ {
        let base = text.as_ptr() as usize;
        text.split(is_separator).filter(|w| !w.is_empty()).map(move |w| {
            // `split` yields subslices of `text`, so the pointer difference is the byte offset.
            let start = w.as_ptr() as usize - base;
            start..start + w.len()
        })
    }

    /// Token ids of `text` into `out` (exactly `seq_len` long).
    ///
    /// `words-v1`: the first `seq_len` words, padded; text without any word is
    /// [`Error::EmptyText`]. `wordpiece-v1`: `[CLS]`, the first `seq_len − 2` subwords, `[SEP]`,
    /// then padding; text without any word is `[CLS] [SEP]`, as BERT reads it. Longer text is
    /// truncated (reported in [`Encoded::truncated`]), never an error.
    pub fn encode(&self, text: &str, out: &mut [i32]) -> Result<Encoded> {
        self.encode_masking(text, None, out)
    }

    /// [`Tokenizer::encode`] with word `mask` (counted from 0, as [`Tokenizer::word_spans`]
    /// yields them) read as unknown: the occlusion [`crate::explain`] measures.
    pub fn encode_masking(&self, text: &str, mask: Option<usize>, out: &mut [i32]) -> Result<Encoded> {
        if out.len() != self.seq_len {
            return Err(Error::BufferSize { needed: self.seq_len as u64, given: out.len() as u64 });
        }
        #[cfg(feature = "wordpiece")]
        if let Some(wp) = self.wordpiece {
            return Ok(self.encode_wordpiece(wp, text, mask, out));
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
        Ok(Encoded { words: n, unknown, truncated: n > self.seq_len, kept, tokens: kept })
    }

    /// `wordpiece-v1`'s encoding (`out` is `seq_len` long, at least 2).
    #[cfg(feature = "wordpiece")]
    fn encode_wordpiece(&self, wp: WordPiece, text: &str, mask: Option<usize>, out: &mut [i32]) -> Encoded {
        let body = self.seq_len - 2;
        let mut e = Encoded { words: 0, unknown: 0, truncated: false, kept: 0, tokens: 0 };
        let mut ids = [0u32; MAX_WORD_CHARS];
        let mut n = 0usize; // subwords written after [CLS]
        wordpiece::for_each_word(text, |w| {
            let masked = mask == Some(e.words);
            e.words += 1;
            let found = if masked { None } else { wordpiece::pieces(&self.vocab, w, wp.max_chars, &mut ids) };
            let unk = [self.unk_id];
            let pieces = match found {
                Some(k) => ids.get(..k).unwrap_or(&[]),
                None => &unk,
            };
            if n < body {
                e.kept += 1;
                e.unknown += usize::from(found.is_none());
            }
            for &id in pieces {
                match out.get_mut(1 + n).filter(|_| n < body) {
                    Some(slot) => {
                        *slot = id as i32;
                        n += 1;
                    }
                    None => e.truncated = true,
                }
            }
        });
        if let Some(first) = out.first_mut() {
            *first = wp.cls_id as i32;
        }
        if let Some(sep) = out.get_mut(1 + n) {
            *sep = wp.sep_id as i32;
        }
        out.iter_mut().skip(2 + n).for_each(|v| *v = self.pad_id as i32);
        e.tokens = n + 2;
        e
    }

    /// [`Tokenizer::encode`] of raw bytes, which must be UTF-8 ([`Error::BadText`] otherwise).
    pub fn encode_bytes(&self, text: &[u8], out: &mut [i32]) -> Result<Encoded> {
        let s = core::str::from_utf8(text).map_err(|_| Error::BadText(rule!("not valid UTF-8")))?;
        self.encode(s, out)
    }
}
