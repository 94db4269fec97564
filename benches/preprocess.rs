//! The on-device preprocessing and the trained models end to end, one thread: audio frontend on a
//! one-second clip (8 kHz, and 16 kHz with resampling), tokenizer on a sentence, and raw input to
//! probabilities for each trained model.
//!
//!     cargo bench --bench preprocess

use criterion::{criterion_group, criterion_main, Criterion};
use ferrite_e2e::{repo_root, shared_data, trained_artifact};
use ferrite_quantizer::classify::Classifier;
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::{Model, Preprocessing};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("preprocess");
    let wav8 = std::fs::read(shared_data().join("fsdd/recordings/7_theo_3.wav")).unwrap();
    let wav16 = std::fs::read(repo_root().join("tests/golden/frontend/7_theo_3_16k.wav")).unwrap();
    for name in ["kws-dscnn", "kws-crnn"] {
        let art = trained_artifact(name, Precision::F32);
        let model = Model::from_bytes(&art).unwrap();
        let Preprocessing::Audio(fe) = model.preprocessing() else { panic!() };
        g.bench_function(format!("{name} frontend, 8 kHz clip"), |b| {
            b.iter(|| fe.features_from_wav(black_box(&wav8)).unwrap())
        });
        g.bench_function(format!("{name} frontend, 16 kHz clip (resampled)"), |b| {
            b.iter(|| fe.features_from_wav(black_box(&wav16)).unwrap())
        });
        let mut clf = Classifier::new(&model, name.as_ref()).unwrap();
        g.bench_function(format!("{name} end to end, WAV to probabilities"), |b| {
            b.iter(|| clf.classify_wav(black_box(&wav8)).unwrap())
        });
    }
    let sentence = "will it rain in paris tomorrow";
    for name in ["intent-lstm", "intent-transformer"] {
        let art = trained_artifact(name, Precision::F32);
        let model = Model::from_bytes(&art).unwrap();
        let Preprocessing::Text(tok) = model.preprocessing() else { panic!() };
        let mut ids = vec![0i32; tok.seq_len()];
        g.bench_function(format!("{name} tokenizer"), |b| {
            b.iter(|| tok.encode(black_box(sentence), &mut ids).unwrap())
        });
        let mut clf = Classifier::new(&model, name.as_ref()).unwrap();
        g.bench_function(format!("{name} end to end, text to probabilities"), |b| {
            b.iter(|| clf.classify_text(black_box(sentence)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
