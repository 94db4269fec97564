//! Fuzz the `.npy` reader (issue 13): arbitrary bytes through `npy::parse` give an array or a
//! typed error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = ferrite_quantizer::npy::parse(Path::new("fuzz.npy"), data);
});
