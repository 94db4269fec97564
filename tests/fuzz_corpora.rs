//! The fuzz targets' committed corpora (issue 13), replayed on every test run through the same
//! calls as the targets: the WAV reader and resampler, the tokenizer, the keyword stream's push
//! path (runtime/fuzz: wav, tokenizer, stream) and the `.npy` reader (quantizer/fuzz: npy).
//! `FERRITE_FUZZ_SEEDS=1 cargo test --test fuzz_corpora` writes the seeds: real clips and
//! sentences, and malformed forms of them.

use ferrite_e2e::repo_root;
use ferrite_runtime::preprocess::{resample, wav};
use ferrite_runtime::stream::{KeywordStream, OwnedStreamBuffers, StreamParams};
use ferrite_runtime::{AlignedBytes, Model, Preprocessing, Session};
use std::path::{Path, PathBuf};

fn corpus(dir: &str) -> PathBuf {
    repo_root().join(dir)
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).expect("a committed corpus").map(|e| e.unwrap().path()).collect();
    v.sort();
    v.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A WAV file: `channels`, `bits`, `rate`, and `data` as its data chunk.
fn wav_file(channels: u16, bits: u16, rate: u32, data: &[u8]) -> Vec<u8> {
    let mut w = b"RIFF".to_vec();
    w.extend((36 + data.len() as u32).to_le_bytes());
    w.extend(b"WAVEfmt ");
    w.extend(16u32.to_le_bytes());
    w.extend(1u16.to_le_bytes());
    w.extend(channels.to_le_bytes());
    w.extend(rate.to_le_bytes());
    w.extend((rate * (bits / 8 * channels) as u32).to_le_bytes());
    w.extend((bits / 8 * channels).to_le_bytes());
    w.extend(bits.to_le_bytes());
    w.extend(b"data");
    w.extend((data.len() as u32).to_le_bytes());
    w.extend(data);
    w
}

/// A corpus folder and its seeds (file name, bytes).
type Seeds = (&'static str, Vec<(&'static str, Vec<u8>)>);

fn write_seeds() {
    let clip = std::fs::read(repo_root().join("models/data-sample/fsdd/recordings/0_george_0.wav")).unwrap();
    let pcm: Vec<u8> =
        wav::parse(&clip).unwrap().samples().take(800).flat_map(|s| ((s * 32767.0) as i16).to_le_bytes()).collect();
    let seeds: [Seeds; 5] = [
        (
            "runtime/fuzz/corpus/wav",
            vec![
                ("clip_8k.wav", wav_file(1, 16, 8000, &pcm)),
                ("clip_16k.wav", wav_file(1, 16, 16000, &pcm)),
                ("stereo.wav", wav_file(2, 16, 8000, &pcm)),
                ("pcm24.wav", wav_file(1, 24, 8000, &pcm[..600])),
                ("truncated.wav", wav_file(1, 16, 8000, &pcm)[..100].to_vec()),
            ],
        ),
        (
            "runtime/fuzz/corpus/tokenizer",
            vec![
                ("weather.txt", b"will it rain in paris tomorrow".to_vec()),
                (
                    "accents_cjk_emoji.txt",
                    "Play Beyonc\u{e9} \u{97f3}\u{697d} \u{1f3b5} STRA\u{df}E".as_bytes().to_vec(),
                ),
                ("not_utf8.txt", vec![0x66, 0x6f, 0xff, 0xfe, 0x20, 0xc3]),
                ("long_word.txt", vec![b'a'; 3000]),
                ("empty.txt", Vec::new()),
            ],
        ),
        (
            "runtime/fuzz/corpus/wordpiece",
            vec![
                ("pieces.txt", "Playing JAZZ, unknown! \u{5317}\u{4eac} xyz".as_bytes().to_vec()),
                (
                    "marks_formats_emoji.txt",
                    "caf\u{e9} \u{200b} co\u{ad}op \u{1f44d}\u{1f3fd} [CLS] I\u{307}".as_bytes().to_vec(),
                ),
                ("not_utf8.txt", vec![0x70, 0x6c, 0xff, 0x61, 0xc3]),
                ("long_word.txt", vec![b'a'; 300]),
                ("many_words.txt", b"rain ".repeat(40)),
            ],
        ),
        ("runtime/fuzz/corpus/stream", vec![("clip.pcm", [vec![3u8], pcm.repeat(5)].concat())]),
        (
            "quantizer/fuzz/corpus/npy",
            vec![
                ("f32.npy", ferrite_quantizer::npy::encode_f32(&[2, 3], &[1.0, -2.0, 3.5, 0.0, 1e-3, 7.0])),
                ("bad_magic.npy", b"\x93NUMPX\x01\x00".to_vec()),
                ("truncated.npy", ferrite_quantizer::npy::encode_f32(&[4, 4], &[0.5; 16])[..70].to_vec()),
            ],
        ),
    ];
    for (dir, files) in seeds {
        std::fs::create_dir_all(corpus(dir)).unwrap();
        for (name, bytes) in files {
            std::fs::write(corpus(dir).join(name), bytes).unwrap();
        }
    }
}

#[test]
fn the_fuzz_corpora_replay_without_a_panic() {
    if std::env::var_os("FERRITE_FUZZ_SEEDS").is_some() {
        write_seeds();
    }
    // wav: parse, samples, resample to the other rate.
    let mut parsed = 0;
    for data in files(&corpus("runtime/fuzz/corpus/wav")) {
        let Ok(w) = wav::parse(&data) else { continue };
        let samples: Vec<f32> = w.samples().take(1 << 16).collect();
        let to = if w.sample_rate == 8000 { 16000 } else { 8000 };
        // As the target bounds it: at most 2,048 outputs for extreme ratios.
        let n = resample::output_len(samples.len(), w.sample_rate, to);
        let keep = if n > 1 << 11 { samples.len() * (1 << 11) / n } else { samples.len() };
        let samples = &samples[..keep];
        let mut out = vec![0.0; resample::output_len(samples.len(), w.sample_rate, to)];
        let _ = resample::resample(samples, w.sample_rate, to, &mut out);
        parsed += 1;
    }
    assert!(parsed >= 2, "the real clips parse");
    // wordpiece: the tiny wordpiece artifacts, every seed: the same ids or error from both.
    let wp: Vec<AlignedBytes> = ["tiny_wordpiece.fer", "tiny_wordpiece_front_coded.fer"]
        .iter()
        .map(|a| AlignedBytes::copy_from(&std::fs::read(corpus("runtime/fuzz/corpus/load").join(a)).unwrap()))
        .collect();
    let wp: Vec<Model<'_>> = wp.iter().map(|b| Model::from_bytes(b).unwrap()).collect();
    for data in files(&corpus("runtime/fuzz/corpus/wordpiece")) {
        let answers: Vec<_> = wp
            .iter()
            .map(|m| {
                let Preprocessing::Text(t) = m.preprocessing() else { panic!("not a text artifact") };
                let mut ids = vec![0; t.seq_len()];
                t.encode_bytes(&data, &mut ids).map(|e| (e, ids))
            })
            .collect();
        assert_eq!(answers[0], answers[1], "wordpiece: plain and front-coded vocabularies differ on {data:?}");
    }
    // tokenizer: the text artifacts (plain and front-coded vocabulary), every seed: the same ids
    // or the same error from both.
    let arts: Vec<AlignedBytes> = ["tiny_text_preprocess.fer", "tiny_text_front_coded.fer"]
        .iter()
        .map(|a| AlignedBytes::copy_from(&std::fs::read(corpus("runtime/fuzz/corpus/load").join(a)).unwrap()))
        .collect();
    let models: Vec<Model<'_>> = arts.iter().map(|b| Model::from_bytes(b).unwrap()).collect();
    // The front-coded vocabulary is the plain one with 30 words appended: its ids for those read
    // as unknown in the plain one.
    let Preprocessing::Text(plain) = models[0].preprocessing() else { panic!("not a text artifact") };
    let first_appended = 2 + plain.vocab_len() as i32;
    for data in files(&corpus("runtime/fuzz/corpus/tokenizer")) {
        let answers: Vec<_> = models
            .iter()
            .map(|m| {
                let Preprocessing::Text(t) = m.preprocessing() else { panic!("not a text artifact") };
                let mut ids = vec![0; t.seq_len()];
                t.encode_bytes(&data, &mut ids).map(|e| {
                    ids.iter_mut().filter(|i| **i >= first_appended).for_each(|i| *i = t.unk_id() as i32);
                    (e.words, e.truncated, ids)
                })
            })
            .collect();
        assert_eq!(answers[0], answers[1], "plain and front-coded vocabularies differ on {data:?}");
    }
    // stream: the keyword artifact, the PCM and chunk sizes from the input.
    let bytes =
        AlignedBytes::copy_from(&std::fs::read(corpus("runtime/fuzz/corpus/load/kws_dscnn_int8_v2.fer")).unwrap());
    let model = Model::from_bytes(&bytes).unwrap();
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("an audio artifact") };
    for data in files(&corpus("runtime/fuzz/corpus/stream")) {
        let params = StreamParams { hop_frames: 1 + (data[0] % 20) as u32, ..StreamParams::defaults_for(&fe) };
        let classes = model.outputs().next().map_or(0, |o| o.info.len());
        let mut buffers = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
        let mut stream = KeywordStream::new(Session::new(&model).unwrap(), params, buffers.borrow()).unwrap();
        let pcm: Vec<i16> = data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        let (mut at, mut k) = (0, 0);
        while at < pcm.len() {
            let end = (at + 1 + (data[k % data.len()] as usize * 8) % 2048).min(pcm.len());
            stream.push(&pcm[at..end], |_| {}).unwrap();
            (at, k) = (end, k + 1);
        }
        assert!(stream.samples_seen() > 0);
    }
    // npy: every seed parses or gives a typed error.
    let mut good = 0;
    for data in files(&corpus("quantizer/fuzz/corpus/npy")) {
        good += usize::from(ferrite_quantizer::npy::parse(Path::new("seed.npy"), &data).is_ok());
    }
    assert!(good >= 1, "the well-formed seed parses");
}
