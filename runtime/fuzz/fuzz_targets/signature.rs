//! Fuzz the signature check (issue 13): arbitrary bytes through a load that trusts one key must
//! give `Ok` or a typed `Err`, never a panic. Seeds (corpus/signature, written by
//! `FERRITE_FUZZ_SEEDS=1 cargo test --test signing`) are artifacts signed with the key whose
//! seed is 32 bytes of 7 (trusted here), one unsigned, one signed by another key. Half the inputs
//! get their checksum fixed, so the fuzzer reaches the signature behind it.

#![no_main]

use ferrite_runtime::format::checksum;
use ferrite_runtime::{AlignedBytes, LoadOptions, Model};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let trusted = [*ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32])).pk];
    let mut bytes = data.to_vec();
    if bytes.len() >= 64 && bytes[0] & 1 == 1 {
        let c = checksum(&bytes);
        bytes[48..52].copy_from_slice(&c.to_le_bytes());
    }
    let buf = AlignedBytes::copy_from(&bytes);
    let _ = Model::from_bytes_with(&buf, LoadOptions { trusted_keys: &trusted, ..Default::default() });
});
