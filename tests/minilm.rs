//! The pretrained MiniLM encoder and intent-minilm (issue 14), built by models/minilm/prepare.py
//! into target/ (CI runs it; without it these tests say so and return, except in CI):
//! - the f32 artifacts against ONNX Runtime (models/minilm/golden.json, models/intent-minilm/
//!   samples.json, written by make_golden.py): same token ids, relative L2 error ≤ 1e-4;
//! - int8 with dynamic activations keeps sentence embeddings at cosine ≥ 0.99 to f32 on every
//!   Snips test utterance;
//! - int8 intent-minilm: no class or slice flagged against f32 and top-1 agreement ≥ 99% on
//!   Snips-7's test split and on the project's own requests (models/intent-minilm/requests.jsonl),
//!   and issue 14's accuracy targets: ≥ 98.5% and ≥ 97%.

use ferrite_e2e::{
    have_shared_data, minilm_artifact as artifact, minilm_onnx as built, rel_l2, repo_root, shared_data,
};
use ferrite_quantizer::eval::{audit, data::Split};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{Input, Model, Preprocessing, Session};
use std::path::Path;

/// Token ids and the first output of `text` through the artifact's own tokenizer.
fn run(session: &mut Session<'_, '_, '_>, model: &Model<'_>, text: &str) -> (Vec<i32>, Vec<f32>) {
    let Preprocessing::Text(tok) = model.preprocessing() else { panic!("no tokenizer") };
    let mut ids = vec![0i32; tok.seq_len()];
    tok.encode(text, &mut ids).unwrap();
    let out = session.run(&[Input::I32(&ids)]).unwrap().f32(0).unwrap().to_vec();
    (ids, out)
}

fn check_against_ort(name: &str, golden: &str, key: &str) {
    let Some(onnx) = built(name) else { return };
    let bytes = artifact(name, &onnx, Precision::F32);
    let model = Model::from_bytes(&bytes).unwrap();
    let mut s = Session::new(&model).unwrap();
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(golden)).unwrap()).unwrap();
    let mut worst = 0f64;
    for r in &rows {
        let text = r["text"].as_str().unwrap();
        let (ids, got) = run(&mut s, &model, text);
        let want_ids: Vec<i32> = r["tokens"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32).collect();
        assert_eq!(ids, want_ids, "{text:?}: token ids");
        let want: Vec<f32> = r[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let e = rel_l2(&got, &want);
        assert!(e <= 1e-4, "{name} {text:?}: relative L2 error {e:e}");
        worst = worst.max(e);
    }
    eprintln!("{name} f32: {} texts, worst relative L2 error to ONNX Runtime {worst:.2e}", rows.len());
}

#[test]
fn f32_encoder_matches_onnx_runtime() {
    check_against_ort("minilm", "models/minilm/golden.json", "embedding");
}

#[test]
fn f32_intent_minilm_matches_onnx_runtime() {
    check_against_ort("intent-minilm", "models/intent-minilm/samples.json", "logits");
}

#[test]
fn int8_embeddings_stay_within_cosine_099_of_f32() {
    let Some(onnx) = built("minilm") else { return };
    if !have_shared_data() {
        return;
    }
    let (f, q) = (artifact("minilm", &onnx, Precision::F32), artifact("minilm", &onnx, Precision::Int8));
    let (fm, qm) = (Model::from_bytes(&f).unwrap(), Model::from_bytes(&q).unwrap());
    let (mut fs, mut qs) = (Session::new(&fm).unwrap(), Session::new(&qm).unwrap());
    let test = ferrite_quantizer::eval::data::load(&shared_data().join("snips-intents"), Split::Test).unwrap();
    let mut cos = Vec::new();
    for ex in &test.examples {
        let ferrite_quantizer::eval::data::Payload::Text(t) = &ex.payload else { panic!("text") };
        let (_, a) = run(&mut fs, &fm, t);
        let (_, b) = run(&mut qs, &qm, t);
        let c = ferrite_quantizer::embed::cosine(&a, &b);
        assert!(c >= 0.99, "{t:?}: cosine {c}");
        cos.push(c);
    }
    cos.sort_by(f64::total_cmp);
    eprintln!(
        "int8 minilm: {} Snips test utterances, cosine to f32 min {:.4}, median {:.4}",
        cos.len(),
        cos[0],
        cos[cos.len() / 2]
    );
    assert_eq!(cos.len(), 700);
}

/// int8 intent-minilm against f32 on Snips-7's test split and on the project's own requests
/// (computed once for the tests that read them).
fn intent_audits() -> Option<&'static (audit::Audit, audit::Audit)> {
    static AUDITS: std::sync::OnceLock<Option<(audit::Audit, audit::Audit)>> = std::sync::OnceLock::new();
    AUDITS.get_or_init(compute_intent_audits).as_ref()
}

fn compute_intent_audits() -> Option<(audit::Audit, audit::Audit)> {
    let onnx = built("intent-minilm")?;
    if !have_shared_data() {
        return None;
    }
    let (f, q) = (artifact("intent-minilm", &onnx, Precision::F32), artifact("intent-minilm", &onnx, Precision::Int8));
    let (fm, qm) = (Model::from_bytes(&f).unwrap(), Model::from_bytes(&q).unwrap());
    let (qp, fp) = (Path::new("int8"), Path::new("f32"));
    let a = audit::audit((&qm, qp), (&fm, fp), &shared_data().join("snips-intents"), Split::Test, false).unwrap();
    eprintln!("{}", audit::render_text(&a));
    let requests = repo_root().join("models/intent-minilm/requests.jsonl");
    let r = audit::audit((&qm, qp), (&fm, fp), &requests, Split::All, false).unwrap();
    eprintln!("{} requests: int8 {}%, f32 {}%", r.n, r.quantized.accuracy_pct, r.reference.accuracy_pct);
    Some((a, r))
}

/// What int8 (dynamic activations) must keep of f32: no class or slice flagged by the audit's
/// rule, top-1 agreement of at least 99%, on both sets.
#[test]
fn int8_intent_minilm_agrees_with_f32() {
    let Some((a, r)) = intent_audits() else { return };
    for x in [a, r] {
        assert_eq!(x.flagged, 0, "{}: flagged classes or slices", x.data);
        assert!(x.agreement_pct >= 99.0, "{}: agreement {}%", x.data, x.agreement_pct);
    }
    assert_eq!(a.n, 700);
    assert!(r.n >= 50);
}

/// Issue 14's accuracy targets for int8 intent-minilm: 98.5% on Snips-7's test split and 97% on
/// the project's requests (98.86% and 98.57% at the model committed on 2026-12-01).
#[test]
fn int8_intent_minilm_meets_the_accuracy_targets() {
    let Some((a, r)) = intent_audits() else { return };
    assert!(a.quantized.accuracy_pct >= 98.5, "int8 Snips-7 test accuracy {}%", a.quantized.accuracy_pct);
    assert!(r.quantized.accuracy_pct >= 97.0, "int8 on {} requests: {}%", r.n, r.quantized.accuracy_pct);
}
