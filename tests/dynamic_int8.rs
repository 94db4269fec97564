//! int8 with dynamic activations (`--activations dynamic`): MatMuls with constant weights become
//! `DynQMatMul`, which quantizes each input row with its own scale at run time. On activations
//! with outlier channels whose size changes from input to input (what transformer encoders have
//! after LayerNorm), it stays close to f32 where one calibrated scale per tensor does not.

use ferrite_e2e::{rel_l2, tract_run, OnnxBuilder, Rng, Value};
use ferrite_quantizer::quantize::{quantize, Int8Options, Precision, QuantizeOptions};
use ferrite_runtime::ops::OpCode;
use ferrite_runtime::{AlignedBytes, Input, Model, Session};
use std::path::Path;

const ROWS: usize = 8;
const K: usize = 48;

/// Input rows whose channel 0 is an outlier, 20 to 400 times the others, by input.
fn input(r: &mut Rng, i: usize) -> Vec<f32> {
    let big = [20.0, 400.0, 60.0, 150.0][i % 4];
    (0..ROWS * K).map(|j| if j % K == 0 { r.uniform(0.5, 1.0) * big } else { r.uniform(-1.0, 1.0) }).collect()
}

fn artifact(model: &Path, calib: &Path, dynamic: bool) -> AlignedBytes {
    let opts = QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options { calib: Some(calib.to_owned()), dynamic, ..Default::default() }),
        ..Default::default()
    };
    AlignedBytes::copy_from(&quantize(model, &opts).unwrap().bytes)
}

#[test]
fn dynamic_activations_follow_outlier_channels_that_static_ranges_lose() {
    let mut r = Rng::new(30);
    let dir = tempfile::tempdir().unwrap();
    // Two linear layers with a ReLU (fused into the first) and a bias each, as an FFN block.
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, ROWS as i64, K as i64]);
    b.init("w1", &[K, 64], r.vec(K * 64, -0.3, 0.3)).init("b1", &[64], r.vec(64, -0.1, 0.1));
    b.init("w2", &[64, 16], r.vec(64 * 16, -0.3, 0.3)).init("b2", &[16], r.vec(16, -0.1, 0.1));
    b.node("MatMul", &["x", "w1"], &["h"], vec![]).node("Add", &["h", "b1"], &["hb"], vec![]);
    b.node("Relu", &["hb"], &["a"], vec![]).node("MatMul", &["a", "w2"], &["o"], vec![]);
    b.node("Add", &["o", "b2"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "ffn");
    let calib = dir.path().join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    for i in 0..8 {
        let bytes = ferrite_quantizer::npy::encode_f32(&[1, ROWS, K], &input(&mut r, i));
        std::fs::write(calib.join(format!("{i}.npy")), bytes).unwrap();
    }
    let dynamic = artifact(&model, &calib, true);
    let fixed = artifact(&model, &calib, false);
    let dm = Model::from_bytes(&dynamic).unwrap();
    let codes: Vec<OpCode> = dm.ops().map(|o| o.code).collect();
    assert_eq!(codes.iter().filter(|&&c| c == OpCode::DynQMatMul).count(), 2, "{codes:?}");
    assert!(!codes.contains(&OpCode::QMatMul) && !codes.contains(&OpCode::Quantize), "{codes:?}");
    let sm = Model::from_bytes(&fixed).unwrap();
    let (mut worst_dyn, mut worst_static) = (0f64, 0f64);
    for i in 0..12 {
        let x = input(&mut r, i + 1);
        let want = tract_run(&model, &[Value::F32(vec![1, ROWS, K], x.clone())]).remove(0);
        let run = |m: &Model<'_>| {
            let mut s = Session::new(m).unwrap();
            s.run(&[Input::F32(&x)]).unwrap().f32(0).unwrap().to_vec()
        };
        worst_dyn = worst_dyn.max(rel_l2(&run(&dm), &want));
        worst_static = worst_static.max(rel_l2(&run(&sm), &want));
    }
    eprintln!("relative L2 error, worst of 12 inputs: dynamic {worst_dyn:.4}, static {worst_static:.4}");
    assert!(worst_dyn < 0.02, "dynamic activations: {worst_dyn}");
    assert!(worst_dyn * 3.0 < worst_static, "dynamic {worst_dyn} should beat static {worst_static} clearly");
}
