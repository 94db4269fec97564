//! Signed artifacts (issue 13; docs/FORMAT.md, "Signature"): a keyed load accepts an artifact
//! signed by a trusted key and refuses every single-byte change to it, unsigned artifacts, other
//! keys' signatures and malformed signature sections, each with its own error; signing keeps what
//! the model computes; a keyed load from a file runs the bytes it checked.

use ferrite_e2e::{trained_artifact, Attr::*, OnnxBuilder, Rng};
use ferrite_quantizer::quantize::{quantize, Precision, QuantizeOptions};
use ferrite_quantizer::sign;
use ferrite_runtime::format::signature::PublicKey;
use ferrite_runtime::format::{Artifact, SectionEntry};
use ferrite_runtime::{AlignedBytes, Error, Input, LoadOptions, Model, Session};
use zerocopy::FromBytes;

fn keyed(bytes: &[u8], keys: &[PublicKey]) -> Result<(), Error> {
    let copy = AlignedBytes::copy_from(bytes);
    Model::from_bytes_with(copy.as_slice(), LoadOptions { trusted_keys: keys, ..Default::default() }).map(|_| ())
}

/// A small model (a few kB): every one of its bytes can be flipped in a test.
fn small_artifact() -> Vec<u8> {
    let mut r = Rng::new(91);
    let dir = tempfile::tempdir().unwrap();
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, 8]).init("w", &[8, 4], r.vec(32, -1.0, 1.0)).init("b", &[4], r.vec(4, -1.0, 1.0));
    b.node("Gemm", &["x", "w", "b"], &["h"], vec![]).node("Softmax", &["h"], &["y"], vec![("axis", I(-1))]);
    b.output("y");
    let model = b.save(dir.path(), "small");
    quantize(&model, &QuantizeOptions::default()).unwrap().bytes
}

fn outputs(bytes: &[u8], x: &[f32]) -> Vec<Vec<f32>> {
    let copy = AlignedBytes::copy_from(bytes);
    let m = Model::from_bytes(copy.as_slice()).unwrap();
    let mut s = Session::new(&m).unwrap();
    let out = s.run(&[Input::F32(x)]).unwrap();
    (0..out.len()).map(|i| out.f32(i).unwrap().to_vec()).collect()
}

#[test]
fn every_single_byte_change_to_a_signed_artifact_is_refused() {
    let key = sign::generate();
    let trusted = [key.verifying_key().to_bytes()];
    let signed = sign::sign(&small_artifact(), &key).unwrap();
    keyed(&signed, &trusted).expect("the signed artifact loads");
    // Without trusted keys it loads too: the Signature section is skippable.
    Model::from_bytes(AlignedBytes::copy_from(&signed).as_slice()).unwrap();
    let mut refused = 0;
    for at in 0..signed.len() {
        let mut bad = signed.clone();
        bad[at] ^= 0x01;
        // A keyed load verifies the checksum even when asked not to (the checksum field is the
        // one part the signature does not cover).
        let copy = AlignedBytes::copy_from(&bad);
        let opts = LoadOptions { trusted_keys: &trusted, verify_checksum: false };
        assert!(Model::from_bytes_with(copy.as_slice(), opts).is_err(), "flipping byte {at} went unnoticed");
        refused += 1;
    }
    assert_eq!(refused, signed.len());
}

#[test]
fn a_change_in_any_section_of_a_trained_model_breaks_its_signature() {
    // The int8 keyword model, signed; one byte flipped in each section (first, middle and last
    // byte), and the checksum recomputed, as a forger would: only the signature catches it.
    let key = sign::generate();
    let trusted = [key.verifying_key().to_bytes()];
    let art = trained_artifact("kws-dscnn", Precision::Fp16);
    let signed = sign::sign(art.as_slice(), &key).unwrap();
    keyed(&signed, &trusted).unwrap();
    let copy = AlignedBytes::copy_from(&signed);
    let parsed = Artifact::parse(copy.as_slice(), true).unwrap();
    let count = parsed.header.section_count.get() as usize;
    let entries = <[SectionEntry]>::ref_from_bytes(&signed[64..64 + 32 * count]).unwrap().to_vec();
    let mut kinds = Vec::new();
    for e in &entries {
        let (o, l) = (e.offset.get() as usize, e.len.get() as usize);
        if l == 0 {
            continue;
        }
        kinds.push(e.kind.get());
        for at in [o, o + l / 2, o + l - 1] {
            let mut bad = signed.clone();
            bad[at] ^= 0x80;
            let crc = ferrite_runtime::format::checksum(&bad);
            bad[48..52].copy_from_slice(&crc.to_le_bytes());
            let err = keyed(&bad, &trusted).expect_err("a forged change loads");
            // The signature is checked before any section is read: a change anywhere in a body is
            // a mismatch (or, in the Signature section itself, a key or format it does not know).
            match e.kind.get() {
                11 => assert!(
                    matches!(err, Error::SignatureMismatch | Error::BadSignature(_) | Error::UntrustedKey),
                    "the Signature section, byte {at}: {err:?}"
                ),
                kind => assert_eq!(err, Error::SignatureMismatch, "section kind {kind}, byte {at}"),
            }
        }
    }
    assert!(kinds.len() >= 9, "every section with a body was changed: {kinds:?}");
    // The header and the section table too.
    for at in [8, 14, 20, 24, 40, 64, 64 + 8, 64 + 32 * count - 1] {
        let mut bad = signed.clone();
        bad[at] ^= 0x01;
        let crc = ferrite_runtime::format::checksum(&bad);
        bad[48..52].copy_from_slice(&crc.to_le_bytes());
        assert!(keyed(&bad, &trusted).is_err(), "header byte {at}");
    }
}

#[test]
fn unsigned_untrusted_and_malformed_signatures_are_refused_each_with_its_error() {
    let (a, b) = (sign::generate(), sign::generate());
    let (ka, kb) = (a.verifying_key().to_bytes(), b.verifying_key().to_bytes());
    let plain = small_artifact();
    assert_eq!(keyed(&plain, &[ka]), Err(Error::Unsigned));
    let by_b = sign::sign(&plain, &b).unwrap();
    assert_eq!(keyed(&by_b, &[ka]), Err(Error::UntrustedKey));
    assert_eq!(keyed(&by_b, &[ka, kb]), Ok(()), "one of several trusted keys");
    // B's signature with A's key written in: the signature does not verify.
    let mut swapped = by_b.clone();
    let at = swapped.len() - 104;
    swapped[at + 8..at + 40].copy_from_slice(&ka);
    let crc = ferrite_runtime::format::checksum(&swapped);
    swapped[48..52].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(keyed(&swapped, &[ka]), Err(Error::SignatureMismatch));
    // An unknown format word.
    let mut odd = by_b.clone();
    odd[at] = 9;
    let crc = ferrite_runtime::format::checksum(&odd);
    odd[48..52].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(keyed(&odd, &[kb]), Err(Error::BadSignature(_))));
    // Re-signing replaces the signature: the same size, the new key's.
    let by_a = sign::sign(&by_b, &a).unwrap();
    assert_eq!(by_a.len(), by_b.len());
    assert_eq!(keyed(&by_a, &[ka]), Ok(()));
    assert_eq!(keyed(&by_a, &[kb]), Err(Error::UntrustedKey));
    assert_eq!(sign::signer(&by_a), Some(ka));
    assert_eq!(sign::signer(&plain), None);
}

#[test]
fn signing_keeps_what_the_model_computes() {
    let key = sign::generate();
    for (name, precision) in [("kws-dscnn", Precision::Int8), ("intent-lstm", Precision::F32)] {
        let art = if precision == Precision::Int8 {
            ferrite_e2e::int8_artifact(name, "fsdd")
        } else {
            trained_artifact(name, precision)
        };
        let signed = sign::sign(art.as_slice(), &key).unwrap();
        let m = Model::from_bytes(art.as_slice()).unwrap();
        let n: usize = m.inputs().next().unwrap().info.len();
        let mut r = Rng::new(92);
        if m.inputs().next().unwrap().info.dtype == ferrite_runtime::format::DType::F32 {
            let x = r.vec(n, -1.0, 1.0);
            assert_eq!(outputs(art.as_slice(), &x), outputs(&signed, &x), "{name}");
        }
        assert_eq!(Model::from_bytes(AlignedBytes::copy_from(&signed).as_slice()).unwrap().metadata(), m.metadata());
    }
}

#[test]
fn a_keyed_load_from_a_file_runs_the_bytes_it_checked() {
    // A mapped file shows what another writer puts in it later; a keyed load reads a private copy,
    // so rewriting the file after the check changes nothing the model runs.
    let key = sign::generate();
    let trusted = [key.verifying_key().to_bytes()];
    let signed = sign::sign(&small_artifact(), &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.fer");
    std::fs::write(&path, &signed).unwrap();
    let m = Model::open_with(&path, LoadOptions { trusted_keys: &trusted, ..Default::default() }).unwrap();
    let x: Vec<f32> = (0..8).map(|i| i as f32 / 8.0).collect();
    let before = outputs(m.bytes(), &x);
    let mut other = signed.clone();
    let w = other.len() / 2;
    other[w] ^= 0xff;
    std::fs::write(&path, &other).unwrap();
    assert_eq!(m.bytes(), &signed[..], "the model holds the bytes it checked");
    assert_eq!(outputs(m.bytes(), &x), before);
}

#[test]
fn key_files_are_openssls_and_their_errors_never_show_a_key() {
    let key = sign::generate();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("k"), dir.path().join("k.pub"));
    let private_pem = sign::private_pem(&key).unwrap();
    std::fs::write(&private, &private_pem).unwrap();
    std::fs::write(&public, sign::public_pem(&key.verifying_key()).unwrap()).unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(sign::read_private(&private).unwrap().to_bytes(), key.to_bytes());
    assert_eq!(sign::read_public(&public).unwrap(), key.verifying_key());
    assert_eq!(sign::read_public(&private).unwrap(), key.verifying_key(), "a private key gives its public half");
    // A private key file with one character changed: an error that names the file, not the key.
    let mut broken = private_pem.clone().into_bytes();
    broken[40] = if broken[40] == b'A' { b'B' } else { b'A' };
    std::fs::write(&private, &broken).unwrap();
    let e = sign::read_private(&private).unwrap_err().to_string();
    let body: String = private_pem.lines().nth(1).unwrap().chars().take(16).collect();
    assert!(e.contains("k") && !e.contains(&body), "{e}");
    assert!(sign::read_private(&public).is_err(), "a public key is not a private key");
}

#[test]
fn the_signature_fuzz_corpus_replays_without_a_panic() {
    // runtime/fuzz's `signature` target trusts the key whose seed is 32 bytes of 7; its seeds are
    // written here (FERRITE_FUZZ_SEEDS=1) and every file in its corpus replays on every test run.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let trusted = [key.verifying_key().to_bytes()];
    let dir = ferrite_e2e::repo_root().join("runtime/fuzz/corpus/signature");
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let plain = small_artifact();
        std::fs::write(dir.join("signed_small.fer"), sign::sign(&plain, &key).unwrap()).unwrap();
        std::fs::write(dir.join("unsigned_small.fer"), &plain).unwrap();
        std::fs::write(dir.join("other_key.fer"), sign::sign(&plain, &sign::generate()).unwrap()).unwrap();
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("the committed corpus") {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let _ = keyed(&bytes, &trusted);
        n += 1;
    }
    assert!(n >= 3, "the seeds are committed");
    let signed = std::fs::read(dir.join("signed_small.fer")).unwrap();
    assert_eq!(keyed(&signed, &trusted), Ok(()), "the seed signed with the fuzz target's key loads");
}
