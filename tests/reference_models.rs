//! The two reference models (models/ref-*): f32 and fp16 artifacts against tract and against the
//! committed golden outputs (ONNX Runtime, written by models/export_reference.py), plus the size
//! targets of the artifact format.

use ferrite_e2e::{ferrite_artifact, ferrite_run, npy_value, rel_l2, repo_root, tract_run, Value};
use ferrite_quantizer::quantize::Precision;

fn check_model(name: &str) {
    let dir = repo_root().join("models").join(name);
    let onnx = dir.join("model.onnx");
    let input = npy_value(&dir.join("input.npy"));
    let golden = match npy_value(&dir.join("output.npy")) {
        Value::F32(_, v) => v,
        _ => panic!("golden must be f32"),
    };
    let tract = tract_run(&onnx, std::slice::from_ref(&input));
    assert!(rel_l2(&tract[0], &golden) <= 1e-5, "{name}: tract and the golden disagree");
    let onnx_len = std::fs::metadata(&onnx).unwrap().len() as f64;
    for (precision, tol, max_size) in [(Precision::F32, 1e-4, 1.02), (Precision::Fp16, 1e-2, 0.52)] {
        let art = ferrite_artifact(&onnx, precision, &[]);
        let ratio = art.len() as f64 / onnx_len;
        assert!(
            ratio <= max_size,
            "{name} {precision:?}: artifact is {:.1}% of the ONNX file (max {:.0}%)",
            ratio * 100.0,
            max_size * 100.0
        );
        let got = ferrite_run(&art, std::slice::from_ref(&input));
        let e_tract = rel_l2(&got[0], &tract[0]);
        let e_golden = rel_l2(&got[0], &golden);
        eprintln!(
            "{name} {precision:?}: size {:.1}% of ONNX, rel L2 vs tract {e_tract:e}, vs golden {e_golden:e}",
            ratio * 100.0
        );
        assert!(e_tract <= tol, "{name} {precision:?}: rel L2 vs tract {e_tract:e} > {tol:e}");
        assert!(e_golden <= tol, "{name} {precision:?}: rel L2 vs golden {e_golden:e} > {tol:e}");
    }
}

#[test]
fn ref_text_lstm_matches_tract_and_golden() {
    check_model("ref-text-lstm");
}

#[test]
fn ref_kws_dscnn_matches_tract_and_golden() {
    check_model("ref-kws-dscnn");
}

#[test]
fn open_maps_a_file_and_validates_it() {
    // Model::open is the mmap path (the runtime's one `unsafe` block): a good file loads and runs,
    // a corrupted one is rejected, a missing one is an I/O error.
    let dir = tempfile::tempdir().unwrap();
    let onnx = repo_root().join("models/ref-kws-dscnn/model.onnx");
    let art = ferrite_artifact(&onnx, Precision::Fp16, &[]);
    let path = dir.path().join("kws.fer");
    std::fs::write(&path, &*art).unwrap();
    let model = ferrite_runtime::Model::open(&path).unwrap();
    let input = npy_value(&repo_root().join("models/ref-kws-dscnn/input.npy"));
    let Value::F32(_, x) = &input else { panic!() };
    let mut s = ferrite_runtime::Session::new(&model).unwrap();
    let out = s.run(&[ferrite_runtime::Input::F32(x)]).unwrap();
    assert_eq!(out.f32(0).unwrap(), ferrite_run(&art, std::slice::from_ref(&input))[0].as_slice());
    let mut bad = art.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert!(matches!(ferrite_runtime::Model::open(&path), Err(ferrite_runtime::Error::ChecksumMismatch { .. })));
    assert!(matches!(
        ferrite_runtime::Model::open(dir.path().join("none.fer")),
        Err(ferrite_runtime::Error::Io(Some(_)))
    ));
    // A file of several megabytes: Model::open checksums it a megabyte at a time, releasing each
    // megabyte's pages (the second `unsafe` block, a madvise): the same verdict and figures as the
    // checksum over the bytes in memory, whichever chunk a flipped byte is in.
    let big = ferrite_e2e::trained_artifact("intent-lstm", Precision::F32);
    assert!(big.len() > 2 << 20, "{} bytes: more than two chunks", big.len());
    std::fs::write(&path, &*big).unwrap();
    let m = ferrite_runtime::Model::open(&path).unwrap();
    assert_eq!(m.bytes(), &big[..]);
    for at in [100, (1 << 20) + 7, big.len() - 1] {
        let mut bad = big.to_vec();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        let expected = u32::from_le_bytes(bad[48..52].try_into().unwrap());
        let actual = ferrite_runtime::format::checksum(&bad);
        assert_eq!(
            ferrite_runtime::Model::open(&path).map(|_| ()),
            Err(ferrite_runtime::Error::ChecksumMismatch { expected, actual }),
            "byte {at}"
        );
    }
}
