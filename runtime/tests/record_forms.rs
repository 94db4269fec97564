//! Compact and full-width records (docs/FORMAT.md, "Compact records"): a runtime with the
//! `full-records` feature (every `std` build) reads both; one without it (firmware) reads compact
//! files and refuses full-width ones with a typed error. `.ci/run` runs this file in both builds.

use ferrite_runtime::{AlignedBytes, Error, Model};

fn read(rel: &str) -> AlignedBytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    AlignedBytes::copy_from(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn compact_files_load_and_full_ones_need_their_feature() {
    // The stripped int8 keyword spotter (compact records), as `ferrite quantize --strip` writes it.
    let compact = read("fuzz/corpus/load/kws_dscnn_int8_compact.fer");
    let m = Model::from_bytes(compact.as_slice()).expect("a compact file loads in every build");
    assert_eq!(m.op_count(), 13);
    assert!(m.artifact().caps() & ferrite_runtime::format::caps::COMPACT != 0);

    let full = read("../tests/golden/v1/tiny_text_preprocess.fer");
    let (built, text) = (cfg!(feature = "full-records"), cfg!(feature = "error-text"));
    match Model::from_bytes(full.as_slice()) {
        Ok(_) => assert!(built, "a full-width file loaded without full-records"),
        Err(Error::BadHeaderField(rule)) => {
            assert!(!built, "refused with full-records on: {rule}");
            assert!(!text || rule.contains("full-records"), "{rule}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}
