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
            calib: calib.to_owned(),
            method: Method::MinMax,
            samples: 200,
            accuracy_budget_db: None,
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
