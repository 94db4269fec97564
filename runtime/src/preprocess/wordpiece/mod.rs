//! Tokenizer `wordpiece-v1`: BERT's uncased tokenizer as Hugging Face `tokenizers` runs it
//! (BertNormalizer with lower-casing, accent stripping, clean-up and CJK splitting; BertPreTokenizer;
//! WordPiece with the `##` continuation; `[CLS] … [SEP]` then `[PAD]`). docs/PREPROCESSING.md is the
//! normative text; the character tables come from the package itself (tables.rs, written by
//! runtime/tools/wordpiece_tables.py).
//!
//! Everything is per code point, so the text is walked once: each code point is dropped, turned
//! into one to three normalized code points, or split off; words collect in a fixed buffer. No
//! allocation: a word longer than [`MAX_WORD_CHARS`] is unknown without being stored.

pub use super::text::MAX_WORD_CHARS;
use super::vocab::Vocab;
use core::ops::Range;

mod tables;

/// The word buffer: every code point of a word of at most [`MAX_WORD_CHARS`] in UTF-8.
const WORD_BYTES: usize = MAX_WORD_CHARS * 4;

/// Longest vocabulary entry (the vocabulary's bound): no longer piece is looked up.
const PIECE_BYTES: usize = super::text::MAX_WORD_BYTES;

fn in_ranges(table: &[(u32, u32)], c: u32) -> bool {
    // The last range starting at or before `c`.
    let i = table.partition_point(|&(lo, _)| lo <= c);
    i > 0 && table.get(i - 1).is_some_and(|&(_, hi)| c <= hi)
}

/// What normalization makes of one code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Dropped (controls, formats, private use, non-spacing marks, U+FFFD).
    Removed,
    /// A CJK ideograph (itself or its canonical form): a word of its own.
    Cjk(char),
    /// One to three code points (`len` of them), each then whitespace, punctuation (a word of its
    /// own) or part of a word.
    Chars([char; 3], usize),
}

fn from_u32(v: u32) -> char {
    // The tables hold only scalar values (the script writes them from Python strings).
    char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn form(c: char) -> Form {
    let cp = c as u32;
    if in_ranges(&tables::REMOVED, cp) {
        return Form::Removed;
    }
    if (0xAC00..=0xD7A3).contains(&cp) {
        // Precomposed Hangul decomposes by rule (Unicode 3.12): leading, vowel, optional trailing.
        let s = cp - 0xAC00;
        let (l, v, t) = (0x1100 + s / 588, 0x1161 + (s % 588) / 28, s % 28);
        return Form::Chars([from_u32(l), from_u32(v), from_u32(0x11A7 + t)], if t == 0 { 2 } else { 3 });
    }
    let mapped = match tables::MAP_KEYS.binary_search(&cp) {
        Ok(i) => tables::MAP_VALUES.get(i).copied(),
        Err(_) => None,
    };
    let mut out = [c, ' ', ' '];
    let mut len = 1;
    if let Some(v) = mapped {
        if v & 0x8000_0000 == 0 {
            out[0] = from_u32(v);
        } else {
            len = ((v >> 24) & 0x7F) as usize;
            let at = (v & 0xFF_FFFF) as usize;
            let pool = tables::MAP_POOL.get(at..at + len).unwrap_or(&[]);
            len = pool.len().min(3);
            for (o, &p) in out.iter_mut().zip(pool) {
                *o = from_u32(p);
            }
        }
    }
    if in_ranges(&tables::CJK, cp) {
        Form::Cjk(out[0])
    } else {
        Form::Chars(out, len)
    }
}

/// Whether the pre-tokenizer splits `c` (normalized) off as a word of its own.
fn isolated(c: char) -> bool {
    in_ranges(&tables::ISOLATED, c as u32)
}

/// One normalized, pre-tokenized word.
pub struct Word {
    buf: [u8; WORD_BYTES],
    len: usize,
    chars: usize,
    span: Option<Range<usize>>,
}

impl Word {
    fn new() -> Self {
        Word { buf: [0; WORD_BYTES], len: 0, chars: 0, span: None }
    }

    fn push(&mut self, c: char, span: Range<usize>) {
        self.chars += 1;
        if self.chars <= MAX_WORD_CHARS {
            let mut tmp = [0u8; 4];
            let s = c.encode_utf8(&mut tmp).as_bytes();
            if let Some(dst) = self.buf.get_mut(self.len..self.len + s.len()) {
                dst.copy_from_slice(s);
                self.len += s.len();
            }
        }
        self.span = Some(match self.span.take() {
            Some(r) => r.start..span.end,
            None => span,
        });
    }

    /// The word's UTF-8 bytes (empty when it has more than [`MAX_WORD_CHARS`] code points).
    pub fn bytes(&self) -> &[u8] {
        if self.chars > MAX_WORD_CHARS {
            return &[];
        }
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Number of normalized code points.
    pub fn chars(&self) -> usize {
        self.chars
    }

    /// Where the word is in the text given (bytes; dropped code points inside it included).
    pub fn span(&self) -> Range<usize> {
        self.span.clone().unwrap_or(0..0)
    }
}

/// Normalizes and pre-tokenizes `text`, calling `f` with each word in order.
pub fn for_each_word(text: &str, mut f: impl FnMut(&Word)) {
    let mut w = Word::new();
    let mut flush = |w: &mut Word| {
        if w.span.is_some() {
            f(w);
        }
        w.len = 0;
        w.chars = 0;
        w.span = None;
    };
    for (at, c) in text.char_indices() {
        let span = at..at + c.len_utf8();
        match form(c) {
            Form::Removed => {}
            Form::Cjk(d) => {
                flush(&mut w);
                w.push(d, span);
                flush(&mut w);
            }
            Form::Chars(out, len) => {
                for &d in out.get(..len).unwrap_or(&[]) {
                    if d.is_whitespace() {
                        flush(&mut w);
                    } else if isolated(d) {
                        flush(&mut w);
                        w.push(d, span.clone());
                        flush(&mut w);
                    } else {
                        w.push(d, span.clone());
                    }
                }
            }
        }
    }
    flush(&mut w);
}

/// Greedy longest-match-first subwords of `word` (continuations looked up with `##` before them),
/// as ids into `ids`. Returns how many, or `None` when some part matches nothing, the word is too
/// long (over `max_chars` code points), or `ids` is too short: the word is then one unknown token.
pub(crate) fn pieces(vocab: &Vocab<'_>, word: &Word, max_chars: usize, ids: &mut [u32]) -> Option<usize> {
    if word.chars() > max_chars || word.chars() == 0 {
        return None;
    }
    let bytes = word.bytes();
    let s = core::str::from_utf8(bytes).ok()?;
    let mut scratch = [0u8; PIECE_BYTES];
    let (mut start, mut n) = (0usize, 0usize);
    while start < bytes.len() {
        let prefix = if start == 0 { 0 } else { 2 };
        // The longest candidate that can be in the vocabulary, cut back to a code point boundary.
        let mut end = bytes.len().min(start + PIECE_BYTES - prefix);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut found = None;
        while end > start {
            let piece = bytes.get(start..end)?;
            let id = if prefix == 0 {
                vocab.lookup(piece)
            } else {
                let (hashes, rest) = scratch.split_at_mut(2);
                hashes.copy_from_slice(b"##");
                rest.get_mut(..piece.len())?.copy_from_slice(piece);
                vocab.lookup(scratch.get(..2 + piece.len())?)
            };
            if let Some(id) = id {
                found = Some(id);
                break;
            }
            end -= 1;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
        }
        *ids.get_mut(n)? = found?;
        n += 1;
        start = end;
    }
    Some(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    extern crate alloc;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word(text, |w| out.push(String::from(core::str::from_utf8(w.bytes()).unwrap())));
        out
    }

    #[test]
    fn normalizes_and_splits_as_bert() {
        assert_eq!(words("Héllo, WORLD!"), ["hello", ",", "world", "!"]);
        assert_eq!(words("  \t\n "), Vec::<String>::new());
        assert_eq!(words("co\u{00AD}op"), ["coop"]); // soft hyphen: a format character, dropped
        assert_eq!(words("北京abc"), ["北", "京", "abc"]);
        // Hangul is not among the CJK ideographs: one word, decomposed into its jamo.
        assert_eq!(words("한국"), ["\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}"]);
        assert_eq!(words("a\u{037E}b"), ["a", ";", "b"]); // Greek question mark is ';'
        assert_eq!(words("İstanbul"), ["istanbul"]); // the dot above is a mark, stripped
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "¿Qué\u{200B}tal? 北";
        let mut spans = Vec::new();
        for_each_word(text, |w| spans.push(&text[w.span()]));
        assert_eq!(spans, ["¿", "Qué\u{200B}tal", "?", "北"]);
    }

    #[test]
    fn long_words_are_counted_not_stored() {
        let long = "a".repeat(MAX_WORD_CHARS + 1);
        let mut seen = Vec::new();
        for_each_word(&long, |w| seen.push((w.chars(), w.bytes().len())));
        assert_eq!(seen, [(MAX_WORD_CHARS + 1, 0)]);
    }
}
