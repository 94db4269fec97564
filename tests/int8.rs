//! int8 post-training quantization end to end (issue 4): calibrated int8 artifacts of the trained
//! reference models keep their accuracy and agree with f32, run their int8 ops, report per-layer
//! SQNR, honour the accuracy budget, and produce well-formed reports holding every figure.

use ferrite_e2e::{int8_quantized as int8, shared_data, trained_artifact};
use ferrite_quantizer::eval::{audit, data::Split};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::format::DType;
use ferrite_runtime::{AlignedBytes, LoadOptions, Model, Session};
use std::path::Path;

fn audit_of(q: &AlignedBytes, r: &AlignedBytes, data: &str) -> audit::Audit {
    let (qm, rm) = (Model::from_bytes(q).unwrap(), Model::from_bytes(r).unwrap());
    audit::audit((&qm, Path::new("int8")), (&rm, Path::new("f32")), &shared_data().join(data), Split::Test, false)
        .unwrap()
}

fn check_model(name: &str, data: &str, int8_ops: &[&str]) {
    let q = int8(name, data, 60, None);
    let bytes = AlignedBytes::copy_from(&q.bytes);
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(u16::from_le_bytes([q.bytes[14], q.bytes[15]]), 2, "quantization version 2");
    let ops: Vec<&str> = model.ops().map(|o| o.code.name()).collect();
    for op in int8_ops {
        assert!(ops.contains(op), "{name}: no {op} in {ops:?}");
    }
    // Every layer with weights ran in int8, and its SQNR was measured.
    assert!(q.layers.iter().any(|l| l.precision == "int8"));
    for l in &q.layers {
        assert!(l.sqnr_db.is_some_and(|s| s > 20.0), "{name}: {l:?}");
        if l.precision == "int8" {
            assert!(l.bytes < l.bytes_f32, "{name}: {l:?}");
        }
    }
    // A quarter for the weights, plus an i32 bias and requantization pair per output channel
    // (which is what keeps depthwise layers, 9 weights per channel, above a quarter).
    let (f, now) = q.layers.iter().fold((0, 0), |a, l| (a.0 + l.bytes_f32, a.1 + l.bytes));
    assert!(now * 3 <= f, "{name}: layer weights {now} of {f} bytes");
    let f32_art = trained_artifact(name, Precision::F32);
    let a = audit_of(&bytes, &f32_art, data);
    assert!(a.accuracy_change_pts >= -1.0, "{name}: {}", audit::render_text(&a));
    assert!(a.agreement_pct >= 98.5, "{name}: {}", audit::render_text(&a));
    assert_eq!(a.flagged, 0, "{name}: {}", audit::render_text(&a));
    // The model card carries the report.
    let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap();
    let rep = &meta["model_card"]["quantization"];
    assert_eq!(rep["layers"].as_array().unwrap().len(), q.layers.len());
    assert!(rep["calibration"]["fingerprint"].as_str().unwrap().starts_with("sha256:"));
    // Provenance (issue 13): the calibration set by name and fingerprint, never by the path it had
    // on this machine; the source model by its SHA-256; the tool's version and commit.
    let data_dir = ferrite_e2e::shared_data().join(data);
    assert_eq!(rep["calibration"]["data"], data_dir.file_name().unwrap().to_str().unwrap());
    let card = serde_json::to_string(&meta).unwrap();
    for p in [data_dir.to_str().unwrap(), ferrite_e2e::repo_root().to_str().unwrap()] {
        assert!(!card.contains(p), "{name}: the metadata holds the path {p}");
    }
    use sha2::Digest;
    let onnx = std::fs::read(ferrite_e2e::repo_root().join("models").join(name).join("model.onnx")).unwrap();
    let digest: String = sha2::Sha256::digest(&onnx).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(meta["model_card"]["source"]["sha256"], digest.as_str());
    assert!(meta["model_card"]["tool_commit"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn kws_dscnn_int8() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check_model("kws-dscnn", "fsdd", &["QConv", "QMatMul", "Quantize", "Dequantize"]);
}

#[test]
fn intent_lstm_int8() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    check_model("intent-lstm", "snips-intents", &["QMatMul", "LSTM", "Gather"]);
    let q = int8("intent-lstm", "snips-intents", 20, None);
    let lstm = q.graph.ops.iter().find(|o| o.code == ferrite_runtime::ops::OpCode::Lstm).unwrap();
    assert_eq!(q.graph.tensors[lstm.inputs[1].unwrap()].dtype, DType::I8, "int8 W");
}

#[test]
fn kws_crnn_int8() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    // Per-frame convolutions in int8 and the GRU with int8 W/R and f32 gates.
    check_model("kws-crnn", "fsdd", &["QConv", "GRU", "QMatMul"]);
}

#[test]
fn intent_transformer_int8() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    // Embedding, the Q/K/V, output and feed-forward products in int8; attention products, LayerNorm,
    // Softmax and GELU in f32 (reported as float layers with the reason).
    check_model("intent-transformer", "snips-intents", &["QMatMul", "Gather", "LayerNorm", "Softmax"]);
}

#[test]
fn accuracy_budget_keeps_noisy_layers_in_fp16() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let all = int8("kws-dscnn", "fsdd", 20, None);
    // Every int8 layer has its own SQNR (only it in int8) besides the accumulated one.
    assert!(all.layers.iter().all(|l| l.sqnr_isolated_db.is_some()), "{:?}", all.layers);
    let worst = all.layers.iter().filter_map(|l| l.sqnr_isolated_db).fold(f64::INFINITY, f64::min);
    // A budget above the worst layer's own SQNR moves that layer (and only layers under the
    // budget) to fp16, and says why.
    let budget = worst + 0.5;
    let q = int8("kws-dscnn", "fsdd", 20, Some(budget));
    let kept: Vec<_> = q.layers.iter().filter(|l| l.precision == "float").collect();
    assert!(!kept.is_empty() && kept.len() < q.layers.len(), "{:?}", q.layers);
    assert!(kept.iter().all(|l| l.reason.as_deref().unwrap().contains("--accuracy-budget")));
    assert!(kept.iter().all(|l| l.sqnr_isolated_db.unwrap() < budget), "{kept:?}");
    let int8: Vec<_> = q.layers.iter().filter(|l| l.precision == "int8").collect();
    assert!(int8.iter().all(|l| l.sqnr_isolated_db.unwrap() >= budget), "{int8:?}");
    assert!(q.f16_tensors > 0, "kept layers store fp16 weights");
    assert!(kept.iter().all(|l| l.bytes < l.bytes_f32 && l.sqnr_db.is_some()), "{kept:?}");
}

#[test]
fn corrupt_requantization_is_an_error_not_a_panic() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let q = int8("kws-dscnn", "fsdd", 10, None);
    let bytes = AlignedBytes::copy_from(&q.bytes);
    let model = Model::from_bytes(&bytes).unwrap();
    let art = model.artifact();
    let (idx, _) = model.tensors().find(|(t, _)| t.name.ends_with(".requant")).unwrap();
    let rec = art.tensors.get(idx.index as usize).unwrap();
    let weights_at = art.weights.as_ptr() as usize - bytes.as_ptr() as usize;
    let mut bad = q.bytes.clone();
    // The first channel's shift becomes 99: the file still loads (it is weight data); preparing the
    // op for a session (once, before any run) refuses it.
    let at = weights_at + rec.offset.get() as usize + 4;
    bad[at..at + 4].copy_from_slice(&99i32.to_le_bytes());
    let bad = AlignedBytes::copy_from(&bad);
    let m = Model::from_bytes_with(&bad, LoadOptions { verify_checksum: false, ..Default::default() }).unwrap();
    let e = Session::new(&m).err().expect("refused");
    assert!(e.to_string().contains("requantization"), "{e}");
}

#[test]
fn altered_row_sums_are_refused_by_the_session() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let q = int8("kws-dscnn", "fsdd", 10, None);
    let bytes = AlignedBytes::copy_from(&q.bytes);
    let model = Model::from_bytes(&bytes).unwrap();
    let art = model.artifact();
    let (idx, _) = model.tensors().find(|(t, _)| t.info.layout == ferrite_runtime::format::Layout::K4N16).unwrap();
    let rec = art.tensors.get(idx.index as usize).unwrap();
    let weights_at = art.weights.as_ptr() as usize - bytes.as_ptr() as usize;
    let mut bad = q.bytes.clone();
    // The last stored row sum (the end of the tensor's bytes) off by one.
    let at = weights_at + (rec.offset.get() + rec.byte_len.get()) as usize - 4;
    let v = i32::from_le_bytes(bad[at..at + 4].try_into().unwrap());
    bad[at..at + 4].copy_from_slice(&(v + 1).to_le_bytes());
    let bad = AlignedBytes::copy_from(&bad);
    let m = Model::from_bytes_with(&bad, LoadOptions { verify_checksum: false, ..Default::default() }).unwrap();
    let e = Session::new(&m).err().expect("refused");
    assert!(e.to_string().contains("row sum"), "{e}");
}

/// Collects every number of a JSON value as the reports print it.
fn numbers(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(n) => out.push(match n.as_u64() {
            Some(u) => u.to_string(),
            None => format!("{:.2}", n.as_f64().unwrap()),
        }),
        serde_json::Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| numbers(x, out)),
        _ => {}
    }
}

#[test]
fn html_reports_are_well_formed_and_hold_every_figure() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let q = int8("kws-dscnn", "fsdd", 20, None);
    let bytes = AlignedBytes::copy_from(&q.bytes);
    let meta: serde_json::Value = serde_json::from_str(Model::from_bytes(&bytes).unwrap().metadata()).unwrap();
    let a = audit_of(&bytes, &trained_artifact("kws-dscnn", Precision::F32), "fsdd");
    let pages = [
        (ferrite_quantizer::report::quantize_html(&meta), meta["model_card"]["quantization"]["layers"].clone()),
        (ferrite_quantizer::report::eval_html(&a, &meta), serde_json::to_value(&a).unwrap()),
    ];
    for (html, json) in pages {
        let opts = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
        let doc =
            roxmltree::Document::parse_with_options(&html, opts).unwrap_or_else(|e| panic!("not well-formed: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "html");
        assert!(doc.descendants().any(|n| n.tag_name().name() == "svg"), "inline SVG");
        assert!(!html.contains("src=") && !html.contains("href="), "no external assets");
        let text: String =
            doc.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect::<Vec<_>>().join(" ");
        let mut figs = Vec::new();
        numbers(&json, &mut figs);
        assert!(figs.len() > 10);
        for f in figs {
            assert!(text.contains(&f), "figure {f} missing from the page");
        }
    }
    // A flagged slice is highlighted: fabricate one by comparing the model with a worse one.
    let mut worse = a.clone();
    worse.slices[0].flagged = true;
    worse.flagged = 1;
    let html = ferrite_quantizer::report::eval_html(&worse, &meta);
    assert!(html.contains("<tr class=\"flag\">"));
}
