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
