//! Fuzz the artifact loader: arbitrary bytes must give `Ok` or a typed `Err`, never a panic, and
//! whatever loads must run (and preprocess raw text and audio) without panicking. Half the inputs get their checksum fixed so the
//! fuzzer reaches the checks behind it.

#![no_main]

use ferrite_runtime::format::checksum;
use ferrite_runtime::{AlignedBytes, Input, LoadOptions, Model, Preprocessing, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() >= 64 && bytes[0] & 1 == 1 {
        let c = checksum(&bytes);
        bytes[48..52].copy_from_slice(&c.to_le_bytes());
    }
    let buf = AlignedBytes::copy_from(&bytes);
    for verify in [true, false] {
        let Ok(model) = Model::from_bytes_with(&buf, LoadOptions { verify_checksum: verify, ..Default::default() }) else { continue };
        // Whatever loads must also tokenize and featurize without panicking.
        let _ = model.labels().count();
        match model.preprocessing() {
            Preprocessing::Text(t) => {
                let mut ids = vec![0; t.seq_len()];
                let _ = t.encode("Play some JAZZ in Paris, straße é", &mut ids);
            }
            Preprocessing::Audio(fe) if fe.clip_samples() <= 1 << 16 => {
                let samples: Vec<f32> = (0..2000).map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5).collect();
                let _ = fe.features_at(&samples, 16000);
            }
            _ => {}
        }
        // A tiny file can declare huge activations; a device caps what it will allocate.
        if model.arena_len() > 256 << 20 {
            continue;
        }
        let Ok(mut session) = Session::new(&model) else { continue };
        let feeds: Vec<Vec<f32>> = model.inputs().map(|d| vec![0.5; d.info.len().min(1 << 20)]).collect();
        let inputs: Vec<Input<'_>> = feeds.iter().map(|v| Input::F32(v)).collect();
        let _ = session.run(&inputs);
    }
});
