//! Parity of the runtime's preprocessing with the Python reference implementations in
//! models/common/: token ids identical on every Snips utterance (the Python tokenizer runs here, it
//! needs nothing but python3), audio features within 1e-4 relative L2 error of the numpy reference
//! on real FSDD clips (goldens written by models/common/make_goldens.py).

use ferrite_e2e::{rel_l2, repo_root, shared_data, snips_texts, trained_artifact};
use ferrite_quantizer::npy::{self, NpyData};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::format::{AudioParams, NORMALIZE_NONE, NORMALIZE_WINDOW_MEAN, WINDOW_HANN};
use ferrite_runtime::preprocess::AudioFrontend;
use ferrite_runtime::{Model, Preprocessing};
use std::io::Write;
use std::process::{Command, Stdio};
use zerocopy::little_endian::{F32, U32};

fn python_ids(vocab: &std::path::Path, seq_len: usize, side: &str, texts: &[String]) -> Vec<String> {
    let script = repo_root().join("models/common/ferrite_text.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(vocab)
        .arg(seq_len.to_string())
        .arg(side)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (it is in CI)");
    let mut input = String::new();
    for t in texts {
        input.push_str(&serde_json::to_string(t).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "the Python tokenizer failed");
    String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect()
}

fn check_tokenizer(model_name: &str) {
    let art = trained_artifact(model_name, Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let Preprocessing::Text(tok) = model.preprocessing() else { panic!("{model_name} has no tokenizer") };
    let mut texts = snips_texts();
    // Edge cases beyond Snips: empty, separators only, case mapping, long words, truncation.
    texts.extend(
        [
            "",
            " ?! ",
            "ÉCOUTE «Björk» – İstanbul ΣΊΣΥΦΟΣ straße",
            &"x".repeat(65),
            &"é".repeat(32),
            &"play ".repeat(40),
            "tab\tseparated\u{00a0}nbsp\u{2019}quote",
        ]
        .map(String::from),
    );
    let side = if tok.pads_left() { "left" } else { "right" };
    let vocab = repo_root().join("models").join(model_name).join("vocab.txt");
    let want = python_ids(&vocab, tok.seq_len(), side, &texts);
    assert_eq!(want.len(), texts.len(), "one line per text from Python");
    let mut ids = vec![0i32; tok.seq_len()];
    let mut checked = 0;
    for (t, w) in texts.iter().zip(&want) {
        let got = match tok.encode(t, &mut ids) {
            Ok(_) => ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" "),
            Err(ferrite_runtime::Error::EmptyText) => "empty".to_string(),
            Err(e) => panic!("{t:?}: {e}"),
        };
        assert_eq!(&got, w, "token ids differ for {t:?}");
        checked += 1;
    }
    assert!(checked > 14_000, "every Snips utterance (train and test) was checked: {checked}");
    eprintln!("{model_name}: {checked} texts tokenized identically by Rust and Python");
}

#[test]
fn tokenizer_matches_python_left_padding() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check_tokenizer("intent-lstm");
}

#[test]
fn tokenizer_matches_python_right_padding() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check_tokenizer("intent-transformer");
}

fn golden(name: &str) -> Vec<f32> {
    match npy::read(&repo_root().join("tests/golden/frontend").join(name)).unwrap().data {
        NpyData::F32(v) => v,
        _ => panic!("golden {name} must be f32"),
    }
}

/// kws-dscnn's frontend parameters with `normalize` as given.
fn mfcc10_params(normalize: u32) -> AudioParams {
    AudioParams {
        sample_rate: U32::new(8000),
        clip_samples: U32::new(8000),
        frame_len: U32::new(240),
        hop: U32::new(160),
        n_fft: U32::new(256),
        n_mels: U32::new(40),
        n_mfcc: U32::new(10),
        window: U32::new(WINDOW_HANN),
        fmin: F32::new(20.0),
        fmax: F32::new(4000.0),
        log_floor: F32::new(1e-6),
        normalize: U32::new(normalize),
    }
}

#[test]
fn audio_features_match_the_reference_on_real_clips() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let rec = shared_data().join("fsdd/recordings");
    let frontend_of = |name: &str| {
        let art = trained_artifact(name, Precision::F32);
        let model = Model::from_bytes(&art).unwrap();
        let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("{name} has no frontend") };
        fe
    };
    // kws-dscnn's frontend subtracts the window mean; the same MFCC without it are checked too.
    let raw_mfcc = AudioFrontend::from_params(&mfcc10_params(NORMALIZE_NONE)).unwrap();
    let frontends = [
        ("kws-dscnn", frontend_of("kws-dscnn"), "mfcc10"),
        ("MFCC, no normalisation", raw_mfcc, "mfcc10"),
        ("kws-crnn", frontend_of("kws-crnn"), "logmel40"),
    ];
    for (model_name, fe, suffix) in frontends {
        let mut worst = 0.0f64;
        for clip in ["0_jackson_0", "3_george_1", "5_lucas_2", "7_theo_3", "8_yweweler_4", "9_theo_0"] {
            let bytes = std::fs::read(rec.join(format!("{clip}.wav"))).unwrap();
            let got = fe.features_from_wav(&bytes).unwrap();
            // The window-mean normalisation (kws-dscnn) has goldens of its own.
            let suffix = if fe.window_mean() { format!("{suffix}-wmean") } else { suffix.to_string() };
            let want = golden(&format!("{clip}.{suffix}.npy"));
            let err = rel_l2(&got, &want);
            assert!(err <= 1e-4, "{model_name} {clip}: relative error {err:.2e} > 1e-4");
            worst = worst.max(err);
        }
        eprintln!("{model_name}: worst relative L2 error of features {worst:.2e}");
    }
}

/// 16-bit PCM straight from the WAV's bytes gives the same features, bit for bit, as the f32
/// samples the WAV reader makes (firmware and the C API use the i16 path), with the frontend's
/// tables computed per call or given.
#[test]
fn pcm_i16_features_equal_the_f32_path() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let rec = shared_data().join("fsdd/recordings");
    for model_name in ["kws-dscnn", "kws-crnn"] {
        let art = trained_artifact(model_name, Precision::F32);
        let model = Model::from_bytes(&art).unwrap();
        let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("{model_name} has no frontend") };
        for clip in ["0_jackson_0", "7_theo_3"] {
            let bytes = std::fs::read(rec.join(format!("{clip}.wav"))).unwrap();
            let wav = ferrite_runtime::preprocess::wav::parse(&bytes).unwrap();
            let f32s: Vec<f32> = wav.samples().collect();
            let pcm: Vec<i16> = f32s.iter().map(|&s| (s * 32768.0) as i16).collect();
            let (mut a, mut b) = (vec![0f32; fe.feature_len()], vec![0f32; fe.feature_len()]);
            let mut scratch = vec![0f32; fe.scratch_len()];
            fe.features(&f32s, &mut a, &mut scratch).unwrap();
            fe.features_i16(&pcm, &mut b, &mut scratch).unwrap();
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{model_name} {clip}");
            // Tables computed once (as firmware does at build time), then frames only.
            let mut tables = vec![0f32; fe.tables_len()];
            fe.tables(&mut tables).unwrap();
            let mut frame = vec![0f32; fe.frame_scratch_len()];
            fe.features_with_tables(&pcm, &tables, &mut b, &mut frame).unwrap();
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{model_name} {clip}: tables");
            assert!(fe.features_with_tables(&pcm, &tables[1..], &mut b, &mut frame).is_err());
            assert!(fe.features_with_tables(&pcm, &tables, &mut b, &mut frame[1..]).is_err());
            assert!(a.iter().any(|&x| x != a[0]), "{model_name} {clip}: constant features");
        }
    }
}

#[test]
fn resampled_16k_audio_matches_the_reference() {
    let art = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("no frontend") };
    let bytes = std::fs::read(repo_root().join("tests/golden/frontend/7_theo_3_16k.wav")).unwrap();
    let raw = AudioFrontend::from_params(&mfcc10_params(NORMALIZE_NONE)).unwrap();
    let own = if fe.window_mean() { "7_theo_3_16k.mfcc10-wmean.npy" } else { "7_theo_3_16k.mfcc10.npy" };
    let wmean = AudioFrontend::from_params(&mfcc10_params(NORMALIZE_WINDOW_MEAN)).unwrap();
    for (fe, golden_name) in [(fe, own), (raw, "7_theo_3_16k.mfcc10.npy"), (wmean, "7_theo_3_16k.mfcc10-wmean.npy")] {
        let got = fe.features_from_wav(&bytes).unwrap();
        let err = rel_l2(&got, &golden(golden_name));
        eprintln!("16 kHz clip resampled to 8 kHz ({golden_name}): relative L2 error of features {err:.2e}");
        assert!(err <= 1e-4, "relative error {err:.2e} > 1e-4");
    }
}
