//! Fuzz the tokenizer (issue 13): arbitrary bytes (not only UTF-8) through a committed text
//! artifact's tokenizer give ids or a typed error.

#![no_main]

use ferrite_runtime::{AlignedBytes, Model, Preprocessing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = include_bytes!("../corpus/load/tiny_text_preprocess.fer");
    for art in [&plain[..]] {
        let bytes = AlignedBytes::copy_from(art);
        let Ok(model) = Model::from_bytes(&bytes) else { panic!("the committed text artifact loads") };
        let Preprocessing::Text(t) = model.preprocessing() else { panic!("a text artifact") };
        let mut ids = vec![0; t.seq_len()];
        let _ = t.encode_bytes(data, &mut ids);
    }
});
