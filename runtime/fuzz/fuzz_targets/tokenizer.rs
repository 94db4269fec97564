//! Fuzz the tokenizer (issue 13): arbitrary bytes (not only UTF-8) through the committed text
//! artifacts' tokenizers, with a plain and with a front-coded vocabulary, give ids or a typed
//! error, and both give the same ids.

#![no_main]

use ferrite_runtime::{AlignedBytes, Model, Preprocessing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = include_bytes!("../corpus/load/tiny_text_preprocess.fer");
    let front_coded = include_bytes!("../corpus/load/tiny_text_front_coded.fer");
    let mut answers = Vec::new();
    for art in [&plain[..], &front_coded[..]] {
        let bytes = AlignedBytes::copy_from(art);
        let Ok(model) = Model::from_bytes(&bytes) else { panic!("the committed text artifact loads") };
        let Preprocessing::Text(t) = model.preprocessing() else { panic!("a text artifact") };
        let mut ids = vec![0; t.seq_len()];
        let r = t.encode_bytes(data, &mut ids).map(|e| (e, ids));
        answers.push(r);
    }
    // The same vocabulary stored two ways: the same ids, or the same error.
    assert_eq!(answers[0], answers[1]);
});
