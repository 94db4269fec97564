//! Zero heap allocations while a device runs a model: loading an artifact from memory, a session
//! over caller buffers, every run, reading outputs and labels, and the text and audio
//! preprocessing (WAV parsing, resampling, features, tokenizing into caller buffers) — for every
//! model in `models/` at every precision — the firmware's in-place path, the C API's calls, and a
//! keyword stream (Rust and C) over ten minutes of audio. A counting global allocator counts what the test's own
//! thread allocates between arming and disarming it (other tests' threads are not counted).

use ferrite_e2e::{int8_artifact, real_input, ref_artifact, shared_data, trained_artifact, Feed};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::preprocess::{resample, wav};
use ferrite_runtime::{
    AlignedBytes, Model, OutputData, PreparedOp, Preprocessing, Region, Session, SessionOptions, ARENA_ALIGN,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the allocations of armed threads.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A const initialiser: reading it never allocates (no lazy registration).
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to the system allocator with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// How many heap allocations `f` makes on this thread.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (ALLOCATIONS.load(Ordering::Relaxed) - before, r)
}

/// The counter counts: a Vec on this thread is one allocation.
#[test]
fn the_counter_sees_an_allocation() {
    let (n, v) = allocations(|| vec![1u8; 100]);
    assert_eq!((n, v.len()), (1, 100));
}

/// Caller memory for a session: an aligned arena and the prepared-op tables.
struct Buffers {
    arena: Vec<u8>,
    ops: Vec<PreparedOp>,
    regions: Vec<Region>,
}

impl Buffers {
    fn for_model(m: &Model<'_>) -> Self {
        Buffers {
            arena: vec![0u8; m.arena_len() + ARENA_ALIGN],
            ops: vec![PreparedOp::EMPTY; m.op_count()],
            regions: vec![Region::EMPTY; m.region_count()],
        }
    }
}

/// Loads `bytes`, builds a session over caller buffers, runs it three times on `input` and reads
/// every output and the top label: the number of allocations, and the first output's checksum
/// (so that the work cannot be skipped).
fn run_without_heap(bytes: &AlignedBytes, input: &Feed, bufs: &mut Buffers) -> (usize, f64) {
    let Buffers { arena, ops, regions } = bufs;
    let skip = arena.as_ptr().align_offset(ARENA_ALIGN);
    let arena = &mut arena[skip..];
    // The input list is built before counting: only the runtime's own work is measured.
    let inputs = input.as_inputs();
    allocations(|| {
        let model = Model::from_bytes(bytes).expect("load");
        let mut s = Session::with_buffers(&model, arena, ops, regions, SessionOptions::default()).expect("session");
        let mut sum = 0.0f64;
        for _ in 0..3 {
            let out = s.run(&inputs).expect("run");
            for i in 0..out.len() {
                let (_, info, data) = out.get(i).expect("output");
                assert!(!info.shape().is_empty() || info.len() == 1);
                sum += match data {
                    OutputData::F32(v) => v.iter().map(|&x| x as f64).sum::<f64>(),
                    OutputData::I8(v) => v.iter().map(|&x| x as f64).sum(),
                    OutputData::I32(v) => v.iter().map(|&x| x as f64).sum(),
                    OutputData::U8(v) => v.iter().map(|&x| x as f64).sum(),
                };
            }
            if let Some(v) = out.f32(0) {
                let top = v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
                let _ = model.label(top);
            }
        }
        sum
    })
}

#[test]
fn inference_allocates_nothing_for_every_model_and_precision() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    // Sessions read FERRITE_KERNELS once per process (std builds): let that happen before counting.
    let _warm = ferrite_runtime::kernels::Tier::from_env();
    let mut cases: Vec<(String, AlignedBytes, Option<Feed>)> = Vec::new();
    for (name, data) in [
        ("kws-dscnn", "fsdd"),
        ("kws-crnn", "fsdd"),
        ("intent-lstm", "snips-intents"),
        ("intent-transformer", "snips-intents"),
    ] {
        cases.push((format!("{name} int8"), int8_artifact(name, data), None));
        cases.push((format!("{name} f32"), trained_artifact(name, Precision::F32), None));
        cases.push((format!("{name} fp16"), trained_artifact(name, Precision::Fp16), None));
    }
    for name in ["ref-kws-dscnn", "ref-text-lstm"] {
        for (p, tag) in [(Precision::Int8, "int8"), (Precision::F32, "f32"), (Precision::Fp16, "fp16")] {
            let (bytes, input) = ref_artifact(name, p);
            cases.push((format!("{name} {tag}"), bytes, Some(input)));
        }
    }
    for (what, bytes, given) in &cases {
        let model = Model::from_bytes(bytes).expect("load");
        let input = given.clone().unwrap_or_else(|| real_input(&model));
        let mut bufs = Buffers::for_model(&model);
        drop(model);
        let (n, sum) = run_without_heap(bytes, &input, &mut bufs);
        assert!(sum.is_finite(), "{what}: outputs");
        assert_eq!(n, 0, "{what}: {n} heap allocations while loading from memory, preparing and running");
    }
    assert_eq!(cases.len(), 18);
}

/// A mono 16-bit PCM WAV of `samples` at `rate`.
fn wav_bytes(samples: &[i16], rate: u32) -> Vec<u8> {
    let data = samples.len() as u32 * 2;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

#[test]
fn preprocessing_into_caller_buffers_allocates_nothing() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let kws = trained_artifact("kws-dscnn", Precision::F32);
    let intent = trained_artifact("intent-lstm", Precision::F32);
    let (kws, intent) = (Model::from_bytes(&kws).expect("load"), Model::from_bytes(&intent).expect("load"));
    let (Preprocessing::Audio(fe), Preprocessing::Text(tok)) = (kws.preprocessing(), intent.preprocessing()) else {
        panic!("kws-dscnn carries an audio frontend, intent-lstm a tokenizer");
    };
    // A real 8 kHz clip, and a 16 kHz tone that goes through the resampler.
    let real = std::fs::read(shared_data().join("fsdd/recordings/3_jackson_12.wav")).expect("FSDD clip");
    let tone: Vec<i16> = (0..16_000).map(|i| ((i as f32 * 0.07).sin() * 9000.0) as i16).collect();
    let tone = wav_bytes(&tone, 16_000);
    let mut pcm = vec![0f32; 16_000];
    let mut at_rate = vec![0f32; 16_000];
    let (mut feats, mut scratch) = (vec![0f32; fe.feature_len()], vec![0f32; fe.scratch_len()]);
    for clip in [&real, &tone] {
        let (n, sum) = allocations(|| {
            let w = wav::parse(clip).expect("wav");
            let len = w.len().min(pcm.len());
            for (d, s) in pcm.iter_mut().zip(w.samples()) {
                *d = s;
            }
            let samples = if w.sample_rate == fe.sample_rate() {
                &pcm[..len]
            } else {
                let out = resample::output_len(len, w.sample_rate, fe.sample_rate()).min(at_rate.len());
                resample::resample(&pcm[..len], w.sample_rate, fe.sample_rate(), &mut at_rate[..out])
                    .expect("resample");
                &at_rate[..out]
            };
            fe.features(samples, &mut feats, &mut scratch).expect("features");
            feats.iter().map(|&x| x as f64).sum::<f64>()
        });
        assert!(sum.is_finite() && sum != 0.0);
        assert_eq!(n, 0, "audio: {n} heap allocations (WAV, resampling, features)");
    }
    let mut ids = vec![0i32; tok.seq_len()];
    // Errors are values too: an empty text is refused without allocating.
    for text in ["will it rain in paris tomorrow", "Play some JAZZ, please!", "", "ünïcödé wörds ✓"] {
        let (n, r) = allocations(|| tok.encode(text, &mut ids));
        assert_eq!(r.is_err(), text.is_empty(), "{text:?}");
        assert_eq!(n, 0, "text {text:?}: {n} heap allocations");
    }
    assert!(ids.iter().all(|&i| i >= 0));
}

/// The firmware path end to end: frontend tables computed once, features written straight into
/// the session's input (`features_with_tables`, `input_f32_mut`, `run_in_place`), token ids
/// likewise; and the C API's calls (model from memory, session in caller memory, text and PCM
/// classification): no allocation.
#[test]
fn in_place_and_c_api_paths_allocate_nothing() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    use ferrite::*;
    for (name, data) in [("kws-dscnn", "fsdd"), ("intent-lstm", "snips-intents")] {
        let art = int8_artifact(name, data);
        let model = Model::from_bytes(&art).unwrap();
        let (mut arena, mut ops, mut regions) = (
            AlignedBytes::copy_from(&vec![0u8; model.arena_len()]),
            vec![PreparedOp::EMPTY; model.op_count()],
            vec![Region::EMPTY; model.region_count()],
        );
        let wavb = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).unwrap();
        let pcm: Vec<i16> = wav::parse(&wavb).unwrap().samples().map(|v| (v * 32768.0) as i16).collect();
        let (tables, mut frame) = match model.preprocessing() {
            Preprocessing::Audio(fe) => {
                let mut t = vec![0f32; fe.tables_len()];
                fe.tables(&mut t).unwrap();
                (t, vec![0f32; fe.frame_scratch_len()])
            }
            _ => (Vec::new(), Vec::new()),
        };
        let storage = AlignedBytes::copy_from(&vec![0u8; ferrite_model_storage_size()]);
        let mut c_model = std::ptr::null_mut();
        let st = unsafe {
            ferrite_model_from_memory(art.as_ptr(), art.len(), storage.as_ptr() as *mut _, storage.len(), &mut c_model)
        };
        assert_eq!(st, FERRITE_OK);
        let memory = AlignedBytes::copy_from(&vec![0u8; unsafe { ferrite_session_memory_size(c_model) }]);
        let (n, top) = allocations(|| {
            let mut s =
                Session::with_buffers(&model, arena.as_mut_slice(), &mut ops, &mut regions, SessionOptions::default())
                    .unwrap();
            match model.preprocessing() {
                Preprocessing::Audio(fe) => {
                    fe.features_with_tables(&pcm, &tables, s.input_f32_mut(0).unwrap(), &mut frame).unwrap()
                }
                Preprocessing::Text(tok) => {
                    tok.encode("play some jazz music", s.input_i32_mut(0).unwrap()).unwrap();
                }
                Preprocessing::None => unreachable!(),
            }
            let logits = top_index(s.run_in_place().unwrap().f32(0).unwrap());
            // The C API, the same model.
            let mut c_session = std::ptr::null_mut();
            let st =
                unsafe { ferrite_session_create(c_model, memory.as_ptr() as *mut _, memory.len(), &mut c_session) };
            assert_eq!(st, FERRITE_OK);
            let (mut label, mut p) = (0usize, 0f32);
            let st = match model.preprocessing() {
                Preprocessing::Audio(_) => unsafe {
                    ferrite_classify_pcm16(c_session, pcm.as_ptr(), pcm.len(), 8000, &mut label, &mut p)
                },
                _ => unsafe {
                    let t = "play some jazz music";
                    ferrite_classify_text(c_session, t.as_ptr().cast(), t.len(), &mut label, &mut p)
                },
            };
            assert_eq!(st, FERRITE_OK);
            (logits, label)
        });
        assert_eq!(n, 0, "{name}: {n} heap allocations on the in-place and C API paths");
        assert_eq!(top.0, top.1, "{name}: the C API's label is the in-place run's top class");
        unsafe { ferrite_model_free(c_model) };
    }
}

/// Index of the largest of a run's logits (no allocation: a fold).
fn top_index(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// A keyword stream allocates nothing after it is created, however long it runs: ten minutes of
/// audio (FSDD clips, silences and noise, in chunks of varying size) through the int8 keyword
/// spotter with no heap allocation, so its memory is the same after ten minutes as after one.
#[test]
fn a_keyword_stream_allocates_nothing_after_creation() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    use ferrite_runtime::stream::{KeywordStream, OwnedStreamBuffers, StreamParams};
    let art = int8_artifact("kws-dscnn", "fsdd");
    let model = Model::from_bytes(&art).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("kws has a frontend") };
    let params = StreamParams::defaults_for(&fe);
    let mut buffers = OwnedStreamBuffers::new(&fe, model.labels().count(), &params).unwrap();
    let mut stream = KeywordStream::new(Session::new(&model).unwrap(), params, buffers.borrow()).unwrap();
    let wavb = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).unwrap();
    let clip: Vec<i16> = wav::parse(&wavb).unwrap().samples().map(|v| (v * 32768.0) as i16).collect();
    let noise: Vec<i16> = (0..8000u32).map(|i| ((i.wrapping_mul(2_654_435_761) >> 20) as i16) - 2048).collect();
    let minute = 60 * fe.sample_rate() as u64;
    let (mut detections, mut chunk) = (0usize, 1usize);
    let (n, ()) = allocations(|| {
        while stream.samples_seen() < 10 * minute {
            for part in [&clip[..], &noise[..], &[0i16; 4000][..]] {
                for piece in part.chunks(chunk) {
                    stream.push(piece, |_| detections += 1).unwrap();
                }
                chunk = chunk % 997 + 37;
            }
        }
    });
    assert_eq!(n, 0, "{n} heap allocations in ten minutes of stream");
    assert!(stream.samples_seen() >= 10 * minute);
    assert!(detections > 0, "the clip is heard");

    // The recurrent stream (kws-crnn's step model, its state carried): nothing allocates either.
    {
        use ferrite_runtime::stream::RecurrentStream;
        let whole_bytes = trained_artifact("kws-crnn", Precision::F32);
        let whole = Model::from_bytes(&whole_bytes).unwrap();
        let Preprocessing::Audio(fe) = whole.preprocessing() else { panic!("kws-crnn has a frontend") };
        let step_bytes = ferrite_e2e::crnn_step_artifact();
        let step = Model::from_bytes(&step_bytes).unwrap();
        let params = whole.stream_params().unwrap();
        let mut bufs = OwnedStreamBuffers::new(&fe, whole.labels().count(), &params).unwrap();
        let mut state = vec![0f32; step.inputs().nth(1).unwrap().info.len()];
        let mut rs = RecurrentStream::new(Session::new(&step).unwrap(), fe, params, bufs.borrow(), &mut state).unwrap();
        let (n, ()) = allocations(|| {
            while rs.samples_seen() < minute {
                for part in [&clip[..], &noise[..]] {
                    rs.push(part, |_| ()).unwrap();
                }
            }
        });
        assert_eq!(n, 0, "{n} heap allocations in a minute of recurrent stream");
    }

    // The C API's stream: creating it in caller memory and pushing allocate nothing either.
    use ferrite::*;
    let storage = AlignedBytes::copy_from(&vec![0u8; ferrite_model_storage_size()]);
    let mut m = std::ptr::null_mut();
    let st = unsafe {
        ferrite_model_from_memory(art.as_ptr(), art.len(), storage.as_ptr() as *mut _, storage.len(), &mut m)
    };
    assert_eq!(st, FERRITE_OK);
    let mut p = FerriteStreamParams { hop_frames: 0, smooth: 0, threshold: 0.0, refractory: 0, background: -1 };
    assert_eq!(unsafe { ferrite_stream_defaults(m, &mut p) }, FERRITE_OK);
    let memory = AlignedBytes::copy_from(&vec![0u8; unsafe { ferrite_stream_memory_size(m, &p) }]);
    let (n, heard) = allocations(|| {
        let mut s = std::ptr::null_mut();
        let st = unsafe { ferrite_stream_create(m, &p, memory.as_ptr() as *mut _, memory.len(), &mut s) };
        assert_eq!(st, FERRITE_OK);
        let mut heard = 0;
        for _ in 0..10 {
            let mut at = 0;
            while at < clip.len() {
                let (mut taken, mut fired, mut d) = (0usize, 0i32, FerriteDetection::default());
                let st = unsafe {
                    ferrite_stream_push(s, clip[at..].as_ptr(), clip.len() - at, &mut taken, &mut fired, &mut d)
                };
                assert_eq!(st, FERRITE_OK);
                at += taken;
                heard += fired as usize;
            }
        }
        heard
    });
    assert_eq!(n, 0, "{n} heap allocations creating and pushing a C stream");
    assert!(heard > 0, "the C stream hears the clip");
    unsafe { ferrite_model_free(m) };
}

/// The MiniLM encoder and intent-minilm (built by models/minilm/prepare.py), int8 with dynamic
/// activations and f32: tokenizing with `wordpiece-v1` into a caller buffer, loading, preparing
/// and three runs (attention, the dynamic int8 products and their scratch included) allocate
/// nothing.
#[test]
fn the_minilm_models_allocate_nothing() {
    use ferrite_e2e::{minilm_artifact, minilm_onnx};
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let _warm = ferrite_runtime::kernels::Tier::from_env();
    for name in ["minilm", "intent-minilm"] {
        let Some(onnx) = minilm_onnx(name) else { return };
        for p in [Precision::Int8, Precision::F32] {
            let bytes = minilm_artifact(name, &onnx, p);
            let model = Model::from_bytes(&bytes).expect("load");
            let Preprocessing::Text(tok) = model.preprocessing() else { panic!("{name}: no tokenizer") };
            let mut ids = vec![0i32; tok.seq_len()];
            let text = "Do I need an umbrella in Seattle today? Ça dépend: 北京 ☔";
            let (n, e) = allocations(|| tok.encode(text, &mut ids).expect("tokenize"));
            assert_eq!(n, 0, "{name}: {n} heap allocations while tokenizing");
            assert!(e.tokens > 10 && e.words == 15, "{name}: {e:?}");
            let input = Feed::I32(ids.clone());
            let mut bufs = Buffers::for_model(&model);
            drop(model);
            let (n, sum) = run_without_heap(&bytes, &input, &mut bufs);
            assert!(sum.is_finite(), "{name} {p:?}: outputs");
            assert_eq!(n, 0, "{name} {p:?}: {n} heap allocations while loading from memory, preparing and running");
        }
    }
}
