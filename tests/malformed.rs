//! Untrusted artifact bytes: every malformation gives a typed error, never a panic. Truncation
//! at every length, each header field, section table and record corruptions, misalignment,
//! inconsistent shapes, and a property test over random corruptions (with the checksum re-fixed
//! so that the checks past the checksum are reached too).

use ferrite_e2e::{ferrite_artifact, Attr::*, OnnxBuilder, Rng};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::format::{checksum, SectionKind};
use ferrite_runtime::{AlignedBytes, Error, Input, LoadOptions, Model, Session};
use proptest::prelude::*;
use std::sync::OnceLock;

/// A small artifact that uses weights, the arena, scratch, several op kinds and metadata.
fn sample() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let art = ferrite_artifact(&sample_onnx(dir.path()), Precision::F32, &[]);
        art.to_vec()
    })
}

/// The same model in int8 (quantization version 2: int8 GRU, QMatMul, Quantize/Dequantize),
/// calibrated on a few fixed inputs.
fn sample_int8() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let onnx = sample_onnx(dir.path());
        let calib = dir.path().join("calib");
        std::fs::create_dir(&calib).unwrap();
        let mut r = Rng::new(7);
        for i in 0..4 {
            let x = r.vec(6, -1.0, 1.0);
            std::fs::write(calib.join(format!("{i}.npy")), ferrite_quantizer::npy::encode_f32(&[3, 1, 2], &x)).unwrap();
        }
        let opts = ferrite_quantizer::quantize::QuantizeOptions {
            precision: Precision::Int8,
            int8: Some(ferrite_quantizer::quantize::Int8Options {
                calib: Some(calib),
                method: ferrite_quantizer::calibrate::Method::MinMax,
                samples: 4,
                accuracy_budget_db: None,
                dynamic: false,
            }),
            ..Default::default()
        };
        ferrite_quantizer::quantize::quantize(&onnx, &opts).unwrap().bytes
    })
}

fn sample_onnx(dir: &std::path::Path) -> std::path::PathBuf {
    {
        let mut r = Rng::new(99);
        let mut b = OnnxBuilder::new(14);
        b.input("x", &[3, 1, 2]);
        b.init("W", &[1, 6, 2], r.vec(12, -0.5, 0.5)).init("R", &[1, 6, 2], r.vec(12, -0.5, 0.5));
        b.node("GRU", &["x", "W", "R"], &["y", "h"], vec![("hidden_size", I(2)), ("linear_before_reset", I(1))]);
        b.init_i64("shape", &[2], vec![3, 2]).node("Reshape", &["y", "shape"], &["y2"], vec![]);
        b.init("fc", &[2, 3], r.vec(6, -0.5, 0.5)).init("fb", &[3], r.vec(3, -0.1, 0.1));
        b.node("Gemm", &["y2", "fc", "fb"], &["g"], vec![]).node("Relu", &["g"], &["z"], vec![]).node(
            "Softmax",
            &["z"],
            &["p"],
            vec![("axis", I(1))],
        );
        b.output("p");
        b.save(dir, "sample")
    }
}

fn aligned(bytes: &[u8]) -> AlignedBytes {
    AlignedBytes::copy_from(bytes)
}

fn fix_checksum(bytes: &mut [u8]) {
    let c = checksum(bytes);
    bytes[48..52].copy_from_slice(&c.to_le_bytes());
}

fn load(bytes: &[u8]) -> Result<(), Error> {
    let a = aligned(bytes);
    Model::from_bytes(&a).map(|_| ())
}

/// Loads and, when the bytes pass, runs once: neither may panic.
/// The trained DS-CNN in int8: format v2's channels-last activations, k4n16-hwc and depthwise-hwc
/// packed weights with their row sums, QConv/QMean, and an alias (the Flatten).
fn sample_dscnn_int8() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| dscnn_int8(false))
}

/// The same, `--strip`ped: compact tensor, op and slot records (capability `compact`).
fn sample_dscnn_int8_compact() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| dscnn_int8(true))
}

fn dscnn_int8(strip: bool) -> Vec<u8> {
    {
        let dir = ferrite_e2e::repo_root().join("models/kws-dscnn");
        let mut opts = ferrite_quantizer::quantize::QuantizeOptions {
            precision: Precision::Int8,
            int8: Some(ferrite_quantizer::quantize::Int8Options {
                calib: Some(ferrite_e2e::shared_data().join("fsdd")),
                method: ferrite_quantizer::calibrate::Method::MinMax,
                samples: 8,
                accuracy_budget_db: None,
                dynamic: false,
            }),
            strip,
            ..Default::default()
        };
        ferrite_quantizer::config::load(&dir.join("ferrite.toml")).unwrap().apply_to(&mut opts);
        let bytes = ferrite_quantizer::quantize::quantize(&dir.join("model.onnx"), &opts).unwrap().bytes;
        // FERRITE_FUZZ_SEEDS=1 refreshes the fuzzer's seeds for these records.
        if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
            let seeds = ferrite_e2e::repo_root().join("runtime/fuzz/corpus/load");
            let name = if strip { "kws_dscnn_int8_compact.fer" } else { "kws_dscnn_int8_v2.fer" };
            std::fs::write(seeds.join(name), &bytes).unwrap();
        }
        bytes
    }
}

fn load_and_run(bytes: &[u8]) {
    let a = aligned(bytes);
    let Ok(m) = Model::from_bytes(&a) else { return };
    let Ok(mut s) = Session::new(&m) else { return };
    let feeds: Vec<Vec<f32>> = m.inputs().map(|d| vec![0.25; d.info.len()]).collect();
    let inputs: Vec<Input<'_>> = feeds.iter().map(|v| Input::F32(v)).collect();
    let _ = s.run(&inputs);
}

fn section_offset(bytes: &[u8], kind: SectionKind) -> usize {
    let a = aligned(bytes);
    let m = Model::from_bytes(&a).unwrap();
    let art = m.artifact();
    art.sections.iter().find(|s| s.kind.get() == kind as u32).unwrap().offset.get() as usize
}

#[test]
fn sample_is_valid_and_runs() {
    assert!(load(sample()).is_ok());
    load_and_run(sample());
}

#[test]
fn truncated_at_every_length() {
    let b = sample();
    for len in 0..b.len() {
        let e = load(&b[..len]).expect_err("truncated artifact accepted");
        assert!(matches!(e, Error::Truncated { .. } | Error::LengthMismatch { .. }), "len {len}: {e:?}");
    }
    // Without the checksum pass, the length check still catches every truncation.
    for len in (0..b.len()).step_by(7) {
        let a = aligned(&b[..len]);
        assert!(Model::from_bytes_with(&a, LoadOptions { verify_checksum: false, ..Default::default() }).is_err());
    }
}

#[test]
fn each_header_field() {
    let base = sample().to_vec();
    let case = |at: usize, val: &[u8], fix: bool| {
        let mut b = base.clone();
        b[at..at + val.len()].copy_from_slice(val);
        if fix {
            fix_checksum(&mut b);
        }
        load(&b).unwrap_err()
    };
    assert_eq!(case(0, b"GGUF", false), Error::BadMagic);
    assert!(matches!(case(8, &0x0403_0201u32.to_le_bytes(), false), Error::BadEndianMarker(_)));
    assert_eq!(case(12, &3u16.to_le_bytes(), false), Error::UnsupportedVersion(3));
    assert_eq!(case(14, &9u16.to_le_bytes(), false), Error::UnsupportedQuantVersion(9));
    assert!(matches!(case(16, &65u32.to_le_bytes(), false), Error::BadHeaderField(_)));
    // Required capabilities: an unknown bit is refused up front; a known bit the file does not use
    // is inconsistent.
    assert_eq!(case(20, &(1u32 << 31).to_le_bytes(), false), Error::UnsupportedCapability(1 << 31));
    assert!(matches!(case(20, &1u32.to_le_bytes(), false), Error::BadHeaderField(_)));
    assert!(matches!(case(24, &(base.len() as u64 + 1).to_le_bytes(), false), Error::LengthMismatch { .. }));
    assert!(matches!(case(44, &7u32.to_le_bytes(), false), Error::UnknownChecksum(7)));
    assert!(matches!(case(48, &0u32.to_le_bytes(), false), Error::ChecksumMismatch { .. }));
    // Fields past the checksum field are covered only by their own rules: fix the checksum.
    assert!(matches!(case(32, &128u64.to_le_bytes(), true), Error::BadHeaderField(_)));
    assert!(matches!(case(40, &7u32.to_le_bytes(), true), Error::BadHeaderField(_)));
    assert!(matches!(case(60, &[1], true), Error::BadHeaderField(_)));
    // A wrong byte anywhere after the header is caught by the checksum.
    let mut b = base.clone();
    let last = b.len() - 1;
    b[last] ^= 0x40;
    assert!(matches!(load(&b).unwrap_err(), Error::ChecksumMismatch { .. }));
}

#[test]
fn section_table_rules() {
    let base = sample().to_vec();
    let entry = |i: usize| 64 + 32 * i;
    let corrupt = |i: usize, field: usize, val: u64, width: usize| {
        let mut b = base.clone();
        let at = entry(i) + field;
        b[at..at + width].copy_from_slice(&val.to_le_bytes()[..width]);
        fix_checksum(&mut b);
        load(&b).unwrap_err()
    };
    let off = |i: usize| u64::from_le_bytes(base[entry(i) + 8..entry(i) + 16].try_into().unwrap());
    assert!(matches!(corrupt(0, 0, 99, 4), Error::BadSection { kind: 99, .. }), "unknown kind");
    assert!(matches!(corrupt(1, 0, 1, 4), Error::BadSection { rule: "duplicate section", .. }));
    assert!(matches!(corrupt(2, 4, 1, 4), Error::BadSection { .. }), "flags");
    assert!(matches!(
        corrupt(3, 8, off(3) + 8, 8),
        Error::BadSection { rule: "offset not aligned (64 bytes; compact files 8, their weights 16)", .. }
    ));
    assert!(matches!(corrupt(3, 8, 1 << 40, 8), Error::BadSection { .. } | Error::Truncated { .. }));
    assert!(matches!(corrupt(7, 16, 1 << 40, 8), Error::Truncated { .. }), "length out of range");
    assert!(matches!(corrupt(2, 8, off(1), 8), Error::BadSection { .. }), "overlap");
    assert!(matches!(corrupt(1, 16, 81, 8), Error::BadSection { .. } | Error::Truncated { .. }), "partial record");
    // Non-zero padding between sections (an unindexed byte).
    let mut b = base.clone();
    let gap = (64 + 32 * 8..off(0) as usize).next();
    if let Some(g) = gap {
        b[g] = 1;
        fix_checksum(&mut b);
        assert!(matches!(load(&b).unwrap_err(), Error::BadSection { .. }));
    }
}

#[test]
fn misaligned_buffer_is_rejected() {
    let b = sample();
    let mut v = vec![0u8; b.len() + 64];
    let base = v.as_ptr() as usize;
    let shift = (64 - base % 64) % 64 + 1; // one past a 64-byte boundary
    v[shift..shift + b.len()].copy_from_slice(b);
    assert_eq!(Model::from_bytes(&v[shift..shift + b.len()]).unwrap_err(), Error::MisalignedBuffer { required: 64 });
}

#[test]
fn record_rules() {
    let base = sample().to_vec();
    let tensors = section_offset(&base, SectionKind::Tensors);
    let ops = section_offset(&base, SectionKind::Ops);
    let plan = section_offset(&base, SectionKind::Plan);
    let set = |at: usize, val: &[u8]| {
        let mut b = base.clone();
        b[at..at + val.len()].copy_from_slice(val);
        fix_checksum(&mut b);
        load(&b).unwrap_err()
    };
    // Tensor 0 is the graph input x [3, 1, 2] f32 (arena).
    assert!(matches!(set(tensors + 8, &[9]), Error::BadTensor { index: 0, rule: "unknown dtype" }));
    assert!(matches!(set(tensors + 9, &[7]), Error::BadTensor { index: 0, .. }), "rank above 6");
    assert!(matches!(
        set(tensors + 16, &4u32.to_le_bytes()),
        Error::BadTensor { rule: "byte_len does not match dims, dtype and layout", .. }
    ));
    assert!(matches!(set(tensors, &u32::MAX.to_le_bytes()), Error::BadString(_)));
    // The input flipped to weight storage: its arena slot no longer matches a tensor.
    assert!(matches!(set(tensors + 10, &[1]), Error::BadPlan(_)));
    assert!(matches!(set(tensors + 10, &[7]), Error::BadTensor { index: 0, rule: "unknown storage" }));
    // Consistent dims and byte_len but a shape the first op cannot take.
    let mut b = base.clone();
    b[tensors + 16..tensors + 20].copy_from_slice(&2u32.to_le_bytes()); // x: [2, 1, 2]
    b[tensors + 48..tensors + 56].copy_from_slice(&16u64.to_le_bytes());
    fix_checksum(&mut b);
    assert!(matches!(load(&b).unwrap_err(), Error::BadOp { .. } | Error::BadPlan(_)), "inconsistent shapes");
    // Op 0: unknown opcode, input range out of the index section, bad attribute.
    assert!(matches!(set(ops, &999u32.to_le_bytes()), Error::BadOp { index: 0, rule: "unknown op code" }));
    assert!(matches!(set(ops + 16, &u32::MAX.to_le_bytes()), Error::BadOp { index: 0, .. }));
    assert!(matches!(set(ops + 32, &u32::MAX.to_le_bytes()), Error::BadOp { index: 0, .. }));
    // Plan: arena too small for the slots, slot misaligned.
    assert!(matches!(set(plan, &64u64.to_le_bytes()), Error::BadPlan(_)));
    assert!(matches!(set(plan + 32 + 16, &8u64.to_le_bytes()), Error::BadPlan(_)));
}

#[test]
fn session_rejects_bad_inputs_and_arenas() {
    let a = aligned(sample());
    let m = Model::from_bytes(&a).unwrap();
    let mut small = vec![0u8; 64];
    assert!(matches!(Session::with_arena(&m, &mut small).err().unwrap(), Error::ArenaTooSmall { .. }));
    let mut s = Session::new(&m).unwrap();
    assert!(matches!(s.run(&[]).err().unwrap(), Error::BadInput { .. }));
    assert!(matches!(s.run(&[Input::F32(&[1.0; 5])]).err().unwrap(), Error::BadInput { .. }));
    assert!(matches!(s.run(&[Input::I64(&[1; 6])]).err().unwrap(), Error::BadInput { .. }));
    assert!(s.run(&[Input::F32(&[0.5; 6])]).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random corruptions with the checksum re-fixed: loading (and running what loads) never panics.
    #[test]
    fn random_corruptions_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), body_only in any::<bool>()) {
        let mut b = sample().to_vec();
        let start = if body_only { 64 } else { 0 };
        for (i, x) in edits {
            let at = start + i.index(b.len() - start);
            b[at] ^= x | 1;
        }
        fix_checksum(&mut b);
        load_and_run(&b);
    }

    /// The same over an int8 artifact (quantized records, int8 ops, requantization pairs).
    #[test]
    fn random_corruptions_of_int8_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut b = sample_int8().to_vec();
        for (i, x) in edits {
            let at = 64 + i.index(b.len() - 64);
            b[at] ^= x | 1;
        }
        fix_checksum(&mut b);
        load_and_run(&b);
    }

    /// The same over format v2's packed layouts, channels-last activations and aliases, with the
    /// edits in the records (before the weights) half the time, where they matter most.
    #[test]
    fn random_corruptions_of_packed_channels_last_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), records in any::<bool>()) {
        if !ferrite_e2e::have_shared_data() {
            return Ok(());
        }
        let mut b = sample_dscnn_int8().to_vec();
        let end = if records { section_offset(sample_dscnn_int8(), SectionKind::Weights) } else { b.len() };
        for (i, x) in edits {
            let at = 64 + i.index(end - 64);
            b[at] ^= x | 1;
        }
        fix_checksum(&mut b);
        load_and_run(&b);
    }

    /// The same over compact records (`--strip`): their narrow fields, sentinels and reserved
    /// bytes, edited before the weights.
    #[test]
    fn random_corruptions_of_compact_records_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        if !ferrite_e2e::have_shared_data() {
            return Ok(());
        }
        let good = sample_dscnn_int8_compact();
        let mut b = good.to_vec();
        let end = section_offset(good, SectionKind::Weights);
        for (i, x) in edits {
            let at = 64 + i.index(end - 64);
            b[at] ^= x | 1;
        }
        fix_checksum(&mut b);
        load_and_run(&b);
    }

    /// Arbitrary bytes behind a valid-looking header.
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut b = sample()[..64].to_vec();
        b.extend_from_slice(&body);
        let len = b.len() as u64;
        b[24..32].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut b);
        load_and_run(&b);
    }
}

#[test]
fn arena_rules_and_impossible_arenas() {
    // Slack in arena_len is rejected: a file may not ask for memory no tensor uses.
    let mut b = sample().to_vec();
    let plan = section_offset(&b, SectionKind::Plan);
    b[plan..plan + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    fix_checksum(&mut b);
    assert!(matches!(load(&b).unwrap_err(), Error::BadPlan(_)));
    // A caller's arena one byte short.
    let a = aligned(sample());
    let m = Model::from_bytes(&a).unwrap();
    let mut small = vec![0u8; m.arena_len() - 1];
    assert!(matches!(Session::with_arena(&m, &mut small).err().unwrap(), Error::ArenaTooSmall { .. }));
    // A consistent artifact whose activation needs 4 EiB: Session::new reports it, no abort.
    use ferrite_quantizer::ir::Graph;
    use ferrite_runtime::format::DType;
    use ferrite_runtime::ops::OpCode;
    let mut g = Graph::default();
    let x = g.activation("x", DType::F32, vec![1, 1]);
    let y = g.activation("y", DType::F32, vec![1 << 30, 1 << 30]);
    g.push(OpCode::Expand, "expand", vec![Some(x)], vec![Some(y)], vec![]);
    g.inputs.push(x);
    g.outputs.push(y);
    let huge = aligned(&ferrite_quantizer::writer::write(&g, "{}", Default::default()).bytes);
    let m = Model::from_bytes(&huge).expect("valid on paper");
    assert!(m.arena_len() as u64 >= 1 << 62);
    assert!(matches!(Session::new(&m).err().unwrap(), Error::OutOfMemory { .. }));
}

#[test]
fn int8_record_rules() {
    let good = sample_int8();
    // FERRITE_FUZZ_SEEDS=1 refreshes the fuzzer's int8 seed.
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        let dir = ferrite_e2e::repo_root().join("runtime/fuzz/corpus/load");
        std::fs::write(dir.join("tiny_int8_gru_gemm.fer"), good).unwrap();
    }
    assert_eq!(u16::from_le_bytes([good[14], good[15]]), 2);
    load_and_run(good);
    assert!(load(good).is_ok());
    let tensors = section_offset(good, SectionKind::Tensors);
    let a = aligned(good);
    let m = Model::from_bytes(&a).unwrap();
    let recs: Vec<(usize, u8)> = m.artifact().tensors.iter().enumerate().map(|(i, t)| (i, t.quant_kind)).collect();
    let per_tensor = recs.iter().find(|r| r.1 == 1).unwrap().0;
    let per_axis = recs.iter().find(|r| r.1 == 2).unwrap().0;
    let plain = recs.iter().find(|r| r.1 == 0).unwrap().0;
    let edit = |t: usize, at: usize, v: &[u8]| {
        let mut b = good.to_vec();
        let o = tensors + 80 * t + at;
        b[o..o + v.len()].copy_from_slice(v);
        fix_checksum(&mut b);
        load(&b).unwrap_err()
    };
    let bad_tensor = |e: Error| matches!(e, Error::BadTensor { .. });
    assert!(bad_tensor(edit(per_tensor, 56, &0f32.to_le_bytes())), "scale 0");
    assert!(bad_tensor(edit(per_tensor, 56, &f32::NAN.to_le_bytes())), "NaN scale");
    assert!(bad_tensor(edit(per_tensor, 60, &300i32.to_le_bytes())), "zero point outside i8");
    assert!(bad_tensor(edit(per_tensor, 64, &0u32.to_le_bytes())), "axis scales on a per-tensor record");
    assert!(bad_tensor(edit(per_tensor, 11, &[0])), "i8 without quantization");
    assert!(bad_tensor(edit(per_tensor, 11, &[2])), "per-axis on an arena tensor");
    assert!(bad_tensor(edit(per_axis, 12, &9u16.to_le_bytes())), "axis past the rank");
    assert!(bad_tensor(edit(per_axis, 68, &0u32.to_le_bytes())), "asymmetric weights");
    assert!(bad_tensor(edit(per_axis, 64, &u32::MAX.wrapping_sub(1).to_le_bytes())), "scales tensor out of range");
    assert!(bad_tensor(edit(plain, 11, &[3])), "unknown kind");
    // A version-1 header cannot carry quantized tensors.
    let mut b = good.to_vec();
    b[14..16].copy_from_slice(&1u16.to_le_bytes());
    fix_checksum(&mut b);
    assert!(bad_tensor(load(&b).unwrap_err()));
}

/// Compact records widen to the full ones: every byte of the compact tensor, op and slot tables
/// flipped (checksum re-fixed) loads and runs or gives a typed error, never a panic; the capability
/// bit must match the records; and the compact file computes what the full one does.
#[test]
fn compact_records_are_checked_as_full_ones() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let (full, compact) = (sample_dscnn_int8(), sample_dscnn_int8_compact());
    let caps = |b: &[u8]| u32::from_le_bytes(b[20..24].try_into().unwrap());
    let bit = ferrite_runtime::format::caps::COMPACT;
    assert_eq!((caps(full) & bit, caps(compact) & bit), (0, bit));
    assert!(compact.len() + 2000 < full.len(), "{} vs {} bytes", compact.len(), full.len());
    let run = |b: &[u8]| -> Vec<f32> {
        let a = aligned(b);
        let m = Model::from_bytes(&a).unwrap();
        let x = vec![0.25f32; m.inputs().next().unwrap().info.len()];
        Session::new(&m).unwrap().run(&[Input::F32(&x)]).unwrap().f32(0).unwrap().to_vec()
    };
    assert_eq!(run(full), run(compact));

    // The bit cleared (full records claimed), or set on a full file: refused, typed.
    for (bytes, flip) in [(compact, bit), (full, bit)] {
        let mut b = bytes.to_vec();
        let c = caps(&b) ^ flip;
        b[20..24].copy_from_slice(&c.to_le_bytes());
        fix_checksum(&mut b);
        assert!(load(&b).is_err(), "capability bit flipped to {c:#x}");
    }

    // The first compact form's bit (6) is retired: refused as unknown. 16-bit attributes come
    // only with the compact form; without their bit the words read as 32-bit ones and no longer
    // cover the ops' attribute ranges.
    let narrow = ferrite_runtime::format::caps::NARROW_ATTRS;
    assert_ne!(caps(compact) & narrow, 0, "kws-dscnn's attribute words are small integers");
    let with_caps = |c: u32| {
        let mut b = compact.to_vec();
        b[20..24].copy_from_slice(&c.to_le_bytes());
        fix_checksum(&mut b);
        load(&b)
    };
    assert_eq!(with_caps(caps(compact) & !(bit | narrow) | 1 << 6), Err(Error::UnsupportedCapability(1 << 6)));
    assert!(with_caps(caps(compact) & !bit).is_err(), "narrow-attrs without compact");
    assert!(with_caps(caps(compact) & !narrow).is_err(), "16-bit attributes read as 32-bit ones");

    let mut rejected = 0;
    let mut flipped = 0;
    for kind in [SectionKind::Tensors, SectionKind::Ops, SectionKind::Plan, SectionKind::Indices, SectionKind::Attrs] {
        let off = section_offset(compact, kind);
        let a = aligned(compact);
        let m = Model::from_bytes(&a).unwrap();
        let len = m.artifact().sections.iter().find(|s| s.kind.get() == kind as u32).unwrap().len.get() as usize;
        for i in off..off + len {
            let mut b = compact.to_vec();
            b[i] ^= 0xA5;
            fix_checksum(&mut b);
            flipped += 1;
            if load(&b).is_err() {
                rejected += 1;
            } else {
                load_and_run(&b);
            }
        }
    }
    eprintln!("compact records: {rejected} of {flipped} single-byte corruptions refused");
    // Most bytes of a record are rule-bound (types, ranks, indices, lengths, reserved bytes).
    assert!(rejected * 10 > flipped * 7, "only {rejected} of {flipped} corruptions were caught");
}
