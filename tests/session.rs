//! Sessions: ops prepared once against a kernel table; caller-provided buffers (the firmware
//! path, no allocation); forcing a kernel tier, and refusing one the CPU lacks.

use ferrite_e2e::{ferrite_artifact, repo_root, Value};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::kernels::Tier;
use ferrite_runtime::{AlignedBytes, Error, Input, Model, PreparedOp, Region, Session, SessionOptions};

fn dscnn() -> (AlignedBytes, Vec<f32>) {
    let dir = repo_root().join("models/ref-kws-dscnn");
    let art = ferrite_artifact(&dir.join("model.onnx"), Precision::F32, &[]);
    let Value::F32(_, x) = ferrite_e2e::npy_value(&dir.join("input.npy")) else { panic!("f32 input") };
    (art, x)
}

#[test]
fn caller_buffers_give_the_same_outputs_and_are_checked() {
    let (art, x) = dscnn();
    let model = Model::from_bytes(&art).unwrap();
    let want = Session::new(&model).unwrap().run(&[Input::F32(&x)]).unwrap().f32(0).unwrap().to_vec();

    let mut arena = AlignedBytes::copy_from(&vec![0u8; model.arena_len()]);
    let mut ops = vec![PreparedOp::EMPTY; model.op_count()];
    let mut regions = vec![Region::EMPTY; model.region_count()];
    let arena_bytes = arena.as_mut_slice();
    let mut s = Session::with_buffers(&model, arena_bytes, &mut ops, &mut regions, SessionOptions::default()).unwrap();
    assert_eq!(s.run(&[Input::F32(&x)]).unwrap().f32(0).unwrap(), &want[..]);
    drop(s);

    let mut few_ops = vec![PreparedOp::EMPTY; model.op_count() - 1];
    let e = Session::with_buffers(&model, arena.as_mut_slice(), &mut few_ops, &mut regions, SessionOptions::default());
    assert!(matches!(e.err(), Some(Error::BufferSize { .. })));
    let mut few_regions = vec![Region::EMPTY; model.region_count() - 1];
    let e = Session::with_buffers(&model, arena.as_mut_slice(), &mut ops, &mut few_regions, SessionOptions::default());
    assert!(matches!(e.err(), Some(Error::BufferSize { .. })));
}

#[test]
fn tiers_are_forced_or_refused() {
    let (art, x) = dscnn();
    let model = Model::from_bytes(&art).unwrap();
    let mut s = Session::with_options(&model, SessionOptions { tier: Some(Tier::Generic) }).unwrap();
    assert_eq!(s.kernels().tier, Tier::Generic);
    assert!(s.ops().iter().all(|o| o.tier() == Tier::Generic));
    let generic = s.run(&[Input::F32(&x)]).unwrap().f32(0).unwrap().to_vec();
    for t in Tier::ALL {
        let r = s.set_tier(t);
        if t.available() {
            r.unwrap();
            assert_eq!(s.kernels().tier, t);
            assert!(s.ops().iter().all(|o| o.tier() <= t), "no op runs a tier above the one asked for");
            assert_eq!(s.run(&[Input::F32(&x)]).unwrap().f32(0).unwrap().len(), generic.len());
        } else {
            assert_eq!(r.unwrap_err(), Error::TierUnavailable(t));
            assert_eq!(
                Session::with_options(&model, SessionOptions { tier: Some(t) }).err(),
                Some(Error::TierUnavailable(t))
            );
        }
    }
    assert_eq!(Tier::from_name("avx512"), Some(Tier::Avx512));
    assert_eq!(Tier::from_name("sse9"), None);
    assert!(Tier::best().available());
}

/// Inputs written in place (the firmware path: no input buffer of the caller's) give what `run`
/// gives, on a float and an integer input, and the typed views check the input's type and index.
#[test]
fn inputs_written_in_place_run_like_copied_ones() {
    let (art, x) = dscnn();
    let model = Model::from_bytes(&art).unwrap();
    let mut s = Session::new(&model).unwrap();
    let want = s.run(&[Input::F32(&x)]).unwrap().f32(0).unwrap().to_vec();
    s.input_f32_mut(0).unwrap().fill(7.0);
    let other = s.run_in_place().unwrap().f32(0).unwrap().to_vec();
    assert_ne!(other, want, "a different input gives a different output");
    s.input_f32_mut(0).unwrap().copy_from_slice(&x);
    assert_eq!(s.run_in_place().unwrap().f32(0).unwrap(), want);
    assert!(matches!(s.input_i32_mut(0), Err(Error::BadInput { index: 0, .. })));
    assert!(matches!(s.input_bytes_mut(1), Err(Error::BadInput { index: 1, .. })));

    let text = ferrite_e2e::trained_artifact("intent-lstm", Precision::F32);
    let model = Model::from_bytes(&text).unwrap();
    let ferrite_runtime::Preprocessing::Text(tok) = model.preprocessing() else { panic!("tokenizer") };
    let mut ids = vec![0; tok.seq_len()];
    tok.encode("play some jazz music", &mut ids).unwrap();
    let mut s = Session::new(&model).unwrap();
    let want = s.run(&[Input::I32(&ids)]).unwrap().f32(0).unwrap().to_vec();
    tok.encode("play some jazz music", s.input_i32_mut(0).unwrap()).unwrap();
    assert_eq!(s.run_in_place().unwrap().f32(0).unwrap(), want);
    assert!(matches!(s.input_f32_mut(0), Err(Error::BadInput { index: 0, .. })));
}
