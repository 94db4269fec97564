//! Fuzz the tokenizer (issue 13): arbitrary bytes (not only UTF-8) through the committed text
//! artifacts' tokenizers, with a plain and with a front-coded vocabulary, give ids or a typed
//! error, and both agree. The front-coded vocabulary is the plain one with 30 words appended
//! (w00 … w29, so that it spans several blocks): its ids for those read as unknown in the plain
//! one, and every other id is the same.

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
        let r = t.encode_bytes(data, &mut ids).map(|e| (e.words, e.truncated, ids));
        answers.push((r, t.vocab_len(), t.unk_id()));
    }
    let ((plain, plain_len, unk), (mut coded, ..)) = (answers[0].clone(), answers[1].clone());
    if let Ok((_, _, ids)) = &mut coded {
        // Ids past the plain vocabulary's (2 + its words) are the appended words.
        ids.iter_mut().filter(|i| **i as usize >= 2 + plain_len).for_each(|i| *i = unk as i32);
    }
    assert_eq!(plain, coded);
});
