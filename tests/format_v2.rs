//! Container version 2 (docs/FORMAT.md): version-1 files still load and compute the same bits;
//! capability bits, skippable sections, the signature's place, layouts, storage classes and the
//! linear plan check each refuse what breaks their rule with a typed error.

use ferrite_e2e::{ferrite_artifact, repo_root, Attr::*, OnnxBuilder, Rng, Value};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::format::{caps, checksum, SectionKind, CONTAINER_VERSION, SECTION_SKIPPABLE};
use ferrite_runtime::{AlignedBytes, Error, Input, Model, Session};

fn load(bytes: &[u8]) -> Result<(), Error> {
    let a = AlignedBytes::copy_from(bytes);
    Model::from_bytes(&a).map(|_| ())
}

fn fix_checksum(bytes: &mut [u8]) {
    let c = checksum(bytes);
    bytes[48..52].copy_from_slice(&c.to_le_bytes());
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The section table: (kind, flags, body) in file order.
fn sections(b: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    let n = u32_at(b, 40) as usize;
    (0..n)
        .map(|i| {
            let e = 64 + 32 * i;
            let (off, len) = (u64_at(b, e + 8) as usize, u64_at(b, e + 16) as usize);
            (u32_at(b, e), u32_at(b, e + 4), b[off..off + len].to_vec())
        })
        .collect()
}

/// The file with the same header fields and `secs` as its sections (offsets, lengths, count,
/// total length and checksum recomputed).
fn rebuild(b: &[u8], secs: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let align = |x: usize| (x + 63) & !63;
    let mut out = b[..64].to_vec();
    out.resize(64 + 32 * secs.len(), 0);
    let mut cursor = out.len();
    let mut placed = Vec::new();
    for (_, _, body) in secs {
        let off = align(cursor);
        placed.push(off);
        cursor = off + body.len();
    }
    out.resize(cursor, 0);
    for (i, ((kind, flags, body), off)) in secs.iter().zip(&placed).enumerate() {
        let e = 64 + 32 * i;
        out[e..e + 4].copy_from_slice(&kind.to_le_bytes());
        out[e + 4..e + 8].copy_from_slice(&flags.to_le_bytes());
        out[e + 8..e + 16].copy_from_slice(&(*off as u64).to_le_bytes());
        out[e + 16..e + 24].copy_from_slice(&(body.len() as u64).to_le_bytes());
        out[*off..off + body.len()].copy_from_slice(body);
    }
    out[24..32].copy_from_slice(&(cursor as u64).to_le_bytes());
    out[40..44].copy_from_slice(&(secs.len() as u32).to_le_bytes());
    fix_checksum(&mut out);
    out
}

/// A small f32 artifact: Gemm + Relu + Softmax over a [2, 3] input.
fn sample() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rng::new(5);
    let mut b = OnnxBuilder::new(14);
    b.input("x", &[2, 3]).init("w", &[3, 4], r.vec(12, -1.0, 1.0)).init("c", &[4], r.vec(4, -0.1, 0.1));
    b.node("Gemm", &["x", "w", "c"], &["g"], vec![]).node("Relu", &["g"], &["z"], vec![]);
    b.node("Softmax", &["z"], &["p"], vec![("axis", I(1))]).output("p");
    let onnx = b.save(dir.path(), "sample");
    ferrite_artifact(&onnx, Precision::F32, &[]).to_vec()
}

fn section_offset(b: &[u8], kind: SectionKind) -> usize {
    let n = u32_at(b, 40) as usize;
    (0..n).map(|i| 64 + 32 * i).find(|&e| u32_at(b, e) == kind as u32).map(|e| u64_at(b, e + 8) as usize).unwrap()
}

#[test]
fn writer_emits_version_2_with_only_the_capabilities_it_uses() {
    let b = sample();
    assert_eq!(u16::from_le_bytes([b[12], b[13]]), CONTAINER_VERSION);
    assert_eq!(u32_at(&b, 20), 0, "an f32 artifact uses no capability");
    load(&b).unwrap();
}

/// Every version-1 file kept in tests/golden/v1 (the fuzz seeds as issue 4 left them) loads, and
/// the LSTM one computes exactly what its version-2 rebuild from the same ONNX graph computes.
#[test]
fn version_1_files_still_load_and_compute_the_same_bits() {
    let dir = repo_root().join("tests/golden/v1");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[12], bytes[13]]), 1, "{}", path.display());
        let a = AlignedBytes::copy_from(&bytes);
        let m = Model::from_bytes(&a).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut s = Session::new(&m).unwrap();
        let feeds: Vec<Vec<f32>> = m.inputs().map(|d| vec![0.25; d.info.len()]).collect();
        if m.inputs().all(|d| d.info.dtype == ferrite_runtime::format::DType::F32) {
            let inputs: Vec<Input<'_>> = feeds.iter().map(|v| Input::F32(v)).collect();
            s.run(&inputs).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        n += 1;
    }
    assert!(n >= 4);

    let old = std::fs::read(dir.join("lstm_fwd.fer")).unwrap();
    let new = ferrite_artifact(&repo_root().join("tests/golden/lstm_fwd.onnx"), Precision::F32, &[]);
    let x = ferrite_e2e::npy_value(&repo_root().join("tests/golden/lstm_fwd.in0.npy"));
    let Value::F32(_, xs) = &x else { panic!("f32 input") };
    let run = |bytes: &[u8]| {
        let a = AlignedBytes::copy_from(bytes);
        let m = Model::from_bytes(&a).unwrap();
        let mut s = Session::new(&m).unwrap();
        let out = s.run(&[Input::F32(xs)]).unwrap();
        (0..out.len()).map(|i| out.f32(i).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>()
    };
    assert_eq!(run(&old), run(&new));
}

#[test]
fn unknown_sections_are_skipped_only_when_flagged() {
    let b = sample();
    let secs = sections(&b);
    let with = |extra: (u32, u32, Vec<u8>), at: usize| {
        let mut s = secs.clone();
        s.insert(at, extra);
        load(&rebuild(&b, &s))
    };
    let end = secs.len();
    // A section from a newer writer that a reader may skip.
    with((200, SECTION_SKIPPABLE, vec![7; 100]), end).unwrap();
    with((200, SECTION_SKIPPABLE, vec![7; 100]), 2).unwrap();
    assert!(matches!(with((200, 0, vec![7; 100]), end), Err(Error::BadSection { kind: 200, .. })));
    assert!(matches!(with((200, 2, vec![]), end), Err(Error::BadSection { kind: 200, .. })), "unknown flag bit");
    // The signature: skippable, and the last section.
    let sig = SectionKind::Signature as u32;
    with((sig, SECTION_SKIPPABLE, vec![1; 96]), end).unwrap();
    assert!(matches!(with((sig, 0, vec![1; 96]), end), Err(Error::BadSection { .. })), "signature not flagged");
    assert!(matches!(
        with((sig, SECTION_SKIPPABLE, vec![1; 96]), end - 1),
        Err(Error::BadSection { rule: "the signature must be the last section", .. })
    ));
    // A known, required kind may not claim to be skippable.
    let mut s = secs.clone();
    s[0].1 = SECTION_SKIPPABLE;
    assert!(matches!(load(&rebuild(&b, &s)), Err(Error::BadSection { .. })));
    // What the loader sees of a signature.
    let mut s = secs.clone();
    s.push((sig, SECTION_SKIPPABLE, vec![9; 96]));
    let a = AlignedBytes::copy_from(&rebuild(&b, &s));
    assert_eq!(Model::from_bytes(&a).unwrap().artifact().signature, &[9; 96][..]);
}

#[test]
fn version_1_files_cannot_use_version_2_fields() {
    let old = std::fs::read(repo_root().join("tests/golden/v1/lstm_fwd.fer")).unwrap();
    let set = |at: usize, val: &[u8]| {
        let mut b = old.clone();
        b[at..at + val.len()].copy_from_slice(val);
        fix_checksum(&mut b);
        load(&b).unwrap_err()
    };
    assert!(matches!(set(20, &caps::ALIASES.to_le_bytes()), Error::BadHeaderField(_)));
    assert!(matches!(set(64 + 4, &SECTION_SKIPPABLE.to_le_bytes()), Error::BadSection { .. }));
    let t = section_offset(&old, SectionKind::Tensors);
    assert!(matches!(set(t + 14, &[1]), Error::BadTensor { .. }), "layout in version 1");
    assert!(matches!(set(t + 10, &[3]), Error::BadTensor { .. }), "alias storage in version 1");
}

/// Tensor 0 of `sample()` is the input x [2, 3] (arena); tensor 1 is the weight w [3, 4].
#[test]
fn layout_and_storage_rules() {
    let base = sample();
    let t = section_offset(&base, SectionKind::Tensors);
    let rec = |i: usize| t + 80 * i;
    let edit = |edits: &[(usize, &[u8])], flags: u32| {
        let mut b = base.clone();
        for (at, val) in edits {
            b[*at..*at + val.len()].copy_from_slice(val);
        }
        b[20..24].copy_from_slice(&flags.to_le_bytes());
        fix_checksum(&mut b);
        load(&b)
    };
    let w = rec(1);
    assert!(matches!(edit(&[(w + 14, &[9])], 0), Err(Error::BadTensor { rule: "unknown layout", .. })));
    assert!(matches!(
        edit(&[(w + 14, &[2])], caps::PACKED_WEIGHTS),
        Err(Error::BadTensor { rule: "k4n16 layouts are for per-axis int8 weights of rank 2 or more", .. })
    ));
    assert!(matches!(edit(&[(w + 15, &[1])], 0), Err(Error::BadTensor { rule: "reserved fields must be 0", .. })));
    // Channels-last is a tag on rank-3/4 activations; a rank-2 tensor cannot have it.
    assert!(matches!(edit(&[(rec(0) + 14, &[1])], caps::CHANNELS_LAST), Err(Error::BadTensor { .. })));
    // Storage classes: a graph input cannot be state; an alias needs a target in the arena.
    assert!(matches!(edit(&[(rec(0) + 10, &[2])], caps::STATE), Err(Error::BadPlan(_))));
    assert!(matches!(edit(&[(rec(0) + 10, &[2])], 0), Err(Error::BadHeaderField(_))), "state without its bit");
    assert!(matches!(
        edit(&[(rec(0) + 10, &[3]), (rec(0) + 72, &1u32.to_le_bytes())], caps::ALIASES),
        Err(Error::BadTensor { rule: "an alias views an arena or state tensor", .. })
    ));
    assert!(matches!(
        edit(&[(rec(0) + 10, &[3]), (rec(0) + 72, &99u32.to_le_bytes())], caps::ALIASES),
        Err(Error::BadTensor { rule: "alias target out of range", .. })
    ));
    assert!(matches!(edit(&[(w + 72, &0u32.to_le_bytes())], 0), Err(Error::BadTensor { .. })), "alias_of off an alias");
}

/// Two tensors whose live ranges meet may not share bytes: moving the Gemm output onto the
/// graph input (both live at op 0) is refused.
#[test]
fn the_plan_check_refuses_overlapping_live_tensors() {
    let base = sample();
    let plan = section_offset(&base, SectionKind::Plan);
    let slots = (u32_at(&base, plan + 8)) as usize;
    let slot = |i: usize| plan + 32 + 24 * i;
    let input_off = u64_at(&base, slot(0) + 16);
    let written = (0..slots).find(|&i| u32_at(&base, slot(i) + 4) == 0).unwrap();
    let mut b = base.clone();
    b[slot(written) + 16..slot(written) + 24].copy_from_slice(&input_off.to_le_bytes());
    fix_checksum(&mut b);
    assert!(matches!(load(&b), Err(Error::BadPlan(_))));
}

/// A hostile file the loader must walk to its end: a chain of 16,000 ops (near the 16,384-tensor
/// cap) whose last op record breaks a rule, with the checksum forged to match. It is refused,
/// typed, naming that last op. (How the time grows with the records is measured, not timed here:
/// `cargo bench --bench load -- reject_hostile`, 35-41 ns a record from 1,000 to 16,000 ops.)
#[test]
fn a_long_hostile_chain_is_refused_at_its_last_record() {
    let n = 16_000;
    let mut b = ferrite_e2e::relu_chain(n);
    load(&b).expect("the chain itself is valid");
    ferrite_e2e::spoil_last_op(&mut b);
    match load(&b) {
        Err(Error::BadOp { index, .. }) => assert_eq!(index as usize, n - 1),
        other => panic!("expected BadOp at the last record, got {other:?}"),
    }
}
