//! Vocabularies of tokenizer `wordpiece-v1`, read from a Hugging Face `tokenizer.json` or a BERT
//! `vocab.txt` named by `ferrite.toml`. Only BERT's uncased pipeline is `wordpiece-v1`
//! (docs/PREPROCESSING.md), so a `tokenizer.json` that asks for anything else (cased text, no
//! accent stripping, another pre-tokenizer or continuation prefix) is refused rather than run
//! differently from how the model was trained.

use crate::error::{Error, Result};
use ferrite_runtime::preprocess::text::{MAX_WORD_BYTES, MAX_WORD_CHARS};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// A `wordpiece-v1` vocabulary: words in id order (id = index) and the special tokens' ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordPieceVocab {
    /// Every word, at its id.
    pub words: Vec<String>,
    /// The special tokens and the word limit.
    pub special: WordPieceSpecial,
}

/// `wordpiece-v1`'s special ids and word limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordPieceSpecial {
    /// `[CLS]`.
    pub cls_id: u32,
    /// `[SEP]`.
    pub sep_id: u32,
    /// `[PAD]`.
    pub pad_id: u32,
    /// `[UNK]`.
    pub unk_id: u32,
    /// Longest word in code points (`max_input_chars_per_word`).
    pub max_chars: u32,
}

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Config { path: path.to_owned(), message: message.into() }
}

/// Reads `path`: a `tokenizer.json` (by its `.json` extension) or a `vocab.txt` (one word per
/// line, ids from 0, `[CLS]`, `[SEP]`, `[PAD]` and `[UNK]` by name, BERT's uncased defaults).
pub fn read(path: &Path) -> Result<WordPieceVocab> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| err(path, "not UTF-8"))?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        from_tokenizer_json(path, &text)
    } else {
        from_vocab_txt(path, &text)
    }
}

fn from_vocab_txt(path: &Path, text: &str) -> Result<WordPieceVocab> {
    // As `tokenizers` reads it: each line without its trailing whitespace, the id its line number.
    let words: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    let ids = index(path, &words)?;
    let id = |t: &str| ids.get(t).copied().ok_or_else(|| err(path, format!("no {t} token in the vocabulary")));
    let special = WordPieceSpecial {
        cls_id: id("[CLS]")?,
        sep_id: id("[SEP]")?,
        pad_id: id("[PAD]")?,
        unk_id: id("[UNK]")?,
        max_chars: MAX_WORD_CHARS as u32,
    };
    Ok(WordPieceVocab { words, special })
}

/// Checks every word (1 to 64 bytes, no duplicates) and indexes them.
fn index(path: &Path, words: &[String]) -> Result<HashMap<String, u32>> {
    if words.is_empty() || words.len() > u32::MAX as usize {
        return Err(err(path, "the vocabulary must have 1 to 2^32 - 1 words"));
    }
    let mut ids = HashMap::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        if w.is_empty() || w.len() > MAX_WORD_BYTES {
            return Err(err(path, format!("id {i}: {w:?}: words must be 1 to {MAX_WORD_BYTES} bytes")));
        }
        if ids.insert(w.clone(), i as u32).is_some() {
            return Err(err(path, format!("id {i}: {w:?}: duplicate word")));
        }
    }
    Ok(ids)
}

fn field<'v>(v: &'v Value, key: &str) -> &'v Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn from_tokenizer_json(path: &Path, text: &str) -> Result<WordPieceVocab> {
    let t: Value = serde_json::from_str(text).map_err(|e| err(path, format!("not JSON: {e}")))?;
    check_pipeline(path, &t)?;
    let model = field(&t, "model");
    let map = field(model, "vocab").as_object().ok_or_else(|| err(path, "model.vocab is not an object"))?;
    let mut words = vec![None; map.len()];
    for (w, id) in map {
        let slot = id.as_u64().and_then(|i| words.get_mut(i as usize));
        match slot {
            Some(s @ None) => *s = Some(w.clone()),
            _ => {
                return Err(err(
                    path,
                    format!("model.vocab: {w:?} has id {id}: ids must be 0 to {} once each", map.len() - 1),
                ))
            }
        }
    }
    let words: Vec<String> = words.into_iter().flatten().collect();
    let ids = index(path, &words)?;
    let token_id = |what: &str, t: &Value| -> Result<u32> {
        let name = t.as_str().ok_or_else(|| err(path, format!("{what}: no token named")))?;
        ids.get(name).copied().ok_or_else(|| err(path, format!("{what}: {name:?} is not in the vocabulary")))
    };
    let unk_id = token_id("model.unk_token", field(model, "unk_token"))?;
    let max_chars = field(model, "max_input_chars_per_word").as_u64().unwrap_or(MAX_WORD_CHARS as u64);
    if max_chars == 0 || max_chars > MAX_WORD_CHARS as u64 {
        return Err(err(
            path,
            format!("model.max_input_chars_per_word {max_chars}: wordpiece-v1 allows 1 to {MAX_WORD_CHARS}"),
        ));
    }
    let (cls, sep) = special_tokens(path, field(&t, "post_processor"))?;
    let pad = match field(&t, "padding") {
        Value::Null => Value::String("[PAD]".into()),
        p => field(p, "pad_token").clone(),
    };
    let special = WordPieceSpecial {
        cls_id: token_id("[CLS]", &cls)?,
        sep_id: token_id("[SEP]", &sep)?,
        pad_id: token_id("padding.pad_token", &pad)?,
        unk_id,
        max_chars: max_chars as u32,
    };
    Ok(WordPieceVocab { words, special })
}

/// The pipeline must be `wordpiece-v1`'s: BertNormalizer (uncased), BertPreTokenizer, WordPiece
/// with `##`.
fn check_pipeline(path: &Path, t: &Value) -> Result<()> {
    let n = field(t, "normalizer");
    let want = |cond: bool, what: &str| -> Result<()> {
        if cond {
            Ok(())
        } else {
            Err(err(path, format!("{what}: wordpiece-v1 is BERT's uncased tokenizer (docs/PREPROCESSING.md)")))
        }
    };
    want(field(n, "type") == "BertNormalizer", "normalizer.type must be BertNormalizer")?;
    want(field(n, "lowercase") == &Value::Bool(true), "normalizer.lowercase must be true")?;
    want(
        matches!(field(n, "strip_accents"), Value::Null | Value::Bool(true)),
        "normalizer.strip_accents must be null or true",
    )?;
    want(field(n, "clean_text") == &Value::Bool(true), "normalizer.clean_text must be true")?;
    want(field(n, "handle_chinese_chars") == &Value::Bool(true), "normalizer.handle_chinese_chars must be true")?;
    want(
        field(field(t, "pre_tokenizer"), "type") == "BertPreTokenizer",
        "pre_tokenizer.type must be BertPreTokenizer",
    )?;
    let m = field(t, "model");
    want(field(m, "type") == "WordPiece", "model.type must be WordPiece")?;
    want(
        matches!(field(m, "continuing_subword_prefix"), Value::Null) || field(m, "continuing_subword_prefix") == "##",
        "model.continuing_subword_prefix must be ##",
    )
}

/// `[CLS]` and `[SEP]` token names from the post-processor (BertProcessing or a TemplateProcessing
/// of `[CLS] $A [SEP]`).
fn special_tokens(path: &Path, p: &Value) -> Result<(Value, Value)> {
    let bad = || err(path, "post_processor must put one token before the text and one after (BERT's [CLS] $A [SEP])");
    match field(p, "type").as_str() {
        Some("BertProcessing") => {
            let first = |key: &str| field(p, key).get(0).cloned().unwrap_or(Value::Null);
            Ok((first("cls"), first("sep")))
        }
        Some("TemplateProcessing") => {
            let single = field(p, "single").as_array().ok_or_else(bad)?;
            let special = |i: usize| single.get(i).map(|s| field(field(s, "SpecialToken"), "id").clone());
            let is_a = single.get(1).is_some_and(|s| field(field(s, "Sequence"), "id") == "A");
            match (single.len(), special(0), is_a, special(2)) {
                (3, Some(cls @ Value::String(_)), true, Some(sep @ Value::String(_))) => Ok((cls, sep)),
                _ => Err(bad()),
            }
        }
        None => Ok((Value::String("[CLS]".into()), Value::String("[SEP]".into()))),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_txt_names_its_specials() {
        let v = from_vocab_txt(Path::new("v.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nplay\n##ing\n").unwrap();
        assert_eq!(v.words.len(), 6);
        assert_eq!((v.special.pad_id, v.special.unk_id, v.special.cls_id, v.special.sep_id), (0, 1, 2, 3));
        let e = from_vocab_txt(Path::new("v.txt"), "[PAD]\n[UNK]\n[SEP]\n").unwrap_err().to_string();
        assert!(e.contains("no [CLS] token"), "{e}");
        let e = from_vocab_txt(Path::new("v.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[SEP]\n").unwrap_err().to_string();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn tokenizer_json_must_be_bert_uncased() {
        let json = |lower: &str| {
            format!(
                r###"{{"normalizer": {{"type": "BertNormalizer", "lowercase": {lower}, "strip_accents": null,
                   "clean_text": true, "handle_chinese_chars": true}},
                   "pre_tokenizer": {{"type": "BertPreTokenizer"}},
                   "post_processor": {{"type": "BertProcessing", "cls": ["[CLS]", 2], "sep": ["[SEP]", 3]}},
                   "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                   "max_input_chars_per_word": 100,
                   "vocab": {{"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hi": 4}}}}}}"###
            )
        };
        let v = from_tokenizer_json(Path::new("t.json"), &json("true")).unwrap();
        assert_eq!(v.words, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi"]);
        assert_eq!(v.special, WordPieceSpecial { cls_id: 2, sep_id: 3, pad_id: 0, unk_id: 1, max_chars: 100 });
        let e = from_tokenizer_json(Path::new("t.json"), &json("false")).unwrap_err().to_string();
        assert!(e.contains("lowercase must be true"), "{e}");
        let e = from_tokenizer_json(Path::new("t.json"), "{").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
    }
}
