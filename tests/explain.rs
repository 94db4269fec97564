//! `explain` (runtime/src/explain): occlusion attribution on the trained models.
//! - Text: against a reference occlusion computed independently, with Python's own words-v1
//!   tokenizer and ONNX Runtime on model.onnx (models/common/explain_reference.py), on 24 Snips
//!   test sentences for each intent model; and against the classifier on the text with the word
//!   replaced by one outside the vocabulary.
//! - Audio: features rebuilt from the log-mel stage are the frontend's bits; parts that are silence
//!   already have importance exactly zero; the core runs on caller buffers and a caller's arena.

use ferrite_e2e::{repo_root, shared_data, trained_artifact};
use ferrite_quantizer::classify::Classifier;
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::explain::{self, AudioGrid, AudioScratch, Target};
use ferrite_runtime::preprocess::{wav, Tokenizer};
use ferrite_runtime::{Error, Model, Preprocessing, Session};
use serde_json::Value;
use std::path::Path;

/// Largest difference allowed between Ferrite's f32 importances (and scores) and ONNX Runtime's.
/// Both compute the logits in f32 with different kernels (relative error ≤ 1e-4 on the logits,
/// tests/trained_models.rs); the largest difference measured over the 48 sentences is 3.6e-7,
/// against importances of up to about 1e-2.
const TOL: f32 = 1e-5;

fn text_model(name: &str) -> ferrite_runtime::AlignedBytes {
    trained_artifact(name, Precision::F32)
}

fn explain_words(model: &Model<'_>, text: &str, target: Target) -> (explain::TextExplanation, Vec<f32>) {
    let Preprocessing::Text(tok) = model.preprocessing() else { panic!("not a text model") };
    let mut session = Session::new(model).unwrap();
    let mut ids = vec![0; tok.seq_len()];
    let mut imp = vec![0.0; tok.seq_len()];
    let e = explain::explain_text(&mut session, text, target, &mut ids, &mut imp).unwrap();
    imp.truncate(e.words);
    (e, imp)
}

fn agrees_with_onnx_runtime(name: &str) {
    let art = text_model(name);
    let model = Model::from_bytes(&art).unwrap();
    let path = repo_root().join("models").join(name).join("explain_reference.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let sentences = doc["sentences"].as_array().unwrap();
    assert!(sentences.len() >= 20, "{name}: {} reference sentences", sentences.len());
    let mut worst = 0.0f32;
    for s in sentences {
        let text = s["text"].as_str().unwrap();
        let want: Vec<f32> = s["importance"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let (e, got) = explain_words(&model, text, Target::Predicted);
        assert_eq!(e.label as u64, s["label"].as_u64().unwrap(), "{name}: label of {text:?}");
        assert_eq!(got.len(), want.len(), "{name}: words of {text:?}");
        let words: Vec<&str> = Tokenizer::word_spans(text).map(|r| &text[r]).collect();
        for ((w, r), word) in words.iter().zip(s["words"].as_array().unwrap()).zip(0..) {
            assert_eq!(w.to_lowercase(), r.as_str().unwrap(), "{name}: word {word} of {text:?}");
        }
        worst = worst.max((e.score - s["score"].as_f64().unwrap() as f32).abs());
        for (g, w) in got.iter().zip(&want) {
            worst = worst.max((g - w).abs());
        }
        // The most important word is the same unless ONNX Runtime's top two are within tolerance.
        let top = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        let (gt, wt) = (top(&got), top(&want));
        assert!(gt == wt || (want[wt] - want[gt]).abs() <= 2.0 * TOL, "{name}: top word of {text:?}: {gt} vs {wt}");
    }
    assert!(worst <= TOL, "{name}: importances differ from ONNX Runtime's by up to {worst:.2e}");
    eprintln!("{name}: {} sentences, largest difference from ONNX Runtime {worst:.2e}", sentences.len());
}

#[test]
fn intent_lstm_agrees_with_onnx_runtime_occlusion() {
    agrees_with_onnx_runtime("intent-lstm");
}

#[test]
fn intent_transformer_agrees_with_onnx_runtime_occlusion() {
    agrees_with_onnx_runtime("intent-transformer");
}

#[test]
fn a_hidden_word_is_a_word_outside_the_vocabulary() {
    let art = text_model("intent-transformer");
    let model = Model::from_bytes(&art).unwrap();
    let mut clf = Classifier::new(&model, Path::new("intent-transformer")).unwrap();
    let text = "Play the new album by Daft Punk on Spotify, please";
    let base = clf.classify_text(text).unwrap().probs;
    for target in [Target::Predicted, Target::Label(4)] {
        let (e, imp) = explain_words(&model, text, target);
        let label = if target == Target::Predicted { e.predicted } else { 4 };
        assert_eq!(e.label, label);
        assert_eq!(e.score, base[label]);
        for (i, span) in Tokenizer::word_spans(text).enumerate() {
            let hidden = format!("{}qqzxvj{}", &text[..span.start], &text[span.end..]);
            let p = clf.classify_text(&hidden).unwrap().probs;
            assert_eq!(imp[i], base[label] - p[label], "word {i} for label {label}");
        }
    }
    let mut session = Session::new(&model).unwrap();
    let (mut ids, mut imp) = (vec![0; 32], vec![0.0; 32]);
    let err = explain::explain_text(&mut session, text, Target::Label(7), &mut ids, &mut imp).unwrap_err();
    assert!(matches!(err, Error::BadExplain(_)), "{err:?}");
    let err = explain::explain_text(&mut session, "  ,, ", Target::Predicted, &mut ids, &mut imp).unwrap_err();
    assert_eq!(err, Error::EmptyText);
    let err = explain::explain_text(&mut session, text, Target::Predicted, &mut ids, &mut imp[..3]).unwrap_err();
    assert!(matches!(err, Error::BufferSize { .. }), "{err:?}");
}

#[test]
fn audio_occlusion_on_caller_buffers() {
    let art = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("kws-dscnn has a frontend") };
    // 2,384 samples at 8 kHz: frames from 15 on (of 49) are all zero padding.
    let bytes = std::fs::read(shared_data().join("fsdd/recordings/0_george_0.wav")).unwrap();
    let w = wav::parse(&bytes).unwrap();
    let samples: Vec<f32> = w.samples().collect();
    assert_eq!((w.sample_rate, samples.len()), (8000, 2384));

    // Caller buffers only: tables, log-mel, features, one mel row, and an arena of our own.
    let mut tables = vec![0.0; fe.tables_len()];
    fe.tables(&mut tables).unwrap();
    let mut log_mel = vec![0.0; fe.log_mel_len()];
    let mut scratch = vec![0.0; fe.frame_scratch_len()];
    fe.log_mel(&samples, &tables, &mut log_mel, &mut scratch).unwrap();
    let (mut features, mut mel_row) = (vec![0.0; fe.feature_len()], vec![0.0; fe.n_mels()]);
    fe.features_from_log_mel(&log_mel, |_, _| false, &tables, &mut features, &mut mel_row).unwrap();
    let whole = fe.features_at(&samples, 8000).unwrap();
    assert!(features.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()), "log-mel path changed bits");

    let mut arena = ferrite_runtime::AlignedBytes::copy_from(&vec![0u8; model.arena_len()]);
    let mut session = Session::with_arena(&model, arena.as_mut_slice()).unwrap();
    let grid = AudioGrid { segment_frames: 5, band_mels: 5 };
    let (mut seg, mut band) = ([0.0f32; 10], [0.0f32; 8]);
    let scr = AudioScratch { tables: &tables, features: &mut features, mel_row: &mut mel_row };
    let e = explain::explain_audio(&mut session, &log_mel, grid, Target::Predicted, scr, &mut seg, &mut band).unwrap();
    assert_eq!((e.label, e.segments, e.bands), (0, 10, 8), "the digit 0, ten segments, eight bands");
    // Segments 3 to 9 are silence already: hiding them changes no feature, so nothing at all.
    assert!(seg[3..].iter().all(|&v| v == 0.0), "{seg:?}");
    assert!(seg[..3].iter().any(|&v| v > 0.01), "speech matters: {seg:?}");
    assert!(band.iter().any(|&v| v != 0.0), "{band:?}");

    let scr = AudioScratch { tables: &tables, features: &mut features, mel_row: &mut mel_row };
    let err = explain::explain_audio(&mut session, &log_mel, grid, Target::Predicted, scr, &mut seg[..9], &mut band);
    assert!(matches!(err, Err(Error::BufferSize { needed: 10, given: 9 })), "{err:?}");
    let scr = AudioScratch { tables: &tables, features: &mut features, mel_row: &mut mel_row };
    let zero = AudioGrid { segment_frames: 0, band_mels: 5 };
    let err = explain::explain_audio(&mut session, &log_mel, zero, Target::Predicted, scr, &mut seg, &mut band);
    assert!(matches!(err, Err(Error::BadExplain(_))), "{err:?}");
    drop(session);

    // A text explanation of an audio model is refused, typed.
    let mut session = Session::new(&model).unwrap();
    let err = explain::explain_text(&mut session, "one", Target::Predicted, &mut [0; 4], &mut [0.0; 4]).unwrap_err();
    assert!(matches!(err, Error::BadExplain(_)), "{err:?}");
}
