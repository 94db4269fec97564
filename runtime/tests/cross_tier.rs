//! Models quantized elsewhere (x86 CI: `tests/tiers.rs`, `write_cross_tier_goldens`) run on every
//! kernel tier this machine has — under qemu-aarch64 with `QEMU_CPU=cortex-a72`, `neoverse-n1` and
//! `neoverse-v1` in CI — and must give the output bytes the generic tier gave there: int8 and
//! float artifacts alike, bit for bit (float tiers keep the reference order, and AArch64's IEEE
//! arithmetic rounds like x86's).
//!
//! Without `FERRITE_TIER_GOLDENS` (a folder of `NAME.fer`, `NAME.input`, `NAME.expected`) it says
//! so and checks nothing.

use ferrite_runtime::format::DType;
use ferrite_runtime::kernels::Tier;
use ferrite_runtime::{AlignedBytes, Input, Model, OutputData, Session, SessionOptions};

fn outputs(model: &Model<'_>, tier: Tier, input: &[u8]) -> Vec<u8> {
    let mut s = Session::with_options(model, SessionOptions { tier: Some(tier) }).unwrap();
    let info = model.inputs().next().unwrap().info;
    let f32s: Vec<f32>;
    let i32s: Vec<i32>;
    let feed = match info.dtype {
        DType::F32 => {
            f32s = input.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            Input::F32(&f32s)
        }
        _ => {
            i32s = input.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
            Input::I32(&i32s)
        }
    };
    let out = s.run(&[feed]).unwrap();
    let mut bytes = Vec::new();
    for i in 0..out.len() {
        match out.get(i).unwrap().2 {
            OutputData::F32(v) => bytes.extend(v.iter().flat_map(|x| x.to_bits().to_le_bytes())),
            OutputData::I32(v) => bytes.extend(v.iter().flat_map(|x| (*x as u32).to_le_bytes())),
            OutputData::U8(v) => bytes.extend(v.iter().flat_map(|&x| (x as u32).to_le_bytes())),
            OutputData::I8(v) => bytes.extend(v.iter().flat_map(|&x| (x as u8 as u32).to_le_bytes())),
        }
    }
    bytes
}

#[test]
fn every_tier_gives_the_bytes_of_the_reference_machine() {
    let Ok(dir) = std::env::var("FERRITE_TIER_GOLDENS") else {
        eprintln!("skipped: FERRITE_TIER_GOLDENS is not set (CI sets it for the aarch64 runs)");
        return;
    };
    let tiers: Vec<Tier> = Tier::ALL.into_iter().filter(|t| t.available()).collect();
    eprintln!("tiers here: {:?}", tiers.iter().map(|t| t.name()).collect::<Vec<_>>());
    let mut checked = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for fer in names.iter().filter(|p| p.extension().is_some_and(|e| e == "fer")) {
        let stem = fer.with_extension("").display().to_string();
        let bytes = AlignedBytes::copy_from(&std::fs::read(fer).unwrap());
        let model = Model::from_bytes(&bytes).unwrap();
        let input = std::fs::read(format!("{stem}.input")).unwrap();
        let expected = std::fs::read(format!("{stem}.expected")).unwrap();
        for &t in &tiers {
            assert_eq!(outputs(&model, t, &input), expected, "{} on {}", fer.display(), t.name());
            checked += 1;
        }
    }
    assert!(checked > 0, "no artifacts in {dir}");
    eprintln!("{checked} model runs matched");
}
