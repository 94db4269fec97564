//! `ferrite quantize --batch N`: one run over N independent examples (N microphones or
//! sentences). On every trained model, f32 and int8, a batch-8 artifact's output for example e is
//! the batch-1 artifact's output for that example alone, bit for bit: the kernels' results do not
//! depend on how many rows a product has, and int8 calibrates on the same examples (grouped, so
//! MinMax ranges are equal).

use ferrite_e2e::{have_shared_data, int8_options, output_bits, shared_data, trained_options};
use ferrite_quantizer::quantize::{quantize, Precision, QuantizeOptions};
use ferrite_runtime::{AlignedBytes, Input, Model, Preprocessing, Session};
use std::path::Path;

const B: usize = 8;

/// B different real examples for `model`'s preprocessing, each as its own input vector.
fn examples(model: &Model<'_>) -> Vec<Vec<f32>> {
    match model.preprocessing() {
        Preprocessing::Audio(fe) => [
            "0_george_0",
            "1_jackson_3",
            "2_lucas_7",
            "3_lucas_1",
            "4_theo_2",
            "5_yweweler_9",
            "6_george_4",
            "7_theo_3",
        ]
        .iter()
        .map(|c| {
            let wav = std::fs::read(shared_data().join(format!("fsdd/recordings/{c}.wav"))).expect("FSDD clip");
            fe.features_from_wav(&wav).expect("features")
        })
        .collect(),
        Preprocessing::Text(t) => [
            "will it rain in paris tomorrow",
            "play some jazz",
            "add this song to my road trip playlist",
            "book a table for four at seven",
            "rate this book five stars",
            "find the movie schedule for tonight",
            "what is the weather like in boston",
            "set an alarm",
        ]
        .iter()
        .map(|s| {
            let mut ids = vec![0i32; t.seq_len()];
            t.encode(s, &mut ids).expect("encode");
            // Carried as f32 bits only to share one type; turned back into ids below.
            ids.iter().map(|&i| f32::from_bits(i as u32)).collect()
        })
        .collect(),
        Preprocessing::None => panic!("trained models carry their preprocessing"),
    }
}

fn run(model: &Model<'_>, data: &[f32]) -> Vec<u32> {
    let mut s = Session::new(model).unwrap();
    let ids: Vec<i32> = data.iter().map(|v| v.to_bits() as i32).collect();
    let input = match model.preprocessing() {
        Preprocessing::Text(_) => Input::I32(&ids),
        _ => Input::F32(data),
    };
    output_bits(&s.run(&[input]).unwrap()).concat()
}

fn check(name: &str, path: &Path, mut opts: QuantizeOptions) {
    let one = AlignedBytes::copy_from(&quantize(path, &opts).unwrap().bytes);
    opts.import.batch = B;
    let many = AlignedBytes::copy_from(&quantize(path, &opts).unwrap_or_else(|e| panic!("{name}: {e}")).bytes);
    let (one, many) = (Model::from_bytes(&one).unwrap(), Model::from_bytes(&many).unwrap());
    assert_eq!((one.batch(), many.batch()), (1, B), "{name}");
    assert_eq!(many.inputs().next().unwrap().info.dim(0), B, "{name}");
    let ex = examples(&one);
    let want: Vec<Vec<u32>> = ex.iter().map(|e| run(&one, e)).collect();
    let got = run(&many, &ex.concat());
    let per = got.len() / B;
    for (e, w) in want.iter().enumerate() {
        assert_eq!(&got[e * per..(e + 1) * per], &w[..], "{name}: example {e} of the batch differs from its own run");
    }
}

#[test]
fn a_batch_gives_each_example_its_own_run_bit_for_bit() {
    if !have_shared_data() {
        eprintln!("skipped: ../shared/data (real inputs) is not here");
        return;
    }
    for name in ["kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer"] {
        let (path, opts) = trained_options(name, Precision::F32);
        check(name, &path, opts);
    }
    for (name, data) in [
        ("kws-dscnn", "fsdd"),
        ("kws-crnn", "fsdd"),
        ("intent-lstm", "snips-intents"),
        ("intent-transformer", "snips-intents"),
    ] {
        let (path, opts) = int8_options(name, data, 12, None);
        check(&format!("{name} int8"), &path, opts);
    }
}

/// A batch is not a stream: the two options are refused together.
#[test]
fn batch_refuses_what_it_cannot_mean() {
    let (path, mut opts) = trained_options("kws-crnn", Precision::F32);
    opts.import.batch = 4;
    let states = vec![("h".into(), "h_out".into())];
    opts.chunks = Some(ferrite_quantizer::quantize::ChunkOptions { hop: 0, states, sample_rate: None });
    let Err(e) = quantize(&path, &opts) else { panic!("--batch with a chunk stream was accepted") };
    let e = e.to_string();
    assert!(e.contains("--batch"), "{e}");
}
