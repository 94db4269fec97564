//! Streaming keyword spotting (runtime/src/stream): the stream's features equal the whole-clip
//! frontend's on the same samples, bit for bit, whatever the chunk sizes; the model's outputs and
//! the detections on a stream equal those of whole-clip runs on the same windows; and on a stream
//! of FSDD test clips between silences the keyword spotter detects the digits.

use ferrite_e2e::{int8_artifact, shared_data, trained_artifact, Rng};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::preprocess::{wav, AudioFrontend};
use ferrite_runtime::stream::{
    softmax, Detection, Detector, KeywordStream, OwnedStreamBuffers, StreamFrontend, StreamParams,
};
use ferrite_runtime::{Input, Model, Preprocessing, Session};

/// A clip's 16-bit samples.
fn pcm(name: &str) -> Vec<i16> {
    let bytes = std::fs::read(shared_data().join("fsdd/recordings").join(name)).expect("FSDD clip");
    let w = wav::parse(&bytes).expect("WAV");
    w.samples().map(|s| (s * 32768.0) as i16).collect()
}

/// `clips` (FSDD test-split names) with `gap` samples of near-silence before each and after the
/// last, and where each clip lies: (label, start, end).
fn stream_of(clips: &[&str], gap: usize) -> (Vec<i16>, Vec<(usize, usize, usize)>) {
    let mut r = Rng::new(5);
    let mut quiet = |n: usize| -> Vec<i16> { (0..n).map(|_| (r.uniform(-1.0, 1.0) * 20.0) as i16).collect() };
    let (mut s, mut spans) = (Vec::new(), Vec::new());
    for c in clips {
        s.extend(quiet(gap));
        let x = pcm(c);
        let digit: usize = c[..1].parse().unwrap();
        spans.push((digit, s.len(), s.len() + x.len()));
        s.extend(x);
    }
    s.extend(quiet(gap));
    (s, spans)
}

fn frontend(model: &Model<'_>) -> AudioFrontend {
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("a keyword model has a frontend") };
    fe
}

const CLIPS: [&str; 10] = [
    "0_jackson_1.wav",
    "1_lucas_2.wav",
    "2_theo_0.wav",
    "3_yweweler_3.wav",
    "4_george_4.wav",
    "5_lucas_1.wav",
    "6_jackson_3.wav",
    "7_yweweler_0.wav",
    "8_theo_4.wav",
    "9_george_2.wav",
];

#[test]
fn stream_features_equal_whole_clip_features() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let bytes = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&bytes).unwrap();
    let fe = frontend(&model);
    let (s, _) = stream_of(&CLIPS[..4], 3000);
    let mut tables = vec![0.0; fe.tables_len()];
    fe.tables(&mut tables).unwrap();
    let (mut scratch, mut samples, mut rows) =
        (vec![0.0; fe.frame_scratch_len()], vec![0.0; fe.frame_len()], vec![0.0; fe.feature_len()]);
    let mut st = StreamFrontend::new(fe, &tables, &mut scratch, &mut samples, &mut rows).unwrap();
    let (mut window, mut whole, mut whole_scratch) =
        (vec![0.0; fe.feature_len()], vec![0.0; fe.feature_len()], vec![0.0; fe.scratch_len()]);
    let mut r = Rng::new(11);
    let (mut at, mut checked) = (0, 0);
    while at < s.len() {
        // Chunks of 1 to 700 samples: frames complete inside chunks and across them.
        let n = (1 + r.below(700) as usize).min(s.len() - at);
        for &x in &s[at..at + n] {
            let Some(k) = st.push_sample(x).unwrap() else { continue };
            if k + 1 < fe.n_frames() as u64 {
                assert!(st.window(&mut window).is_err(), "no window before n_frames frames");
                continue;
            }
            st.window(&mut window).unwrap();
            let start = (k as usize + 1 - fe.n_frames()) * fe.hop();
            // The clip's last samples past the last frame's end may not have arrived yet: no frame
            // reads them, and the whole-clip frontend reads absent samples as 0.
            let end = (start + fe.clip_samples()).min(s.len());
            fe.features_i16(&s[start..end], &mut whole, &mut whole_scratch).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&window), bits(&whole), "window of frame {k}");
            checked += 1;
        }
        at += n;
    }
    assert_eq!(st.samples_seen(), s.len() as u64);
    assert!(checked > 100, "{checked} windows");
}

/// Detections of the whole-clip model on every window of `s` that the stream runs on.
fn whole_clip_detections(model: &Model<'_>, s: &[i16], params: StreamParams) -> (Vec<Vec<u32>>, Vec<Detection>) {
    let fe = frontend(model);
    let classes = model.outputs().next().unwrap().info.len();
    let mut session = Session::new(model).unwrap();
    let (mut x, mut scratch) = (vec![0.0; fe.feature_len()], vec![0.0; fe.scratch_len()]);
    let (mut post, mut history) = (vec![0.0; classes], vec![0.0; params.smooth as usize * classes]);
    let mut detector = Detector::new(params, classes, &mut history).unwrap();
    let (mut logits, mut found) = (Vec::new(), Vec::new());
    let step = fe.hop() * params.hop_frames as usize;
    let mut start = 0;
    while start + fe.clip_samples() <= s.len() {
        fe.features_i16(&s[start..start + fe.clip_samples()], &mut x, &mut scratch).unwrap();
        let out = session.run(&[Input::F32(&x)]).unwrap();
        let l = out.f32(0).unwrap();
        logits.push(l.iter().map(|v| v.to_bits()).collect());
        softmax(l, &mut post);
        found.extend(detector.observe(&post, start as u64, (start + fe.clip_samples()) as u64));
        start += step;
    }
    (logits, found)
}

#[test]
fn stream_decisions_equal_whole_clip_decisions() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    for bytes in [trained_artifact("kws-dscnn", Precision::F32), int8_artifact("kws-dscnn", "fsdd")] {
        let model = Model::from_bytes(&bytes).unwrap();
        let fe = frontend(&model);
        let (s, _) = stream_of(&CLIPS[..6], 4000);
        let params = StreamParams { hop_frames: 3, smooth: 2, threshold: 0.6, ..StreamParams::defaults_for(&fe) };
        let (want_logits, want) = whole_clip_detections(&model, &s, params);

        let mut buffers = OwnedStreamBuffers::new(&fe, model.labels().count(), &params).unwrap();
        let mut stream = KeywordStream::new(Session::new(&model).unwrap(), params, buffers.borrow()).unwrap();
        let (mut logits, mut found) = (Vec::new(), Vec::new());
        let mut r = Rng::new(3);
        let mut at = 0;
        while at < s.len() {
            let n = (1 + r.below(1500) as usize).min(s.len() - at);
            stream
                .push_windows(&s[at..at + n], |w| {
                    logits.push(w.logits.iter().map(|v| v.to_bits()).collect::<Vec<u32>>());
                    found.extend(w.detection);
                })
                .unwrap();
            at += n;
        }
        assert_eq!(logits.len(), want_logits.len(), "windows");
        assert!(logits == want_logits, "the stream's logits differ from whole-clip runs");
        assert_eq!(found, want, "detections");
        assert!(!found.is_empty(), "the clips fire");
    }
}

/// On FSDD test clips between near-silences, with the default parameters: how many digits are
/// detected inside their clip with the right label (the models know no "nothing was said", so
/// silence may fire too: counted and reported, not judged here).
#[test]
fn the_keyword_spotter_hears_digits_in_a_stream() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    let bytes = trained_artifact("kws-dscnn", Precision::F32);
    let model = Model::from_bytes(&bytes).unwrap();
    let fe = frontend(&model);
    let params = StreamParams::defaults_for(&fe);
    let names: Vec<String> =
        (0..10).flat_map(|d| ["jackson", "theo", "yweweler"].map(|sp| format!("{d}_{sp}_{}.wav", d % 5))).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (s, spans) = stream_of(&refs, 6000);
    let mut buffers = OwnedStreamBuffers::new(&fe, model.labels().count(), &params).unwrap();
    let mut stream = KeywordStream::new(Session::new(&model).unwrap(), params, buffers.borrow()).unwrap();
    let mut found = Vec::new();
    for chunk in s.chunks(512) {
        stream.push(chunk, |d| found.push(d)).unwrap();
    }
    let hit = |&(digit, a, b): &(usize, usize, usize)| {
        found.iter().any(|d| d.class == digit && (d.start as usize) < b && (d.end as usize) > a)
    };
    let hits = spans.iter().filter(|s| hit(s)).count();
    let outside =
        found.iter().filter(|d| !spans.iter().any(|&(_, a, b)| (d.start as usize) < b && (d.end as usize) > a)).count();
    eprintln!(
        "stream of {} s: {hits} of {} digits detected in their clip; {} detections, {outside} away from every clip",
        s.len() / fe.sample_rate() as usize,
        spans.len(),
        found.len()
    );
    assert!(hits * 10 >= spans.len() * 8, "{hits} of {} digits detected", spans.len());
}

/// A recurrent stream runs the step model once per frame with its state carried: its logits are
/// those of the step model run frame by frame by hand on the stream's frames (bit for bit), its
/// detections the runtime Detector's on them, and after one clip's worth of frames its logits are
/// the whole-clip model's on that first window (the network is causal).
#[test]
fn a_recurrent_stream_carries_its_state_from_frame_to_frame() {
    if !ferrite_e2e::have_shared_data() {
        return;
    }
    use ferrite_runtime::stream::RecurrentStream;
    let whole_bytes = trained_artifact("kws-crnn", Precision::F32);
    let whole = Model::from_bytes(&whole_bytes).unwrap();
    let fe = frontend(&whole);
    let params = StreamParams { threshold: 0.6, ..whole.stream_params().unwrap() };
    let step_bytes = ferrite_e2e::crnn_step_artifact();
    let step = Model::from_bytes(&step_bytes).unwrap();
    let classes = whole.labels().count();
    let state_len = step.inputs().nth(1).unwrap().info.len();
    let (s, _) = stream_of(&CLIPS[..4], 3000);

    let mut bufs = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
    let mut state = vec![0f32; state_len];
    let mut stream = RecurrentStream::new(Session::new(&step).unwrap(), fe, params, bufs.borrow(), &mut state).unwrap();
    let (mut got, mut found) = (Vec::new(), Vec::new());
    for chunk in s.chunks(777) {
        stream
            .push_windows(chunk, |w| {
                got.push((w.start, w.end, w.logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
                found.extend(w.detection);
            })
            .unwrap();
    }

    // By hand: the stream's frames through the step model, the state fed back.
    let mut b2 = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
    let b = b2.borrow();
    let mut frames = StreamFrontend::new(fe, b.tables, b.scratch, b.samples, b.rows).unwrap();
    let mut session = Session::new(&step).unwrap();
    let (mut h, mut frame) = (vec![0f32; state_len], vec![0f32; fe.n_features()]);
    let mut history = vec![0f32; classes * params.smooth as usize];
    let mut detector = Detector::new(params, classes, &mut history).unwrap();
    let (rows, hop) = (fe.n_frames() as u64, params.hop_frames as u64);
    let (mut want, mut want_found, mut first_window) = (Vec::new(), Vec::new(), None);
    for &x in &s {
        let Some(k) = frames.push_sample(x).unwrap() else { continue };
        frames.last_frame(&mut frame).unwrap();
        let out = session.run(&[Input::F32(&frame), Input::F32(&h)]).unwrap();
        let logits = out.f32(0).unwrap().to_vec();
        h.copy_from_slice(out.f32(1).unwrap());
        if k + 1 < rows || (k + 1 - rows) % hop != 0 {
            continue;
        }
        let start = (k + 1 - rows) * fe.hop() as u64;
        let mut p = vec![0f32; classes];
        softmax(&logits, &mut p);
        want_found.extend(detector.observe(&p, start, start + fe.clip_samples() as u64));
        first_window.get_or_insert_with(|| logits.clone());
        want.push((start, start + fe.clip_samples() as u64, logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>()));
    }
    eprintln!("recurrent stream: {} runs, {} detections", got.len(), found.len());
    assert!(got.len() > 20, "{} runs", got.len());
    assert!(got == want, "the recurrent stream's logits differ from the step model's run by hand");
    assert_eq!(found, want_found, "detections");

    // The first window: the whole-clip model on the stream's first clip of samples.
    let mut window = vec![0f32; fe.feature_len()];
    let mut b3 = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
    let b = b3.borrow();
    let mut st = StreamFrontend::new(fe, b.tables, b.scratch, b.samples, b.rows).unwrap();
    for &x in &s {
        if st.push_sample(x).unwrap() == Some(rows - 1) {
            st.window(&mut window).unwrap();
            break;
        }
    }
    let whole_logits = Session::new(&whole).unwrap().run(&[Input::F32(&window)]).unwrap().f32(0).unwrap().to_vec();
    let first = first_window.unwrap();
    let err = first.iter().zip(&whole_logits).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()
        / whole_logits.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(err <= 1e-5, "the first window's logits differ from the whole clip's by {err:.2e}");

    // A step model that does not fit is refused, typed: the whole-clip model is not one.
    let mut b4 = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
    let mut state = vec![0f32; state_len];
    assert!(RecurrentStream::new(Session::new(&whole).unwrap(), fe, params, b4.borrow(), &mut state).is_err());

    // Nor can a frontend that subtracts each window's mean (kws-dscnn's) feed a step model.
    let dscnn_bytes = trained_artifact("kws-dscnn", Precision::F32);
    let wfe = frontend(&Model::from_bytes(&dscnn_bytes).unwrap());
    assert!(wfe.window_mean(), "kws-dscnn's frontend subtracts the window mean");
    let mut b5 = OwnedStreamBuffers::new(&wfe, classes, &params).unwrap();
    let e = RecurrentStream::new(Session::new(&step).unwrap(), wfe, params, b5.borrow(), &mut state).unwrap_err();
    assert!(matches!(e, ferrite_runtime::Error::BadPreprocess(_)), "{e}");
}
