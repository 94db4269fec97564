//! `ferrite run --wav/--text` and `ferrite eval` on the trained reference models and real data, and
//! what bad audio, text and configs do: a one-line error and exit 1 (2 for usage), never a panic.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ferrite<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrite")).args(args).output().expect("spawn ferrite")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn data() -> PathBuf {
    root().join("../shared/data")
}

/// Whether the full data sets are beside the repository: without them a test that needs them says
/// so and returns, except in CI (`CI=true`), where their absence is an error (as
/// `ferrite_e2e::have_shared_data`, which this crate's tests cannot reach).
fn have_data() -> bool {
    let here = data().join("fsdd/recordings").is_dir() && data().join("snips-intents").is_dir();
    if !here {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true: the full data sets must be at {}",
            data().display()
        );
        eprintln!("skipped: this test needs the full data sets at {}", data().display());
    }
    here
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn quantize(dir: &Path, name: &str) -> PathBuf {
    let fer = dir.join(format!("{name}.fer"));
    let model = root().join("models").join(name).join("model.onnx");
    let o = ferrite(&["quantize", s(&model), "-o", s(&fer)]);
    assert!(o.status.success(), "{}", stderr(&o));
    fer
}

fn assert_fails<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S], code: i32, needle: &str) {
    let o = ferrite(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "args {args:?}: {e}");
    assert!(e.contains(needle), "args {args:?}: stderr lacks {needle:?}: {e}");
    assert!(!e.contains("panicked"), "{e}");
    if code == 1 {
        assert_eq!(e.lines().filter(|l| l.starts_with("ferrite: error:")).count(), 1, "one error line: {e}");
    }
}

/// A PCM WAV with the given header fields and `n` zero samples of `bits` each.
fn wav(channels: u16, rate: u32, bits: u16, n: usize) -> Vec<u8> {
    let data_len = n * channels as usize * bits as usize / 8;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * channels as u32 * bits as u32 / 8).to_le_bytes());
    b.extend_from_slice(&(channels * bits / 8).to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data_len as u32).to_le_bytes());
    b.resize(b.len() + data_len, 0);
    b
}

#[test]
fn speech_and_text_end_to_end() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let k = quantize(dir.path(), "kws-dscnn");
    let i = quantize(dir.path(), "intent-lstm");

    let clip = data().join("fsdd/recordings/7_theo_3.wav");
    let o = ferrite(&["run", s(&k), "--wav", s(&clip)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().next().unwrap().starts_with("7 "), "7 first: {out}");

    let o = ferrite(&["run", s(&i), "--text", "will it rain in paris tomorrow", "--json", "--top", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = j["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["label"], "GetWeather");
    let scores: Vec<f64> = top.iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] <= 1.0, "best first: {scores:?}");

    // A 16 kHz file is resampled to the model's 8 kHz (and says so).
    let clip16 = root().join("tests/golden/frontend/7_theo_3_16k.wav");
    let o = ferrite(&["run", s(&k), "--wav", s(&clip16), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["top"][0]["label"], "7");
    assert!(j["notes"][0].as_str().unwrap().contains("resampled from 16000 Hz"), "{j}");

    // An over-long sentence is truncated to the model's length, with a note (documented behaviour).
    let long = "play some jazz ".repeat(20);
    let o = ferrite(&["run", s(&i), "--text", &long]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("the model reads the first 32"), "{}", stderr(&o));

    // eval on the test splits, text and JSON.
    let o = ferrite(&["eval", s(&k), "--data", s(&data().join("fsdd")), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["n"], 250);
    for key in ["accuracy", "macro_f1", "per_class", "per_slice", "confusion"] {
        assert!(j.get(key).is_some(), "eval --json lacks {key}");
    }
    assert_eq!(j["per_slice"]["speaker"].as_array().unwrap().len(), 5);
    assert_eq!(j["per_slice"]["accent"].as_array().unwrap().len(), 3);
    let o = ferrite(&["eval", s(&i), "--data", s(&data().join("snips-intents"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("700 examples") && text.contains("macro F1") && text.contains("confusion"), "{text}");
    let jsonl = dir.path().join("few.jsonl");
    std::fs::write(
        &jsonl,
        "{\"text\": \"play some jazz\", \"intent\": \"PlayMusic\"}\n{\"text\": \"will it snow\", \"intent\": \"GetWeather\"}\n",
    )
    .unwrap();
    let o = ferrite(&["eval", s(&i), "--data", s(&jsonl), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["n"], 2);
}

#[test]
fn bad_audio_text_and_configs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let k = quantize(dir.path(), "kws-dscnn");
    let i = quantize(dir.path(), "intent-lstm");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let stereo = write("stereo.wav", &wav(2, 8000, 16, 800));
    assert_fails(&["run", s(&k), "--wav", s(&stereo)], 1, "stereo.wav: unsupported WAV: channel count");
    let b24 = write("b24.wav", &wav(1, 8000, 24, 800));
    assert_fails(&["run", s(&k), "--wav", s(&b24)], 1, "bits per sample (only 16), found 24");
    let r44 = write("r44.wav", &wav(1, 44100, 16, 800));
    assert_fails(&["run", s(&k), "--wav", s(&r44)], 1, "sample rate (8000 or 16000 Hz), found 44100");
    let good = wav(1, 8000, 16, 800);
    let cut = write("cut.wav", &good[..30]);
    assert_fails(&["run", s(&k), "--wav", s(&cut)], 1, "cut.wav: bad WAV file");
    let short = write("short.wav", &good[..good.len() - 10]);
    assert_fails(&["run", s(&k), "--wav", s(&short)], 1, "data chunk runs past the end");
    let not_wav = write("text.wav", b"hello, this is not audio");
    assert_fails(&["run", s(&k), "--wav", s(&not_wav)], 1, "not a RIFF/WAVE file");
    assert_fails(&["run", s(&k), "--wav", s(&dir.path().join("missing.wav"))], 1, "missing.wav");

    assert_fails(&["run", s(&i), "--text", ""], 1, "the text has no words");
    assert_fails(&["run", s(&i), "--text", " ?! "], 1, "the text has no words");
    assert_fails(&["run", s(&i), "--wav", s(&stereo)], 1, "no audio preprocessing");
    assert_fails(&["run", s(&k), "--text", "seven"], 1, "no text preprocessing");
    assert_fails(&["run", s(&k)], 2, "required");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let args: Vec<&OsStr> = vec!["run".as_ref(), s(&i).as_ref(), "--text".as_ref(), OsStr::from_bytes(b"caf\xe9")];
        assert_fails(&args, 2, "invalid UTF-8");
    }

    // Configs: an unknown key, a vocabulary word that cannot match, a frontend that does not fit the input.
    let model = root().join("models/kws-dscnn/model.onnx");
    let out = dir.path().join("x.fer");
    let cfg = write("typo.toml", b"[model]\nlabelz = [\"a\"]\n");
    assert_fails(&["quantize", s(&model), "-o", s(&out), "--config", s(&cfg)], 1, "unknown field `labelz`");
    let audio = std::fs::read_to_string(root().join("models/kws-dscnn/ferrite.toml"))
        .unwrap()
        .replace("card = \"MODEL_CARD.md\"", "");
    let cfg = write("frames.toml", audio.replace("clip_samples = 8000", "clip_samples = 16000").as_bytes());
    assert_fails(&["quantize", s(&model), "-o", s(&out), "--config", s(&cfg)], 1, "99 frames x 10 features");
    let cfg = write("labels.toml", audio.replace("\"8\", \"9\"", "\"8\"").as_bytes());
    assert_fails(&["quantize", s(&model), "-o", s(&out), "--config", s(&cfg)], 1, "10 labels given");
    // [stream]: an unknown background label, a threshold out of range, a stream without audio.
    let set = |key: &str, line: &str| -> String {
        audio.lines().map(|l| if l.starts_with(key) { line } else { l }).collect::<Vec<_>>().join("\n")
    };
    let cfg = write("bg.toml", set("background =", "background = \"silence\"").as_bytes());
    assert_fails(&["quantize", s(&model), "-o", s(&out), "--config", s(&cfg)], 1, "background \"silence\"");
    let cfg = write("thr.toml", set("threshold =", "threshold = 0.0").as_bytes());
    assert_fails(&["quantize", s(&model), "-o", s(&out), "--config", s(&cfg)], 1, "threshold must be in (0, 1]");
    let cfg = write("nostream.toml", b"[stream]\nsmooth = 2\n");
    assert_fails(&["quantize", s(&model), "-o", s(&out), "--config", s(&cfg)], 1, "[stream] needs [audio]");
    let text_model = root().join("models/intent-lstm/model.onnx");
    let vocab = write("vocab.txt", b"play\nJazz\n");
    let cfg = write("text.toml", b"[text]\ntokenizer = \"words-v1\"\nvocab = \"vocab.txt\"\n");
    assert_fails(&["quantize", s(&text_model), "-o", s(&out), "--config", s(&cfg)], 1, "line 2: \"Jazz\"");
    let _ = vocab;
    assert!(!out.exists(), "no artifact is written when the config is bad");
    // Data sets: a missing folder, a WAV name that does not follow {label}_{speaker}_{index}.wav.
    assert_fails(&["eval", s(&k), "--data", s(&dir.path().join("nowhere"))], 1, "nowhere");
    let wavs = dir.path().join("wavs");
    std::fs::create_dir(&wavs).unwrap();
    std::fs::write(wavs.join("seven.wav"), &good).unwrap();
    assert_fails(&["eval", s(&k), "--data", s(&wavs)], 1, "{label}_{speaker}_{index}.wav");
}

/// `quantize --precision int8` end to end on the command line, its bad inputs, and the audit's
/// `--fail-on-flag`, `--json` and `--report`.
#[test]
fn int8_quantize_and_audit_cli() {
    if !have_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = root().join("models/kws-dscnn/model.onnx");
    let fsdd = data().join("fsdd");
    let q = dir.path().join("q.fer");
    let html = dir.path().join("q.html");
    let o = ferrite(&[
        "quantize",
        s(&model),
        "--precision",
        "int8",
        "--calib",
        s(&fsdd),
        "--calib-samples",
        "30",
        "--calib-method",
        "percentile",
        "-o",
        s(&q),
        "--report",
        s(&html),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("calibration") && stderr(&o).contains("SQNR"), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && !page.contains("http://cdn"));
    let o = ferrite(&["inspect", s(&q)]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("quantization: int8") && out.contains("percentile 0.9999") && out.contains("QConv"), "{out}");

    // The audit against the ONNX model: JSON for machines, exit 0 without flags.
    let report = dir.path().join("audit.html");
    let o = ferrite(&[
        "eval",
        s(&q),
        "--reference",
        s(&model),
        "--data",
        s(&fsdd),
        "--json",
        "--fail-on-flag",
        "--report",
        s(&report),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(a["agreement_pct"].as_f64().unwrap() >= 98.5, "{a}");
    assert_eq!(a["flagged"], 0);
    assert!(std::fs::read_to_string(&report).unwrap().contains("Confusion, quantized"));

    // Bad inputs: one clear error each.
    let e = dir.path().join("empty");
    std::fs::create_dir(&e).unwrap();
    assert_fails(&["quantize", s(&model), "--precision", "int8", "-o", s(&q)], 1, "needs --calib");
    assert_fails(&["quantize", s(&model), "--precision", "int8", "--calib", s(&e), "-o", s(&q)], 1, "empty");
    assert_fails(&["quantize", s(&model), "--calib", s(&fsdd), "-o", s(&q)], 1, "--precision int8 only");
    assert_fails(
        &["quantize", s(&model), "--precision", "int8", "--calib", s(&fsdd), "--calib-samples", "0", "-o", s(&q)],
        1,
        "at least 1",
    );
    let snips = data().join("snips-intents");
    assert_fails(
        &["quantize", s(&model), "--precision", "int8", "--calib", s(&snips), "-o", s(&q)],
        1,
        "does not fit the artifact's preprocessing",
    );
    assert_fails(&["eval", s(&q), "--data", s(&fsdd), "--fail-on-flag"], 2, "--reference");
}

/// `ferrite stream`: the same detections from a WAV, from raw PCM on stdin, and from raw PCM at
/// 16 kHz resampled on the way in; JSON lines; bad arguments and inputs as one-line errors.
#[test]
fn stream_from_wav_and_raw_stdin() {
    if !have_data() {
        return;
    }
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let kws = quantize(dir.path(), "kws-dscnn");
    // Three digits, each after 0.5 s of silence, and 1 s of silence at the end.
    let (mut pcm, mut want) = (Vec::new(), Vec::new());
    for clip in ["3_george_2.wav", "8_lucas_4.wav", "5_theo_1.wav"] {
        pcm.extend(std::iter::repeat_n(0i16, 4000));
        let bytes = std::fs::read(data().join("fsdd/recordings").join(clip)).unwrap();
        let w = ferrite_runtime::preprocess::wav::parse(&bytes).unwrap();
        pcm.extend(w.samples().map(|v| (v * 32768.0) as i16));
        want.push(clip[..1].to_string());
    }
    pcm.extend(std::iter::repeat_n(0i16, 8000));
    let raw: Vec<u8> = pcm.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut wav_bytes = wav(1, 8000, 16, 0);
    wav_bytes.truncate(wav_bytes.len() - 4);
    wav_bytes.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    wav_bytes.extend_from_slice(&raw);
    let riff_len = wav_bytes.len() as u32 - 8;
    wav_bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let wav_path = dir.path().join("stream.wav");
    std::fs::write(&wav_path, &wav_bytes).unwrap();

    let labels = |o: &Output| -> Vec<String> {
        assert!(o.status.success(), "{}", stderr(o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["label"].as_str().unwrap().to_string())
            .collect()
    };
    let from_wav = ferrite(&["stream", s(&kws), "--wav", s(&wav_path), "--json"]);
    assert_eq!(labels(&from_wav), want);

    let stdin = |args: &[&str], bytes: &[u8]| -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferrite"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(bytes).unwrap();
        c.wait_with_output().unwrap()
    };
    let from_raw = stdin(&["stream", s(&kws), "--raw", "-", "--json"], &raw);
    assert_eq!(from_raw.stdout, from_wav.stdout, "raw PCM on stdin gives the WAV's detections");
    // 16 kHz: every sample twice, resampled back to 8 kHz on the way in.
    let raw16: Vec<u8> = pcm.iter().flat_map(|v| [v.to_le_bytes(), v.to_le_bytes()]).flatten().collect();
    assert_eq!(labels(&stdin(&["stream", s(&kws), "--raw", "-", "--rate", "16000", "--json"], &raw16)), want);

    let text = ferrite(&["stream", s(&kws), "--wav", s(&wav_path)]);
    assert_eq!(String::from_utf8_lossy(&text.stdout).lines().count(), 3);
    assert_fails(&["stream", s(&kws), "--raw", "-", "--rate", "44100"], 1, "44100");
    assert_fails(&["stream", s(&kws), "--wav", s(&wav_path), "--threshold", "1.5"], 1, "threshold");
    assert_fails(&["stream", s(&kws), "--wav", s(&wav_path), "--smooth", "0"], 1, "smooth");
    assert_fails(&["stream", s(&kws)], 2, "--wav");
    assert_fails(&["stream", s(&kws), "--wav", "/nonexistent.wav"], 1, "nonexistent");
    let intent = quantize(dir.path(), "intent-lstm");
    assert_fails(&["stream", s(&intent), "--wav", s(&wav_path)], 1, "audio frontend");

    // --step: kws-crnn's step artifact run every frame, its state carried (RecurrentStream); the
    // frontend and defaults are the whole-clip artifact's. A model that is not a step model is
    // refused with the reason.
    let crnn = quantize(dir.path(), "kws-crnn");
    let step = dir.path().join("step.fer");
    let onnx = root().join("models/kws-crnn/model-step.onnx");
    let o = ferrite(&["quantize", s(&onnx), "--no-config", "-o", s(&step)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stepped =
        ferrite(&["stream", s(&crnn), "--step", s(&step), "--wav", s(&wav_path), "--json", "--threshold", "0.6"]);
    let heard = labels(&stepped);
    assert!(!heard.is_empty() && heard.iter().all(|l| l.len() == 1), "{heard:?}");
    assert_fails(&["stream", s(&crnn), "--step", s(&crnn), "--wav", s(&wav_path)], 1, "not a step model");
}
