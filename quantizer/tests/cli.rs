//! The `ferrite` command line: the main job end to end, and its error contract (one line on
//! stderr naming the file and the problem; exit 1 for bad input, 2 for usage errors).

mod common;

use common::{ferrite, root, s, stderr};
use std::path::Path;
use std::process::Command;

#[test]
fn quantize_inspect_run_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let model = root().join("models/ref-kws-dscnn/model.onnx");
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, (0..12).map(|i| format!("class{i}\n")).collect::<String>()).unwrap();
    let fer = dir.path().join("kws.fer");
    let o = ferrite(&[
        "quantize",
        s(&model),
        "--precision",
        "fp16",
        "-o",
        s(&fer),
        "--labels",
        s(&labels),
        "--task",
        "keyword-spotting",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ferrite(&["inspect", s(&fer), "--json"]);
    assert!(o.status.success());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["metadata"]["precision"], "fp16");
    assert_eq!(j["metadata"]["task"], "keyword-spotting");
    assert_eq!(j["inputs"][0]["shape"], serde_json::json!([1, 1, 49, 10]));
    assert!(j["ops"].as_array().unwrap().len() >= 10);
    // The memory a session needs: the arena plus the prepared tables, which are not empty.
    let (arena, tables) = (j["arena_bytes"].as_u64().unwrap(), j["table_bytes"].as_u64().unwrap());
    assert!(arena > 0 && tables > 0 && j["session_bytes"].as_u64() == Some(arena + tables), "{j}");
    let o = ferrite(&["inspect", s(&fer)]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("arena:") && text.contains(&format!("session memory: {} bytes", arena + tables)), "{text}");
    let out = dir.path().join("out");
    let input = root().join("models/ref-kws-dscnn/input.npy");
    let o = ferrite(&["run", s(&fer), "--input", &format!("features={}", s(&input)), "--output", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("logits f32 [1, 12]") && text.contains("top-5") && text.contains("class9"), "{text}");
    let o = ferrite(&["bench", s(&fer), "--iterations", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let b: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(b["iterations"], 3);
    assert!(b["median_ms"].as_f64().unwrap() > 0.0 && b["arena_bytes"].as_u64().unwrap() > 0);
    let saved = ferrite_quantizer::npy::read(&out.join("logits.npy")).unwrap();
    let golden = ferrite_quantizer::npy::read(&root().join("models/ref-kws-dscnn/output.npy")).unwrap();
    assert_eq!(saved.shape, vec![1, 12]);
    let (ferrite_quantizer::npy::NpyData::F32(a), ferrite_quantizer::npy::NpyData::F32(b)) = (saved.data, golden.data)
    else {
        panic!()
    };
    let err: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(err < 1e-3, "fp16 output differs from golden by {err}");
}

fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let o = ferrite(args);
    assert_eq!(o.status.code(), Some(code), "args {args:?}: {}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains(needle), "args {args:?}: stderr lacks {needle:?}: {e}");
    if code == 1 {
        assert_eq!(e.trim_end().lines().filter(|l| l.starts_with("ferrite: error:")).count(), 1, "one error line: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}

#[test]
fn errors_exit_1_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.onnx");
    assert_fails(&["quantize", s(&missing), "-o", "x.fer"], 1, "missing.onnx");
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\x08\x01garbage").unwrap();
    assert_fails(&["quantize", s(&junk), "-o", s(&dir.path().join("j.fer"))], 1, "junk.onnx");
    let bad_fer = dir.path().join("bad.fer");
    std::fs::write(&bad_fer, b"not an artifact at all, clearly").unwrap();
    assert_fails(&["inspect", s(&bad_fer)], 1, "bad.fer");
    assert_fails(&["run", s(&bad_fer), "--input", "x.npy"], 1, "bad.fer");
    // A valid artifact with a bad .npy input, a wrong shape and a wrong input name.
    let fer = dir.path().join("kws.fer");
    let model = root().join("models/ref-kws-dscnn/model.onnx");
    assert!(ferrite(&["quantize", s(&model), "-o", s(&fer)]).status.success());
    let bad_npy = dir.path().join("bad.npy");
    std::fs::write(&bad_npy, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'").unwrap();
    assert_fails(&["run", s(&fer), "--input", s(&bad_npy)], 1, "bad.npy");
    let wrong = dir.path().join("wrong.npy");
    std::fs::write(&wrong, ferrite_quantizer::npy::encode_f32(&[1, 49, 10], &[0.0; 490])).unwrap();
    assert_fails(&["run", s(&fer), "--input", s(&wrong)], 1, "does not match input features");
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--input-shape", "nope=1,2"], 1, "not an input of the model");
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--input-shape", "features=1,1,50,10"], 1, "fixed to 49");
    // An unwritable output leaves no partial file behind.
    assert_fails(&["quantize", s(&model), "-o", s(&dir.path().join("no/such/dir/x.fer"))], 1, "x.fer");
}

/// `FERRITE_KERNELS` forces a tier for every command; an unknown name or a tier this CPU lacks
/// is one clear error, never an illegal instruction.
#[test]
fn forced_kernel_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let fer = dir.path().join("kws.fer");
    assert!(ferrite(&["quantize", s(&root().join("models/ref-kws-dscnn/model.onnx")), "-o", s(&fer)]).status.success());
    let with = |tier: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferrite")).env("FERRITE_KERNELS", tier).args(args).output().unwrap()
    };
    let o = with("generic", &["inspect", s(&fer), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["kernel_tier"], "generic");
    assert!(j["ops"].as_array().unwrap().iter().all(|op| op["tier"] == "generic"));
    let o = with("sse9", &["bench", s(&fer), "--iterations", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown kernel tier"), "{}", stderr(&o));
    let missing = ferrite_runtime::kernels::Tier::ALL.into_iter().find(|t| !t.available()).unwrap();
    let o = with(missing.name(), &["run", s(&fer), "--input", s(&root().join("models/ref-kws-dscnn/input.npy"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not available on this CPU"), "{}", stderr(&o));
}

/// `--device cuda`: inspect shows the GPU (or why there is none) and each op's place; bench
/// without a GPU fails with one error line, never a panic. Runs with and without the `cuda`
/// feature (without a GPU here, the error names the reason).
#[test]
fn device_cuda_placement_and_absence() {
    let dir = tempfile::tempdir().unwrap();
    let fer = dir.path().join("kws.fer");
    assert!(ferrite(&["quantize", s(&root().join("models/ref-kws-dscnn/model.onnx")), "-o", s(&fer)]).status.success());
    let o = ferrite(&["inspect", s(&fer), "--device", "cuda", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &j["placement"];
    assert_eq!(p["ops"].as_array().unwrap().len(), j["ops"].as_array().unwrap().len(), "{p}");
    assert!(p["ops"].as_array().unwrap().iter().all(|o| o["device"] == "cpu" || o["device"] == "cuda"), "{p}");
    let o = ferrite(&["inspect", s(&fer), "--device", "cuda"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("device cuda: ") && text.contains("placement: "), "{text}");
    if p["available"] == false {
        assert!(p["status"].as_str().unwrap().contains("CUDA is not available"), "{p}");
        assert_fails(&["bench", s(&fer), "--device", "cuda", "--iterations", "1"], 1, "CUDA is not available");
    }
    assert_fails(&["bench", s(&fer), "--device", "tpu"], 2, "invalid value");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(ferrite(&[]).status.code(), Some(2));
    assert_eq!(ferrite(&["quantize"]).status.code(), Some(2));
    assert_eq!(ferrite(&["quantize", "m.onnx", "-o", "x", "--precision", "int4"]).status.code(), Some(2));
    for cmd in ["quantize", "inspect", "run", "bench", "eval"] {
        let o = ferrite(&[cmd, "--help"]);
        assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Usage"));
    }
}

#[test]
fn output_names_are_sanitised() {
    // The text LSTM's output is named "logits"; names with odd characters are covered by the unit
    // rule: anything outside [A-Za-z0-9._-] becomes '_'.
    let dir = tempfile::tempdir().unwrap();
    let fer = dir.path().join("t.fer");
    assert!(ferrite(&["quantize", s(&root().join("models/ref-text-lstm/model.onnx")), "-o", s(&fer)]).status.success());
    let out = dir.path().join("o");
    let o = ferrite(&["run", s(&fer), "-i", s(&root().join("models/ref-text-lstm/input.npy")), "--output", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("logits.npy").exists());
}

#[test]
fn fix_freezes_an_input_and_inspect_says_so() {
    // The fuzzer's seed: y = If(sr == 16000, relu(x), -x), sr a rank-0 int64 input.
    let model = root().join("quantizer/fuzz/corpus/import/if_on_input.onnx");
    let dir = tempfile::tempdir().unwrap();
    let fer = dir.path().join("m.fer");
    for args in [vec!["--fix", "sr=16000"], vec!["--input-shape", "sr=scalar", "--fix", "sr=8000"]] {
        let mut a = vec!["quantize", s(&model), "-o", s(&fer)];
        a.extend(args.iter().copied());
        let o = ferrite(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = ferrite(&["inspect", s(&fer)]);
        let text = String::from_utf8_lossy(&o.stdout);
        let sr = args.last().unwrap().trim_start_matches("sr=");
        assert!(text.contains(&format!("inputs fixed: sr = {sr}; If nodes folded to their branch: 1")), "{text}");
        let j: serde_json::Value = serde_json::from_slice(&ferrite(&["inspect", s(&fer), "--json"]).stdout).unwrap();
        assert_eq!(j["inputs"].as_array().unwrap().len(), 1, "sr is no longer an input");
    }
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--fix", "sr"], 1, "expected NAME=VALUE");
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--fix", "nope=1"], 1, "no such input");
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--fix", "sr=0.5"], 1, "integer");
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--fix", "sr=/nonexistent/sr.npy"], 1, "sr.npy");
    assert_fails(&["quantize", s(&model), "-o", s(&fer), "--input-shape", "sr=x"], 1, "scalar");
}

/// A 16 kHz mono 16-bit WAV of `samples`.
fn wav16k(samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&[16, 0, 0, 0, 1, 0, 1, 0]);
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&32000u32.to_le_bytes());
    w.extend_from_slice(&[2, 0, 16, 0]);
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    w
}

#[test]
fn stream_runs_a_stateful_chunk_model_one_line_per_run() {
    // tests/golden/chunk_vad.onnx (tests/chunk_stream.rs builds it): 6 samples in, 4 of them new
    // each run, a state s -> s_out, a probability p.
    let dir = tempfile::tempdir().unwrap();
    let model = root().join("tests/golden/chunk_vad.onnx");
    let art = dir.path().join("vad.fer");
    let stream_args = ["--stream-state", "s=s_out", "--stream-hop", "4", "--stream-rate", "16000"];
    let o = ferrite(&[&["quantize", "--no-config", s(&model), "-o", s(&art)][..], &stream_args].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let wav = dir.path().join("a.wav");
    std::fs::write(&wav, wav16k(&(0..40i16).map(|i| i * 700 - 14000).collect::<Vec<_>>())).unwrap();
    let o = ferrite(&["stream", s(&art), "--wav", s(&wav), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10, "40 samples, 4 new a run");
    assert_eq!(lines[9]["end_sample"], 40);
    let p = lines[3]["outputs"]["p"][0].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0 && lines[3]["outputs"].get("s_out").is_none(), "{}", lines[3]);
    // Bad descriptions are usage errors or clear errors, never a panic.
    let q = |extra: &[&str]| ferrite(&[&["quantize", "--no-config", s(&model), "-o", s(&art)][..], extra].concat());
    assert_eq!(q(&["--stream-state", "s"]).status.code(), Some(1));
    assert!(stderr(&q(&["--stream-state", "s=p"])).contains("one length"));
    assert!(stderr(&q(&["--stream-state", "s=s_out", "--stream-hop", "9"])).contains("more than the 6 samples"));
    // A model with neither a chunk stream nor a frontend.
    let plain = dir.path().join("plain.fer");
    assert!(ferrite(&["quantize", "--no-config", s(&model), "-o", s(&plain)]).status.success());
    let o = ferrite(&["stream", s(&plain), "--wav", s(&wav)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("chunk model"), "{}", stderr(&o));
}

#[test]
fn keygen_sign_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (key, other) = (dir.path().join("k"), dir.path().join("other"));
    let o = ferrite(&["keygen", "-o", s(&key)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let private = std::fs::read_to_string(&key).unwrap();
    let secret_line = private.lines().nth(1).unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!said.contains(secret_line), "the private key is never printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_fails(&["keygen", "-o", s(&key)], 1, "exists");
    assert!(ferrite(&["keygen", "-o", s(&other)]).status.success());
    let fer = dir.path().join("kws.fer");
    assert!(ferrite(&["quantize", s(&root().join("models/ref-kws-dscnn/model.onnx")), "-o", s(&fer)]).status.success());
    let pubkey = format!("{}.pub", s(&key));
    let other_pub = format!("{}.pub", s(&other));
    assert_fails(&["verify", s(&fer), "--pubkey", &pubkey], 1, "not signed");
    let signed = dir.path().join("signed.fer");
    let o = ferrite(&["sign", s(&fer), "--key", s(&key), "-o", s(&signed)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ferrite(&["verify", s(&signed), "--pubkey", &pubkey]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("signature valid"));
    assert!(ferrite(&["verify", s(&signed), "--pubkey", &other_pub, "--pubkey", &pubkey]).status.success());
    assert_fails(&["verify", s(&signed), "--pubkey", &other_pub], 1, "not trusted");
    let o = ferrite(&["inspect", s(&signed)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("signature: Ed25519 by key"));
    // A public key is not a signing key; a missing --pubkey is a usage error.
    assert_fails(&["sign", s(&fer), "--key", &pubkey], 1, "not an Ed25519 private key");
    assert_eq!(ferrite(&["verify", s(&signed)]).status.code(), Some(2));
}

/// Every number in a JSON value, as serde_json prints it.
fn numbers(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(n) => out.push(n.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| numbers(x, out)),
        _ => {}
    }
}

/// Runs `explain ARGS --json --html`, checks the page is well-formed XML holding every figure of
/// the JSON, and returns the JSON.
fn explain_json_and_html(args: &[&str], dir: &Path) -> serde_json::Value {
    let html = dir.join("explain.html");
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", "--html", s(&html)]);
    let o = ferrite(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    let opts = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(&page, opts)
        .unwrap_or_else(|e| panic!("explain.html is not well-formed: {e}"));
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    let mut figures = Vec::new();
    numbers(&j, &mut figures);
    assert!(figures.len() > 10, "{j}");
    for f in &figures {
        assert!(text.contains(f.as_str()), "figure {f} of the JSON is not in the page's text");
    }
    j
}

#[test]
fn explain_text_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let quantize = |name: &str, precision: &str| {
        let out = dir.path().join(format!("{name}.{precision}.fer"));
        let model = root().join("models").join(name).join("model.onnx");
        let o = ferrite(&["quantize", s(&model), "--precision", precision, "-o", s(&out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    };
    let (text32, text16) = (quantize("intent-lstm", "f32"), quantize("intent-lstm", "fp16"));
    let sentence = "Will it rain in Paris tomorrow? & <b>";
    let j = explain_json_and_html(&[s(&text16), "--text", sentence, "--reference", s(&text32)], dir.path());
    assert_eq!(j["predicted"], "GetWeather");
    assert_eq!(j["label"], "GetWeather");
    let words: Vec<&str> =
        j["words"]["parts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(words, ["Will", "it", "rain", "in", "Paris", "tomorrow", "b"]);
    let rho = j["words"]["spearman"].as_f64().unwrap();
    assert!(rho > 0.9, "fp16 and f32 attributions should rank alike: {rho}");
    let j = explain_json_and_html(&[s(&text32), "--text", sentence, "--label", "PlayMusic"], dir.path());
    assert_eq!((j["label"].as_str(), j["class"].as_u64()), (Some("PlayMusic"), Some(3)));
    assert!(j.get("reference").is_none() && j["words"]["spearman"].is_null());

    let (kws32, kws16) = (quantize("kws-dscnn", "f32"), quantize("kws-dscnn", "fp16"));
    let wav = root().join("../shared/data/fsdd/recordings/7_jackson_3.wav");
    let j = explain_json_and_html(&[s(&kws16), "--wav", s(&wav), "--reference", s(&kws32)], dir.path());
    assert_eq!(j["predicted"], "7");
    assert_eq!(j["segments"]["parts"].as_array().unwrap().len(), 10, "49 frames of 20 ms in 100 ms segments");
    assert_eq!(j["bands"]["parts"].as_array().unwrap().len(), 8);
    assert!(j["segments"]["parts"][0]["reference"].is_number() && j["bands"]["spearman"].is_number(), "{j}");
    let o = ferrite(&["explain", s(&kws32), "--wav", s(&wav), "--segment-ms", "250", "--bands", "4"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && table.contains("segments") && table.contains("0-270 ms"), "{table}");

    // Errors: typed, one line, non-zero.
    assert_fails(&["explain", s(&text32), "--text", "hello", "--label", "Nope"], 1, "no label \"Nope\"");
    assert_fails(&["explain", s(&text32), "--wav", s(&wav)], 1, "needs a model with an audio frontend");
    assert_fails(&["explain", s(&kws32), "--text", "seven"], 1, "needs a model with a tokenizer");
    assert_fails(&["explain", s(&kws32), "--wav", "/no/such.wav"], 1, "/no/such.wav");
    assert_fails(&["explain", s(&kws32), "--wav", s(&text32)], 1, "bad WAV");
    assert_fails(&["explain", s(&kws32), "--wav", s(&wav), "--bands", "0"], 1, "--bands");
    assert_fails(&["explain", s(&text32), "--text", " ,; "], 1, "no words");
    assert_eq!(ferrite(&["explain", s(&text32)]).status.code(), Some(2));
    assert_eq!(ferrite(&["explain", s(&text32), "--text", "a", "--wav", s(&wav)]).status.code(), Some(2));
}

/// `ferrite embed` prints the first output of a text model as it is. The tiny wordpiece artifact
/// (the fuzz seed of tests/wordpiece.rs) casts its ids to f32, so the output is the ids: the
/// tokenizer's work, visible. `inspect` names the tokenizer and the `wordpiece` feature.
#[test]
fn embed_prints_the_first_output_and_inspect_names_wordpiece() {
    let fer = root().join("runtime/fuzz/corpus/load/tiny_wordpiece.fer");
    let o = ferrite(&["embed", s(&fer), "--text", "Playing JAZZ, unknown!", "--text", "rain", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let ids: Vec<f64> = lines[0]["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(ids[..9], [2.0, 4.0, 5.0, 6.0, 41.0, 8.0, 9.0, 42.0, 3.0]);
    assert_eq!((lines[0]["dim"].as_u64(), lines[0]["tokens"].as_u64()), (Some(16), Some(9)));
    assert!(lines[0].get("cosine_to_first").is_none() && lines[1]["cosine_to_first"].as_f64().unwrap() < 1.0);
    // Plain output: one line of values per text.
    let o = ferrite(&["embed", s(&fer), "--text", "rain"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), "2 7 3 0 0 0 0 0 0 0 0 0 0 0 0 0");
    let o = ferrite(&["inspect", s(&fer)]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("tokenizer wordpiece-v1") && text.contains(", wordpiece"), "{text}");
    // explain reads the words as wordpiece-v1 splits them: punctuation is a word of its own.
    let o = ferrite(&["explain", s(&fer), "--text", "Playing JAZZ, unknown!", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let words: Vec<&str> =
        e["words"]["parts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(words, ["Playing", "JAZZ", ",", "unknown", "!"]);
    // A model without a tokenizer is refused with one line and exit 1.
    let kws = root().join("runtime/fuzz/corpus/load/tiny_audio_preprocess.fer");
    let o = ferrite(&["embed", s(&kws), "--text", "rain"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("an embedding needs a model with a tokenizer"), "{}", stderr(&o));
}
