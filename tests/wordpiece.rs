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
