//! Fuzz tokenizer `wordpiece-v1` (issue 14): arbitrary bytes (not only UTF-8) through the tiny
//! wordpiece artifacts (vocabulary as records and front-coded) give ids or a typed error, the two
//! agree, every id is in the vocabulary, the counts are consistent, and masking any word works.

#![no_main]

use ferrite_runtime::{AlignedBytes, Model, Preprocessing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = include_bytes!("../corpus/load/tiny_wordpiece.fer");
    let front_coded = include_bytes!("../corpus/load/tiny_wordpiece_front_coded.fer");
    let mut answers = Vec::new();
    for art in [&plain[..], &front_coded[..]] {
        let bytes = AlignedBytes::copy_from(art);
        let Ok(model) = Model::from_bytes(&bytes) else { panic!("the committed wordpiece artifact loads") };
        let Preprocessing::Text(t) = model.preprocessing() else { panic!("a text artifact") };
        let mut ids = vec![0; t.seq_len()];
        let r = t.encode_bytes(data, &mut ids).map(|e| (e, ids.clone()));
        if let Ok((e, ids)) = &r {
            let vocab = t.vocab_len() as i32;
            assert!(ids.iter().all(|&i| (0..vocab).contains(&i)), "ids in the vocabulary");
            assert!(e.kept <= e.words && e.unknown <= e.kept && e.tokens >= 2 && e.tokens <= ids.len());
            let text = core::str::from_utf8(data).expect("encoded text is UTF-8");
            let mut spans = 0;
            t.each_word(text, |span, _| {
                assert!(span.start < span.end && text.get(span).is_some(), "word spans are in the text");
                spans += 1;
            });
            assert_eq!(spans, e.words);
            let mut masked = vec![0; ids.len()];
            for w in 0..e.kept.min(8) {
                t.encode_masking(text, Some(w), &mut masked).expect("masking a word");
            }
        }
        answers.push(r.map(|(e, ids)| (e, ids)));
    }
    assert_eq!(answers[0], answers[1]);
});
