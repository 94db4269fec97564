//! Every reference model on every kernel tier this CPU has (`FERRITE_KERNELS` selects one tier for
//! a whole run; CI runs this file once per x86 tier and once per Arm tier under qemu): int8
//! artifacts give the same output bytes as the generic tier, float artifacts the same values
//! within the stated tolerance of the float tiers (docs/ARCHITECTURE.md).

use ferrite_e2e::{int8_artifact, real_input, ref_artifact, trained_artifact, Feed};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::kernels::Tier;
use ferrite_runtime::{AlignedBytes, Model, OutputData, Session, SessionOptions};

/// Bits of every output of one run.
fn run(model: &Model<'_>, tier: Tier, input: &Feed) -> Vec<Vec<u32>> {
    let mut s = Session::with_options(model, SessionOptions { tier: Some(tier) }).unwrap();
    let out = s.run(&input.as_inputs()).unwrap();
    (0..out.len())
        .map(|i| match out.get(i).unwrap().2 {
            OutputData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            OutputData::I32(v) => v.iter().map(|&x| x as u32).collect(),
            OutputData::U8(v) => v.iter().map(|&x| x as u32).collect(),
            OutputData::I8(v) => v.iter().map(|&x| x as u8 as u32).collect(),
        })
        .collect()
}

/// Writes, for other machines (CI's aarch64 runs under qemu), every model of this file as an
/// artifact, its input and the generic tier's output bytes into `$FERRITE_TIER_GOLDENS`; the
/// runtime's `tests/cross_tier.rs` runs them on every tier there and compares the bytes. Run with
/// `FERRITE_TIER_GOLDENS=DIR cargo test --test tiers -- --ignored write_cross_tier_goldens`.
#[test]
#[ignore = "writes files for the cross-machine check; .ci/run runs it"]
fn write_cross_tier_goldens() {
    let dir = std::path::PathBuf::from(std::env::var("FERRITE_TIER_GOLDENS").expect("FERRITE_TIER_GOLDENS=DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut arts: Vec<(String, AlignedBytes)> = Vec::new();
    for (name, data) in [
        ("kws-dscnn", "fsdd"),
        ("kws-crnn", "fsdd"),
        ("intent-lstm", "snips-intents"),
        ("intent-transformer", "snips-intents"),
    ] {
        arts.push((format!("{name}.int8"), int8_artifact(name, data)));
        arts.push((format!("{name}.f32"), trained_artifact(name, Precision::F32)));
    }
    arts.push(("kws-dscnn.fp16".into(), trained_artifact("kws-dscnn", Precision::Fp16)));
    let mut inputs: Vec<Option<Feed>> = arts.iter().map(|_| None).collect();
    for name in ["ref-kws-dscnn", "ref-text-lstm"] {
        let (bytes, input) = ref_artifact(name, Precision::Int8);
        arts.push((format!("{name}.int8"), bytes));
        inputs.push(Some(input));
    }
    for ((name, bytes), given) in arts.iter().zip(inputs) {
        let model = Model::from_bytes(bytes).unwrap();
        let input = given.unwrap_or_else(|| real_input(&model));
        let out = run(&model, Tier::Generic, &input);
        let input_bytes: Vec<u8> = match &input {
            Feed::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Feed::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Feed::Many(_) => panic!("{name}: the cross-tier goldens are for single-input models"),
        };
        std::fs::write(dir.join(format!("{name}.fer")), bytes.as_slice()).unwrap();
        std::fs::write(dir.join(format!("{name}.input")), input_bytes).unwrap();
        let expected: Vec<u8> = out.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("{name}.expected")), expected).unwrap();
    }
    eprintln!("wrote {} models to {}", arts.len(), dir.display());
}

/// Relative L2 distance of two f32 bit vectors.
fn rel_l2(a: &[u32], b: &[u32]) -> f64 {
    let (a, b): (Vec<f32>, Vec<f32>) =
        (a.iter().map(|&x| f32::from_bits(x)).collect(), b.iter().map(|&x| f32::from_bits(x)).collect());
    ferrite_e2e::rel_l2(&a, &b)
}

fn tiers() -> Vec<Tier> {
    let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|t| t.available()).collect();
    eprintln!("tiers here: {:?}", tiers.iter().map(|t| t.name()).collect::<Vec<_>>());
    tiers
}

#[test]
fn trained_models_int8_are_bit_identical_on_every_tier() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    for (name, data) in [
        ("kws-dscnn", "fsdd"),
        ("kws-crnn", "fsdd"),
        ("intent-lstm", "snips-intents"),
        ("intent-transformer", "snips-intents"),
    ] {
        let bytes = int8_artifact(name, data);
        let model = Model::from_bytes(&bytes).unwrap();
        let input = real_input(&model);
        let want = run(&model, Tier::Generic, &input);
        for t in tiers() {
            assert_eq!(run(&model, t, &input), want, "{name} int8 on {}", t.name());
        }
    }
}

/// The random-weight `models/ref-*` models in int8.
#[test]
fn reference_models_int8_are_bit_identical_on_every_tier() {
    for name in ["ref-kws-dscnn", "ref-text-lstm"] {
        let (bytes, input) = ref_artifact(name, Precision::Int8);
        let model = Model::from_bytes(&bytes).unwrap();
        let want = run(&model, Tier::Generic, &input);
        for t in tiers() {
            assert_eq!(run(&model, t, &input), want, "{name} int8 on {}", t.name());
        }
    }
}

#[test]
fn float_models_agree_on_every_tier() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    for name in ["kws-dscnn", "intent-lstm"] {
        for precision in [Precision::F32, Precision::Fp16] {
            let bytes = trained_artifact(name, precision);
            let model = Model::from_bytes(&bytes).unwrap();
            let input = real_input(&model);
            let want = run(&model, Tier::Generic, &input);
            for t in tiers() {
                let got = run(&model, t, &input);
                for (g, w) in got.iter().zip(&want) {
                    let e = rel_l2(g, w);
                    assert!(e < 1e-5, "{name} {precision:?} on {}: relative L2 {e:e}", t.name());
                }
            }
        }
    }
}
