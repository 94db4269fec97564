//! The four trained reference models (models/intent-*, models/kws-*), quantized to f32 with their
//! ferrite.toml: raw input through the runtime's own preprocessing reproduces the logits ONNX Runtime
//! gave for the same sentences and clips (samples.json, written by each train.py), and `eval` on the
//! held-out test split reproduces the figures the training script recorded (metrics.json), example for
//! example, and meets the accuracy targets of issue 3.

use ferrite_e2e::{rel_l2, repo_root, shared_data, trained_artifact};
use ferrite_quantizer::classify::Classifier;
use ferrite_quantizer::eval::{self, data::Split};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{Input, Model, Preprocessing, Session};
use serde_json::Value;

fn json(path: std::path::PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn logits(session: &mut Session<'_, '_, 'static>, input: Input<'_>) -> Vec<f32> {
    session.run(&[input]).unwrap().f32(0).unwrap().to_vec()
}

fn check(name: &str, data: &str, min_accuracy: f64) {
    let dir = repo_root().join("models").join(name);
    let art = trained_artifact(name, Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let mut session = Session::new(&model).unwrap();
    let rec = shared_data().join("fsdd/recordings");

    // 1. Fixed sentences and clips: same ids (text), same logits as ONNX Runtime.
    let samples = json(dir.join("samples.json"));
    let mut worst = 0.0f64;
    for s in samples.as_array().unwrap() {
        let want: Vec<f32> = s["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let got = match model.preprocessing() {
            Preprocessing::Text(tok) => {
                let mut ids = vec![0i32; tok.seq_len()];
                tok.encode(s["text"].as_str().unwrap(), &mut ids).unwrap();
                let want_ids: Vec<i32> =
                    s["tokens"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32).collect();
                assert_eq!(ids, want_ids, "{name}: token ids of {}", s["text"]);
                logits(&mut session, Input::I32(&ids))
            }
            Preprocessing::Audio(fe) => {
                let bytes = std::fs::read(rec.join(s["wav"].as_str().unwrap())).unwrap();
                let feats = fe.features_from_wav(&bytes).unwrap();
                logits(&mut session, Input::F32(&feats))
            }
            Preprocessing::None => panic!("{name}: no preprocessing in the artifact"),
        };
        let err = rel_l2(&got, &want);
        assert!(err <= 1e-4, "{name}: logits of {} differ from ONNX Runtime's by {err:.2e}", s);
        worst = worst.max(err);
    }
    drop(session);

    // 2. The test split: the same figures as the training script recorded.
    let report =
        eval::evaluate(&model, &dir.join("model.onnx"), &shared_data().join(data), Split::Test, false).unwrap();
    let f = &report.figures;
    let m = json(dir.join("metrics.json"));
    assert_eq!(f.n as u64, m["n"].as_u64().unwrap(), "{name}: test-split size");
    assert_eq!(f.correct as u64, m["correct"].as_u64().unwrap(), "{name}: correct predictions");
    assert_eq!(f.confusion, serde_json::from_value::<Vec<Vec<usize>>>(m["confusion"].clone()).unwrap());
    assert!((f.macro_f1 - m["macro_f1"].as_f64().unwrap()).abs() < 1e-9, "{name}: macro F1");
    for (name_slice, values) in m["per_slice"].as_object().unwrap() {
        for v in values.as_array().unwrap() {
            let ours = f.per_slice[name_slice].iter().find(|s| s.value == v["value"].as_str().unwrap()).unwrap();
            assert_eq!(ours.correct as u64, v["correct"].as_u64().unwrap(), "{name}: slice {name_slice}");
        }
    }
    assert!(
        f.accuracy >= min_accuracy,
        "{name}: test accuracy {:.2}% is below the target {:.0}%",
        100.0 * f.accuracy,
        100.0 * min_accuracy
    );
    eprintln!(
        "{name}: samples within {worst:.1e} of ONNX Runtime; test accuracy {:.2}% ({}/{}), macro F1 {:.4}",
        100.0 * f.accuracy,
        f.correct,
        f.n,
        f.macro_f1
    );
}

#[test]
fn intent_lstm() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check("intent-lstm", "snips-intents", 0.95);
}

#[test]
fn intent_transformer() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check("intent-transformer", "snips-intents", 0.96);
}

#[test]
fn kws_dscnn() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check("kws-dscnn", "fsdd", 0.95);
}

#[test]
fn kws_crnn() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check("kws-crnn", "fsdd", 0.93);
}

#[test]
fn the_issue_examples_rank_first() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let k = trained_artifact("kws-dscnn", Precision::F32);
    let k = Model::from_bytes(&k).unwrap();
    let mut clf = Classifier::new(&k, "K.fer".as_ref()).unwrap();
    let wav = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).unwrap();
    let p = clf.classify_wav(&wav).unwrap();
    assert_eq!(clf.top(&p, 1)[0].label, "7");
    let i = trained_artifact("intent-lstm", Precision::F32);
    let i = Model::from_bytes(&i).unwrap();
    let mut clf = Classifier::new(&i, "I.fer".as_ref()).unwrap();
    let p = clf.classify_text("will it rain in paris tomorrow").unwrap();
    assert_eq!(clf.top(&p, 1)[0].label, "GetWeather");
    let sum: f32 = p.probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
}

/// kws-crnn is causal: its step form (model-step.onnx, the same weights) run frame by frame in the
/// runtime, with the GRU state carried between calls, ends on the logits of the whole-clip artifact.
#[test]
fn kws_crnn_streams_frame_by_frame() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let whole = trained_artifact("kws-crnn", Precision::F32);
    let whole = Model::from_bytes(&whole).unwrap();
    let Preprocessing::Audio(fe) = whole.preprocessing() else { panic!("no frontend") };
    let step_bytes = ferrite_e2e::crnn_step_artifact();
    let step = Model::from_bytes(&step_bytes).unwrap();
    let state_len = step.inputs().nth(1).unwrap().info.len();
    let n_feat = fe.n_features();
    let rec = shared_data().join("fsdd/recordings");
    for clip in ["7_theo_3", "2_yweweler_2", "9_george_2"] {
        let feats = fe.features_from_wav(&std::fs::read(rec.join(format!("{clip}.wav"))).unwrap()).unwrap();
        let mut s_whole = Session::new(&whole).unwrap();
        let want = logits(&mut s_whole, Input::F32(&feats));
        let mut s_step = Session::new(&step).unwrap();
        let mut state = vec![0.0f32; state_len];
        let mut last = Vec::new();
        for frame in feats.chunks_exact(n_feat) {
            let out = s_step.run(&[Input::F32(frame), Input::F32(&state)]).unwrap();
            last = out.f32(0).unwrap().to_vec();
            state.copy_from_slice(out.f32(1).unwrap());
        }
        let err = rel_l2(&last, &want);
        assert!(err <= 1e-5, "{clip}: streamed logits differ from the whole clip's by {err:.2e}");
    }
}

/// `Session::run_observed` hands every tensor each op writes to the observer (what int8 calibration
/// and per-layer error measurement build on), and the last one is the graph output.
#[test]
fn observer_sees_every_op_output() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    use ferrite_quantizer::calibrate::{Method, Observer};
    let art = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("no frontend") };
    let wav = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).unwrap();
    let feats = fe.features_from_wav(&wav).unwrap();
    let mut session = Session::new(&model).unwrap();
    let mut seen = Vec::new();
    let mut observers: Vec<Observer> = Vec::new();
    let out = session
        .run_observed(&[Input::F32(&feats)], |o| {
            if let ferrite_runtime::OutputData::F32(v) = o.data {
                seen.push((o.op, v.to_vec()));
                if observers.len() <= o.op as usize {
                    observers.resize(o.op as usize + 1, Observer::default());
                }
                observers[o.op as usize].observe_range(v);
            }
        })
        .unwrap();
    let final_logits = out.f32(0).unwrap().to_vec();
    // One f32 output per op in this model, and each alias (the Flatten) with the op that wrote
    // the bytes it views.
    let aliases = model.tensors().filter(|(_, s)| *s == ferrite_runtime::format::Storage::Alias).count();
    assert!(aliases >= 1);
    assert_eq!(seen.len(), model.ops().count() + aliases);
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "in op order");
    let mut ops_seen: Vec<u32> = seen.iter().map(|s| s.0).collect();
    ops_seen.dedup();
    assert_eq!(ops_seen.len(), model.ops().count(), "every op");
    assert_eq!(seen.last().unwrap().1, final_logits);
    // The stem conv (after the input normalisation) has its ReLU fused: its range starts at 0.
    let stem = model.ops().position(|op| op.code == ferrite_runtime::ops::OpCode::Conv).unwrap();
    let (lo, hi) = observers[stem].range(Method::MinMax);
    assert!(lo == 0.0 && hi > 0.0 && observers[stem].min == 0.0, "{lo}..{hi}");
}
