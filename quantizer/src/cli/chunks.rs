//! `ferrite stream` on a stateful chunk model (a VAD such as Silero's, quantized with
//! `--stream-state` and `--stream-hop`): the audio pushed through the runtime's `ChunkStream`,
//! each run's outputs printed (the state outputs, carried to the next run, are not).

use super::stream::{read_pcm, ChunkResampler, Source};
use anyhow::{anyhow, bail};
use ferrite_runtime::preprocess::wav;
use ferrite_runtime::stream::{ChunkSpec, ChunkStream};
use ferrite_runtime::{Model, Session};
use std::path::Path;

/// What the artifact's `chunk_stream` metadata says, names resolved to indices.
pub struct Spec {
    audio: usize,
    hop: usize,
    rate: Option<u32>,
    states: Vec<(usize, usize)>,
}

/// The chunk stream an artifact describes, if it describes one.
pub fn spec_of(model: &Model<'_>) -> anyhow::Result<Option<Spec>> {
    let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap_or_default();
    let c = &meta["chunk_stream"];
    if c.is_null() {
        return Ok(None);
    }
    let input = |n: &serde_json::Value| model.inputs().position(|d| Some(d.name) == n.as_str());
    let output = |n: &serde_json::Value| model.outputs().position(|d| Some(d.name) == n.as_str());
    let bad = || anyhow!("the artifact's chunk_stream metadata does not match its inputs and outputs");
    let audio = input(&c["audio"]).ok_or_else(bad)?;
    let hop = c["hop"].as_u64().ok_or_else(bad)? as usize;
    let rate = c["sample_rate"].as_u64().map(|r| r as u32);
    let states = c["states"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|p| Some((input(&p[0])?, output(&p[1])?)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    Ok(Some(Spec { audio, hop, rate, states }))
}

/// Runs the chunk stream over the whole input, printing each run.
pub fn run(model: &Model<'_>, path: &Path, source: Source, in_rate: Option<u32>, json: bool) -> anyhow::Result<()> {
    let spec = spec_of(model)?.ok_or_else(|| anyhow!("no chunk stream"))?;
    let others: Vec<&str> = model
        .inputs()
        .enumerate()
        .filter(|(i, _)| *i != spec.audio && !spec.states.iter().any(|s| s.0 == *i))
        .map(|(_, d)| d.name)
        .collect();
    if !others.is_empty() {
        bail!("{}: inputs {others:?} are neither audio nor state: freeze them when converting (--fix)", path.display());
    }
    let session = Session::new(model).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let cs = ChunkSpec { audio: spec.audio, hop: spec.hop, states: &spec.states };
    let (w, s) = ChunkStream::lens(&session, &cs).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let (mut window, mut state) = (vec![0f32; w], vec![0f32; s]);
    let mut stream = ChunkStream::new(session, cs, &mut window, &mut state).map_err(|e| anyhow!("{e}"))?;
    let carried: Vec<usize> = spec.states.iter().map(|s| s.1).collect();
    let mut printed = Ok(());
    let mut push = |samples: &[f32]| -> anyhow::Result<()> {
        stream
            .push(samples, |k, out| {
                if printed.is_ok() {
                    printed = print_run(k, out, &carried, (spec.hop, spec.rate), json);
                }
            })
            .map_err(|e| anyhow!("{e}"))?;
        std::mem::replace(&mut printed, Ok(()))
    };
    let resampler = |from: u32| -> anyhow::Result<Option<ChunkResampler>> {
        match spec.rate {
            Some(to) if to != from => {
                if ![8000, 16000].contains(&from) || ![8000, 16000].contains(&to) {
                    bail!("audio at {from} Hz for a model at {to} Hz: only 8000 and 16000 convert");
                }
                Ok(Some(ChunkResampler::new(from, to)))
            }
            _ => Ok(None),
        }
    };
    let f32_of = |pcm: Vec<i16>| pcm.into_iter().map(|s| s as f32 / 32768.0).collect::<Vec<f32>>();
    match source {
        Source::Wav(p) => {
            let bytes = std::fs::read(&p).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            let parsed = wav::parse(&bytes).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            let samples: Vec<f32> = parsed.samples().collect();
            match resampler(parsed.sample_rate)? {
                Some(mut rs) => {
                    for c in samples.chunks(1024) {
                        push(&f32_of(rs.push(c)))?;
                    }
                    push(&f32_of(rs.finish()))?;
                }
                None => push(&samples)?,
            }
        }
        Source::Raw(p) => {
            let mut rs = resampler(in_rate.or(spec.rate).unwrap_or(16000))?;
            let odd = read_pcm(&p, |pcm| match &mut rs {
                Some(r) => push(&f32_of(r.push(&pcm))),
                None => push(&pcm),
            })?;
            if odd {
                eprintln!(
                    "ferrite: the input ended inside a sample (an odd number of bytes); its last byte was ignored"
                );
            }
            if let Some(r) = &mut rs {
                push(&f32_of(r.finish()))?;
            }
        }
    }
    eprintln!("ferrite: {} runs of {} new samples each", stream.runs(), spec.hop);
    Ok(())
}

/// One line per run: when its newest sample arrived, and every output but the carried states.
fn print_run(
    k: u64,
    out: &ferrite_runtime::Outputs<'_>,
    carried: &[usize],
    (hop, rate): (usize, Option<u32>),
    json: bool,
) -> anyhow::Result<()> {
    let end = (k + 1) * hop as u64;
    let secs = rate.map(|r| end as f64 / r as f64);
    let mut values = serde_json::Map::new();
    for i in (0..out.len()).filter(|i| !carried.contains(i)) {
        if let (Some((name, _, _)), Some(v)) = (out.get(i), out.f32(i)) {
            values.insert(name.to_string(), serde_json::json!(v));
        }
    }
    if json {
        out!("{}", serde_json::json!({"run": k, "end_sample": end, "end_s": secs, "outputs": values}));
    } else {
        let shown: Vec<String> = values
            .iter()
            .map(|(n, v)| {
                let v: Vec<String> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(8)
                    .map(|x| format!("{:.4}", x.as_f64().unwrap_or(f64::NAN)))
                    .collect();
                format!("{n}=[{}]", v.join(", "))
            })
            .collect();
        match secs {
            Some(s) => out!("{s:8.3} s  {}", shown.join("  ")),
            None => out!("{end:8} samples  {}", shown.join("  ")),
        }
    }
    Ok(())
}
