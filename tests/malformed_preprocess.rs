//! Untrusted preprocessing: artifacts whose labels or preprocessing sections are corrupted, WAV bytes
//! and text of any kind. Every case gives `Ok` or a typed error, never a panic; corrupted artifacts
//! that still load must tokenize and featurize without panicking.

use ferrite_e2e::{Attr::*, OnnxBuilder, Rng};
use ferrite_quantizer::config::Preprocess;
use ferrite_quantizer::quantize::{quantize, QuantizeOptions};
use ferrite_runtime::format::{checksum, AudioParams, SectionKind, StreamRecord, PAD_RIGHT, WINDOW_HANN};
use ferrite_runtime::preprocess::wav;
use ferrite_runtime::{AlignedBytes, Error, Model, Preprocessing};
use proptest::prelude::*;
use std::sync::OnceLock;
use zerocopy::little_endian::{F32, U32};

/// The stream defaults the audio sample carries (and the text one must refuse).
fn stream_record() -> StreamRecord {
    StreamRecord {
        hop_frames: U32::new(2),
        smooth: U32::new(2),
        threshold: F32::new(0.6),
        refractory: U32::new(400),
        background: U32::new(0),
        reserved: [U32::ZERO; 3],
    }
}

/// A tiny model with a text or audio preprocessing section (audio: with stream defaults);
/// `strip` writes the vocabulary front-coded, and 30 words longer (w00 … w29 after the ten
/// below: three blocks).
fn build(text: bool, strip: bool) -> Vec<u8> {
    build_with(text, strip, (!text).then(stream_record)).unwrap()
}

fn build_with(text: bool, strip: bool, stream: Option<StreamRecord>) -> Result<Vec<u8>, ferrite_quantizer::Error> {
    let mut r = Rng::new(5);
    let mut b = OnnxBuilder::new(13);
    let mut vocab: Vec<String> =
        ["play", "some", "jazz", "weather", "é", "straße", "rain", "in", "paris", "x"].map(String::from).to_vec();
    if strip {
        vocab.extend((0..30).map(|i| format!("w{i:02}")));
    }
    let rows = vocab.len() + 2;
    if text {
        b.input_i64("tokens", &[1, 8]);
        b.init("emb", &[rows, 4], r.vec(rows * 4, -1.0, 1.0)).node("Gather", &["emb", "tokens"], &["e"], vec![]);
    } else {
        b.input("features", &[1, 11, 4]);
        b.node("Identity", &["features"], &["e"], vec![]);
    }
    b.node("ReduceMean", &["e"], &["m"], vec![("axes", Is(vec![1])), ("keepdims", I(0))]);
    b.init("fc", &[4, 3], r.vec(12, -1.0, 1.0)).init("fb", &[3], vec![0.0; 3]);
    b.node("Gemm", &["m", "fc", "fb"], &["logits"], vec![]).output("logits");
    let dir = tempfile::tempdir().unwrap();
    let path = b.save(dir.path(), "tiny");
    let preprocess = if text {
        Preprocess::Text { seq_len: 0, pad_side: PAD_RIGHT, vocab, wordpiece: None }
    } else {
        Preprocess::Audio(AudioParams {
            sample_rate: U32::new(8000),
            clip_samples: U32::new(400),
            frame_len: U32::new(64),
            hop: U32::new(32),
            n_fft: U32::new(64),
            n_mels: U32::new(8),
            n_mfcc: U32::new(4),
            window: U32::new(WINDOW_HANN),
            fmin: F32::new(0.0),
            fmax: F32::new(4000.0),
            log_floor: F32::new(1e-6),
            normalize: U32::ZERO,
        })
    };
    let opts = QuantizeOptions {
        labels: vec!["a".into(), "b".into(), "c".into()],
        preprocess: Some(preprocess),
        strip,
        stream,
        ..Default::default()
    };
    quantize(&path, &opts).map(|q| q.bytes)
}

fn text_sample() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| build(true, false))
}

fn front_coded_sample() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| build(true, true))
}

fn audio_sample() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| build(false, false))
}

/// Loads; what loads is used through its preprocessing, which must not panic.
fn exercise(bytes: &[u8]) {
    let a = AlignedBytes::copy_from(bytes);
    let Ok(m) = Model::from_bytes(&a) else { return };
    let _: Vec<&str> = m.labels().collect();
    match m.preprocessing() {
        Preprocessing::Text(t) => {
            let mut ids = vec![0; t.seq_len()];
            let _ = t.encode("Play some JAZZ in Paris, straße é x y z", &mut ids);
        }
        Preprocessing::Audio(fe) => {
            let samples: Vec<f32> = (0..500).map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5).collect();
            let _ = fe.features_at(&samples, 8000);
            let _ = fe.features_at(&samples, 16000);
        }
        Preprocessing::None => {}
    }
}

fn section(bytes: &[u8], kind: SectionKind) -> (usize, usize) {
    let a = AlignedBytes::copy_from(bytes);
    let m = Model::from_bytes(&a).unwrap();
    let s = *m.artifact().sections.iter().find(|s| s.kind.get() == kind as u32).unwrap();
    (s.offset.get() as usize, s.len.get() as usize)
}

fn fix_checksum(bytes: &mut [u8]) {
    let c = checksum(bytes);
    bytes[48..52].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn samples_load_and_work() {
    // FERRITE_FUZZ_SEEDS=1 refreshes the fuzzer's seeds for the optional sections.
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        let dir = ferrite_e2e::repo_root().join("runtime/fuzz/corpus/load");
        std::fs::write(dir.join("tiny_text_preprocess.fer"), text_sample()).unwrap();
        std::fs::write(dir.join("tiny_audio_preprocess.fer"), audio_sample()).unwrap();
        std::fs::write(dir.join("tiny_text_front_coded.fer"), front_coded_sample()).unwrap();
    }
    for b in [text_sample(), front_coded_sample(), audio_sample()] {
        let a = AlignedBytes::copy_from(b);
        let m = Model::from_bytes(&a).unwrap();
        assert_eq!(m.labels().collect::<Vec<_>>(), ["a", "b", "c"]);
        match m.preprocessing() {
            Preprocessing::Text(t) => {
                let mut ids = vec![0; 8];
                let e = t.encode("Play some JAZZ, straße!", &mut ids).unwrap();
                // Vocabulary ids follow the file order from 2; padding (0) on the right.
                assert_eq!(ids, [2, 3, 4, 7, 0, 0, 0, 0]);
                assert_eq!((e.words, e.unknown, e.truncated), (4, 0, false));
                let e = t.encode("x unknownword x x x x x x x x", &mut ids).unwrap();
                assert_eq!(ids, [11, 1, 11, 11, 11, 11, 11, 11]);
                assert_eq!((e.words, e.unknown, e.truncated), (10, 1, true));
                assert_eq!(t.encode("  ...  ", &mut ids), Err(Error::EmptyText));
                assert_eq!(t.encode_bytes(b"caf\xe9", &mut ids), Err(Error::BadText("not valid UTF-8")));
                let long_word = "a".repeat(70);
                t.encode(&long_word, &mut ids).unwrap();
                assert_eq!(ids[0], 1, "a word over 64 bytes is unknown");
                assert_eq!(t.vocab_is_front_coded(), t.vocab_len() == 40, "--strip front-codes");
                if t.vocab_is_front_coded() {
                    // Every word of every block, the first and last of a block among them.
                    for i in 0..30 {
                        t.encode(&format!("w{i:02} wa w{i:02}x"), &mut ids).unwrap();
                        assert_eq!(ids[..3], [12 + i, 1, 1], "w{i:02}");
                    }
                    assert_eq!(t.vocab_len(), 40);
                }
            }
            Preprocessing::Audio(fe) => {
                assert_eq!((fe.n_frames(), fe.n_features()), (11, 4));
                let silent = fe.features_at(&[0.0; 400], 8000).unwrap();
                let floor = (1e-6f32).ln();
                // Silence: every mel energy is the floor, so MFCC 0 is floor * sqrt(n_mels), the rest 0.
                assert!((silent[0] - floor * 8f32.sqrt()).abs() < 1e-4 && silent[1].abs() < 1e-4, "{silent:?}");
                assert!(matches!(fe.features_at(&[0.0; 10], 44100), Err(Error::UnsupportedWav { value: 44100, .. })));
            }
            Preprocessing::None => panic!("no preprocessing"),
        }
    }
}

#[test]
fn every_byte_of_the_optional_sections() {
    // Flip each byte of the labels and preprocessing sections (checksum fixed): load or typed error.
    for sample in [text_sample(), front_coded_sample(), audio_sample()] {
        let stream = (sample == audio_sample()).then_some(SectionKind::Stream);
        for kind in [SectionKind::Labels, SectionKind::Preprocess].into_iter().chain(stream) {
            let (off, len) = section(sample, kind);
            let mut rejected = 0;
            for i in off..off + len {
                let mut b = sample.to_vec();
                b[i] ^= 0xA5;
                fix_checksum(&mut b);
                let a = AlignedBytes::copy_from(&b);
                if Model::from_bytes(&a).is_err() {
                    rejected += 1;
                }
                exercise(&b);
            }
            assert!(rejected > 0, "{kind:?}: some corruption must be caught");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_preprocessing_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5), which in 0..3u8) {
        let sample = [text_sample(), front_coded_sample(), audio_sample()][which as usize];
        let (off, len) = section(sample, SectionKind::Preprocess);
        let mut b = sample.to_vec();
        for (i, x) in edits {
            b[off + i.index(len)] ^= x | 1;
        }
        fix_checksum(&mut b);
        exercise(&b);
    }

    #[test]
    fn any_text_tokenizes_or_is_empty(s in ".{0,200}") {
        let a = AlignedBytes::copy_from(text_sample());
        let m = Model::from_bytes(&a).unwrap();
        let Preprocessing::Text(t) = m.preprocessing() else { panic!() };
        let mut ids = vec![-1; 8];
        match t.encode(&s, &mut ids) {
            Ok(e) => prop_assert!(e.words > 0 && ids.iter().all(|&i| (0..12).contains(&i))),
            Err(e) => prop_assert_eq!(e, Error::EmptyText),
        }
    }

    #[test]
    fn any_wav_bytes_parse_or_fail(body in proptest::collection::vec(any::<u8>(), 0..256), riff in any::<bool>()) {
        let mut b = if riff { b"RIFF\x00\x00\x00\x00WAVEfmt ".to_vec() } else { Vec::new() };
        b.extend_from_slice(&body);
        if let Ok(w) = wav::parse(&b) {
            prop_assert!(!w.is_empty());
            let a = AlignedBytes::copy_from(audio_sample());
            let m = Model::from_bytes(&a).unwrap();
            if let Preprocessing::Audio(fe) = m.preprocessing() {
                let _ = fe.features_from_wav(&b);
            }
        }
    }

    #[test]
    fn any_samples_give_finite_features(samples in proptest::collection::vec(-1.0f32..1.0, 0..900)) {
        let a = AlignedBytes::copy_from(audio_sample());
        let m = Model::from_bytes(&a).unwrap();
        let Preprocessing::Audio(fe) = m.preprocessing() else { panic!() };
        let f = fe.features_at(&samples, 8000).unwrap();
        prop_assert!(f.iter().all(|v| v.is_finite()));
    }
}

/// The Stream section: the defaults load as written; each rule broken is a typed `BadStream`
/// error; a text model may not carry one.
#[test]
fn stream_section_rules() {
    let good = audio_sample();
    let a = AlignedBytes::copy_from(good);
    let p = Model::from_bytes(&a).unwrap().stream_params().expect("the audio sample carries stream defaults");
    assert_eq!((p.hop_frames, p.smooth, p.threshold, p.refractory, p.background), (2, 2, 0.6, 400, Some(0)));
    let (off, len) = section(good, SectionKind::Stream);
    assert_eq!(len, 32);
    for (at, value, what) in [
        (0, 0u32, "hop_frames 0"),
        (4, 0, "smooth 0"),
        (4, 257, "smooth 257"),
        (8, 0f32.to_bits(), "threshold 0"),
        (8, 1.5f32.to_bits(), "threshold 1.5"),
        (8, f32::NAN.to_bits(), "threshold NaN"),
        (16, 3, "background past the 3 classes"),
        (20, 1, "a reserved word"),
        (28, 1, "the last reserved word"),
    ] {
        let mut b = good.to_vec();
        b[off + at..off + at + 4].copy_from_slice(&value.to_le_bytes());
        fix_checksum(&mut b);
        let a = AlignedBytes::copy_from(&b);
        assert!(matches!(Model::from_bytes(&a), Err(Error::BadStream(_))), "{what}");
    }
    // No background class: 0xFFFFFFFF.
    let mut b = good.to_vec();
    b[off + 16..off + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_checksum(&mut b);
    let a = AlignedBytes::copy_from(&b);
    assert_eq!(Model::from_bytes(&a).unwrap().stream_params().unwrap().background, None);
    // A text model with stream defaults: the loader (which validates what the quantizer writes)
    // refuses it.
    let e = build_with(true, false, Some(stream_record())).unwrap_err().to_string();
    assert!(e.contains("bad stream section") && e.contains("audio frontend"), "{e}");
    assert!(Model::from_bytes(&AlignedBytes::copy_from(text_sample())).unwrap().stream_params().is_none());
}

/// `normalize` (the audio parameters' last word): 0 and 1 load, and 1 gives windows whose every
/// feature sums to zero over the frames; any other value is a typed `BadPreprocess` error.
#[test]
fn audio_normalize_word() {
    let (off, _) = section(audio_sample(), SectionKind::Preprocess);
    let at = off + 16 + 44;
    assert_eq!(audio_sample()[at..at + 4], [0; 4], "the sample is written without normalisation");
    for value in [1u32, 2, 0x100, u32::MAX] {
        let mut b = audio_sample().to_vec();
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        fix_checksum(&mut b);
        let a = AlignedBytes::copy_from(&b);
        match (value, Model::from_bytes(&a)) {
            (1, Ok(m)) => {
                let Preprocessing::Audio(fe) = m.preprocessing() else { panic!("no frontend") };
                assert!(fe.window_mean());
                let samples: Vec<f32> = (0..400).map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.3).collect();
                let f = fe.features_at(&samples, 8000).unwrap();
                for j in 0..fe.n_features() {
                    let sum: f32 = f.iter().skip(j).step_by(fe.n_features()).sum();
                    assert!(sum.abs() < 1e-4, "feature {j} sums to {sum} over the window");
                }
            }
            (_, Err(e @ Error::BadPreprocess(_))) if value != 1 => {
                assert!(e.to_string().contains("normalize must be 0"), "{e}");
            }
            (v, r) => panic!("normalize = {v}: {r:?}"),
        }
    }
}
