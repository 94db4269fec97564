//! The `error-text` feature: with it (every `std` build) a broken rule's error carries its text;
//! without it (firmware) the same typed error carries an empty text and `Display` says the text
//! was left out. `.ci/run` runs this file in both builds.

use ferrite_runtime::{AlignedBytes, Error, LoadOptions, Model};

/// A valid artifact with one reserved header byte set: the loader must refuse it by its rule.
fn reserved_byte_set() -> AlignedBytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/v1/tiny_text_preprocess.fer");
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes[60] = 1; // header.reserved (offset 52..64)
    AlignedBytes::copy_from(&bytes)
}

#[test]
fn a_broken_rule_is_typed_with_or_without_its_text() {
    let bytes = reserved_byte_set();
    let err =
        Model::from_bytes_with(bytes.as_slice(), LoadOptions { verify_checksum: false, ..Default::default() }).err();
    let Some(Error::BadHeaderField(rule)) = err else { panic!("expected BadHeaderField, got {err:?}") };
    let shown = Error::BadHeaderField(rule).to_string();
    if cfg!(feature = "error-text") {
        assert_eq!(rule, "reserved bytes must be 0");
        assert_eq!(shown, "bad header field: reserved bytes must be 0");
    } else {
        assert_eq!(rule, "", "a rule's text was built in without error-text");
        assert!(shown.starts_with("bad header field: (rule text not built in"), "{shown}");
    }
}
