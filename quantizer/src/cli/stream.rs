//! `ferrite stream`: keyword spotting over a stream (runtime/src/stream): a WAV file fed in
//! chunks as a microphone would, or raw 16-bit mono PCM from a file or stdin
//! (`arecord -t raw -f S16_LE -r 16000 -c 1 | ferrite stream kws.fer --raw - --rate 16000`).
//! Each detection is printed as it happens (JSON lines with `--json`); audio at the other
//! supported rate is resampled on the way in, chunk by chunk, with the same samples out as a
//! whole-file resampling. With `--step STEP.fer` a recurrent model's step artifact runs once per
//! frame with its state carried (`RecurrentStream`), the frontend and defaults coming from the
//! whole-clip artifact. A stateful chunk model (a VAD) goes to cli/chunks.rs.

use crate::open;
use anyhow::{anyhow, bail};
use ferrite_runtime::preprocess::{resample, wav, AudioFrontend};
use ferrite_runtime::stream::{Detection, KeywordStream, OwnedStreamBuffers, RecurrentStream, StreamParams};
use ferrite_runtime::{Model, Preprocessing, Session};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the audio comes from.
pub enum Source {
    /// A WAV file (read whole, fed in chunks).
    Wav(PathBuf),
    /// Raw S16_LE mono PCM: a file, or `-` for stdin.
    Raw(PathBuf),
}

/// Overrides of the stream's parameters (the rest are the artifact's `[stream]` defaults, or
/// [`StreamParams::defaults_for`]).
#[derive(Default)]
pub struct Options {
    /// Sample rate of raw input (default: the model's).
    pub rate: Option<u32>,
    /// Detection threshold on the smoothed posterior.
    pub threshold: Option<f32>,
    /// Frames between runs of the model.
    pub hop_frames: Option<u32>,
    /// Runs averaged.
    pub smooth: Option<u32>,
    /// Milliseconds after a detection before the next.
    pub refractory_ms: Option<u32>,
    /// JSON lines.
    pub json: bool,
    /// A recurrent model's step artifact, run once per frame with its state carried.
    pub step: Option<PathBuf>,
}

/// The stream being pushed: a window model re-run every hop, or a step model run every frame.
enum Spotter<'m, 'a, 'b> {
    Window(KeywordStream<'m, 'a, 'b>),
    Recurrent(RecurrentStream<'m, 'a, 'b>),
}

impl Spotter<'_, '_, '_> {
    fn push(&mut self, pcm: &[i16], on: impl FnMut(Detection)) -> ferrite_runtime::Result<()> {
        match self {
            Spotter::Window(s) => s.push(pcm, on),
            Spotter::Recurrent(s) => s.push(pcm, on),
        }
    }
    fn samples_seen(&self) -> u64 {
        match self {
            Spotter::Window(s) => s.samples_seen(),
            Spotter::Recurrent(s) => s.samples_seen(),
        }
    }
}

/// Input samples per chunk: 64 ms at 16 kHz, what a capture device hands over at a time.
const CHUNK: usize = 1024;

/// Runs the stream to the end of its input.
pub fn run(path: &Path, source: Source, opts: Options) -> anyhow::Result<()> {
    let model = open(path)?;
    if super::chunks::spec_of(&model)?.is_some() {
        return super::chunks::run(&model, path, source, opts.rate, opts.json);
    }
    let Preprocessing::Audio(fe) = model.preprocessing() else {
        bail!(
            "{}: `stream` needs a keyword model with an audio frontend, or a chunk model (--stream-state, --stream-hop)",
            path.display()
        )
    };
    let defaults = model.stream_params().unwrap_or_else(|| StreamParams::defaults_for(&fe));
    let params = params(&fe, defaults, &opts)?;
    let classes = model.outputs().next().map_or(0, |o| o.info.len());
    let mut buffers = OwnedStreamBuffers::new(&fe, classes, &params).map_err(|e| anyhow!("{e}"))?;
    let step = opts.step.as_deref().map(open).transpose()?;
    let mut state = vec![0f32; step.as_ref().and_then(|s| s.inputs().nth(1)).map_or(0, |d| d.info.len())];
    let mut stream = match (&step, &opts.step) {
        (Some(step), Some(p)) => {
            let session = Session::new(step).map_err(|e| anyhow!("{}: {e}", p.display()))?;
            let s = RecurrentStream::new(session, fe, params, buffers.borrow(), &mut state)
                .map_err(|e| anyhow!("{}: not a step model of {}: {e}", p.display(), path.display()))?;
            Spotter::Recurrent(s)
        }
        _ => {
            let session = Session::new(&model).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            Spotter::Window(KeywordStream::new(session, params, buffers.borrow()).map_err(|e| anyhow!("{e}"))?)
        }
    };
    let rate = fe.sample_rate();
    let mut printer = Printer { model: &model, rate, json: opts.json, count: 0 };
    let mut push = |pcm: &[i16]| -> anyhow::Result<()> {
        let mut err = Ok(());
        stream.push(pcm, |d| err = printer.print(d)).map_err(|e| anyhow!("{e}"))?;
        err
    };
    match source {
        Source::Wav(w) => {
            let bytes = std::fs::read(&w).map_err(|e| anyhow!("{}: {e}", w.display()))?;
            let parsed = wav::parse(&bytes).map_err(|e| anyhow!("{}: {e}", w.display()))?;
            fe.check_rate(parsed.sample_rate).map_err(|e| anyhow!("{}: {e}", w.display()))?;
            let mut rs = ChunkResampler::new(parsed.sample_rate, rate);
            let samples: Vec<f32> = parsed.samples().collect();
            for chunk in samples.chunks(CHUNK) {
                push(&rs.push(chunk))?;
            }
            push(&rs.finish())?;
        }
        Source::Raw(p) => {
            let in_rate = opts.rate.unwrap_or(rate);
            fe.check_rate(in_rate).map_err(|e| anyhow!("--rate {in_rate}: {e}"))?;
            let mut rs = ChunkResampler::new(in_rate, rate);
            let odd = read_pcm(&p, |pcm| push(&rs.push(&pcm)))?;
            push(&rs.finish())?;
            if odd {
                eprintln!(
                    "ferrite: the input ended inside a sample (an odd number of bytes); its last byte was ignored"
                );
            }
        }
    }
    let heard = stream.samples_seen() as f64 / rate as f64;
    eprintln!("ferrite: {heard:.1} s of audio, {} detections", printer.count);
    Ok(())
}

/// The stream parameters: the artifact's defaults (or the runtime's) with the options'
/// overrides, checked.
fn params(fe: &AudioFrontend, d: StreamParams, o: &Options) -> anyhow::Result<StreamParams> {
    let refractory = match o.refractory_ms {
        Some(ms) => u32::try_from(ms as u64 * fe.sample_rate() as u64 / 1000)
            .map_err(|_| anyhow!("--refractory-ms {ms}: too long"))?,
        None => d.refractory,
    };
    let p = StreamParams {
        hop_frames: o.hop_frames.unwrap_or(d.hop_frames),
        smooth: o.smooth.unwrap_or(d.smooth),
        threshold: o.threshold.unwrap_or(d.threshold),
        refractory,
        background: d.background,
    };
    p.check().map_err(|e| anyhow!("{e}"))?;
    Ok(p)
}

/// Reads raw S16_LE mono PCM from file `p` (`-`: stdin) to its end, handing each read's samples
/// (in [-1, 1)) to `on`; true when the input ended inside a sample (its last byte ignored).
pub(super) fn read_pcm(p: &Path, mut on: impl FnMut(Vec<f32>) -> anyhow::Result<()>) -> anyhow::Result<bool> {
    let mut input: Box<dyn Read> = if p.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(p).map_err(|e| anyhow!("{}: {e}", p.display()))?)
    };
    let (mut bytes, mut carry) = (vec![0u8; 2 * CHUNK], None::<u8>);
    loop {
        let n = match input.read(&mut bytes) {
            Ok(0) => return Ok(carry.is_some()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => bail!("reading PCM: {e}"),
        };
        on(pcm_of(&bytes[..n], &mut carry))?;
    }
}

/// Little-endian 16-bit samples of `bytes`, with a byte left over from the last read first.
fn pcm_of(bytes: &[u8], carry: &mut Option<u8>) -> Vec<f32> {
    let mut all: Vec<u8> = carry.take().into_iter().collect();
    all.extend_from_slice(bytes);
    if all.len() % 2 == 1 {
        *carry = all.pop();
    }
    all.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect()
}

struct Printer<'m, 'a> {
    model: &'m Model<'a>,
    rate: u32,
    json: bool,
    count: usize,
}

impl Printer<'_, '_> {
    fn print(&mut self, d: Detection) -> anyhow::Result<()> {
        self.count += 1;
        let label = self.model.label(d.class).unwrap_or("?");
        let secs = |s: u64| s as f64 / self.rate as f64;
        if self.json {
            let line = serde_json::json!({
                "label": label, "class": d.class, "score": d.score,
                "start_sample": d.start, "end_sample": d.end,
                "start_s": secs(d.start), "end_s": secs(d.end),
            });
            out!("{line}");
        } else {
            out!("{:8.2}-{:.2} s  {label}  {:.3}", secs(d.start), secs(d.end), d.score);
        }
        Ok(())
    }
}

/// Resampling of a stream chunk by chunk, giving exactly the samples a whole-buffer
/// [`resample::resample`] gives: each output is computed once every input its kernel reads has
/// arrived, from a slice that starts on a phase boundary far enough back that the slice's zero
/// padding never reaches it.
pub struct ChunkResampler {
    in_rate: u32,
    out_rate: u32,
    /// Input kept, from absolute input index `base`.
    buf: Vec<f32>,
    base: u64,
    /// Outputs produced so far.
    done: u64,
}

impl ChunkResampler {
    /// A resampler from `in_rate` to `out_rate` (equal rates pass samples through).
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        ChunkResampler { in_rate, out_rate, buf: Vec::new(), base: 0, done: 0 }
    }

    /// Takes `x` (in [-1, 1)); the 16-bit samples now complete.
    pub fn push(&mut self, x: &[f32]) -> Vec<i16> {
        self.buf.extend_from_slice(x);
        self.emit(false)
    }

    /// The outputs left at the end of the input (their kernels read zeros past it).
    pub fn finish(&mut self) -> Vec<i16> {
        self.emit(true)
    }

    fn emit(&mut self, last: bool) -> Vec<i16> {
        let to_i16 = |v: f32| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        if self.in_rate == self.out_rate {
            self.base += self.buf.len() as u64;
            return self.buf.drain(..).map(to_i16).collect();
        }
        let (inr, outr) = (self.in_rate as u64, self.out_rate as u64);
        let w = resample::half_width(self.in_rate, self.out_rate);
        let total = self.base + self.buf.len() as u64;
        // Output m reads inputs ⌊m·in/out⌋ − w + 1 ..= ⌊m·in/out⌋ + w: it is ready when the last
        // has arrived, i.e. for m < ⌈(total − w)·out/in⌉. At the end, every output is due (its
        // kernel reads zeros past the input, as the whole-buffer resampler's does).
        let end = if last {
            resample::output_len(total as usize, self.in_rate, self.out_rate) as u64
        } else {
            (total.saturating_sub(w) * outr).div_ceil(inr)
        };
        if end <= self.done {
            return Vec::new();
        }
        let start = self.grid_start(self.done);
        let slice = self.buf.get((start - self.base) as usize..).unwrap_or(&[]);
        let mut out = vec![0.0f32; resample::output_len(slice.len(), self.in_rate, self.out_rate)];
        // Rates were checked (8 or 16 kHz): resampling cannot fail here.
        let _ = resample::resample(slice, self.in_rate, self.out_rate, &mut out);
        // The slice starts on the phase grid: its output j is output start·out/in + j.
        let skip = (self.done - start * outr / inr) as usize;
        let got: Vec<i16> = out.iter().skip(skip).take((end - self.done) as usize).map(|&v| to_i16(v)).collect();
        self.done = end;
        let keep = self.grid_start(self.done);
        self.buf.drain(..(keep - self.base) as usize);
        self.base = keep;
        got
    }

    /// The input index a slice for outputs from `m` starts at: the first input output `m`'s
    /// kernel reads, rounded down to the phase grid (multiples of in/gcd(in, out), where a
    /// slice's outputs are the whole buffer's, shifted).
    fn grid_start(&self, m: u64) -> u64 {
        let (inr, outr) = (self.in_rate as u64, self.out_rate as u64);
        let w = resample::half_width(self.in_rate, self.out_rate);
        let step = inr / gcd(inr, outr);
        let first = (m * inr / outr + 1).saturating_sub(w);
        (first / step * step).max(self.base)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunked resampling gives the whole-buffer samples, whatever the chunk sizes, both ways.
    #[test]
    fn chunked_resampling_equals_whole_buffer() {
        let x: Vec<f32> = (0..5000).map(|i| ((i * 7919 % 4001) as f32 / 2000.0 - 1.0) * 0.5).collect();
        for (a, b) in [(16000, 8000), (8000, 16000), (8000, 8000)] {
            let mut whole = vec![0.0; resample::output_len(x.len(), a, b)];
            resample::resample(&x, a, b, &mut whole).unwrap();
            let whole: Vec<i16> =
                whole.iter().map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect();
            for sizes in [[1usize, 7, 300], [1024, 1024, 1024], [13, 500, 2]] {
                let mut rs = ChunkResampler::new(a, b);
                let (mut got, mut at, mut k) = (Vec::new(), 0, 0);
                while at < x.len() {
                    let n = sizes[k % 3].min(x.len() - at);
                    got.extend(rs.push(&x[at..at + n]));
                    at += n;
                    k += 1;
                }
                got.extend(rs.finish());
                assert_eq!(got, whole, "{a} -> {b} Hz in chunks of {sizes:?}");
                assert!(rs.buf.len() < 200, "{a} -> {b}: {} samples kept", rs.buf.len());
            }
        }
    }

    #[test]
    fn odd_byte_counts_carry_over() {
        let mut carry = None;
        let a = pcm_of(&[0x00, 0x40, 0x01], &mut carry);
        assert_eq!((a.len(), carry), (1, Some(0x01)));
        let b = pcm_of(&[0x80], &mut carry);
        assert_eq!((b, carry), (vec![i16::from_le_bytes([0x01, 0x80]) as f32 / 32768.0], None));
    }
}
