//! The C API called as C would call it: loading from memory and from a path, sessions in caller
//! memory (any 16-byte aligned address), raw text and PCM through the artifact's preprocessing,
//! tensors in and out, and a typed status for every misuse.

use ferrite::*;
use ferrite_e2e::{int8_artifact, shared_data, trained_artifact};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::preprocess::wav;
use ferrite_runtime::AlignedBytes;
use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};

/// 16-byte aligned memory of `n` bytes, starting `offset` bytes into a 64-byte aligned block.
struct Mem(Vec<u128>, usize);
impl Mem {
    fn new(n: usize, offset: usize) -> Self {
        Mem(vec![0u128; (n + offset) / 16 + 5], offset)
    }
    fn ptr(&mut self) -> *mut c_void {
        let base = self.0.as_mut_ptr() as usize;
        (base.next_multiple_of(64) + self.1) as *mut c_void
    }
}

fn load(bytes: &AlignedBytes, storage: &mut Mem) -> *mut FerriteModel {
    let mut m = null_mut();
    let st = unsafe {
        ferrite_model_from_memory(bytes.as_ptr(), bytes.len(), storage.ptr(), ferrite_model_storage_size(), &mut m)
    };
    assert_eq!(st, FERRITE_OK, "{}", msg(st));
    m
}

fn session(m: *mut FerriteModel, mem: &mut Mem) -> *mut FerriteSession {
    let mut s = null_mut();
    let st = unsafe { ferrite_session_create(m, mem.ptr(), ferrite_session_memory_size(m), &mut s) };
    assert_eq!(st, FERRITE_OK, "{}", msg(st));
    s
}

fn msg(st: i32) -> String {
    unsafe { CStr::from_ptr(ferrite_status_message(st)) }.to_string_lossy().into_owned()
}

fn label(m: *const FerriteModel, i: usize) -> String {
    let (mut p, mut n) = (null(), 0);
    assert_eq!(unsafe { ferrite_model_label(m, i, &mut p, &mut n) }, FERRITE_OK);
    String::from_utf8(unsafe { std::slice::from_raw_parts(p, n) }.to_vec()).unwrap()
}

#[test]
fn text_and_pcm_classify_like_the_runtime() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let text = int8_artifact("intent-lstm", "snips-intents");
    let mut storage = Mem::new(ferrite_model_storage_size(), 0);
    let m = load(&text, &mut storage);
    let mut mem = Mem::new(unsafe { ferrite_session_memory_size(m) }, 16); // 16- but not 64-byte aligned
    let s = session(m, &mut mem);
    for (t, want) in
        [("will it rain in paris tomorrow", "GetWeather"), ("play some jazz music by miles davis", "PlayMusic")]
    {
        let (mut l, mut p) = (usize::MAX, 0f32);
        let st = unsafe { ferrite_classify_text(s, t.as_ptr().cast(), t.len(), &mut l, &mut p) };
        assert_eq!(st, FERRITE_OK, "{}", msg(st));
        assert_eq!(label(m, l), want, "{t}");
        assert!(p > 0.5 && p <= 1.0, "{t}: probability {p}");
    }
    let (mut l, mut p) = (0, 0f32);
    assert_eq!(unsafe { ferrite_classify_text(s, " ?! ".as_ptr().cast(), 4, &mut l, &mut p) }, FERRITE_E_TEXT);
    assert_eq!(unsafe { ferrite_classify_text(s, b"caf\xe9".as_ptr().cast(), 4, &mut l, &mut p) }, FERRITE_E_TEXT);
    assert_eq!(
        unsafe { ferrite_classify_pcm16(s, [0i16; 4].as_ptr(), 4, 8000, &mut l, &mut p) },
        FERRITE_E_NO_PREPROCESSING
    );
    assert_eq!(unsafe { ferrite_model_label_count(m) }, 7);
    unsafe { ferrite_model_free(m) };

    let audio = int8_artifact("kws-dscnn", "fsdd");
    let m = load(&audio, &mut storage);
    let mut mem = Mem::new(unsafe { ferrite_session_memory_size(m) }, 32);
    let s = session(m, &mut mem);
    for clip in ["2_george_3", "7_theo_3", "9_yweweler_4"] {
        let bytes = std::fs::read(shared_data().join(format!("fsdd/recordings/{clip}.wav"))).unwrap();
        let pcm: Vec<i16> = wav::parse(&bytes).unwrap().samples().map(|v| (v * 32768.0) as i16).collect();
        let (mut l, mut p) = (usize::MAX, 0f32);
        let st = unsafe { ferrite_classify_pcm16(s, pcm.as_ptr(), pcm.len(), 8000, &mut l, &mut p) };
        assert_eq!(st, FERRITE_OK, "{}", msg(st));
        assert_eq!(label(m, l), &clip[..1], "{clip}");
        assert_eq!(
            unsafe { ferrite_classify_pcm16(s, pcm.as_ptr(), pcm.len(), 16000, &mut l, &mut p) },
            FERRITE_E_AUDIO
        );
    }
    unsafe { ferrite_model_free(m) };
}

#[test]
fn tensors_in_and_out_match_a_rust_session() {
    let art = trained_artifact("intent-lstm", Precision::F32);
    let model = ferrite_runtime::Model::from_bytes(&art).unwrap();
    let ids: Vec<i32> = (0..32).map(|i| (i * 37 % 500) + 2).collect();
    let want = ferrite_runtime::Session::new(&model)
        .unwrap()
        .run(&[ferrite_runtime::Input::I32(&ids)])
        .unwrap()
        .f32(0)
        .unwrap()
        .to_vec();
    let mut storage = Mem::new(ferrite_model_storage_size(), 0);
    let m = load(&art, &mut storage);
    let mut mem = Mem::new(unsafe { ferrite_session_memory_size(m) }, 0);
    let s = session(m, &mut mem);
    assert_eq!(unsafe { ferrite_session_set_input_i32(s, 0, ids.as_ptr(), ids.len() - 1) }, FERRITE_E_INPUT);
    assert_eq!(unsafe { ferrite_session_set_input_f32(s, 0, [0f32; 32].as_ptr(), 32) }, FERRITE_E_INPUT);
    assert_eq!(unsafe { ferrite_session_set_input_i32(s, 1, ids.as_ptr(), ids.len()) }, FERRITE_E_INPUT);
    assert_eq!(unsafe { ferrite_session_set_input_i32(s, 0, ids.as_ptr(), ids.len()) }, FERRITE_OK);
    assert_eq!(unsafe { ferrite_session_run(s) }, FERRITE_OK);
    let (mut p, mut n) = (null(), 0);
    assert_eq!(unsafe { ferrite_session_output_f32(s, 0, &mut p, &mut n) }, FERRITE_OK);
    assert_eq!(unsafe { std::slice::from_raw_parts(p, n) }, want.as_slice());
    assert_eq!(unsafe { ferrite_session_output_f32(s, 1, &mut p, &mut n) }, FERRITE_E_INDEX);
    // A token id past the vocabulary is an input error at run time, not a crash.
    let bad = [1_000_000i32; 32];
    assert_eq!(unsafe { ferrite_session_set_input_i32(s, 0, bad.as_ptr(), 32) }, FERRITE_OK);
    assert_ne!(unsafe { ferrite_session_run(s) }, FERRITE_OK);
    unsafe { ferrite_model_free(m) };
}

#[test]
fn misuse_gets_a_status_never_a_crash() {
    let art = trained_artifact("kws-dscnn", Precision::F32);
    let mut storage = Mem::new(ferrite_model_storage_size() + 64, 0);
    let mut m = null_mut();
    let size = ferrite_model_storage_size();
    unsafe {
        assert_eq!(ferrite_model_from_memory(null(), 0, storage.ptr(), size, &mut m), FERRITE_E_NULL);
        assert_eq!(
            ferrite_model_from_memory(art.as_ptr(), art.len(), storage.ptr(), size - 1, &mut m),
            FERRITE_E_BUFFER
        );
        let odd = storage.ptr().cast::<u8>().add(8).cast();
        assert_eq!(ferrite_model_from_memory(art.as_ptr(), art.len(), odd, size, &mut m), FERRITE_E_BUFFER);
        let mut bad = art.as_slice().to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x55; // checksum no longer matches
        let bad = AlignedBytes::copy_from(&bad);
        assert_eq!(ferrite_model_from_memory(bad.as_ptr(), bad.len(), storage.ptr(), size, &mut m), FERRITE_E_ARTIFACT);
        assert_eq!(
            ferrite_model_from_memory(art.as_ptr(), art.len() - 10, storage.ptr(), size, &mut m),
            FERRITE_E_ARTIFACT
        );
        let missing = c"/nonexistent/model.fer";
        assert_eq!(ferrite_model_open(missing.as_ptr(), &mut m), FERRITE_E_IO);
        assert_eq!(ferrite_model_open(null(), &mut m), FERRITE_E_NULL);

        let m = load(&art, &mut storage);
        let need = ferrite_session_memory_size(m);
        let mut mem = Mem::new(need, 0);
        let mut s = null_mut();
        assert_eq!(ferrite_session_create(m, mem.ptr(), need - 1, &mut s), FERRITE_E_BUFFER);
        assert_eq!(ferrite_session_create(m, mem.ptr().cast::<u8>().add(4).cast(), need, &mut s), FERRITE_E_BUFFER);
        assert_eq!(ferrite_session_create(null(), mem.ptr(), need, &mut s), FERRITE_E_NULL);
        assert_eq!(ferrite_session_run(null_mut()), FERRITE_E_NULL);
        let s = session(m, &mut mem);
        let (mut l, mut p) = (0, 0f32);
        assert_eq!(ferrite_classify_text(s, c"hello".as_ptr(), 5, &mut l, &mut p), FERRITE_E_NO_PREPROCESSING);
        assert_eq!(ferrite_classify_pcm16(s, [0i16; 8].as_ptr(), 8, 8000, null_mut(), &mut p), FERRITE_E_NULL);
        let (mut t, mut n) = (null(), 0);
        assert_eq!(ferrite_model_label(m, 99, &mut t, &mut n), FERRITE_E_INDEX);
        ferrite_model_free(m);
        ferrite_model_free(null_mut());
    }
    // Every status has its own message; unknown codes get one too.
    let msgs: std::collections::HashSet<String> = (0..=12).map(msg).collect();
    assert_eq!(msgs.len(), 13);
    assert_eq!(msg(999), "unknown status code");
}

#[test]
fn a_path_opens_and_frees() {
    let art = trained_artifact("intent-lstm", Precision::F32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("intent.fer");
    std::fs::write(&path, art.as_slice()).unwrap();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut m = null_mut();
    assert_eq!(unsafe { ferrite_model_open(c.as_ptr(), &mut m) }, FERRITE_OK);
    let mut mem = Mem::new(unsafe { ferrite_session_memory_size(m) }, 48);
    let s = session(m, &mut mem);
    let (mut l, mut p) = (0, 0f32);
    let t = "book a table for two at an italian restaurant";
    assert_eq!(unsafe { ferrite_classify_text(s, t.as_ptr().cast(), t.len(), &mut l, &mut p) }, FERRITE_OK);
    assert_eq!(label(m, l), "BookRestaurant");
    unsafe { ferrite_model_free(m) };
}

/// Pushes `pcm` into stream `s` in chunks of `chunk` samples, each chunk until every sample is
/// taken: the detections as (label, score bits, start, end).
fn push_all(s: *mut FerriteStream, pcm: &[i16], chunk: usize) -> Vec<(usize, u32, u64, u64)> {
    let mut got = Vec::new();
    for chunk in pcm.chunks(chunk) {
        let mut at = 0;
        while at < chunk.len() {
            let (mut taken, mut fired, mut d) = (0usize, 0i32, FerriteDetection::default());
            let st = unsafe {
                ferrite_stream_push(s, chunk[at..].as_ptr(), chunk.len() - at, &mut taken, &mut fired, &mut d)
            };
            assert_eq!(st, FERRITE_OK, "{}", msg(st));
            assert!(taken > 0 && taken <= chunk.len() - at);
            at += taken;
            if fired == 1 {
                got.push((d.label, d.score.to_bits(), d.start, d.end));
            }
        }
    }
    got
}

/// A keyword stream through the C API gives the Rust stream's detections, one per call, whatever
/// the chunk sizes; bad parameters and misuse get statuses.
#[test]
fn a_stream_detects_like_the_runtime() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    use ferrite_runtime::stream::{KeywordStream, OwnedStreamBuffers};
    use ferrite_runtime::{Model, Preprocessing, Session};
    let kws = int8_artifact("kws-dscnn", "fsdd");
    let mut pcm = Vec::new();
    for clip in ["2_george_1.wav", "6_theo_3.wav", "9_lucas_0.wav"] {
        pcm.extend(std::iter::repeat_n(0i16, 3000));
        let b = std::fs::read(shared_data().join("fsdd/recordings").join(clip)).unwrap();
        pcm.extend(wav::parse(&b).unwrap().samples().map(|v| (v * 32768.0) as i16));
    }
    pcm.extend(std::iter::repeat_n(0i16, 8000));

    // The Rust stream, with the same (default) parameters.
    let model = Model::from_bytes(&kws).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!() };
    let params = model.stream_params().unwrap_or_else(|| ferrite_runtime::stream::StreamParams::defaults_for(&fe));
    let mut bufs = OwnedStreamBuffers::new(&fe, model.labels().count(), &params).unwrap();
    let mut rust = KeywordStream::new(Session::new(&model).unwrap(), params, bufs.borrow()).unwrap();
    let mut want = Vec::new();
    rust.push(&pcm, |d| want.push((d.class, d.score.to_bits(), d.start, d.end))).unwrap();
    assert!(want.len() >= 2, "{want:?}");

    let mut storage = Mem::new(ferrite_model_storage_size(), 0);
    let m = load(&kws, &mut storage);
    let mut p = FerriteStreamParams { hop_frames: 0, smooth: 0, threshold: 0.0, refractory: 0, background: -1 };
    assert_eq!(unsafe { ferrite_stream_defaults(m, &mut p) }, FERRITE_OK);
    let size = unsafe { ferrite_stream_memory_size(m, &p) };
    assert!(size > 0);
    let mut mem = Mem::new(size, 16);
    let mut s = null_mut();
    assert_eq!(unsafe { ferrite_stream_create(m, &p, mem.ptr(), size - 1, &mut s) }, FERRITE_E_BUFFER);
    let bad = FerriteStreamParams { threshold: 1.5, ..p };
    assert_eq!(unsafe { ferrite_stream_memory_size(m, &bad) }, 0);
    assert_eq!(unsafe { ferrite_stream_create(m, &bad, mem.ptr(), size, &mut s) }, FERRITE_E_INPUT);
    assert_eq!(unsafe { ferrite_stream_create(m, &p, mem.ptr(), size, &mut s) }, FERRITE_OK);
    assert_eq!(push_all(s, &pcm, 777), want, "the C stream's detections are the Rust stream's");
    assert_eq!(unsafe { ferrite_stream_samples(s) }, pcm.len() as u64);
    assert_eq!(unsafe { ferrite_stream_reset(s) }, FERRITE_OK);
    assert_eq!(unsafe { ferrite_stream_samples(s) }, 0);
    let (mut taken, mut fired, mut d) = (0usize, 0i32, FerriteDetection::default());
    assert_eq!(
        unsafe { ferrite_stream_push(null_mut(), pcm.as_ptr(), 1, &mut taken, &mut fired, &mut d) },
        FERRITE_E_NULL
    );
    assert_eq!(unsafe { ferrite_stream_push(s, null(), 1, &mut taken, &mut fired, &mut d) }, FERRITE_E_NULL);
    assert_eq!(unsafe { ferrite_stream_push(s, null(), 0, &mut taken, &mut fired, &mut d) }, FERRITE_OK);

    // A text model has no stream.
    let text = int8_artifact("intent-lstm", "snips-intents");
    let mut storage2 = Mem::new(ferrite_model_storage_size(), 0);
    let t = load(&text, &mut storage2);
    assert_eq!(unsafe { ferrite_stream_defaults(t, &mut p) }, FERRITE_E_NO_PREPROCESSING);
    assert_eq!(unsafe { ferrite_stream_memory_size(t, &p) }, 0);
    unsafe {
        ferrite_model_free(m);
        ferrite_model_free(t);
    }
}

/// A recurrent stream through the C API (kws-crnn's step model with its whole-clip model's
/// frontend) gives the Rust `RecurrentStream`'s detections; a step model that does not fit and a
/// frontend that subtracts the window mean are refused with statuses.
#[test]
fn a_recurrent_stream_detects_like_the_runtime() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    use ferrite_runtime::stream::{OwnedStreamBuffers, RecurrentStream, StreamParams};
    use ferrite_runtime::{Model, Preprocessing, Session};
    let (whole_bytes, step_bytes) = (trained_artifact("kws-crnn", Precision::F32), ferrite_e2e::crnn_step_artifact());
    let mut pcm = Vec::new();
    for clip in ["3_george_2.wav", "8_lucas_4.wav", "5_theo_1.wav"] {
        pcm.extend(std::iter::repeat_n(0i16, 4000));
        let b = std::fs::read(shared_data().join("fsdd/recordings").join(clip)).unwrap();
        pcm.extend(wav::parse(&b).unwrap().samples().map(|v| (v * 32768.0) as i16));
    }
    pcm.extend(std::iter::repeat_n(0i16, 8000));

    // The Rust stream, at a threshold low enough for the step model to fire on these clips.
    let (whole, step) = (Model::from_bytes(&whole_bytes).unwrap(), Model::from_bytes(&step_bytes).unwrap());
    let Preprocessing::Audio(fe) = whole.preprocessing() else { panic!() };
    let params = StreamParams { threshold: 0.5, ..whole.stream_params().unwrap() };
    let classes = whole.labels().count();
    let mut bufs = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
    let mut state = vec![0f32; step.inputs().nth(1).unwrap().info.len()];
    let mut rust = RecurrentStream::new(Session::new(&step).unwrap(), fe, params, bufs.borrow(), &mut state).unwrap();
    let mut want = Vec::new();
    rust.push(&pcm, |d| want.push((d.class, d.score.to_bits(), d.start, d.end))).unwrap();
    assert!(!want.is_empty(), "the step model fires at least once");
    eprintln!("recurrent stream: {} detections {want:?}", want.len());

    let (mut s1, mut s2) = (Mem::new(ferrite_model_storage_size(), 0), Mem::new(ferrite_model_storage_size(), 0));
    let (w, st) = (load(&whole_bytes, &mut s1), load(&step_bytes, &mut s2));
    let mut p = FerriteStreamParams { hop_frames: 0, smooth: 0, threshold: 0.0, refractory: 0, background: -1 };
    assert_eq!(unsafe { ferrite_stream_defaults(w, &mut p) }, FERRITE_OK);
    p.threshold = 0.5;
    let size = unsafe { ferrite_recurrent_stream_memory_size(w, st, &p) };
    assert!(size > 0);
    let mut mem = Mem::new(size, 32);
    let mut s = null_mut();
    assert_eq!(unsafe { ferrite_recurrent_stream_create(w, st, &p, mem.ptr(), size - 1, &mut s) }, FERRITE_E_BUFFER);
    assert_eq!(unsafe { ferrite_recurrent_stream_create(w, null(), &p, mem.ptr(), size, &mut s) }, FERRITE_E_NULL);
    // The whole-clip model is not a step model: no state input.
    assert_eq!(unsafe { ferrite_recurrent_stream_memory_size(w, w, &p) }, 0);
    assert_eq!(unsafe { ferrite_recurrent_stream_create(w, w, &p, mem.ptr(), size, &mut s) }, FERRITE_E_INPUT);
    assert_eq!(unsafe { ferrite_recurrent_stream_create(w, st, &p, mem.ptr(), size, &mut s) }, FERRITE_OK);
    assert_eq!(push_all(s, &pcm, 1013), want, "the C recurrent stream's detections are the Rust stream's");
    assert_eq!(unsafe { ferrite_stream_samples(s) }, pcm.len() as u64);
    // After a reset the state is zero again: the same detections a second time.
    assert_eq!(unsafe { ferrite_stream_reset(s) }, FERRITE_OK);
    assert_eq!(push_all(s, &pcm, pcm.len()), want, "reset starts the state over");

    // kws-dscnn's frontend subtracts each window's mean: no step model can take it.
    let dscnn = trained_artifact("kws-dscnn", Precision::F32);
    let mut s3 = Mem::new(ferrite_model_storage_size(), 0);
    let d = load(&dscnn, &mut s3);
    let mut dp = p;
    assert_eq!(unsafe { ferrite_stream_defaults(d, &mut dp) }, FERRITE_OK);
    let dsize = unsafe { ferrite_recurrent_stream_memory_size(d, st, &dp) };
    let mut dmem = Mem::new(dsize, 0);
    assert_eq!(unsafe { ferrite_recurrent_stream_create(d, st, &dp, dmem.ptr(), dsize, &mut s) }, FERRITE_E_ARTIFACT);
    unsafe {
        ferrite_model_free(w);
        ferrite_model_free(st);
        ferrite_model_free(d);
    }
}

#[test]
fn a_keyed_load_checks_the_signature() {
    // Signed with ferrite_quantizer::sign (as `ferrite sign` does); checked in memory and by path.
    let key = ferrite_quantizer::sign::generate();
    let other = ferrite_quantizer::sign::generate();
    let (k, o) = (key.verifying_key().to_bytes(), other.verifying_key().to_bytes());
    let art = trained_artifact("intent-lstm", Precision::Fp16);
    let signed = AlignedBytes::copy_from(&ferrite_quantizer::sign::sign(art.as_slice(), &key).unwrap());
    let mut storage = Mem::new(ferrite_model_storage_size(), 0);
    let size = ferrite_model_storage_size();
    let load = |bytes: &AlignedBytes, keys: &[[u8; 32]], storage: &mut Mem| {
        let mut m = null_mut();
        let st = unsafe {
            ferrite_model_from_memory_signed(
                bytes.as_ptr(),
                bytes.len(),
                keys.as_ptr().cast(),
                keys.len(),
                storage.ptr(),
                size,
                &mut m,
            )
        };
        if st == FERRITE_OK {
            unsafe { ferrite_model_free(m) };
        }
        st
    };
    assert_eq!(load(&signed, &[k], &mut storage), FERRITE_OK);
    assert_eq!(load(&signed, &[o, k], &mut storage), FERRITE_OK, "one of two trusted keys");
    assert_eq!(load(&signed, &[], &mut storage), FERRITE_OK, "no keys: not checked");
    assert_eq!(load(&signed, &[o], &mut storage), FERRITE_E_UNTRUSTED_KEY);
    assert_eq!(load(&art, &[k], &mut storage), FERRITE_E_UNSIGNED);
    let mut forged = signed.as_slice().to_vec();
    let mid = forged.len() / 2;
    forged[mid] ^= 0x10;
    let crc = ferrite_runtime::format::checksum(&forged);
    forged[48..52].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(load(&AlignedBytes::copy_from(&forged), &[k], &mut storage), FERRITE_E_BAD_SIGNATURE);
    assert!(msg(FERRITE_E_BAD_SIGNATURE).contains("changed after signing"));
    let mut m = null_mut();
    let st = unsafe {
        ferrite_model_from_memory_signed(signed.as_ptr(), signed.len(), null(), 1, storage.ptr(), size, &mut m)
    };
    assert_eq!(st, FERRITE_E_NULL, "keys announced but not given");
    // By path: read into memory, checked, freed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.fer");
    std::fs::write(&path, signed.as_slice()).unwrap();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut m = null_mut();
    assert_eq!(unsafe { ferrite_model_open_signed(c.as_ptr(), [k].as_ptr().cast(), 1, &mut m) }, FERRITE_OK);
    unsafe { ferrite_model_free(m) };
    assert_eq!(
        unsafe { ferrite_model_open_signed(c.as_ptr(), [o].as_ptr().cast(), 1, &mut m) },
        FERRITE_E_UNTRUSTED_KEY
    );
}
