//! Stateful chunk models over a stream (runtime/src/stream/chunked.rs, issue 12): a VAD-like
//! model with 6 samples in (2 of context, 4 new) and a state carried from its output to its next
//! input. The stream's runs equal a loop of plain session runs on the same windows with the state
//! passed by hand, whatever sizes the audio arrives in; what `--stream-state` records is checked
//! against the graph (`ferrite stream` on it: quantizer/tests/cli.rs).

use ferrite_e2e::{Attr::*, OnnxBuilder, Rng};
use ferrite_quantizer::quantize::{quantize, ChunkOptions, QuantizeOptions};
use ferrite_runtime::stream::{ChunkSpec, ChunkStream};
use ferrite_runtime::{AlignedBytes, Input, Model, Session};

const WINDOW: usize = 6;
const HOP: usize = 4;

/// `y = tanh(x·W + s·U)`, `p = sigmoid(sum(y))`: outputs `p` [1, 1] and the state `s_out` = y.
fn model(dir: &std::path::Path) -> std::path::PathBuf {
    let mut r = Rng::new(61);
    let mut b = OnnxBuilder::new(13);
    b.input("x", &[1, WINDOW as i64]).input("s", &[1, 3]);
    b.init("w", &[WINDOW, 3], r.vec(WINDOW * 3, -1.0, 1.0)).init("u", &[3, 3], r.vec(9, -1.0, 1.0));
    b.node("MatMul", &["x", "w"], &["xw"], vec![]).node("MatMul", &["s", "u"], &["su"], vec![]);
    b.node("Add", &["xw", "su"], &["h"], vec![]).node("Tanh", &["h"], &["s_out"], vec![]);
    b.node("ReduceSum", &["s_out"], &["t"], vec![("keepdims", I(1)), ("axes", Is(vec![1]))]);
    b.node("Sigmoid", &["t"], &["p"], vec![]).output("p").output("s_out");
    b.save(dir, "vad")
}

fn artifact(path: &std::path::Path, chunks: ChunkOptions) -> Result<AlignedBytes, String> {
    let opts = QuantizeOptions { chunks: Some(chunks), ..Default::default() };
    quantize(path, &opts).map(|q| AlignedBytes::copy_from(&q.bytes)).map_err(|e| e.to_string())
}

#[test]
fn a_chunk_stream_equals_runs_on_its_windows_with_the_state_carried() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let chunks = ChunkOptions { hop: HOP, states: vec![("s".into(), "s_out".into())], sample_rate: Some(16000) };
    let bytes = artifact(&path, chunks).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap();
    assert_eq!(meta["chunk_stream"]["audio"], "x");
    assert_eq!(meta["chunk_stream"]["window"], WINDOW);
    let mut r = Rng::new(62);
    let audio = r.vec(53, -1.0, 1.0);
    // By hand: zeros before the start, a run every HOP samples on the newest WINDOW.
    let mut want = Vec::new();
    let mut s = Session::new(&model).unwrap();
    let (padded, mut state) = ([vec![0.0; WINDOW - HOP], audio.clone()].concat(), vec![0f32; 3]);
    for k in 0..audio.len() / HOP {
        let out = s.run(&[Input::F32(&padded[k * HOP..k * HOP + WINDOW]), Input::F32(&state)]).unwrap();
        want.push(out.f32(0).unwrap()[0]);
        state = out.f32(1).unwrap().to_vec();
    }
    assert_eq!(want.len(), 13);
    // The stream, fed in uneven pieces (1, 2, 3, ... samples), twice with a reset between.
    let states = [(1usize, 1usize)];
    let spec = ChunkSpec { audio: 0, hop: HOP, states: &states };
    let session = Session::new(&model).unwrap();
    let (w, n) = ChunkStream::lens(&session, &spec).unwrap();
    assert_eq!((w, n), (WINDOW, 3));
    let (mut window, mut st) = (vec![0f32; w], vec![0f32; n]);
    let mut stream = ChunkStream::new(session, spec, &mut window, &mut st).unwrap();
    for _ in 0..2 {
        let mut got = Vec::new();
        let (mut at, mut piece) = (0, 1);
        while at < audio.len() {
            let end = (at + piece).min(audio.len());
            stream.push(&audio[at..end], |k, out| got.push((k, out.f32(0).unwrap()[0]))).unwrap();
            (at, piece) = (end, piece % 5 + 1);
        }
        let got: Vec<f32> = got.iter().enumerate().map(|(i, &(k, p))| (assert_eq!(k, i as u64), p).1).collect();
        assert_eq!(got, want, "the same bits as the runs by hand");
        stream.reset();
    }
}

#[test]
fn a_chunk_stream_that_does_not_fit_the_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = model(dir.path());
    let bad = |states: &[(&str, &str)], hop: usize| {
        let states = states.iter().map(|(i, o)| (i.to_string(), o.to_string())).collect();
        match artifact(&path, ChunkOptions { hop, states, sample_rate: None }) {
            Ok(_) => panic!("hop {hop}: accepted"),
            Err(e) => e,
        }
    };
    assert!(bad(&[("s", "p")], 4).contains("one length"), "{}", bad(&[("s", "p")], 4));
    assert!(bad(&[("state", "s_out")], 4).contains("no input named state"));
    assert!(bad(&[("s", "stateN")], 4).contains("no output named stateN"));
    assert!(bad(&[("s", "s_out")], 7).contains("more than the 6 samples"));
    assert!(bad(&[], 4).contains("exactly one f32 input"), "two f32 inputs, neither a state");
    // The runtime checks the same, for callers that build a ChunkSpec themselves.
    let ok = artifact(&path, ChunkOptions { hop: 4, states: vec![("s".into(), "s_out".into())], sample_rate: None });
    let bytes = ok.unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let session = Session::new(&model).unwrap();
    for (hop, states) in
        [(0, vec![(1, 1)]), (7, vec![(1, 1)]), (4, vec![(1, 0)]), (4, vec![(0, 1)]), (4, vec![(1, 1), (1, 1)])]
    {
        let spec = ChunkSpec { audio: 0, hop, states: &states };
        assert!(ChunkStream::lens(&session, &spec).is_err(), "hop {hop}, states {states:?}");
    }
    let states = [(1usize, 1usize)];
    let spec = ChunkSpec { audio: 0, hop: 4, states: &states };
    let (mut window, mut st) = (vec![0f32; 5], vec![0f32; 3]);
    assert!(ChunkStream::new(session, spec, &mut window, &mut st).is_err(), "a window of the wrong length");
}

#[test]
fn the_committed_copy_for_the_cli_test_is_this_model() {
    // quantizer/tests/cli.rs runs `ferrite stream` on tests/golden/chunk_vad.onnx.
    let dir = tempfile::tempdir().unwrap();
    let built = std::fs::read(model(dir.path())).unwrap();
    let committed = ferrite_e2e::repo_root().join("tests/golden/chunk_vad.onnx");
    if std::env::var_os("FERRITE_BLESS").is_some() {
        std::fs::write(&committed, &built).unwrap();
    }
    assert_eq!(std::fs::read(committed).expect("committed model"), built, "FERRITE_BLESS=1 rewrites it");
}
