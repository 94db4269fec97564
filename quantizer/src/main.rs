//! `ferrite`: quantize ONNX models into Ferrite artifacts, inspect artifacts, run them.

use anyhow::{anyhow, bail};
use clap::{Parser, Subcommand, ValueEnum};
use ferrite_quantizer::calibrate::Method;
use ferrite_quantizer::classify::Classifier;
use ferrite_quantizer::import::{FixedValue, ImportOptions};
use ferrite_quantizer::npy::{self, NpyData};
use ferrite_quantizer::quantize::{
    quantize_with, write_atomically, ChunkOptions, Int8Options, Precision, QuantizeOptions,
};
use ferrite_runtime::format::Storage;
use ferrite_runtime::{Input, Model, OutputData, Session};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Ferrite: quantize trained ONNX models into one memory-mapped artifact, inspect it, run it.
#[derive(Parser)]
#[command(name = "ferrite", version, about = "Ferrite: quantize trained ONNX models into one memory-mapped artifact (.fer), inspect it, run it", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    /// f32 weights (reference)
    F32,
    /// IEEE half weights, f32 compute
    Fp16,
    /// Calibrated int8 (needs --calib, unless the model is pre-quantized: QDQ)
    Int8,
}

#[derive(Clone, Copy, ValueEnum)]
enum CalibMethodArg {
    /// The observed minimum and maximum
    Minmax,
    /// The --percentile quantiles (clips rare outliers)
    Percentile,
    /// The range with the least expected squared error
    Mse,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ActivationsArg {
    /// Calibrated ranges, fixed in the artifact (int8 from layer to layer)
    Static,
    /// Linear layers quantize each input row at run time (f32 between layers): transformers
    Dynamic,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    /// The held-out test split
    Test,
    /// The training split
    Train,
    /// Everything
    All,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an ONNX model into a Ferrite artifact (.fer)
    Quantize {
        /// The ONNX model
        model: PathBuf,
        /// Weight precision
        #[arg(long, value_enum, default_value = "f32")]
        precision: PrecisionArg,
        /// Output artifact path
        #[arg(short, long)]
        output: PathBuf,
        /// Shape of a named input, e.g. tokens=1,64, or sr=scalar for a rank-0 input (repeatable;
        /// needed for symbolic dimensions other than a leading batch dimension, which defaults to 1)
        #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
        input_shape: Vec<String>,
        /// Freeze an input to a constant: a number (filling its shape, e.g. sr=16000) or a .npy
        /// file (repeatable). Shape arithmetic and `If`s that depend on it fold at import
        #[arg(long = "fix", value_name = "NAME=VALUE|FILE.npy")]
        fix: Vec<String>,
        /// Text file with one label per line, for the first output's classes (overrides the config's)
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Preprocessing, labels and card (default: ferrite.toml beside the ONNX file, if any)
        #[arg(long, conflicts_with = "no_config")]
        config: Option<PathBuf>,
        /// Ignore a ferrite.toml beside the ONNX file
        #[arg(long)]
        no_config: bool,
        /// Model name stored in the metadata (default: the file name without extension)
        #[arg(long)]
        name: Option<String>,
        /// Task stored in the metadata (e.g. keyword-spotting, intent-classification)
        #[arg(long)]
        task: Option<String>,
        /// Calibration data for int8: a folder of .npy inputs (several inputs: one folder per example
        /// holding INPUT.npy for each), or (for models with preprocessing) a WAV folder, the Snips
        /// folder or a JSON-lines file (its training split is used)
        #[arg(long, value_name = "DATA")]
        calib: Option<PathBuf>,
        /// How activation ranges are chosen from the calibration data
        #[arg(long, value_enum, default_value = "minmax")]
        calib_method: CalibMethodArg,
        /// Quantile kept by --calib-method percentile
        #[arg(long, default_value_t = 0.9999)]
        percentile: f64,
        /// Calibration examples used (evenly spread over the set)
        #[arg(long, default_value_t = 200, value_name = "N")]
        calib_samples: usize,
        /// Mixed precision: layers whose own SQNR (only that layer in int8, on the calibration set) is below DB decibels stay fp16
        #[arg(long, value_name = "DB")]
        accuracy_budget: Option<f64>,
        /// How linear layers quantize their activations (int8): with calibrated ranges, or per row
        /// at run time (what transformer encoders need; docs/QUANTIZATION.md)
        #[arg(long, value_enum, default_value = "static")]
        activations: ActivationsArg,
        /// Write a self-contained HTML report (per-layer SQNR chart, sizes) to FILE
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
        /// Firmware profile: drop tensor and op names (but the inputs' and outputs') and the model
        /// card (its SHA-256 stays; `inspect` shows it), store the vocabulary front-coded and write
        /// the compact form (compact records, 16-bit indices, packed weights without row sums: on
        /// x86 and AArch64 these run the generic int8 GEMM)
        #[arg(long)]
        strip: bool,
        /// A stateful model over a stream of samples (a VAD): each run's output OUT feeds the next
        /// run's input IN (repeatable); `ferrite stream` then runs it chunk by chunk
        #[arg(long, value_name = "IN=OUT")]
        stream_state: Vec<String>,
        /// New samples per run of a chunk stream (default: the whole audio input; Silero VAD: 512 of
        /// its 576, the rest being the last run's context)
        #[arg(long, value_name = "N")]
        stream_hop: Option<usize>,
        /// Sample rate a chunk stream's audio is at (`ferrite stream` resamples WAVs at the other
        /// of 8000 and 16000)
        #[arg(long, value_name = "HZ")]
        stream_rate: Option<u32>,
        /// Examples per run: every input's symbolic first (batch) dimension becomes N, so one run
        /// takes N independent inputs (N microphones or sentences; where a GPU pays). The
        /// preprocessing applies to each example; int8 calibrates on the examples N at a time
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
        batch: u32,
    },
    /// Show an artifact's inputs, outputs, ops, tensors, arena and metadata
    Inspect {
        /// The artifact
        artifact: PathBuf,
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
        /// Also show where each op runs on this device (cuda: the GPU, or why there is none)
        #[arg(long, value_enum, default_value_t)]
        device: cli::device::DeviceArg,
    },
    /// Run an artifact on raw text, a WAV file, or .npy tensors, and print the top labels or the outputs
    #[command(group(clap::ArgGroup::new("source").required(true).args(["input", "text", "wav"])))]
    Run {
        /// The artifact
        artifact: PathBuf,
        /// Text to classify with the artifact's tokenizer
        #[arg(long)]
        text: Option<String>,
        /// WAV file (PCM 16-bit mono, 8 or 16 kHz) to classify with the artifact's audio frontend
        #[arg(long)]
        wav: Option<PathBuf>,
        /// An input tensor as [NAME=]FILE.npy (repeatable; without names, inputs are taken in order)
        #[arg(long = "input", short, value_name = "[NAME=]FILE.npy")]
        input: Vec<String>,
        /// Write each output to DIR/<output name>.npy (with --input)
        #[arg(long, requires = "input")]
        output: Option<PathBuf>,
        /// How many classes to list when the model has labels
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Print one JSON object: {"top": [{"label", "score"}, ...], ...}
        #[arg(long)]
        json: bool,
    },
    /// Print the sentence embedding of each text (an encoder without a classification head, e.g.
    /// models/minilm): its first output's values, one line per text
    Embed {
        /// The artifact (with a tokenizer)
        artifact: PathBuf,
        /// Text to embed (repeatable: later texts also get their cosine similarity to the first)
        #[arg(long, required = true)]
        text: Vec<String>,
        /// Print one JSON object per text: {"text", "dim", "embedding", "tokens", "notes", "ms"}
        #[arg(long)]
        json: bool,
    },
    /// Measure accuracy on a labelled data set (WAV folder, Snips folder or JSON lines)
    Eval {
        /// The artifact (with labels and preprocessing)
        artifact: PathBuf,
        /// A folder of {label}_{speaker}_{index}.wav files (or FSDD's folder), the Snips folder, or a
        /// JSON-lines file of {"text": ..., "intent": ...} records
        #[arg(long)]
        data: PathBuf,
        /// Which split: test (FSDD index 0-4, Snips validate_*), train, or all
        #[arg(long, value_enum, default_value = "test")]
        split: SplitArg,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// Audit against a reference: an f32 artifact or the ONNX model (read with the ferrite.toml
        /// beside it); reports agreement and the change of every class and slice, with flags
        #[arg(long, value_name = "REF.fer|MODEL.onnx")]
        reference: Option<PathBuf>,
        /// With --reference: exit with status 3 when a class or slice is flagged
        #[arg(long, requires = "reference")]
        fail_on_flag: bool,
        /// With --reference: write a self-contained HTML report (confusion matrices, per-class and
        /// per-slice changes, per-layer SQNR) to FILE
        #[arg(long, value_name = "FILE.html", requires = "reference")]
        report: Option<PathBuf>,
        /// With --reference: record the audit's summary (data set name and fingerprint, reference,
        /// accuracy change, worst class and slice) in ARTIFACT's model card; before signing
        #[arg(long, requires = "reference")]
        record: bool,
    },
    /// Spot keywords in a stream: a WAV file or raw 16-bit mono PCM (`--raw -` reads stdin), each
    /// detection printed as it happens; a chunk model (a VAD, `--stream-state`) prints each run
    #[command(group(clap::ArgGroup::new("audio").required(true).args(["wav", "raw"])))]
    Stream {
        /// A keyword artifact (an audio frontend and one logit per class)
        artifact: PathBuf,
        /// WAV file (PCM 16-bit mono, 8 or 16 kHz), fed in chunks as a microphone would
        #[arg(long)]
        wav: Option<PathBuf>,
        /// Raw S16_LE mono PCM: a file, or - for stdin (`arecord -t raw -f S16_LE -c 1 -r 16000`)
        #[arg(long, value_name = "FILE|-")]
        raw: Option<PathBuf>,
        /// Sample rate of --raw input (the model's, or the other of 8000 and 16000: resampled)
        #[arg(long, value_name = "HZ", requires = "raw")]
        rate: Option<u32>,
        /// Smoothed posterior a keyword must reach, in (0, 1] (default 0.8)
        #[arg(long, value_name = "T")]
        threshold: Option<f32>,
        /// Audio frames between runs of the model (default: 100 ms of frames)
        #[arg(long, value_name = "N")]
        hop_frames: Option<u32>,
        /// Runs whose posteriors are averaged (default 3)
        #[arg(long, value_name = "N")]
        smooth: Option<u32>,
        /// Milliseconds after a detection before another may fire (default: one clip)
        #[arg(long, value_name = "MS")]
        refractory_ms: Option<u32>,
        /// One JSON object per detection and line
        #[arg(long)]
        json: bool,
        /// A recurrent model's step artifact (one frame and the state in, logits and the state out),
        /// run every frame with its state carried; the frontend and defaults are ARTIFACT's
        #[arg(long, value_name = "STEP.fer")]
        step: Option<PathBuf>,
    },
    /// Measure load time, first run, latency (median, p99), peak memory and the kernel tier of every op
    Bench {
        /// The artifact
        artifact: PathBuf,
        /// Inputs as for `run` ([NAME=]FILE.npy); zeros of the right shape when omitted
        #[arg(long = "input", short, value_name = "[NAME=]FILE.npy")]
        input: Vec<String>,
        /// Timed runs (after 3 warm-up runs)
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// Also time every op (a table of ops by time: kernel tier and share of the run)
        #[arg(long)]
        profile: bool,
        /// Run on this device (cuda: fails when there is no GPU; ops without a GPU kernel run on
        /// the CPU, and the placement is printed first)
        #[arg(long, value_enum, default_value_t)]
        device: cli::device::DeviceArg,
    },
    /// Explain a decision: each word (read as unknown), time segment or mel band (set to silence)
    /// is hidden in turn, and its importance is how much the label's probability drops
    #[command(group(clap::ArgGroup::new("subject").required(true).args(["text", "wav"])))]
    Explain {
        /// A text or audio classifier artifact
        artifact: PathBuf,
        /// Text to explain (the model must have a tokenizer)
        #[arg(long)]
        text: Option<String>,
        /// WAV file to explain (PCM 16-bit mono, 8 or 16 kHz; the model must have an audio frontend)
        #[arg(long, value_name = "FILE.wav")]
        wav: Option<PathBuf>,
        /// Label to explain, by name or class index (default: the predicted one)
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        /// Also explain this artifact (e.g. the float model a quantized one came from) for the same
        /// label, and show how far the two agree (Spearman's rank correlation)
        #[arg(long, value_name = "REF.fer")]
        reference: Option<PathBuf>,
        /// Audio: length of a time segment
        #[arg(long, value_name = "MS", default_value_t = 100.0)]
        segment_ms: f32,
        /// Audio: number of mel bands the filters are grouped into (at most: each band holds the same
        /// whole number of filters, the last one fewer)
        #[arg(long, value_name = "N", default_value_t = 8)]
        bands: usize,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// Write a self-contained HTML page (shaded words, or the spectrogram with heat strips)
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for signing artifacts: KEY (private, PKCS#8 PEM, readable by its
    /// owner only) and KEY.pub (public, SubjectPublicKeyInfo PEM); the private key is never printed
    Keygen {
        /// Private key file to write (the public key goes to the same path with `.pub` added)
        #[arg(long, short, value_name = "KEY")]
        out: PathBuf,
        /// Replace existing key files
        #[arg(long)]
        force: bool,
    },
    /// Sign an artifact with a private key (a Signature section; an old one is replaced)
    Sign {
        /// The artifact
        artifact: PathBuf,
        /// Private key (PKCS#8 PEM, e.g. from `ferrite keygen` or `openssl genpkey -algorithm ed25519`)
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Where to write the signed artifact (default: replace ARTIFACT)
        #[arg(long, short, value_name = "OUT.fer")]
        output: Option<PathBuf>,
    },
    /// Check an artifact's signature against trusted public keys (exit 1 when it does not hold)
    Verify {
        /// The artifact
        artifact: PathBuf,
        /// A trusted public key (SubjectPublicKeyInfo PEM; repeatable)
        #[arg(long = "pubkey", value_name = "KEY.pub", required = true)]
        pubkeys: Vec<PathBuf>,
    },
}

/// `println!` that returns write errors (a closed pipe) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?;
    }};
}

// After `out!`, which the command modules use.
mod cli;

fn main() -> ExitCode {
    ferrite_quantizer::import::quiet_contained_panics();
    let cli = Cli::parse(); // usage errors exit with status 2 (clap)
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`ferrite inspect x.fer | head`) is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) if e.downcast_ref::<cli::audit::Flagged>().is_some() => ExitCode::from(cli::audit::EXIT_FLAGGED),
        Err(e) => {
            let msg = format!("{e}").replace('\n', " ");
            eprintln!("ferrite: error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Quantize {
            model,
            precision,
            output,
            input_shape,
            fix,
            labels,
            config,
            no_config,
            activations,
            name,
            task,
            calib,
            calib_method,
            percentile,
            calib_samples,
            accuracy_budget,
            report,
            strip,
            stream_state,
            stream_hop,
            stream_rate,
            batch,
        } => {
            let chunks = chunk_options(&stream_state, stream_hop, stream_rate)?;
            let config = if no_config {
                None
            } else {
                config.or_else(|| Some(model.with_file_name("ferrite.toml")).filter(|p| p.is_file()))
            };
            let int8 = match (precision, calib) {
                // Without --calib, only a pre-quantized (QDQ) model converts: it brings its scales.
                (PrecisionArg::Int8, calib) => {
                    if calib_samples == 0 {
                        bail!("--calib-samples must be at least 1");
                    }
                    if !(percentile > 0.5 && percentile < 1.0) {
                        bail!("--percentile must be in (0.5, 1), e.g. 0.9999");
                    }
                    if accuracy_budget.is_some_and(|b| !b.is_finite()) {
                        bail!("--accuracy-budget must be a number of decibels");
                    }
                    let method = match calib_method {
                        CalibMethodArg::Minmax => Method::MinMax,
                        CalibMethodArg::Percentile => Method::Percentile(percentile),
                        CalibMethodArg::Mse => Method::Mse,
                    };
                    Some(Int8Options {
                        calib,
                        method,
                        samples: calib_samples,
                        accuracy_budget_db: accuracy_budget,
                        dynamic: activations == ActivationsArg::Dynamic,
                    })
                }
                (_, Some(_)) => bail!("--calib applies to --precision int8 only"),
                (_, None) => None,
            };
            if report.is_some() && int8.is_none() {
                bail!("--report applies to --precision int8 (it charts the per-layer SQNR)");
            }
            cmd_quantize(
                &model,
                precision,
                &output,
                &input_shape,
                &fix,
                labels.as_deref(),
                config.as_deref(),
                name,
                task,
                int8,
                report.as_deref(),
                (strip, chunks, batch as usize),
            )
        }
        Command::Eval { artifact, data, split, json, reference: Some(reference), fail_on_flag, report, record } => {
            let split = split_of(split);
            cli::audit::run(&cli::audit::Args { artifact, reference, data, split, json, fail_on_flag, report, record })
        }
        Command::Eval { artifact, data, split, json, .. } => cmd_eval(&artifact, &data, split, json),
        Command::Inspect { artifact, json, device } => cmd_inspect(&artifact, json, device),
        Command::Run { artifact, text, wav, input, output, top, json } => match (text, wav) {
            (Some(t), _) => cmd_classify(&artifact, Raw::Text(t), top, json),
            (None, Some(w)) => cmd_classify(&artifact, Raw::Wav(w), top, json),
            (None, None) => cmd_run(&artifact, &input, output.as_deref(), top, json),
        },
        Command::Stream { artifact, wav, raw, rate, threshold, hop_frames, smooth, refractory_ms, json, step } => {
            let source = match (wav, raw) {
                (Some(w), _) => cli::stream::Source::Wav(w),
                (None, Some(r)) => cli::stream::Source::Raw(r),
                (None, None) => return Err(anyhow!("give --wav FILE or --raw FILE|-")),
            };
            let opts = cli::stream::Options { rate, threshold, hop_frames, smooth, refractory_ms, json, step };
            cli::stream::run(&artifact, source, opts)
        }
        Command::Explain { artifact, text, wav, label, reference, segment_ms, bands, json, html } => {
            cli::explain::run(&cli::explain::Args {
                artifact,
                text,
                wav,
                label,
                reference,
                segment_ms,
                bands,
                json,
                html,
            })
        }
        Command::Embed { artifact, text, json } => cli::embed::run(&artifact, &text, json),
        Command::Keygen { out, force } => cli::sign::keygen(&out, force),
        Command::Sign { artifact, key, output } => cli::sign::sign(&artifact, &key, output.as_deref()),
        Command::Verify { artifact, pubkeys } => cli::sign::verify(&artifact, &pubkeys),
        Command::Bench { artifact, input, iterations, json, profile, device } => {
            cli::bench::run(&artifact, &input, cli::bench::Options { iterations, json, profile, device })
        }
    }
}

/// The chunk stream `--stream-state`, `--stream-hop` and `--stream-rate` describe (none without
/// them).
fn chunk_options(states: &[String], hop: Option<usize>, rate: Option<u32>) -> anyhow::Result<Option<ChunkOptions>> {
    if states.is_empty() && hop.is_none() {
        if rate.is_some() {
            bail!("--stream-rate describes a chunk stream: give --stream-hop or --stream-state too");
        }
        return Ok(None);
    }
    let states = states
        .iter()
        .map(|s| match s.split_once('=') {
            Some((i, o)) if !i.is_empty() && !o.is_empty() => Ok((i.to_string(), o.to_string())),
            _ => Err(anyhow!("--stream-state {s}: expected INPUT=OUTPUT")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if hop == Some(0) {
        bail!("--stream-hop must be at least 1");
    }
    if rate.is_some_and(|r| r == 0) {
        bail!("--stream-rate must be a rate in Hz");
    }
    Ok(Some(ChunkOptions { hop: hop.unwrap_or(0), states, sample_rate: rate }))
}

/// `NAME=D1,D2,...`, or `NAME=` / `NAME=scalar` for a rank-0 input.
fn parse_shape(spec: &str) -> anyhow::Result<(String, Vec<usize>)> {
    let (name, dims) = spec.rsplit_once('=').ok_or_else(|| anyhow!("--input-shape {spec}: expected NAME=D1,D2,..."))?;
    if name.is_empty() {
        bail!("--input-shape {spec}: expected NAME=D1,D2,...");
    }
    if dims.trim().is_empty() || dims.trim() == "scalar" {
        return Ok((name.to_string(), Vec::new()));
    }
    let dims: Result<Vec<usize>, _> = dims.split(',').map(|d| d.trim().parse::<usize>()).collect();
    let dims =
        dims.map_err(|_| anyhow!("--input-shape {spec}: dimensions must be non-negative integers (or `scalar`)"))?;
    Ok((name.to_string(), dims))
}

/// `NAME=NUMBER` or `NAME=FILE.npy`.
fn parse_fix(spec: &str) -> anyhow::Result<(String, FixedValue)> {
    let (name, value) =
        spec.split_once('=').ok_or_else(|| anyhow!("--fix {spec}: expected NAME=VALUE or NAME=FILE.npy"))?;
    if name.is_empty() || value.is_empty() {
        bail!("--fix {spec}: expected NAME=VALUE or NAME=FILE.npy");
    }
    if let Ok(v) = value.trim().parse::<f64>() {
        if !v.is_finite() {
            bail!("--fix {spec}: the value must be finite");
        }
        return Ok((name.to_string(), FixedValue::Scalar(v)));
    }
    let a = npy::read(Path::new(value))?;
    let values: Vec<f64> = match a.data {
        NpyData::F32(v) => v.into_iter().map(f64::from).collect(),
        NpyData::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        NpyData::Bool(v) => v.into_iter().map(f64::from).collect(),
    };
    Ok((name.to_string(), FixedValue::Array { shape: a.shape, values }))
}

#[allow(clippy::too_many_arguments)]
fn cmd_quantize(
    model: &Path,
    precision: PrecisionArg,
    output: &Path,
    shapes: &[String],
    fix: &[String],
    labels: Option<&Path>,
    config: Option<&Path>,
    name: Option<String>,
    task: Option<String>,
    int8: Option<Int8Options>,
    report: Option<&Path>,
    (strip, chunks, batch): (bool, Option<ChunkOptions>, usize),
) -> anyhow::Result<()> {
    let input_shapes = shapes.iter().map(|s| parse_shape(s)).collect::<anyhow::Result<Vec<_>>>()?;
    let fixed = fix.iter().map(|s| parse_fix(s)).collect::<anyhow::Result<Vec<_>>>()?;
    let cfg = match config {
        Some(p) => {
            eprintln!("ferrite: reading {}", p.display());
            ferrite_quantizer::config::load(p)?
        }
        None => Default::default(),
    };
    let labels = match labels {
        Some(p) => ferrite_quantizer::config::read_labels(p)?,
        None => Vec::new(),
    };
    let precision = match precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::Fp16 => Precision::Fp16,
        PrecisionArg::Int8 => Precision::Int8,
    };
    let t0 = Instant::now();
    eprintln!("ferrite: importing {} ...", model.display());
    let mut opts = QuantizeOptions {
        precision,
        import: ImportOptions { input_shapes, fixed, batch, ..Default::default() },
        labels,
        name,
        task,
        int8,
        strip,
        chunks,
        ..Default::default()
    };
    cfg.apply_to(&mut opts);
    let mut bar = ProgressBar::default();
    let q = quantize_with(model, &opts, &mut |stage, done, total| bar.show(stage, done, total))?;
    bar.finish();
    write_atomically(output, &q.bytes)?;
    let meta = &q.metadata;
    if let Some(qr) = ferrite_quantizer::report::quantization(meta) {
        eprint!("{}", ferrite_quantizer::report::quant_text(qr));
        // Values the conversion changed: never silent (also in the model card, layer `changes`).
        for l in qr["layers"].as_array().into_iter().flatten() {
            for c in l["changes"].as_array().into_iter().flatten() {
                eprintln!(
                    "ferrite: warning: layer {}: {}",
                    l["name"].as_str().unwrap_or("?"),
                    c.as_str().unwrap_or("?")
                );
            }
        }
    }
    if let Some(path) = report {
        let html = ferrite_quantizer::report::quantize_html(meta);
        write_atomically(path, html.as_bytes())?;
        eprintln!("ferrite: wrote report {}", path.display());
    }
    let onnx_size = std::fs::metadata(model).map(|m| m.len()).unwrap_or(0);
    // Ops as written (Reshape-like copies are aliases in the artifact, not ops).
    let aligned = ferrite_runtime::AlignedBytes::copy_from(&q.bytes);
    let ops = ferrite_runtime::Model::from_bytes(&aligned).map_or(q.graph.ops.len(), |m| m.ops().count());
    eprintln!(
        "ferrite: wrote {} ({} bytes, {:.1}% of the ONNX file; {} ops, {} weight bytes, arena {} bytes, {} tensors in f16) in {:.2}s",
        output.display(),
        q.bytes.len(),
        100.0 * q.bytes.len() as f64 / onnx_size.max(1) as f64,
        ops,
        q.weight_bytes,
        q.arena_len,
        q.f16_tensors,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Progress of `quantize` on stderr: a bar per stage (indicatif, as `eval` uses) when stderr is a
/// terminal, one line per stage otherwise, so logs stay readable.
#[derive(Default)]
struct ProgressBar {
    stage: String,
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressBar {
    fn show(&mut self, stage: &str, done: usize, total: usize) {
        use std::io::IsTerminal;
        if stage != self.stage {
            self.finish();
            self.stage = stage.to_owned();
            if std::io::stderr().is_terminal() {
                let b = indicatif::ProgressBar::new(total as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template("ferrite: {msg:<32} {bar:30} {pos}/{len}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b.set_message(stage.to_owned());
                self.bar = Some(b);
            } else {
                eprintln!("ferrite: {stage} ...");
            }
        }
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

pub(crate) fn open(path: &Path) -> anyhow::Result<Model<'static>> {
    Model::open(path).map_err(|e| match e {
        // The runtime is no_std and knows only the OS error code; give people the OS's words.
        ferrite_runtime::Error::Io(Some(code)) => {
            anyhow!("{}: {}", path.display(), std::io::Error::from_raw_os_error(code))
        }
        e => anyhow!("{}: {e}", path.display()),
    })
}

fn shape_str(s: &[usize]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

/// Bytes of the prepared-op and region tables a session of `model` fills (with the arena, all the
/// RAM a session needs besides the stack).
fn table_bytes(model: &Model<'_>) -> usize {
    model.op_count() * std::mem::size_of::<ferrite_runtime::PreparedOp>()
        + model.region_count() * std::mem::size_of::<ferrite_runtime::Region>()
}

fn cmd_inspect(path: &Path, json: bool, device: cli::device::DeviceArg) -> anyhow::Result<()> {
    let model = open(path)?;
    let art = model.artifact();
    let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap_or(serde_json::Value::Null);
    let tensors: Vec<_> = model.tensors().collect();
    let weight_bytes: u64 = tensors.iter().filter(|(_, s)| *s == Storage::Weights).map(|(t, _)| t.byte_len).sum();
    let tensor_name = |i: u32| tensors.get(i as usize).map(|(t, _)| t.name.to_string()).unwrap_or_else(|| "-".into());
    // The kernels a session on this machine would run (FERRITE_KERNELS forces a tier).
    let session = Session::new(&model).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let tiers: Vec<&str> = session.ops().iter().map(|o| o.tier().name()).collect();
    let table_tier = session.kernels().tier.name();
    let caps: Vec<&str> = ferrite_runtime::format::caps::NAMES
        .iter()
        .filter(|(bit, _)| art.caps() & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    let ops: Vec<serde_json::Value> = model
        .ops()
        .enumerate()
        .map(|(k, op)| {
            let ids = |start: u32, len: u32| -> Vec<String> {
                art.index_range(start, len)
                    .into_iter()
                    .flatten()
                    .map(|i| if i == u32::MAX { "-".into() } else { tensor_name(i) })
                    .collect()
            };
            serde_json::json!({
                "op": op.code.name(),
                "tier": tiers.get(k).copied().unwrap_or("generic"),
                "name": op.name,
                "inputs": ids(op.record.inputs_start.get(), op.record.inputs_len.get()),
                "outputs": ids(op.record.outputs_start.get(), op.record.outputs_len.get()),
            })
        })
        .collect();
    // The runtime's op-selection features this model needs (firmware builds list just these).
    let mut op_features: Vec<String> = model.ops().filter_map(|op| op.code.feature()).map(String::from).collect();
    match model.preprocessing() {
        ferrite_runtime::Preprocessing::Audio(fe) => op_features.push(format!("fft-{}", fe.n_fft())),
        ferrite_runtime::Preprocessing::Text(t) if t.special_ids().is_some() => op_features.push("wordpiece".into()),
        _ => {}
    }
    // int8 products over row-major (unpacked) weights: early int8 artifacts.
    let row_major = model.ops().any(|op| {
        matches!(op.code, ferrite_runtime::ops::OpCode::QMatMul | ferrite_runtime::ops::OpCode::QConv)
            && art
                .index_range(op.record.inputs_start.get(), op.record.inputs_len.get())
                .and_then(|ix| ix.get(1))
                .and_then(|w| tensors.get(w as usize))
                .is_some_and(|(t, _)| t.info.layout == ferrite_runtime::format::Layout::RowMajor)
    });
    if row_major {
        op_features.push("int8-row-major".into());
    }
    op_features.sort_unstable();
    op_features.dedup();
    let tjson: Vec<serde_json::Value> = tensors
        .iter()
        .map(|(t, s)| serde_json::json!({"name": t.name, "dtype": t.info.dtype.name(), "shape": t.info.shape(), "bytes": t.byte_len, "storage": storage_name(*s), "layout": t.info.layout.name()}))
        .collect();
    let io = |v: Vec<ferrite_runtime::TensorDesc<'_>>| -> Vec<serde_json::Value> {
        v.iter()
            .map(|t| serde_json::json!({"name": t.name, "dtype": t.info.dtype.name(), "shape": t.info.shape()}))
            .collect()
    };
    if json {
        let out = serde_json::json!({
            "file": path.display().to_string(),
            "file_bytes": model.bytes().len(),
            "container_version": art.header.container_version.get(),
            "quant_version": art.header.quant_version.get(),
            "capabilities": caps,
            "checksum": format!("crc32:{:08x}", art.header.checksum.get()),
            "signature": ferrite_quantizer::sign::signer(model.bytes())
                .map(|k| serde_json::json!({"algorithm": "ed25519", "key": ferrite_quantizer::sign::fingerprint(&k), "checked": false})),
            "arena_bytes": model.arena_len(),
            "table_bytes": table_bytes(&model),
            "session_bytes": model.arena_len() + table_bytes(&model),
            "weight_bytes": weight_bytes,
            "kernel_tier": table_tier,
            "op_features": op_features,
            "inputs": io(model.inputs().collect()),
            "outputs": io(model.outputs().collect()),
            "ops": ops,
            "tensors": tjson,
            "labels": model.labels().collect::<Vec<_>>(),
            "preprocessing": preprocessing_summary(&model),
            "stream": model.stream_params().map(|p| serde_json::json!({
                "hop_frames": p.hop_frames, "smooth": p.smooth, "threshold": p.threshold,
                "refractory_samples": p.refractory, "background": p.background,
            })),
            "metadata": meta,
        });
        let mut out = out;
        if device == cli::device::DeviceArg::Cuda {
            out["placement"] = cli::device::Report::new(&model).json(&tensor_name);
        }
        out!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    out!(
        "{}: Ferrite artifact v{} (quantization v{}), {} bytes, checksum crc32:{:08x} (verified)",
        path.display(),
        art.header.container_version.get(),
        art.header.quant_version.get(),
        model.bytes().len(),
        art.header.checksum.get()
    );
    match ferrite_quantizer::sign::signer(model.bytes()) {
        Some(k) => out!(
            "signature: Ed25519 by key {} (not checked here: `ferrite verify --pubkey KEY.pub`)",
            ferrite_quantizer::sign::fingerprint(&k)
        ),
        None => out!("signature: none"),
    }
    if !caps.is_empty() {
        out!("capabilities: {}", caps.join(", "));
    }
    if let Some(n) = meta.get("name").and_then(|v| v.as_str()) {
        out!(
            "model: {n}  precision: {}  task: {}",
            meta.get("precision").and_then(|v| v.as_str()).unwrap_or("?"),
            meta.get("task").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).unwrap_or("-")
        );
    }
    out!("arena: {} bytes   weights: {} bytes   kernels: {table_tier}", model.arena_len(), weight_bytes);
    out!(
        "session memory: {} bytes (arena {} + prepared op and region tables {} in this build; 32-bit targets need less)",
        model.arena_len() + table_bytes(&model),
        model.arena_len(),
        table_bytes(&model)
    );
    out!("runtime features (op selection): {}", op_features.join(", "));
    for t in model.inputs() {
        out!("input  {} {} {}", t.name, t.info.dtype.name(), shape_str(t.info.shape()));
    }
    for t in model.outputs() {
        out!("output {} {} {}", t.name, t.info.dtype.name(), shape_str(t.info.shape()));
    }
    out!("ops ({}):", ops.len());
    for (i, op) in ops.iter().enumerate() {
        let list = |k: &str| {
            op[k]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        };
        out!(
            "  {i:>3} {:<10} {:<7} {}  ({}) -> ({})",
            op["op"].as_str().unwrap_or(""),
            op["tier"].as_str().unwrap_or(""),
            op["name"].as_str().unwrap_or(""),
            list("inputs"),
            list("outputs")
        );
    }
    out!("tensors ({}):", tensors.len());
    for (t, s) in &tensors {
        let layout = match t.info.layout {
            ferrite_runtime::format::Layout::RowMajor => String::new(),
            l => format!(" {}", l.name()),
        };
        out!(
            "  {:<7} {:<4} {:>10} B  {}{layout}  {}",
            storage_name(*s),
            t.info.dtype.name(),
            t.byte_len,
            shape_str(t.info.shape()),
            t.name
        );
    }
    if model.label_count() > 0 {
        out!("labels: {}", model.labels().collect::<Vec<_>>().join(", "));
    }
    if let Some(p) = preprocessing_summary(&model) {
        out!("preprocessing: {p}");
    }
    if let Some(sp) = model.stream_params() {
        let background = sp.background.and_then(|b| model.label(b as usize)).unwrap_or("none");
        out!(
            "stream defaults: a run every {} frames, {} runs smoothed, threshold {}, refractory {} samples, background {background}",
            sp.hop_frames,
            sp.smooth,
            sp.threshold,
            sp.refractory
        );
    }
    if let Some(imp) = meta.get("model_card").map(|c| &c["import"]).filter(|i| i.is_object()) {
        let fixed: Vec<String> = imp["fixed_inputs"]
            .as_object()
            .map(|o| {
                o.iter().map(|(k, v)| format!("{k} = {}", v.as_str().map_or(v.to_string(), str::to_string))).collect()
            })
            .unwrap_or_default();
        out!(
            "import: inputs fixed: {}; If nodes folded to their branch: {}, run both ways and selected: {}; Scan nodes unrolled: {}",
            if fixed.is_empty() { "none".to_string() } else { fixed.join(", ") },
            imp["if_branches_taken"],
            imp["if_both_branches_selected"],
            imp["scans_unrolled"].as_u64().unwrap_or(0)
        );
    }
    if let Some(card) = meta.get("model_card") {
        let (text, quant) = (card.get("text"), card.get("quantization"));
        out!("{}", ferrite_quantizer::report::provenance_text(card).trim_end());
        if let Some(q) = quant.filter(|q| q.is_object()) {
            out!("{}", ferrite_quantizer::report::quant_text(q).trim_end());
        }
        if let Some(t) = text.and_then(|t| t.as_str()) {
            out!("model card text: {} lines (inspect --json shows it)", t.lines().count());
        }
    }
    if let Some(st) = meta.get("stripped") {
        let what: Vec<&str> =
            st["what"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        out!(
            "stripped (--strip): {}; model card of {} bytes, sha256:{}",
            what.join(", "),
            st["model_card_bytes"],
            st["model_card_sha256"].as_str().unwrap_or("?")
        );
    }
    if device == cli::device::DeviceArg::Cuda {
        cli::device::Report::new(&model).print(&tensor_name)?;
    }
    Ok(())
}

fn storage_name(s: Storage) -> &'static str {
    match s {
        Storage::Arena => "arena",
        Storage::Weights => "weight",
        Storage::State => "state",
        Storage::Alias => "alias",
    }
}

/// One line on the artifact's preprocessing, from its binary section (what a device reads).
fn preprocessing_summary(model: &Model<'_>) -> Option<String> {
    use ferrite_runtime::Preprocessing;
    match model.preprocessing() {
        Preprocessing::None => None,
        Preprocessing::Text(t) => Some(match t.special_ids() {
            None => format!(
                "text, tokenizer words-v1: {} ids padded on the {}, vocabulary of {} words{} (+ padding 0, unknown 1)",
                t.seq_len(),
                if t.pads_left() { "left" } else { "right" },
                t.vocab_len(),
                if t.vocab_is_front_coded() { ", front-coded" } else { "" }
            ),
            Some((cls, sep)) => format!(
                "text, tokenizer wordpiece-v1 (BERT uncased): {} ids ([CLS] {cls}, at most {} subwords, [SEP] {sep}, \
                 padding {} on the right), vocabulary of {} entries{} ([UNK] {})",
                t.seq_len(),
                t.seq_len() - 2,
                t.pad_id(),
                t.vocab_len(),
                if t.vocab_is_front_coded() { ", front-coded" } else { "" },
                t.unk_id()
            ),
        }),
        Preprocessing::Audio(a) => Some(format!(
            "audio, frontend logmel-v1: {} Hz, {} samples -> {} frames x {} features{}",
            a.sample_rate(),
            a.clip_samples(),
            a.n_frames(),
            a.n_features(),
            if a.window_mean() { ", each feature's window mean subtracted" } else { "" }
        )),
    }
}

/// Reads the `.npy` files named by `--input` specs and matches them to the model's inputs.
pub(crate) fn load_inputs(
    path: &Path,
    model: &Model<'_>,
    inputs: &[String],
) -> anyhow::Result<Vec<(PathBuf, npy::NpyArray)>> {
    let descs: Vec<_> = model.inputs().collect();
    // Assign files to inputs: NAME=FILE when NAME is an input, else in order.
    let mut files: Vec<Option<PathBuf>> = vec![None; descs.len()];
    let mut next = 0usize;
    for spec in inputs {
        let named = spec.split_once('=').and_then(|(n, f)| descs.iter().position(|d| d.name == n).map(|i| (i, f)));
        let (i, file) = match named {
            Some((i, f)) => (i, f),
            None => {
                while next < files.len() && files[next].is_some() {
                    next += 1;
                }
                if next >= files.len() {
                    bail!("{}: the model has {} input(s), {} given", path.display(), descs.len(), inputs.len());
                }
                (next, spec.as_str())
            }
        };
        if files[i].is_some() {
            bail!("input {} given twice", descs[i].name);
        }
        files[i] = Some(PathBuf::from(file));
    }
    let mut arrays = Vec::new();
    for (d, f) in descs.iter().zip(&files) {
        let f = f.as_ref().ok_or_else(|| {
            anyhow!("no file for input {} ({} {})", d.name, d.info.dtype.name(), shape_str(d.info.shape()))
        })?;
        let a = npy::read(f)?;
        if a.shape != d.info.shape() {
            bail!(
                "{}: shape {} does not match input {} {}",
                f.display(),
                shape_str(&a.shape),
                d.name,
                shape_str(d.info.shape())
            );
        }
        arrays.push((f.clone(), a));
    }
    Ok(arrays)
}

/// Borrows loaded arrays as runtime inputs, checking element types.
pub(crate) fn feeds<'x>(model: &Model<'_>, arrays: &'x [(PathBuf, npy::NpyArray)]) -> anyhow::Result<Vec<Input<'x>>> {
    let descs: Vec<_> = model.inputs().collect();
    let mut feeds = Vec::new();
    for ((f, a), d) in arrays.iter().zip(&descs) {
        use ferrite_runtime::format::DType;
        feeds.push(match (&a.data, d.info.dtype) {
            (NpyData::F32(v), DType::F32) => Input::F32(v),
            (NpyData::I64(v), DType::I32) => Input::I64(v),
            (NpyData::Bool(v), DType::U8) => Input::U8(v),
            _ => bail!("{}: element type does not match input {} ({})", f.display(), d.name, d.info.dtype.name()),
        });
    }
    Ok(feeds)
}

fn cmd_run(path: &Path, inputs: &[String], out_dir: Option<&Path>, top: usize, json: bool) -> anyhow::Result<()> {
    let model = open(path)?;
    let arrays = load_inputs(path, &model, inputs)?;
    let feeds = feeds(&model, &arrays)?;
    let labels: Vec<String> = model.labels().map(String::from).collect();
    let mut session = Session::new(&model).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let t0 = Instant::now();
    let outputs = session.run(&feeds).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let elapsed = t0.elapsed();
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
    }
    let mut json_outputs = Vec::new();
    let mut json_top = Vec::new();
    for i in 0..outputs.len() {
        let (name, info, data) = outputs.get(i).ok_or_else(|| anyhow!("output {i} missing"))?;
        let values: Vec<f32> = match data {
            OutputData::F32(v) => v.to_vec(),
            OutputData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            OutputData::U8(v) => v.iter().map(|&x| x as f32).collect(),
            OutputData::I8(v) => v
                .iter()
                .map(|&q| {
                    ferrite_runtime::kernels::generic::int8::dequantize(q, info.quant.scale(), info.quant.zero_point)
                })
                .collect(),
        };
        let ranked = if i == 0 && !labels.is_empty() && values.len() == labels.len() {
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
            order.truncate(top);
            order
        } else {
            Vec::new()
        };
        if json {
            json_outputs.push(
                serde_json::json!({"name": name, "dtype": info.dtype.name(), "shape": info.shape(), "values": values}),
            );
            json_top = ranked.iter().map(|&k| serde_json::json!({"label": labels[k], "value": values[k]})).collect();
        } else {
            out!("{name} {} {}", info.dtype.name(), shape_str(info.shape()));
            let shown: Vec<String> = values.iter().take(16).map(|v| format!("{v:.6}")).collect();
            out!(
                "  values: [{}{}]",
                shown.join(", "),
                if values.len() > 16 { format!(", ... ({} total)", values.len()) } else { String::new() }
            );
            if !ranked.is_empty() {
                out!("  top-{} (raw output values):", ranked.len());
                for &k in &ranked {
                    out!("    {:<24} {:.6}", labels[k], values[k]);
                }
            }
        }
        if let Some(dir) = out_dir {
            let file = dir.join(format!("{}.npy", ferrite_quantizer::calibrate::file_stem_for(name)));
            write_atomically(&file, &npy::encode_f32(info.shape(), &values))?;
        }
    }
    if json {
        out!("{}", serde_json::json!({"outputs": json_outputs, "top": json_top, "ms": elapsed.as_secs_f64() * 1e3}));
    }
    eprintln!("ferrite: ran in {:.3} ms", elapsed.as_secs_f64() * 1e3);
    Ok(())
}

/// Raw input for `run`.
enum Raw {
    Text(String),
    Wav(PathBuf),
}

fn cmd_classify(path: &Path, raw: Raw, top: usize, json: bool) -> anyhow::Result<()> {
    let model = open(path)?;
    let mut clf = Classifier::new(&model, path)?;
    let t0 = Instant::now();
    let pred = match &raw {
        Raw::Text(t) => clf.classify_text(t)?,
        Raw::Wav(w) => {
            let bytes = std::fs::read(w).map_err(|e| anyhow!("{}: {e}", w.display()))?;
            clf.classify_wav(&bytes).map_err(|e| anyhow!("{}: {}", w.display(), strip_path(&e)))?
        }
    };
    let elapsed = t0.elapsed();
    let ranked = clf.top(&pred, top.max(1));
    for n in &pred.notes {
        eprintln!("ferrite: note: {n}");
    }
    if json {
        let top: Vec<_> = ranked.iter().map(|s| serde_json::json!({"label": s.label, "score": s.score})).collect();
        out!("{}", serde_json::json!({"top": top, "notes": pred.notes, "ms": elapsed.as_secs_f64() * 1e3}));
    } else {
        for s in &ranked {
            out!("{:<24} {:.4}", s.label, s.score);
        }
        eprintln!("ferrite: classified in {:.3} ms (preprocessing included)", elapsed.as_secs_f64() * 1e3);
    }
    Ok(())
}

/// The runtime's message without the artifact path (for errors about the input file).
fn strip_path(e: &ferrite_quantizer::Error) -> String {
    match e {
        ferrite_quantizer::Error::Artifact { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn split_of(split: SplitArg) -> ferrite_quantizer::eval::data::Split {
    use ferrite_quantizer::eval::data::Split;
    match split {
        SplitArg::Test => Split::Test,
        SplitArg::Train => Split::Train,
        SplitArg::All => Split::All,
    }
}

/// A reference model: an artifact, or an ONNX model converted (f32) in memory with the
/// ferrite.toml beside it.
fn cmd_eval(path: &Path, data: &Path, split: SplitArg, json: bool) -> anyhow::Result<()> {
    use ferrite_quantizer::eval;
    let model = open(path)?;
    let split = split_of(split);
    let report = eval::evaluate(&model, path, data, split, true)?;
    if json {
        out!("{}", serde_json::to_string(&report)?);
    } else {
        use std::io::Write as _;
        write!(std::io::stdout().lock(), "{}", eval::render_text(&report))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ferrite_quantizer::calibrate::file_stem_for;

    #[test]
    fn output_file_names() {
        assert_eq!(file_stem_for("logits"), "logits");
        assert_eq!(file_stem_for("/fc/Gemm:0"), "_fc_Gemm_0");
        assert_eq!(file_stem_for("a b.c-d_é"), "a_b.c-d__");
        assert_eq!(file_stem_for(".."), "__");
        assert_eq!(file_stem_for(""), "_");
    }
}
