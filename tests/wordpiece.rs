//! Tokenizer `wordpiece-v1` against its reference, Hugging Face `tokenizers` (models/common/
//! hf_tokenize.py): identical ids on every Snips utterance, on the adversarial set
//! (tests/golden/wordpiece_adversarial.json: accents, CJK, emoji, very long words, empty and
//! whitespace-only text, mixed scripts, controls, special-token names) and on random text drawn
//! from all of Unicode, at the model's length (128) and at a short one (truncation).

use ferrite_e2e::{repo_root, snips_texts, OnnxBuilder, Rng};
use ferrite_quantizer::config::Preprocess;
use ferrite_quantizer::hf_tokenizer;
use ferrite_quantizer::quantize::{quantize, QuantizeOptions};
use ferrite_runtime::{AlignedBytes, Model, Preprocessing};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn tokenizer_json() -> PathBuf {
    repo_root().join("models/minilm/tokenizer.json")
}

/// Ids from `tokenizers`, one line per text; `None` (said on stderr) where the package is missing
/// outside CI. In CI (`CI=true`) its absence fails the test: `.ci/run` installs it.
fn reference_ids(seq_len: usize, texts: &[String]) -> Option<Vec<String>> {
    let script = repo_root().join("models/common/hf_tokenize.py");
    let probe = Command::new("python3").args(["-c", "import tokenizers"]).status().expect("python3 (it is in CI)");
    if !probe.success() {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI=true: pip install tokenizers==0.23.3");
        eprintln!("skipped: the Python package `tokenizers` is not installed (pip install tokenizers==0.23.3)");
        return None;
    }
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(tokenizer_json())
        .arg(seq_len.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = texts.iter().map(|t| serde_json::to_string(t).unwrap() + "\n").collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "hf_tokenize.py failed");
    Some(String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect())
}

/// An artifact whose model reads `seq_len` ids (and casts them: the model does not matter here)
/// with the MiniLM tokenizer.
fn artifact(seq_len: usize) -> AlignedBytes {
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input_i64("input_ids", &[1, seq_len as i64]);
    b.node("Cast", &["input_ids"], &["y"], vec![("to", ferrite_e2e::Attr::I(1))]).output("y");
    let onnx = b.save(dir.path(), "ids.onnx");
    let v = hf_tokenizer::read(&tokenizer_json()).unwrap();
    let opts = QuantizeOptions {
        preprocess: Some(Preprocess::Text { seq_len, pad_side: 1, vocab: v.words, wordpiece: Some(v.special) }),
        ..Default::default()
    };
    AlignedBytes::copy_from(&quantize(&onnx, &opts).unwrap().bytes)
}

fn adversarial() -> Vec<String> {
    let path = repo_root().join("tests/golden/wordpiece_adversarial.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Random text: words of random code points from every plane (surrogates excluded), ASCII
/// letters, combining marks and spaces of several kinds.
fn random_texts(n: usize) -> Vec<String> {
    let mut r = Rng::new(14);
    (0..n)
        .map(|_| {
            let len = r.below(40) as usize;
            (0..len)
                .map(|_| {
                    let cp = match r.below(6) {
                        0 => 0x61 + r.below(26) as u32,
                        1 => 0x20,
                        2 => 0x300 + r.below(0x70) as u32,
                        3 => r.below(0x3000) as u32,
                        4 => r.below(0x3_0000) as u32,
                        _ => r.below(0x11_0000) as u32,
                    };
                    char::from_u32(cp).unwrap_or('\u{fffd}')
                })
                .collect()
        })
        .collect()
}

fn check(seq_len: usize, texts: &[String]) -> usize {
    let Some(want) = reference_ids(seq_len, texts) else { return 0 };
    assert_eq!(want.len(), texts.len(), "one line per text");
    let bytes = artifact(seq_len);
    let model = Model::from_bytes(&bytes).unwrap();
    let Preprocessing::Text(tok) = model.preprocessing() else { panic!("no tokenizer") };
    assert_eq!(tok.scheme(), "wordpiece-v1");
    let mut ids = vec![0i32; seq_len];
    for (t, w) in texts.iter().zip(&want) {
        let e = tok.encode(t, &mut ids).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        let got = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        assert_eq!(&got, w, "ids differ for {t:?}");
        assert_eq!(e.tokens, ids.iter().filter(|&&i| i != 0).count(), "{t:?}: tokens before padding");
    }
    texts.len()
}

#[test]
fn adversarial_and_random_text_match_tokenizers() {
    let mut texts = adversarial();
    assert!(texts.len() >= 90, "the adversarial set");
    texts.extend(random_texts(3000));
    for seq_len in [128, 16] {
        let n = check(seq_len, &texts);
        eprintln!("seq_len {seq_len}: {n} texts, ids identical to tokenizers");
    }
}

#[test]
fn every_snips_utterance_matches_tokenizers() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let texts = snips_texts();
    assert!(texts.len() > 14_000, "every Snips utterance");
    for seq_len in [128, 16] {
        let n = check(seq_len, &texts);
        eprintln!("seq_len {seq_len}: {n} Snips utterances, ids identical to tokenizers");
    }
}

/// A tiny wordpiece artifact (16 ids; a 60-entry vocabulary: the specials, letters, their `##`
/// forms, a few words and pieces, punctuation, two ideographs), as records or front-coded
/// (`--strip`). FERRITE_FUZZ_SEEDS=1 writes both as seeds of the load and wordpiece fuzz targets.
fn tiny(strip: bool) -> Vec<u8> {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "play", "##ing", "jazz", "rain", "un", "##known"]
        .map(String::from)
        .to_vec();
    vocab.extend(('a'..='z').map(String::from));
    vocab.extend(('a'..='e').map(|c| format!("##{c}")));
    vocab.extend([",", "!", "?", "'", "北", "京", "##s", "é", "##é"].map(String::from));
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input_i64("input_ids", &[1, 16]);
    b.node("Cast", &["input_ids"], &["y"], vec![("to", ferrite_e2e::Attr::I(1))]).output("y");
    let onnx = b.save(dir.path(), "tiny");
    let special = hf_tokenizer::WordPieceSpecial { cls_id: 2, sep_id: 3, pad_id: 0, unk_id: 1, max_chars: 20 };
    let opts = QuantizeOptions {
        preprocess: Some(Preprocess::Text { seq_len: 16, pad_side: 1, vocab, wordpiece: Some(special) }),
        strip,
        ..Default::default()
    };
    quantize(&onnx, &opts).unwrap().bytes
}

#[test]
fn tiny_artifacts_tokenize_and_serve_as_fuzz_seeds() {
    let (plain, coded) = (tiny(false), tiny(true));
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        let dir = repo_root().join("runtime/fuzz/corpus/load");
        std::fs::write(dir.join("tiny_wordpiece.fer"), &plain).unwrap();
        std::fs::write(dir.join("tiny_wordpiece_front_coded.fer"), &coded).unwrap();
    }
    for (bytes, front_coded) in [(plain, false), (coded, true)] {
        let a = AlignedBytes::copy_from(&bytes);
        let m = Model::from_bytes(&a).unwrap();
        let Preprocessing::Text(t) = m.preprocessing() else { panic!("no tokenizer") };
        assert_eq!(
            (t.scheme(), t.vocab_is_front_coded(), t.special_ids()),
            ("wordpiece-v1", front_coded, Some((2, 3)))
        );
        let mut ids = vec![0; 16];
        let e = t.encode("Playing JAZZ, unknown! 北京", &mut ids).unwrap();
        // play ##ing jazz , un ##known ! 北 京, between [CLS] and [SEP].
        assert_eq!(ids, [2, 4, 5, 6, 41, 8, 9, 42, 45, 46, 3, 0, 0, 0, 0, 0]);
        assert_eq!((e.words, e.unknown, e.truncated, e.kept, e.tokens), (7, 0, false, 7, 11));
        // "xyz" splits into letters only if each continuation exists: ##y does not, so [UNK].
        t.encode("xyz abc", &mut ids).unwrap();
        assert_eq!(ids[..6], [2, 1, 10, 37, 38, 3]);
        // A word over max_chars (20) is [UNK]; masking a word makes it [UNK] too.
        t.encode(&"a".repeat(21), &mut ids).unwrap();
        assert_eq!(ids[..3], [2, 1, 3]);
        t.encode_masking("rain play", Some(1), &mut ids).unwrap();
        assert_eq!(ids[..4], [2, 7, 1, 3]);
        // Truncation keeps 14 subwords; empty text is [CLS] [SEP].
        let e = t.encode(&"rain ".repeat(20), &mut ids).unwrap();
        assert_eq!((ids[15], e.kept, e.truncated, e.tokens), (3, 14, true, 16));
        let e = t.encode(" \u{200b} ", &mut ids).unwrap();
        assert_eq!((ids[..3].to_vec(), e.words, e.tokens), (vec![2, 3, 0], 0, 2));
        assert_eq!(t.encode_bytes(b"caf\xe9", &mut ids), Err(ferrite_runtime::Error::BadText("not valid UTF-8")));
    }
}

/// Every byte of the preprocessing section changed (checksum made right): the loader refuses with
/// a typed error or the tokenizer works, never a panic; the parameters' rules are enforced.
#[test]
fn corrupted_wordpiece_sections_are_refused_or_work() {
    use ferrite_runtime::format::{checksum, SectionKind};
    for bytes in [tiny(false), tiny(true)] {
        let a = AlignedBytes::copy_from(&bytes);
        let s = *Model::from_bytes(&a)
            .unwrap()
            .artifact()
            .sections
            .iter()
            .find(|s| s.kind.get() == SectionKind::Preprocess as u32)
            .unwrap();
        let (off, len) = (s.offset.get() as usize, s.len.get() as usize);
        let fix = |b: &mut Vec<u8>| {
            let c = checksum(b);
            b[48..52].copy_from_slice(&c.to_le_bytes());
        };
        for i in off..off + len {
            for v in [0u8, 0xFF, bytes[i] ^ 1] {
                let mut b = bytes.clone();
                b[i] = v;
                fix(&mut b);
                let a = AlignedBytes::copy_from(&b);
                if let Ok(m) = Model::from_bytes(&a) {
                    if let Preprocessing::Text(t) = m.preprocessing() {
                        let mut ids = vec![0; t.seq_len()];
                        let _ = t.encode("Playing JAZZ, unknown! 北京 xyz", &mut ids);
                    }
                }
            }
        }
        // The rules, one by one: WordPieceParams follows the header (16) and TextParams (16).
        let at = off + 32;
        for (field, value, rule) in [(8, 0u32, "max_chars"), (8, 101, "max_chars"), (12, 1, "reserved")] {
            let mut b = bytes.clone();
            b[at + field..at + field + 4].copy_from_slice(&value.to_le_bytes());
            fix(&mut b);
            let e = Model::from_bytes(&AlignedBytes::copy_from(&b)).map(|_| ()).unwrap_err();
            assert!(matches!(e, ferrite_runtime::Error::BadPreprocess(_)) && e.to_string().contains(rule), "{e}");
        }
        let mut b = bytes.clone();
        b[off + 20..off + 24].copy_from_slice(&0u32.to_le_bytes()); // pad_side left
        fix(&mut b);
        let e = Model::from_bytes(&AlignedBytes::copy_from(&b)).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("right padding"), "{e}");
    }
}
