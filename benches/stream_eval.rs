//! Streaming keyword spotting measured the way the field measures it: the false-reject rate per
//! digit and the false accepts per hour, on a generated stream of more than ten minutes. Every
//! FSDD test-split clip (index < 5: 250 clips, 5 speakers) appears once, at a known time, between
//! gaps of near-silence, white, pink or brown noise, babble, and sentences from Snips' *test*
//! split spoken by espeak-ng in six voices (sentences with a digit or a number word left out); two
//! more minutes of such negatives close it. Each keyword model (f32 and int8) runs as `ferrite
//! stream` does, with its artifact's `[stream]` defaults.
//!
//! A clip counts as detected when a detection with its digit overlaps its span; every other
//! detection (a wrong digit, a second one, one over noise or speech) is a false accept.
//!
//! A second stream, built the same way from *validation* material — the FSDD training clips the
//! models hold out for model selection (index 9, 18, 27, 36, 45) and Snips *training* sentences
//! the models were not trained on, in voices they never heard either — is where the detection
//! parameters may be chosen: for each model the bench sweeps the smoothing (1, 2, 3 or 5 runs) and
//! the threshold on it (the runtime's own `Detector` over the recorded posteriors) and reports the
//! test stream at the pair with no false accept and the fewest false rejects on the validation
//! stream, beside the artifact's defaults. The test stream is never tuned on.
//!
//!     cargo bench --bench stream_eval          # apt install espeak-ng for the speech negatives
//!
//! The streams are the same on every run (fixed seeds; espeak-ng's output is deterministic): the
//! sentences' audio is generated into target/stream-eval/ and reused. With `FERRITE_STREAM_DUMP=1`
//! the bench also writes both streams there as WAV files with their digits' spans (JSON), for
//! experiments outside Rust (benches/recurrent_stream_probe.py).

use ferrite_e2e::{int8_artifact, repo_root, shared_data, trained_artifact, Rng};
use ferrite_quantizer::eval::data::{self, Payload, Split};
use ferrite_quantizer::quantize::Precision;
use ferrite_runtime::preprocess::{resample, wav};
use ferrite_runtime::stream::{Detection, Detector, KeywordStream, OwnedStreamBuffers, StreamParams};
use ferrite_runtime::{Model, Preprocessing, Session};
use std::process::Command;

const RATE: usize = 8000;

/// A span of the stream that holds digit `digit`.
struct Span {
    digit: usize,
    start: usize,
    end: usize,
}

fn clip(name: &str) -> Vec<i16> {
    let bytes = std::fs::read(shared_data().join("fsdd/recordings").join(name)).expect("FSDD clip");
    wav::parse(&bytes).expect("WAV").samples().map(|s| (s * 32768.0) as i16).collect()
}

/// Which stream: the test stream, or the validation stream a threshold may be chosen on.
#[derive(Clone, Copy, PartialEq)]
enum Which {
    Test,
    Validation,
}

/// Snips sentences as espeak-ng speaks them at 8 kHz (generated once into target/stream-eval/),
/// leaving out any with a digit or a number word (they would be keywords): the test split's for
/// the test stream; for the validation stream, training-split sentences that
/// models/common/kws_data.py does not speak (it takes every 20th from the first, these every 20th
/// from the tenth). Empty without espeak-ng.
fn spoken_sentences(n: usize, which: Which) -> Vec<Vec<i16>> {
    let dir = repo_root().join("target/stream-eval");
    std::fs::create_dir_all(&dir).unwrap();
    if Command::new("espeak-ng").arg("--version").output().is_err() {
        eprintln!("stream_eval: espeak-ng not found (apt install espeak-ng): no speech negatives");
        return Vec::new();
    }
    const NUMBERS: [&str; 11] = ["zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    let split = if which == Which::Test { Split::Test } else { Split::Train };
    let set = data::load(&shared_data().join("snips-intents"), split).expect("Snips");
    let texts: Vec<String> = set
        .examples
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Text(t) => Some(t.clone()),
            _ => None,
        })
        .filter(|t| {
            let lower = t.to_lowercase();
            !lower.chars().any(|c| c.is_ascii_digit())
                && !lower.split(|c: char| !c.is_alphanumeric()).any(|w| NUMBERS.contains(&w))
        })
        .skip(if which == Which::Test { 0 } else { 10 })
        .step_by(if which == Which::Test { 11 } else { 20 })
        .take(n)
        .collect();
    // Neither stream's voices are a training speaker's: kws_data.py always adds a variant, never
    // f3, m3 or f5. The validation stream takes other plain voices and those variants on others.
    let voices = match which {
        Which::Test => ["en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-gb+m3", "en-us+f5"],
        Which::Validation => ["en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan+f3", "en-029+m3", "en-gb-x-rp+f5"],
    };
    let tag = if which == Which::Test { "test" } else { "val" };
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let path = dir.join(format!("{tag}_sentence_{i:03}.wav"));
        if !path.exists() {
            let (voice, speed) = (voices[i % voices.len()], 140 + (i * 13) % 50);
            let ok = Command::new("espeak-ng")
                .args(["-v", voice, "-s", &speed.to_string(), "-w"])
                .arg(&path)
                .arg(t)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "espeak-ng failed on {t:?}");
        }
        let bytes = std::fs::read(&path).unwrap();
        let w = wav::parse(&bytes).unwrap();
        let x: Vec<f32> = w.samples().collect();
        let mut y = vec![0.0; resample::output_len(x.len(), w.sample_rate, RATE as u32)];
        resample::resample(&x, w.sample_rate, RATE as u32, &mut y).unwrap();
        out.push(y.iter().map(|v| (v * 0.6 * 32768.0) as i16).collect());
    }
    out
}

/// `n` samples of noise: 0 near-silence, 1 white, 2 pink, 3 brown, 4 babble (three sentences
/// overlapped, quieter).
fn noise(kind: u64, n: usize, r: &mut Rng, speech: &[Vec<i16>]) -> Vec<i16> {
    let level = r.uniform(0.02, 0.15);
    let mut white = || r.uniform(-1.0, 1.0);
    match kind {
        0 => (0..n).map(|_| (white() * 30.0) as i16).collect(),
        1 => (0..n).map(|_| (white() * level * 32768.0) as i16).collect(),
        2 => {
            // Paul Kellet's pink filter.
            let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
            (0..n)
                .map(|_| {
                    let w = white();
                    b0 = 0.99765 * b0 + w * 0.099046;
                    b1 = 0.96300 * b1 + w * 0.2965164;
                    b2 = 0.57000 * b2 + w * 1.0526913;
                    ((b0 + b1 + b2 + w * 0.1848) * 0.25 * level * 32768.0) as i16
                })
                .collect()
        }
        3 => {
            let mut b = 0.0f32;
            (0..n)
                .map(|_| {
                    b = 0.995 * b + 0.05 * white();
                    (b * level * 3.0 * 32768.0).clamp(-32768.0, 32767.0) as i16
                })
                .collect()
        }
        _ if !speech.is_empty() => {
            let mut out = vec![0i32; n];
            for k in 0..3 {
                let s = &speech[(r.below(speech.len() as u64) as usize + k) % speech.len()];
                let at = r.below(s.len().max(1) as u64) as usize;
                for (o, v) in out.iter_mut().zip(s.iter().cycle().skip(at)) {
                    *o += *v as i32 / 3;
                }
            }
            out.into_iter().map(|v| v.clamp(-32768, 32767) as i16).collect()
        }
        _ => (0..n).map(|_| (white() * 30.0) as i16).collect(),
    }
}

/// The stream and where its digits are.
fn build_stream(which: Which) -> (Vec<i16>, Vec<Span>, usize) {
    let speech = spoken_sentences(60, which);
    let mut r = Rng::new(if which == Which::Test { 2026 } else { 7 });
    let keep = |i: u32| if which == Which::Test { i < 5 } else { i >= 5 && i.is_multiple_of(9) };
    let mut names: Vec<String> = std::fs::read_dir(shared_data().join("fsdd/recordings"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.rsplit('_').next().and_then(|i| i.trim_end_matches(".wav").parse::<u32>().ok()).is_some_and(keep))
        .collect();
    names.sort();
    for i in (1..names.len()).rev() {
        names.swap(i, r.below(i as u64 + 1) as usize);
    }
    let (mut s, mut spans, mut sentences) = (Vec::new(), Vec::new(), 0);
    let gap = |s: &mut Vec<i16>, r: &mut Rng, sentences: &mut usize| {
        let kind = r.below(6);
        if kind == 5 && !speech.is_empty() {
            s.extend(noise(0, RATE / 2, r, &speech));
            s.extend(&speech[*sentences % speech.len()]);
            *sentences += 1;
            s.extend(noise(0, RATE / 2, r, &speech));
        } else {
            let n = RATE * 6 / 10 + r.below(RATE as u64 * 14 / 10) as usize;
            s.extend(noise(kind, n, r, &speech));
        }
    };
    for name in &names {
        gap(&mut s, &mut r, &mut sentences);
        let x = clip(name);
        spans.push(Span { digit: name[..1].parse().unwrap(), start: s.len(), end: s.len() + x.len() });
        s.extend(x);
    }
    while s.len() < spans.last().map_or(0, |sp| sp.end) + 120 * RATE || s.len() < 10 * 60 * RATE + RATE {
        gap(&mut s, &mut r, &mut sentences);
    }
    (s, spans, sentences)
}

struct Score {
    missed: [usize; 10],
    clips: [usize; 10],
    false_accepts: usize,
    /// False accepts that overlap a digit's span (a wrong digit or a second detection); the rest
    /// fired on noise, silence or speech.
    on_digits: usize,
}

fn score(found: &[Detection], spans: &[Span]) -> Score {
    let mut sc = Score { missed: [0; 10], clips: [0; 10], false_accepts: 0, on_digits: 0 };
    let mut used = vec![false; found.len()];
    for sp in spans {
        sc.clips[sp.digit] += 1;
        let hit = found.iter().enumerate().find(|(i, d)| {
            !used[*i] && d.class == sp.digit && (d.start as usize) < sp.end && (d.end as usize) > sp.start
        });
        match hit {
            Some((i, _)) => used[i] = true,
            None => sc.missed[sp.digit] += 1,
        }
    }
    sc.false_accepts = used.iter().filter(|u| !**u).count();
    sc.on_digits = found
        .iter()
        .zip(&used)
        .filter(|(d, u)| !**u && spans.iter().any(|sp| (d.start as usize) < sp.end && (d.end as usize) > sp.start))
        .count();
    sc
}

/// 16-bit mono PCM WAV bytes of `pcm` at [`RATE`].
fn wav_bytes(pcm: &[i16]) -> Vec<u8> {
    let data = (pcm.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + pcm.len() * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | 1 << 16, RATE as u32, RATE as u32 * 2, 2 | 16 << 16] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    b.extend(pcm.iter().flat_map(|v| v.to_le_bytes()));
    b
}

/// One run of the model on the stream: its span and posteriors.
struct Run {
    start: u64,
    end: u64,
    posteriors: Vec<f32>,
}

/// Every run of `model` over `s`, as `ferrite stream` makes them (the artifact's stream defaults).
fn runs(model: &Model<'_>, params: StreamParams, s: &[i16]) -> Vec<Run> {
    let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("a keyword model has a frontend") };
    let classes = model.labels().count();
    let mut buffers = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
    let mut stream = KeywordStream::new(Session::new(model).unwrap(), params, buffers.borrow()).unwrap();
    let mut out = Vec::new();
    for chunk in s.chunks(1024) {
        stream
            .push_windows(chunk, |w| out.push(Run { start: w.start, end: w.end, posteriors: w.posteriors.to_vec() }))
            .unwrap();
    }
    out
}

/// The detections the runtime's `Detector` fires over recorded runs with `params`.
fn detect(runs: &[Run], classes: usize, params: StreamParams) -> Vec<Detection> {
    let mut history = vec![0f32; classes * params.smooth as usize];
    let mut d = Detector::new(params, classes, &mut history).unwrap();
    runs.iter().filter_map(|r| d.observe(&r.posteriors, r.start, r.end)).collect()
}

/// FRR (fraction) and false accepts.
fn frr_fa(sc: &Score, spans: &[Span]) -> (f64, usize) {
    (sc.missed.iter().sum::<usize>() as f64 / spans.len() as f64, sc.false_accepts)
}

const SWEEP: [f32; 14] = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999];
const SMOOTH: [u32; 4] = [1, 2, 3, 5];

fn main() {
    let (s, spans, sentences) = build_stream(Which::Test);
    let (vs, vspans, _) = build_stream(Which::Validation);
    if std::env::var_os("FERRITE_STREAM_DUMP").is_some() {
        // The streams as 8 kHz WAV files and their digits' spans, for experiments outside Rust.
        for (tag, audio, sp) in [("test", &s, &spans), ("validation", &vs, &vspans)] {
            let dir = repo_root().join("target/stream-eval");
            std::fs::write(dir.join(format!("{tag}-stream.wav")), wav_bytes(audio)).unwrap();
            let doc: Vec<_> = sp.iter().map(|x| serde_json::json!([x.digit, x.start, x.end])).collect();
            std::fs::write(dir.join(format!("{tag}-spans.json")), serde_json::to_string(&doc).unwrap()).unwrap();
        }
    }
    let hours = s.len() as f64 / RATE as f64 / 3600.0;
    println!(
        "stream: {:.1} min, {} digit clips (FSDD test split, 5 speakers), {sentences} spoken sentences (espeak-ng); \
         validation stream {:.1} min, {} clips",
        hours * 60.0,
        spans.len(),
        vs.len() as f64 / RATE as f64 / 60.0,
        vspans.len()
    );
    println!(
        "{:<10} {:<5} {:>8} {:>7} {:>5} {:>6}  {:>9} {:>7} {:>5} {:>6}  FRR per digit 0..9 (%), default; FA on digits",
        "model", "prec", "sm/thr", "FRR %", "FA", "FA/h", "val sm/thr", "FRR %", "FA", "FA/h"
    );
    let mut rows = Vec::new();
    for name in ["kws-dscnn", "kws-crnn"] {
        for (prec, bytes) in [("f32", trained_artifact(name, Precision::F32)), ("int8", int8_artifact(name, "fsdd"))] {
            let model = Model::from_bytes(&bytes).unwrap();
            let Preprocessing::Audio(fe) = model.preprocessing() else { panic!("{name} has a frontend") };
            let params = model.stream_params().unwrap_or_else(|| StreamParams::defaults_for(&fe));
            let classes = model.labels().count();
            let (test_runs, val_runs) = (runs(&model, params, &s), runs(&model, params, &vs));
            // Every detection of the streaming session itself equals the recorded runs' (the
            // sweep replays exactly what `ferrite stream` decides).
            let mut live = Vec::new();
            let mut buffers = OwnedStreamBuffers::new(&fe, classes, &params).unwrap();
            let mut stream = KeywordStream::new(Session::new(&model).unwrap(), params, buffers.borrow()).unwrap();
            for chunk in s.chunks(1024) {
                stream.push(chunk, |d| live.push(d)).unwrap();
            }
            let at_default = detect(&test_runs, classes, params);
            assert_eq!(live, at_default, "{name} {prec}: replayed detections differ from the stream's");
            let sc = score(&at_default, &spans);
            let (frr, fa) = frr_fa(&sc, &spans);
            // The validation sweep: no false accept there, then the fewest false rejects.
            let mut best: Option<(f64, StreamParams)> = None;
            for smooth in SMOOTH {
                let history = StreamParams { smooth, ..params };
                for t in SWEEP {
                    let p = StreamParams { threshold: t, ..history };
                    let (vf, va) = frr_fa(&score(&detect(&val_runs, classes, p), &vspans), &vspans);
                    if va == 0 && best.is_none_or(|(f, _)| vf < f) {
                        best = Some((vf, p));
                    }
                }
            }
            let tuned = best.map_or(StreamParams { threshold: 1.0, ..params }, |(_, p)| p);
            let chosen = format!("{}/{}", tuned.smooth, tuned.threshold);
            let tsc = score(&detect(&test_runs, classes, tuned), &spans);
            let (tfrr, tfa) = frr_fa(&tsc, &spans);
            let per_digit: Vec<String> =
                (0..10).map(|d| format!("{:.0}", 100.0 * sc.missed[d] as f64 / sc.clips[d].max(1) as f64)).collect();
            println!(
                "{name:<10} {prec:<5} {:>8} {:>7.1} {fa:>5} {:>6.1}  {chosen:>9} {:>7.1} {tfa:>5} {:>6.1}  {}; {}",
                format!("{}/{}", params.smooth, params.threshold),
                100.0 * frr,
                fa as f64 / hours,
                100.0 * tfrr,
                tfa as f64 / hours,
                per_digit.join(" "),
                sc.on_digits
            );
            let sweep: Vec<_> = SWEEP
                .iter()
                .map(|&t| {
                    let p = StreamParams { threshold: t, ..params };
                    let (vf, va) = frr_fa(&score(&detect(&val_runs, classes, p), &vspans), &vspans);
                    let (tf, ta) = frr_fa(&score(&detect(&test_runs, classes, p), &spans), &spans);
                    serde_json::json!({ "threshold": t, "validation": { "frr": vf, "false_accepts": va },
                                        "test": { "frr": tf, "false_accepts": ta } })
                })
                .collect();
            rows.push(serde_json::json!({
                "model": name, "precision": prec, "frr": frr, "false_accepts": fa, "false_accepts_on_digits": sc.on_digits,
                "false_accepts_per_hour": fa as f64 / hours,
                "frr_per_digit": (0..10).map(|d| sc.missed[d] as f64 / sc.clips[d].max(1) as f64).collect::<Vec<_>>(),
                "params": { "hop_frames": params.hop_frames, "smooth": params.smooth, "threshold": params.threshold,
                            "refractory_samples": params.refractory, "background": params.background },
                "validation_choice": { "smooth": tuned.smooth, "threshold": tuned.threshold }, "at_validation_choice": { "frr": tfrr, "false_accepts": tfa,
                    "false_accepts_per_hour": tfa as f64 / hours },
                "sweep": sweep,
            }));
        }
    }
    let out = repo_root().join("target/stream-eval/results.json");
    let doc = serde_json::json!({ "stream_minutes": hours * 60.0, "clips": spans.len(), "sentences": sentences, "models": rows });
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    println!("(also in {})", out.display());
}
