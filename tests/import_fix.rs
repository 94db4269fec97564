//! Inputs described and frozen at import (`--input-shape NAME=scalar`, `--fix`), and `If` removed:
//! a known condition keeps its branch, a data-dependent one runs both and selects. Models as
//! Silero VAD and openWakeWord ship them (docs/REAL_MODELS.md).

use ferrite_e2e::{ferrite_run, rel_l2, tract_run, OnnxBuilder, Rng, Value};
use ferrite_quantizer::import::FixedValue;
use ferrite_quantizer::quantize::{quantize, QuantizeOptions};
use ferrite_runtime::AlignedBytes;

/// `y = If(sr == 16000, relu(x), -x)`, with a Pad in the then-branch as Silero's STFT has.
fn if_on_sample_rate() -> OnnxBuilder {
    let mut then_b = OnnxBuilder::new(13);
    then_b.init_i64("p", &[4], vec![0, 1, 0, 1]).node("Pad", &["x", "p"], &["t0"], vec![]);
    then_b.node("Relu", &["t0"], &["t"], vec![]).output("t");
    let mut else_b = OnnxBuilder::new(13);
    else_b.init_i64("p", &[4], vec![0, 2, 0, 0]).node("Pad", &["x", "p"], &["e0"], vec![]);
    else_b.node("Neg", &["e0"], &["e"], vec![]).output("e");
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 4]).input_i64("sr", &[]).init_i64("k", &[], vec![16000]);
    b.node("Equal", &["sr", "k"], &["c"], vec![]).if_node("c", "y", then_b.graph(), else_b.graph());
    b.output("y");
    b
}

fn convert(path: &std::path::Path, fixed: Vec<(String, FixedValue)>) -> ferrite_quantizer::Result<AlignedBytes> {
    let mut opts = QuantizeOptions::default();
    opts.import.fixed = fixed;
    Ok(AlignedBytes::copy_from(&quantize(path, &opts)?.bytes))
}

#[test]
fn a_fixed_sample_rate_folds_the_if_into_its_branch() {
    let dir = tempfile::tempdir().unwrap();
    let path = if_on_sample_rate().save(dir.path(), "if_sr");
    let mut r = Rng::new(5);
    let x = r.vec(4, -1.0, 1.0);
    for (sr, want_relu) in [(16000.0, true), (8000.0, false)] {
        let art = convert(&path, vec![("sr".into(), FixedValue::Scalar(sr))]).unwrap();
        let got = ferrite_run(&art, &[Value::F32(vec![1, 4], x.clone())]);
        let want = tract_run(&path, &[Value::F32(vec![1, 4], x.clone()), Value::I64(vec![], vec![sr as i64])]);
        assert!(rel_l2(&got[0], &want[0]) < 1e-6, "sr {sr}: {got:?} vs {want:?}");
        assert_eq!(got[0].len(), 6);
        let expect: Vec<f32> = if want_relu {
            [0.0].into_iter().chain(x.iter().map(|v| v.max(0.0))).chain([0.0]).collect()
        } else {
            [0.0, 0.0].into_iter().chain(x.iter().map(|v| -v)).collect()
        };
        assert_eq!(got[0], expect);
        let model = ferrite_runtime::Model::from_bytes(&art).unwrap();
        assert_eq!(model.inputs().count(), 1, "sr is no longer an input");
        let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap();
        assert_eq!(meta["model_card"]["import"]["fixed_inputs"]["sr"], sr);
        assert_eq!(meta["model_card"]["import"]["if_branches_taken"], 1);
    }
}

#[test]
fn without_fix_the_if_on_an_input_is_selected_at_run_time() {
    // The condition is a bool input: both branches run and Where picks (their shapes agree).
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 4]).input_bool("c", &[]);
    b.if_node("c", "y", OnnxBuilder::branch("Relu", "x", "t"), OnnxBuilder::branch("Neg", "x", "e"));
    b.output("y");
    let path = b.save(dir.path(), "if_select");
    let art = convert(&path, vec![]).unwrap();
    let model = ferrite_runtime::Model::from_bytes(&art).unwrap();
    let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap();
    assert_eq!(meta["model_card"]["import"]["if_both_branches_selected"], 1);
    let x = vec![-1.0, 2.0, -3.0, 4.0];
    for (c, want) in [(1u8, vec![0.0, 2.0, 0.0, 4.0]), (0, vec![1.0, -2.0, 3.0, -4.0])] {
        let mut s = ferrite_runtime::Session::new(&model).unwrap();
        let out = s.run(&[ferrite_runtime::Input::F32(&x), ferrite_runtime::Input::U8(&[c])]).unwrap();
        assert_eq!(out.f32(0).unwrap(), &want[..], "c = {c}");
    }
}

#[test]
fn fix_errors_name_the_input_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = if_on_sample_rate().save(dir.path(), "if_sr");
    let cases = [
        (("nope", FixedValue::Scalar(1.0)), "no such input"),
        (("sr", FixedValue::Scalar(0.5)), "integer"),
        (("sr", FixedValue::Array { shape: vec![2], values: vec![1.0, 2.0] }), "does not fit"),
    ];
    for ((name, v), want) in cases {
        let e = convert(&path, vec![(name.into(), v)]).err().expect("refused").to_string();
        assert!(e.contains(name) && e.contains(want), "{e}");
    }
}

#[test]
fn declared_symbolic_output_dims_do_not_block_a_fixed_batch() {
    // A file that declares its output as [batch, 4]: the batch chosen (1) must not clash.
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[-1, 4]).node("Relu", &["x"], &["y"], vec![]).output("y");
    let mut m = b.build();
    let g = m.graph.as_mut().unwrap();
    g.output[0] = g.input[0].clone();
    g.output[0].name = "y".into();
    let path = dir.path().join("sym.onnx");
    std::fs::write(&path, prost::Message::encode_to_vec(&m)).unwrap();
    convert(&path, vec![]).unwrap();
}
