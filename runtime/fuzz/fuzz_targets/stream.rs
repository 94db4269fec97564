//! Fuzz the streaming push path (issue 13): arbitrary 16-bit PCM, pushed in chunks of arbitrary
//! sizes (both from the input), through a keyword stream over the committed int8 keyword
//! artifact; detections or typed errors, never a panic, whatever the audio or the chunking.

#![no_main]

use ferrite_runtime::stream::{KeywordStream, OwnedStreamBuffers, StreamParams};
use ferrite_runtime::{AlignedBytes, Model, Preprocessing, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = AlignedBytes::copy_from(include_bytes!("../corpus/load/kws_dscnn_int8_v2.fer"));
    let model = Model::from_bytes(&bytes).expect("the committed keyword artifact loads");
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("an audio artifact") };
    let params = StreamParams { hop_frames: 1 + (data.first().copied().unwrap_or(0) % 20) as u32, ..StreamParams::defaults_for(&fe) };
    let classes = model.outputs().next().map_or(0, |o| o.info.len());
    let Ok(mut buffers) = OwnedStreamBuffers::new(&fe, classes, &params) else { return };
    let session = Session::new(&model).expect("session");
    let Ok(mut stream) = KeywordStream::new(session, params, buffers.borrow()) else { return };
    let pcm: Vec<i16> = data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    // Chunk sizes from the input too: 1 to 2048 samples.
    let mut at = 0;
    let mut k = 0;
    while at < pcm.len() {
        let n = 1 + (data.get(k).copied().unwrap_or(7) as usize * 8) % 2048;
        let end = (at + n).min(pcm.len());
        let _ = stream.push(&pcm[at..end], |_| {});
        at = end;
        k += 1;
    }
});
