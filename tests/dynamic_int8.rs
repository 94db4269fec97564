//! int8 with dynamic activations (`--activations dynamic`): MatMuls with constant weights become
//! `DynQMatMul`, which quantizes each input row with its own scale at run time. On activations
//! with outlier channels whose size changes from input to input (what transformer encoders have
//! after LayerNorm), it stays close to f32 where one calibrated scale per tensor does not.

use ferrite_e2e::{rel_l2, tract_run, OnnxBuilder, Rng, Value};
use ferrite_quantizer::quantize::{quantize, Int8Options, Precision, QuantizeOptions};
use ferrite_runtime::ops::{OpCode, UnaryFn};
use ferrite_runtime::{AlignedBytes, Input, Model, Session};
use std::path::Path;

const ROWS: usize = 8;
const K: usize = 48;

/// Input rows whose channel 0 is an outlier, 20 to 400 times the others, by input.
fn input(r: &mut Rng, i: usize) -> Vec<f32> {
    let big = [20.0, 400.0, 60.0, 150.0][i % 4];
    (0..ROWS * K).map(|j| if j % K == 0 { r.uniform(0.5, 1.0) * big } else { r.uniform(-1.0, 1.0) }).collect()
}

/// `n` inputs from [`input`] as .npy files in `dir/calib`.
fn calib_set(dir: &Path, r: &mut Rng, n: usize) -> std::path::PathBuf {
    let calib = dir.join("calib");
    std::fs::create_dir_all(&calib).unwrap();
    for i in 0..n {
        let bytes = ferrite_quantizer::npy::encode_f32(&[1, ROWS, K], &input(r, i));
        std::fs::write(calib.join(format!("{i}.npy")), bytes).unwrap();
    }
    calib
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
    let calib = calib_set(dir.path(), &mut r, 8);
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

/// A transformer's FFN block, `y = x + W2·GELU(W1·x + b1) + b2` with GELU written out as
/// exporters write it: with dynamic activations the whole block is two `DynQMatMul` ops, the
/// first carrying GELU, the second the residual (input 4), and it stays close to tract's f32.
/// `FERRITE_FUZZ_SEEDS=1` writes the artifact as a seed of the loader's fuzzer.
#[test]
fn an_ffn_block_with_gelu_and_residual_is_two_fused_ops() {
    let mut r = Rng::new(31);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, ROWS as i64, K as i64]);
    b.init("w1", &[K, 96], r.vec(K * 96, -0.3, 0.3)).init("b1", &[96], r.vec(96, -0.1, 0.1));
    b.init("w2", &[96, K], r.vec(96 * K, -0.3, 0.3)).init("b2", &[K], r.vec(K, -0.1, 0.1));
    b.init("sqrt2", &[], vec![std::f32::consts::SQRT_2]).init("one", &[], vec![1.0]).init("half", &[], vec![0.5]);
    b.node("MatMul", &["x", "w1"], &["h"], vec![]).node("Add", &["h", "b1"], &["hb"], vec![]);
    b.node("Div", &["hb", "sqrt2"], &["d"], vec![]).node("Erf", &["d"], &["e"], vec![]);
    b.node("Add", &["e", "one"], &["a"], vec![]).node("Mul", &["hb", "half"], &["hh"], vec![]);
    b.node("Mul", &["hh", "a"], &["g"], vec![]).node("MatMul", &["g", "w2"], &["o"], vec![]);
    b.node("Add", &["o", "b2"], &["ob"], vec![]).node("Add", &["x", "ob"], &["y"], vec![]).output("y");
    let model = b.save(dir.path(), "ffn_gelu");
    let calib = calib_set(dir.path(), &mut r, 4);
    let bytes = artifact(&model, &calib, true);
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        let seeds = ferrite_e2e::repo_root().join("runtime/fuzz/corpus/load");
        std::fs::write(seeds.join("tiny_dynq_gelu_residual.fer"), &bytes[..]).unwrap();
    }
    let m = Model::from_bytes(&bytes).unwrap();
    let words: Vec<u32> = m.artifact().attrs.iter().collect();
    let ops: Vec<(OpCode, usize, Vec<u32>)> = m
        .ops()
        .map(|o| {
            let (a0, n) = (o.record.attrs_start.get() as usize, o.record.attrs_len.get() as usize);
            (o.code, o.record.inputs_len.get() as usize, words[a0..a0 + n].to_vec())
        })
        .collect();
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert_eq!((ops[0].0, ops[0].2.first().copied()), (OpCode::DynQMatMul, Some(UnaryFn::GeluErf as u32)), "{ops:?}");
    assert_eq!((ops[1].0, ops[1].1, ops[1].2.len()), (OpCode::DynQMatMul, 5, 0), "residual as input 4: {ops:?}");
    let mut worst = 0f64;
    for _ in 0..6 {
        let x: Vec<f32> = r.vec(ROWS * K, -2.0, 2.0);
        let want = tract_run(&model, &[Value::F32(vec![1, ROWS, K], x.clone())]).remove(0);
        let mut s = Session::new(&m).unwrap();
        worst = worst.max(rel_l2(s.run(&[Input::F32(&x)]).unwrap().f32(0).unwrap(), &want));
    }
    eprintln!("FFN block with GELU and residual, dynamic int8 vs tract f32: worst relative L2 {worst:.4}");
    assert!(worst < 0.02, "{worst}");
}
