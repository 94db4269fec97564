//! int8 calibration groundwork (issue 4): the calibration set is read from `.npy` folders or through
//! the artifact's own preprocessing (training split), and every tensor's range is observed.

use ferrite_e2e::{shared_data, trained_artifact};
use ferrite_quantizer::calibrate::{load_calibration, observe_ranges, CalibInput, Method};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::Model;

#[test]
fn ranges_from_real_audio_and_text() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let art = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let set = load_calibration(&model, &shared_data().join("fsdd"), 20).unwrap();
    assert_eq!(set.len(), 20);
    assert!(matches!(&set[0], CalibInput::F32(v) if v.len() == 490));
    let mut calls = 0;
    let ranges = observe_ranges(&model, &set, Method::MinMax, |done, total| {
        calls += 1;
        assert!(done <= total && total == 40);
    })
    .unwrap();
    assert_eq!(calls, 40);
    // Reshapes are aliases (no op): they are observed with the tensor they view.
    let aliases = model.tensors().filter(|(_, s)| *s == ferrite_runtime::format::Storage::Alias).count();
    assert!(aliases >= 1, "kws-dscnn's Flatten is an alias");
    assert_eq!(ranges.len(), model.ops().count() + 1 + aliases, "one range per op output, alias and graph input");
    assert!(ranges.contains_key("features"));
    for (name, (lo, hi)) in &ranges {
        assert!(*lo <= 0.0 && *hi >= 0.0 && lo < hi, "{name}: {lo}..{hi}");
    }
    // Percentile ranges are never wider than min/max.
    let narrow = observe_ranges(&model, &set, Method::Percentile(0.999), |_, _| {}).unwrap();
    for (name, (lo, hi)) in &narrow {
        let (l, h) = ranges[name];
        assert!(*lo >= l && *hi <= h, "{name}");
    }

    let art = trained_artifact("intent-lstm", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let set = load_calibration(&model, &shared_data().join("snips-intents"), 50).unwrap();
    assert!(matches!(&set[0], CalibInput::I32(v) if v.len() == 32));
    let ranges = observe_ranges(&model, &set, Method::Mse, |_, _| {}).unwrap();
    assert!(!ranges.is_empty());
}

#[test]
fn bad_calibration_data_is_a_clear_error() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let art = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&art).unwrap();
    let msg = |p: &std::path::Path| load_calibration(&model, p, 10).unwrap_err().to_string();
    // Empty folder, missing folder, wrong shape, wrong kind of data.
    assert!(msg(dir.path()).contains("the folder is empty"), "{}", msg(dir.path()));
    assert!(msg(&dir.path().join("missing")).contains("missing"));
    let npy = dir.path().join("x.npy");
    std::fs::write(&npy, ferrite_quantizer::npy::encode_f32(&[1, 49, 10], &[0.0; 490])).unwrap();
    assert!(msg(dir.path()).contains("does not match input features"), "{}", msg(dir.path()));
    std::fs::write(&npy, ferrite_quantizer::npy::encode_f32(&[1, 1, 49, 10], &[0.0; 490])).unwrap();
    assert_eq!(load_calibration(&model, dir.path(), 10).unwrap().len(), 1);
    let m = msg(&shared_data().join("snips-intents"));
    assert!(m.contains("does not fit the artifact's preprocessing"), "{m}");
}

#[test]
fn a_model_with_several_inputs_calibrates_on_one_folder_per_example() {
    // A stateful layer as voice activity detectors have: y = tanh(x·W + state), both inputs f32.
    use ferrite_e2e::{OnnxBuilder, Rng};
    use ferrite_quantizer::quantize::{quantize, Int8Options, QuantizeOptions};
    let mut r = Rng::new(40);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 8]).input("state", &[1, 4]).init("w", &[8, 4], r.vec(32, -0.5, 0.5));
    b.node("MatMul", &["x", "w"], &["h"], vec![]).node("Add", &["h", "state"], &["s"], vec![]);
    b.node("Tanh", &["s"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "stateful");
    let calib = dir.path().join("calib");
    for k in 0..6 {
        let ex = calib.join(format!("{k:03}"));
        std::fs::create_dir_all(&ex).unwrap();
        std::fs::write(ex.join("x.npy"), ferrite_quantizer::npy::encode_f32(&[1, 8], &r.vec(8, -1.0, 1.0))).unwrap();
        std::fs::write(ex.join("state.npy"), ferrite_quantizer::npy::encode_f32(&[1, 4], &r.vec(4, -1.0, 1.0)))
            .unwrap();
    }
    let opts = |calib: &std::path::Path| QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options {
            calib: Some(calib.to_owned()),
            method: Method::MinMax,
            samples: 200,
            accuracy_budget_db: None,
            dynamic: false,
        }),
        ..Default::default()
    };
    let q = quantize(&model, &opts(&calib)).unwrap();
    let bytes = ferrite_runtime::AlignedBytes::copy_from(&q.bytes);
    let m = Model::from_bytes(&bytes).unwrap();
    assert!(m.ops().any(|o| o.code == ferrite_runtime::ops::OpCode::QMatMul), "the MatMul is int8");
    // The calibration set's example count is recorded: all six, both inputs each.
    assert!(q.metadata.to_string().contains("/6"), "{}", q.metadata);
    // A flat folder of .npy files does not say which file is which input.
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    std::fs::write(flat.join("0.npy"), ferrite_quantizer::npy::encode_f32(&[1, 8], &[0.0; 8])).unwrap();
    let e = quantize(&model, &opts(&flat)).unwrap_err().to_string();
    assert!(e.contains("one folder per example") && e.contains("state.npy"), "{e}");
    // A missing input file names it.
    std::fs::remove_file(calib.join("003/state.npy")).unwrap();
    let e = quantize(&model, &opts(&calib)).unwrap_err().to_string();
    assert!(e.contains("003") && e.contains("state.npy"), "{e}");
}

#[test]
fn a_layer_before_a_log_or_a_square_root_stays_float() {
    for op in ["Log", "Sqrt"] {
        layer_before(op);
    }
}

fn layer_before(op: &str) {
    // A mel filterbank before log(x + 1e-6), as speech front ends end: in int8 the smallest
    // energies round to zero (the guard is far below one step) and the log gives -inf.
    use ferrite_e2e::{OnnxBuilder, Rng};
    use ferrite_quantizer::quantize::{quantize, Int8Options, QuantizeOptions};
    let mut r = Rng::new(41);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    let fb: Vec<f32> = (0..64 * 8).map(|_| r.uniform(0.0, 0.05)).collect();
    b.input("power", &[4, 64]).init("fb", &[64, 8], fb).init("w2", &[8, 3], r.vec(24, -1.0, 1.0)).init(
        "g",
        &[],
        vec![1e-6],
    );
    b.node("MatMul", &["power", "fb"], &["mel"], vec![]).node("Add", &["mel", "g"], &["m"], vec![]);
    b.node(op, &["m"], &["logmel"], vec![]).node("MatMul", &["logmel", "w2"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "logmel");
    let calib = dir.path().join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    for k in 0..8 {
        // Powers spanning six decades, zeros included (silence).
        let v: Vec<f32> = (0..256).map(|i| if i % 17 == 0 { 0.0 } else { 10f32.powf(r.uniform(-6.0, 0.0)) }).collect();
        std::fs::write(calib.join(format!("{k}.npy")), ferrite_quantizer::npy::encode_f32(&[4, 64], &v)).unwrap();
    }
    let opts = QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options { calib: Some(calib), ..Default::default() }),
        ..Default::default()
    };
    let q = quantize(&model, &opts).unwrap();
    let layers = q.metadata["model_card"]["quantization"]["layers"].as_array().unwrap().clone();
    let fb_layer = layers.iter().find(|l| l["name"] == "MatMul_0").expect("the filterbank layer");
    assert_ne!(fb_layer["precision"], "int8", "{fb_layer}");
    assert!(fb_layer["reason"].as_str().unwrap().contains("feeds a log or a square root"), "{op}: {fb_layer}");
    let after = layers.iter().find(|l| l["name"] == "MatMul_3").expect("the layer after the log");
    assert_eq!(after["precision"], "int8", "only what feeds the log stays float: {after}");
    // Every SQNR is finite: nothing became -inf.
    for l in &layers {
        assert!(l["sqnr_db"].as_f64().is_some_and(|v| v > 20.0), "{l}");
    }
}

#[test]
fn a_qdq_model_converts_to_int8_with_its_own_scales_and_no_calibration() {
    // ONNX Runtime's static quantization of a two-layer MLP: QuantizeLinear/DequantizeLinear
    // around each MatMul, int8 weights (per tensor, zero point 0), uint8 activations.
    use ferrite_e2e::{ferrite_run, tract_run, OnnxBuilder, Rng, Value};
    use ferrite_quantizer::quantize::{quantize, Int8Options, QuantizeOptions};
    let mut r = Rng::new(42);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    let wq = |r: &mut Rng, n: usize| (0..n).map(|_| r.below(255) as i32 - 127).collect::<Vec<i32>>();
    b.input("x", &[4, 16]).init("s0", &[], vec![0.01]).init_q("z0", &[], vec![128], false);
    b.init_q("w1q", &[16, 8], wq(&mut r, 128), true).init("sw1", &[], vec![0.004]).init_q("zw", &[], vec![0], true);
    b.init("s1", &[], vec![0.02]).init_q("z1", &[], vec![120], false);
    b.init_q("w2q", &[8, 4], wq(&mut r, 32), true).init("sw2", &[], vec![0.01]);
    b.init("s2", &[], vec![0.03]).init_q("z2", &[], vec![128], false);
    b.node("QuantizeLinear", &["x", "s0", "z0"], &["xq"], vec![]).node(
        "DequantizeLinear",
        &["xq", "s0", "z0"],
        &["xd"],
        vec![],
    );
    b.node("DequantizeLinear", &["w1q", "sw1", "zw"], &["w1"], vec![]).node("MatMul", &["xd", "w1"], &["h"], vec![]);
    b.node("QuantizeLinear", &["h", "s1", "z1"], &["hq"], vec![]).node(
        "DequantizeLinear",
        &["hq", "s1", "z1"],
        &["hd"],
        vec![],
    );
    b.node("DequantizeLinear", &["w2q", "sw2", "zw"], &["w2"], vec![]).node("MatMul", &["hd", "w2"], &["y"], vec![]);
    b.node("QuantizeLinear", &["y", "s2", "z2"], &["yq"], vec![]).node(
        "DequantizeLinear",
        &["yq", "s2", "z2"],
        &["out"],
        vec![],
    );
    b.output("out");
    let model = b.save(dir.path(), "qdq_mlp");
    let int8 =
        Int8Options { calib: None, method: Method::MinMax, samples: 200, accuracy_budget_db: None, dynamic: false };
    let q = quantize(&model, &QuantizeOptions { precision: Precision::Int8, int8: Some(int8), ..Default::default() })
        .unwrap();
    let bytes = ferrite_runtime::AlignedBytes::copy_from(&q.bytes);
    let m = Model::from_bytes(&bytes).unwrap();
    let qmm = m.ops().filter(|o| o.code == ferrite_runtime::ops::OpCode::QMatMul).count();
    assert_eq!(qmm, 2, "both MatMuls run in int8");
    assert_eq!(q.metadata["model_card"]["quantization"]["model_scales"], 3);
    // Within one step of the output's scale of the model run as written (tract executes the QDQ
    // nodes in f32; the rounding of ties and of the f32 sums may differ by one step).
    for _ in 0..5 {
        let x = Value::F32(vec![4, 16], r.vec(64, -1.0, 1.0));
        let got = ferrite_run(&bytes, std::slice::from_ref(&x));
        let want = tract_run(&model, &[x]);
        let worst = got[0].iter().zip(&want[0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 0.03 * 1.001, "largest difference {worst}, one step is 0.03");
    }
    // Not a QDQ model and no --calib: a clear error.
    let mut f = OnnxBuilder::new(13);
    f.input("x", &[1, 4])
        .init("w", &[4, 2], r.vec(8, -1.0, 1.0))
        .node("MatMul", &["x", "w"], &["y"], vec![])
        .output("y");
    let plain = f.save(dir.path(), "plain");
    let int8 =
        Int8Options { calib: None, method: Method::MinMax, samples: 200, accuracy_budget_db: None, dynamic: false };
    let e = quantize(&plain, &QuantizeOptions { precision: Precision::Int8, int8: Some(int8), ..Default::default() })
        .unwrap_err();
    assert!(e.to_string().contains("--calib") && e.to_string().contains("QDQ"), "{e}");
}

#[test]
fn qoperator_nodes_run_as_their_qdq_form_in_f32_and_int8() {
    // ONNX Runtime's QOperator format: QLinearConv (with an int32 bias) then QLinearMatMul, between
    // a QuantizeLinear of the input and a DequantizeLinear of the output.
    use ferrite_e2e::{ferrite_run, tract_run, OnnxBuilder, Rng, Value};
    use ferrite_quantizer::quantize::{quantize, Int8Options, QuantizeOptions};
    let mut r = Rng::new(43);
    let dir = tempfile::tempdir().unwrap();
    let ints = |r: &mut Rng, n: usize, span: u64| {
        (0..n).map(|_| r.below(2 * span + 1) as i32 - span as i32).collect::<Vec<i32>>()
    };
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 2, 6]).init("sx", &[], vec![0.02]).init_q("zx", &[], vec![128], false);
    b.init_q("wc", &[3, 2, 3], ints(&mut r, 18, 127), true).init("swc", &[], vec![0.005]).init_q(
        "zw",
        &[],
        vec![0],
        true,
    );
    b.init("sc", &[], vec![0.01]).init_q("zc", &[], vec![100], false);
    b.graph_mut().initializer.push(tract_onnx::pb::TensorProto {
        name: "bc".into(),
        dims: vec![3],
        data_type: 6,
        int32_data: ints(&mut r, 3, 300),
        ..Default::default()
    });
    b.init_q("wm", &[4, 5], ints(&mut r, 20, 127), true).init("swm", &[], vec![0.01]);
    b.init("sy", &[], vec![0.02]).init_q("zy", &[], vec![128], false);
    b.node("QuantizeLinear", &["x", "sx", "zx"], &["xq"], vec![]);
    b.node("QLinearConv", &["xq", "sx", "zx", "wc", "swc", "zw", "sc", "zc", "bc"], &["cq"], vec![]);
    b.node("QLinearMatMul", &["cq", "sc", "zc", "wm", "swm", "zw", "sy", "zy"], &["yq"], vec![]);
    b.node("DequantizeLinear", &["yq", "sy", "zy"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "qop");
    for int8 in [
        None,
        Some(Int8Options {
            calib: None,
            method: Method::MinMax,
            samples: 200,
            accuracy_budget_db: None,
            dynamic: false,
        }),
    ] {
        let precision = if int8.is_some() { Precision::Int8 } else { Precision::F32 };
        let q = quantize(&model, &QuantizeOptions { precision, int8, ..Default::default() }).unwrap();
        let bytes = ferrite_runtime::AlignedBytes::copy_from(&q.bytes);
        for _ in 0..4 {
            let x = Value::F32(vec![1, 2, 6], r.vec(12, -1.0, 1.0));
            let got = ferrite_run(&bytes, std::slice::from_ref(&x));
            let want = tract_run(&model, &[x]);
            let worst = got[0].iter().zip(&want[0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            // One step of the output's scale per layer (tract computes in integers, ties to even).
            assert!(worst <= 2.0 * 0.02 * 1.001, "{precision:?}: largest difference {worst}, one step is 0.02");
        }
    }
}

/// Converts `model` to int8 on eight calibration inputs `make` draws and returns its layer table.
fn int8_layers(model: &std::path::Path, shape: &[usize], make: &mut dyn FnMut() -> Vec<f32>) -> Vec<serde_json::Value> {
    use ferrite_quantizer::quantize::{quantize, Int8Options, QuantizeOptions};
    let calib = model.with_extension("calib");
    std::fs::create_dir_all(&calib).unwrap();
    for k in 0..8 {
        std::fs::write(calib.join(format!("{k}.npy")), ferrite_quantizer::npy::encode_f32(shape, &make())).unwrap();
    }
    let opts = QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options { calib: Some(calib), ..Default::default() }),
        ..Default::default()
    };
    let q = quantize(model, &opts).unwrap();
    q.metadata["model_card"]["quantization"]["layers"].as_array().unwrap().clone()
}

#[test]
fn the_log_rule_follows_a_power_spectrum_through_its_sum_and_a_filterbank() {
    // Kaldi's and NeMo's front ends: a DFT (signed weights), re² + im² summed, a mel filterbank
    // (weights ≥ 0), a log. The DFT's smallest outputs are what the log magnifies, two ops away.
    use ferrite_e2e::{Attr, OnnxBuilder, Rng};
    let mut r = Rng::new(43);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("frames", &[4, 64]).init("dft", &[64, 16], r.vec(64 * 16, -1.0, 1.0));
    b.init("fb", &[8, 4], r.vec(32, 0.0, 0.5)).init("g", &[], vec![1e-6]).init("w2", &[4, 3], r.vec(12, -1.0, 1.0));
    b.init_i64("pairs", &[3], vec![4, 8, 2]).init_i64("axis", &[1], vec![2]);
    b.node("MatMul", &["frames", "dft"], &["spec"], vec![]).node("Mul", &["spec", "spec"], &["sq"], vec![]);
    b.node("Reshape", &["sq", "pairs"], &["reim"], vec![]);
    b.node("ReduceSum", &["reim", "axis"], &["power"], vec![("keepdims", Attr::I(0))]);
    b.node("MatMul", &["power", "fb"], &["mel"], vec![]).node("Add", &["mel", "g"], &["m"], vec![]);
    b.node("Log", &["m"], &["logmel"], vec![]).node("MatMul", &["logmel", "w2"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "power");
    let layers = int8_layers(&model, &[4, 64], &mut || r.vec(256, -1.0, 1.0));
    let precision: Vec<&str> = layers.iter().map(|l| l["precision"].as_str().unwrap()).collect();
    assert_eq!(precision, ["float", "float", "int8"], "DFT, filterbank, the layer after the log: {layers:?}");
    assert!(layers[0]["reason"].as_str().unwrap().contains("feeds a log"), "{}", layers[0]);
}

#[test]
fn the_log_rule_stops_at_a_normalisation_and_at_a_signed_layer() {
    // RMS normalisation (a mean of squares before its square root) and a signed layer between a
    // layer and a log: neither carries the rule back, so the first layer stays int8.
    use ferrite_e2e::{Attr, OnnxBuilder, Rng};
    let mut r = Rng::new(47);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[4, 16]).init("w1", &[16, 16], r.vec(256, -1.0, 1.0)).init("w2", &[16, 8], r.vec(128, -1.0, 1.0));
    b.init("eps", &[], vec![1e-5]).init("one", &[], vec![1.0]).init("w3", &[8, 3], r.vec(24, -1.0, 1.0));
    b.node("MatMul", &["x", "w1"], &["h"], vec![]).node("Mul", &["h", "h"], &["h2"], vec![]);
    b.node("ReduceMean", &["h2"], &["ms"], vec![("axes", Attr::Is(vec![1]))]).node(
        "Add",
        &["ms", "eps"],
        &["mse"],
        vec![],
    );
    b.node("Sqrt", &["mse"], &["rms"], vec![]).node("Div", &["h", "rms"], &["n"], vec![]);
    b.node("MatMul", &["n", "w2"], &["s"], vec![]).node("Mul", &["s", "s"], &["s2"], vec![]);
    b.node("Add", &["s2", "one"], &["s3"], vec![]).node("Log", &["s3"], &["l"], vec![]);
    b.node("MatMul", &["l", "w3"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "norm");
    let layers = int8_layers(&model, &[4, 16], &mut || r.vec(64, -1.0, 1.0));
    let precision: Vec<&str> = layers.iter().map(|l| l["precision"].as_str().unwrap()).collect();
    assert_eq!(precision, ["int8", "float", "int8"], "{layers:?}");
}

#[test]
fn a_layer_with_a_leaky_relu_runs_in_int8_with_the_activation_after_it() {
    // openWakeWord's speech embedding: Conv + LeakyRelu(0.2) throughout. int8 cannot clamp a leaky
    // ReLU, so the product writes its pre-activation (range: the output's, negative side / slope)
    // and the activation follows in f32; the layers stay int8.
    use ferrite_e2e::{Attr, OnnxBuilder, Rng};
    let mut r = Rng::new(53);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 2, 12, 12]).init("w1", &[8, 2, 3, 3], r.vec(144, -0.5, 0.5)).init(
        "b1",
        &[8],
        r.vec(8, -0.1, 0.1),
    );
    b.init("w2", &[4, 8, 3, 3], r.vec(288, -0.3, 0.3));
    b.node("Conv", &["x", "w1", "b1"], &["c1"], vec![]).node(
        "LeakyRelu",
        &["c1"],
        &["a1"],
        vec![("alpha", Attr::F(0.2))],
    );
    b.node("Conv", &["a1", "w2"], &["c2"], vec![]).node("LeakyRelu", &["c2"], &["y"], vec![("alpha", Attr::F(0.2))]);
    b.output("y");
    let model = b.save(dir.path(), "leaky");
    let layers = int8_layers(&model, &[1, 2, 12, 12], &mut || r.vec(288, -1.0, 1.0));
    assert_eq!(layers.len(), 2);
    for l in &layers {
        assert_eq!(l["precision"], "int8", "{l}");
        // Measured after the activation, against the f32 model's output of the layer.
        assert!(l["sqnr_db"].as_f64().is_some_and(|v| v > 30.0), "{l}");
    }
}

#[test]
fn a_dynamically_quantized_model_converts_to_int8_with_its_own_weights() {
    // What ONNX Runtime's quantize_dynamic writes for a MatMul: the input quantized at run time
    // (DynamicQuantizeLinear), MatMulInteger with int8 weights, the product cast to float and
    // scaled by x_scale · w_scale. For int8 the importer reads it as the float MatMul on the
    // weights through DequantizeLinear: the weights' own scale is kept (so their own integers),
    // and the activations, which the model quantized at run time, are calibrated.
    use ferrite_e2e::{OnnxBuilder, Rng};
    use ferrite_quantizer::import::{import_onnx, ImportOptions};
    use ferrite_quantizer::quantize::{quantize, Int8Options, QuantizeOptions};
    let mut r = Rng::new(44);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    let wq: Vec<i32> = (0..128).map(|_| r.below(121) as i32 - 60).collect(); // |w| <= 60 < 127
    b.input("x", &[4, 16]).init_q("wq", &[16, 8], wq.clone(), true).init("ws", &[], vec![0.004]);
    b.init_q("wz", &[], vec![0], true);
    b.node("DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"], vec![]);
    b.node("MatMulInteger", &["xq", "wq", "xz", "wz"], &["yi"], vec![]);
    b.node("Cast", &["yi"], &["yf"], vec![("to", ferrite_e2e::Attr::I(1))]);
    b.node("Mul", &["xs", "ws"], &["s"], vec![]).node("Mul", &["yf", "s"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "dynamic");
    let weights_only = ImportOptions { dynamic_as_weights: true, ..Default::default() };
    let imported = import_onnx(&model, &weights_only).unwrap();
    assert_eq!(imported.model_weight_scales.values().copied().collect::<Vec<f32>>(), vec![0.004], "the weights' scale");
    assert!(imported.model_ranges.is_empty(), "no activation scales: they are computed at run time");
    // Without a calibration set: a clear error that says why.
    let no_calib =
        Int8Options { calib: None, method: Method::MinMax, samples: 200, accuracy_budget_db: None, dynamic: false };
    let e =
        quantize(&model, &QuantizeOptions { precision: Precision::Int8, int8: Some(no_calib), ..Default::default() })
            .unwrap_err();
    assert!(e.to_string().contains("dynamically quantized"), "{e}");
    let layers = int8_layers(&model, &[4, 16], &mut || r.vec(64, -1.0, 1.0));
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["precision"], "int8", "{}", layers[0]);
    // Against the float MatMul on the dequantized weights (what the layer stands for).
    assert!(layers[0]["sqnr_db"].as_f64().is_some_and(|v| v > 30.0), "{}", layers[0]);
}

#[test]
fn values_the_conversion_changes_are_said_in_the_model_card() {
    // Issue 13: a bias too large for the i32 accumulator's 2^30 steps is clamped, and an output
    // channel whose requantization multiplier is under 2^-32 can only give the zero point; neither
    // may happen silently.
    use ferrite_e2e::{OnnxBuilder, Rng};
    let mut r = Rng::new(45);
    let dir = tempfile::tempdir().unwrap();
    let gemm = |name: &str, w: Vec<f32>, bias: Vec<f32>| {
        let mut b = OnnxBuilder::new(13);
        b.input("x", &[4, 16]).init("w", &[16, 4], w).init("b", &[4], bias);
        b.node("Gemm", &["x", "w", "b"], &["y"], vec![]).output("y");
        b.save(dir.path(), name)
    };
    let changes_of = |layers: &[serde_json::Value]| -> Vec<String> {
        let c = layers[0]["changes"].as_array().cloned().unwrap_or_default();
        c.iter().map(|c| c.as_str().unwrap().to_string()).collect()
    };
    // Channel 3's weights are far below any useful scale: its output can only be the zero point.
    let mut w = r.vec(16 * 4, -1.0, 1.0);
    for k in 0..16 {
        w[k * 4 + 3] = 1e-30;
    }
    let tiny = gemm("tiny", w, vec![0.1, -0.2, 0.3, 0.0]);
    let layers = int8_layers(&tiny, &[4, 16], &mut || r.vec(64, -1.0, 1.0));
    assert_eq!(layers[0]["precision"], "int8");
    let changes = changes_of(&layers);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].starts_with("1 output channels give only the zero point"), "{changes:?}");
    // Channel 1's bias is about 10^13 accumulator steps: clamped (and the output range it sets
    // leaves the other channels under one step: said too).
    let huge = gemm("huge", r.vec(16 * 4, -1.0, 1.0), vec![0.1, 1e9, 0.3, 0.0]);
    let changes = changes_of(&int8_layers(&huge, &[4, 16], &mut || r.vec(64, -1.0, 1.0)));
    assert!(changes.iter().any(|c| c.starts_with("1 biases clamped")), "{changes:?}");
    // A model with nothing to change says nothing.
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[4, 16]).init("w", &[16, 4], r.vec(64, -1.0, 1.0)).node("MatMul", &["x", "w"], &["y"], vec![]);
    b.output("y");
    let plain = b.save(dir.path(), "plain");
    let layers = int8_layers(&plain, &[4, 16], &mut || r.vec(64, -1.0, 1.0));
    assert!(layers[0]["changes"].is_null(), "{}", layers[0]);
}
