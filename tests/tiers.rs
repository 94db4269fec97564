//! Every reference model on every kernel tier this CPU has (`FERRITE_KERNELS` selects one tier for
//! a whole run; CI runs this file once per x86 tier and once per Arm tier under qemu): int8
//! artifacts give the same output bytes as the generic tier, float artifacts the same values
//! within the stated tolerance of the float tiers (docs/ARCHITECTURE.md).

use ferrite_e2e::{repo_root, shared_data, trained_artifact};
use ferrite_quantizer::calibrate::Method;
use ferrite_quantizer::quantize::{quantize, Int8Options, Precision, QuantizeOptions};
use ferrite_runtime::kernels::Tier;
use ferrite_runtime::{AlignedBytes, Input, Model, OutputData, Preprocessing, Session, SessionOptions};

/// Bits of every output of one run.
fn run(model: &Model<'_>, tier: Tier, input: &Feed) -> Vec<Vec<u32>> {
    let mut s = Session::with_options(model, SessionOptions { tier: Some(tier) }).unwrap();
    let out = s.run(&[input.as_input()]).unwrap();
    (0..out.len())
        .map(|i| match out.get(i).unwrap().2 {
            OutputData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            OutputData::I32(v) => v.iter().map(|&x| x as u32).collect(),
            OutputData::U8(v) => v.iter().map(|&x| x as u32).collect(),
            OutputData::I8(v) => v.iter().map(|&x| x as u8 as u32).collect(),
        })
        .collect()
}

enum Feed {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl Feed {
    fn as_input(&self) -> Input<'_> {
        match self {
            Feed::F32(v) => Input::F32(v),
            Feed::I32(v) => Input::I32(v),
        }
    }
}

/// A real input for a trained model: a clip through its audio frontend, or a sentence through its
/// tokenizer.
fn real_input(model: &Model<'_>) -> Feed {
    match model.preprocessing() {
        Preprocessing::Audio(fe) => {
            let wav = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).unwrap();
            Feed::F32(fe.features_from_wav(&wav).unwrap())
        }
        Preprocessing::Text(t) => {
            let mut ids = vec![0i32; t.seq_len()];
            t.encode("will it rain in paris tomorrow", &mut ids).unwrap();
            Feed::I32(ids)
        }
        Preprocessing::None => panic!("trained models carry their preprocessing"),
    }
}

fn int8_artifact(name: &str, data: &str) -> AlignedBytes {
    let dir = repo_root().join("models").join(name);
    let mut opts = QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options {
            calib: shared_data().join(data),
            method: Method::MinMax,
            samples: 12,
            accuracy_budget_db: None,
        }),
        ..Default::default()
    };
    ferrite_quantizer::config::load(&dir.join("ferrite.toml")).unwrap().apply_to(&mut opts);
    AlignedBytes::copy_from(&quantize(&dir.join("model.onnx"), &opts).unwrap().bytes)
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
        let (bytes, input) = ref_int8(name);
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

/// A random-weight `models/ref-*` model in int8, calibrated on perturbed copies of its committed
/// input, and that input.
fn ref_int8(name: &str) -> (AlignedBytes, Feed) {
    let dir = repo_root().join("models").join(name);
    let x = ferrite_quantizer::npy::read(&dir.join("input.npy")).unwrap();
    let calib = tempfile::tempdir().unwrap();
    let mut r = ferrite_e2e::Rng::new(11);
    for i in 0..4 {
        let bytes = match &x.data {
            ferrite_quantizer::npy::NpyData::F32(v) => {
                let v: Vec<f32> = v.iter().map(|a| a + r.uniform(-0.5, 0.5)).collect();
                ferrite_quantizer::npy::encode_f32(&x.shape, &v)
            }
            _ => std::fs::read(dir.join("input.npy")).unwrap(),
        };
        std::fs::write(calib.path().join(format!("{i}.npy")), bytes).unwrap();
    }
    let opts = QuantizeOptions {
        precision: Precision::Int8,
        int8: Some(Int8Options {
            calib: calib.path().to_path_buf(),
            method: Method::MinMax,
            samples: 4,
            accuracy_budget_db: None,
        }),
        ..Default::default()
    };
    let bytes = AlignedBytes::copy_from(&quantize(&dir.join("model.onnx"), &opts).unwrap().bytes);
    let input = match x.data {
        ferrite_quantizer::npy::NpyData::F32(v) => Feed::F32(v),
        ferrite_quantizer::npy::NpyData::I64(v) => Feed::I32(v.iter().map(|&i| i as i32).collect()),
        _ => panic!("unexpected input type"),
    };
    (bytes, input)
}

/// The random-weight `models/ref-*` models in int8.
#[test]
fn reference_models_int8_are_bit_identical_on_every_tier() {
    for name in ["ref-kws-dscnn", "ref-text-lstm"] {
        let (bytes, input) = ref_int8(name);
        let model = Model::from_bytes(&bytes).unwrap();
        let want = run(&model, Tier::Generic, &input);
        for t in tiers() {
            assert_eq!(run(&model, t, &input), want, "{name} int8 on {}", t.name());
        }
    }
}

#[test]
fn float_models_agree_on_every_tier() {
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
