//! `ferrite.toml`: a model's labels, card and preprocessing, read by `ferrite quantize` from beside
//! the ONNX file (or from `--config`). Keys are documented in docs/PREPROCESSING.md; unknown keys are
//! errors, so a typo never silently drops a setting. Paths inside are relative to the file.

use crate::error::{Error, Result};
use crate::hf_tokenizer::{self, WordPieceSpecial};
use ferrite_runtime::format::{PAD_LEFT, PAD_RIGHT};
use ferrite_runtime::preprocess::text::{Tokenizer, MAX_WORD_BYTES};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The parsed file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[model]`: name, task, labels, card.
    #[serde(default)]
    pub model: ModelSection,
    /// `[text]`: tokenizer settings (text models).
    pub text: Option<TextSection>,
    /// `[audio]`: frontend settings (audio models).
    pub audio: Option<AudioSection>,
    /// `[stream]`: default streaming parameters (keyword models; needs `[audio]`).
    pub stream: Option<StreamSection>,
}

/// `[stream]`: the defaults `ferrite stream` and the runtime's `Model::stream_params` give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSection {
    /// Audio frames between runs of the model (default: 100 ms of frames).
    pub hop_frames: Option<u32>,
    /// Runs whose posteriors are averaged (default 3).
    pub smooth: Option<u32>,
    /// Smoothed posterior a keyword must reach, in (0, 1] (default 0.8).
    pub threshold: Option<f32>,
    /// Milliseconds after a detection before another may fire (default: one clip).
    pub refractory_ms: Option<u32>,
    /// The label of the class that means "no keyword" (never detected), if the model has one.
    pub background: Option<String>,
}

/// `[model]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Model name (default: the ONNX file stem).
    pub name: Option<String>,
    /// Task, e.g. `keyword-spotting`, `intent-classification`.
    pub task: Option<String>,
    /// Class labels of the first output, in class order.
    pub labels: Option<Vec<String>>,
    /// A file with one label per line (instead of `labels`).
    pub labels_file: Option<PathBuf>,
    /// A Markdown model card stored in the artifact's metadata.
    pub card: Option<PathBuf>,
    /// The weights' license, an SPDX expression (`Apache-2.0`, `CC-BY-SA-4.0`, `MIT OR Apache-2.0`).
    pub license: Option<String>,
    /// What the model is for and what it is not for, in a sentence or two.
    pub intended_use: Option<String>,
}

/// `[text]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSection {
    /// Tokenizer specification: `words-v1` or `wordpiece-v1`.
    pub tokenizer: String,
    /// Vocabulary file. `words-v1`: one word per line, ids 2, 3, ... in line order (0 = padding,
    /// 1 = unknown). `wordpiece-v1`: a Hugging Face `tokenizer.json` or a BERT `vocab.txt`.
    pub vocab: PathBuf,
    /// Ids per input (default and required value: the model's first input length).
    pub seq_len: Option<usize>,
    /// `left` (default for `words-v1`) or `right` (the only choice for `wordpiece-v1`).
    pub pad: Option<String>,
}

/// `[audio]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSection {
    /// Frontend specification: `logmel-v1`.
    pub frontend: String,
    /// Sample rate of the features, Hz.
    pub sample_rate: u32,
    /// Samples per clip.
    pub clip_samples: u32,
    /// Samples per frame.
    pub frame_len: u32,
    /// Samples between frames.
    pub hop: u32,
    /// FFT size (power of two, 16 to 2048, at least `frame_len`).
    pub n_fft: u32,
    /// Mel filters.
    pub n_mels: u32,
    /// MFCC coefficients (0 or absent: log-mel features).
    #[serde(default)]
    pub n_mfcc: u32,
    /// Lowest filter edge, Hz (default 0).
    #[serde(default)]
    pub fmin: f32,
    /// Highest filter edge, Hz (default: sample_rate / 2).
    pub fmax: Option<f32>,
    /// Added before the logarithm (default 1e-6).
    pub log_floor: Option<f32>,
    /// `"none"` (default) or `"window-mean"`: subtract each feature's mean over the model's window
    /// (docs/PREPROCESSING.md).
    #[serde(default)]
    pub normalize: Option<String>,
}

/// Preprocessing resolved for the writer.
#[derive(Debug, Clone)]
pub enum Preprocess {
    /// Tokenizer `words-v1` or `wordpiece-v1`.
    Text {
        /// Ids per input.
        seq_len: usize,
        /// `PAD_LEFT` or `PAD_RIGHT`.
        pad_side: u32,
        /// Words in id order: from 2 for `words-v1`, from 0 for `wordpiece-v1`.
        vocab: Vec<String>,
        /// `Some` for `wordpiece-v1`: its special ids and word limit.
        wordpiece: Option<WordPieceSpecial>,
    },
    /// Frontend `logmel-v1` (fields as in [`AudioSection`], defaults filled in).
    Audio(ferrite_runtime::format::AudioParams),
}

/// Everything a config contributes to an artifact.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Model name.
    pub name: Option<String>,
    /// Task.
    pub task: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Model card text.
    pub card: Option<String>,
    /// SPDX license expression of the weights.
    pub license: Option<String>,
    /// Intended use.
    pub intended_use: Option<String>,
    /// Preprocessing.
    pub preprocess: Option<Preprocess>,
    /// The Stream section's record (from `[stream]`).
    pub stream: Option<ferrite_runtime::format::StreamRecord>,
}

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Config { path: path.to_owned(), message: message.into() }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    String::from_utf8(bytes).map_err(|_| err(path, "not UTF-8"))
}

/// A labels file: one label per line (trimmed; blank lines skipped), UTF-8.
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    Ok(read_text(path)?.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
}

impl Resolved {
    /// Fills what `opts` leaves unset (empty labels, no name, task, card or preprocessing) from the
    /// config: command-line values win over the file's.
    pub fn apply_to(self, opts: &mut crate::quantize::QuantizeOptions) {
        if opts.labels.is_empty() {
            opts.labels = self.labels;
        }
        opts.name = opts.name.take().or(self.name);
        opts.task = opts.task.take().or(self.task);
        opts.card = opts.card.take().or(self.card);
        opts.license = opts.license.take().or(self.license);
        opts.intended_use = opts.intended_use.take().or(self.intended_use);
        opts.preprocess = opts.preprocess.take().or(self.preprocess);
        opts.stream = opts.stream.take().or(self.stream);
    }
}

/// Reads and resolves `path` (files it names are read relative to its folder).
pub fn load(path: &Path) -> Result<Resolved> {
    let text = read_text(path)?;
    let cfg: Config = toml::from_str(&text).map_err(|e| err(path, e.to_string().replace('\n', " ")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let m = &cfg.model;
    let labels = match (&m.labels, &m.labels_file) {
        (Some(_), Some(_)) => return Err(err(path, "[model] has both labels and labels_file")),
        (Some(l), None) => l.clone(),
        (None, Some(f)) => read_labels(&dir.join(f))?,
        (None, None) => Vec::new(),
    };
    let card = match &m.card {
        Some(c) => Some(read_text(&dir.join(c))?),
        None => None,
    };
    let preprocess = match (&cfg.text, &cfg.audio) {
        (Some(_), Some(_)) => return Err(err(path, "a model has [text] or [audio] preprocessing, not both")),
        (Some(t), None) => Some(resolve_text(path, dir, t)?),
        (None, Some(a)) => Some(resolve_audio(path, a)?),
        (None, None) => None,
    };
    let stream = match (&cfg.stream, &preprocess) {
        (None, _) => None,
        (Some(st), Some(Preprocess::Audio(a))) => Some(resolve_stream(path, st, a, &labels)?),
        (Some(_), _) => return Err(err(path, "[stream] needs [audio] (a keyword model's frontend)")),
    };
    if let Some(l) = &m.license {
        check_spdx(l).map_err(|e| err(path, format!("[model] license {l:?}: {e}")))?;
    }
    if m.intended_use.as_ref().is_some_and(|u| u.trim().is_empty()) {
        return Err(err(path, "[model] intended_use is empty"));
    }
    Ok(Resolved {
        name: m.name.clone(),
        task: m.task.clone(),
        labels,
        card,
        license: m.license.clone(),
        intended_use: m.intended_use.clone(),
        preprocess,
        stream,
    })
}

/// Checks the syntax of an SPDX license expression: license identifiers (letters, digits, `.`,
/// `-`, an optional trailing `+`; `LicenseRef-…` included) joined by `AND`, `OR` and `WITH`, with
/// balanced parentheses. The identifiers are not looked up in the SPDX list (it changes; the
/// syntax does not).
pub fn check_spdx(expr: &str) -> std::result::Result<(), String> {
    let spaced = expr.replace('(', " ( ").replace(')', " ) ");
    let (mut want_id, mut depth) = (true, 0usize);
    for tok in spaced.split_whitespace() {
        match tok {
            "(" if want_id => depth += 1,
            ")" if !want_id && depth > 0 => depth -= 1,
            "AND" | "OR" | "WITH" if !want_id => want_id = true,
            id if want_id && is_license_id(id) => want_id = false,
            other => return Err(format!("not an SPDX license expression (at {other:?})")),
        }
    }
    if want_id || depth != 0 {
        return Err("not an SPDX license expression (incomplete)".into());
    }
    Ok(())
}

fn is_license_id(id: &str) -> bool {
    let core = id.strip_suffix('+').unwrap_or(id);
    !core.is_empty()
        && core.starts_with(|c: char| c.is_ascii_alphanumeric())
        && core.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !matches!(core, "AND" | "OR" | "WITH")
}

fn resolve_stream(
    path: &Path,
    st: &StreamSection,
    audio: &ferrite_runtime::format::AudioParams,
    labels: &[String],
) -> Result<ferrite_runtime::format::StreamRecord> {
    use ferrite_runtime::stream::StreamParams;
    use zerocopy::little_endian::{F32, U32};
    let fe = ferrite_runtime::preprocess::AudioFrontend::from_params(audio).map_err(|e| err(path, e.to_string()))?;
    let d = StreamParams::defaults_for(&fe);
    let rate = audio.sample_rate.get() as u64;
    let refractory = match st.refractory_ms {
        Some(ms) => {
            u32::try_from(ms as u64 * rate / 1000).map_err(|_| err(path, "[stream] refractory_ms: too long"))?
        }
        None => d.refractory,
    };
    let background = match &st.background {
        None => None,
        Some(l) => Some(
            labels
                .iter()
                .position(|x| x == l)
                .ok_or_else(|| err(path, format!("[stream] background {l:?} is not one of [model] labels")))?
                as u32,
        ),
    };
    let p = StreamParams {
        hop_frames: st.hop_frames.unwrap_or(d.hop_frames),
        smooth: st.smooth.unwrap_or(d.smooth),
        threshold: st.threshold.unwrap_or(d.threshold),
        refractory,
        background,
    };
    p.check().map_err(|e| err(path, format!("[stream] {e}")))?;
    Ok(ferrite_runtime::format::StreamRecord {
        hop_frames: U32::new(p.hop_frames),
        smooth: U32::new(p.smooth),
        threshold: F32::new(p.threshold),
        refractory: U32::new(p.refractory),
        background: U32::new(p.background.unwrap_or(u32::MAX)),
        reserved: [U32::ZERO; 3],
    })
}

fn resolve_text(path: &Path, dir: &Path, t: &TextSection) -> Result<Preprocess> {
    match t.tokenizer.as_str() {
        "words-v1" => {}
        "wordpiece-v1" => {
            if t.pad.as_deref().is_some_and(|p| p != "right") {
                return Err(err(path, "[text] pad: wordpiece-v1 pads on the right"));
            }
            let v = hf_tokenizer::read(&dir.join(&t.vocab))?;
            return Ok(Preprocess::Text {
                seq_len: t.seq_len.unwrap_or(0),
                pad_side: PAD_RIGHT,
                vocab: v.words,
                wordpiece: Some(v.special),
            });
        }
        other => {
            return Err(err(path, format!("[text] tokenizer {other:?}: expected \"words-v1\" or \"wordpiece-v1\"")))
        }
    }
    let pad_side = match t.pad.as_deref().unwrap_or("left") {
        "left" => PAD_LEFT,
        "right" => PAD_RIGHT,
        other => return Err(err(path, format!("[text] pad {other:?}: expected \"left\" or \"right\""))),
    };
    let vocab_path = dir.join(&t.vocab);
    let vocab: Vec<String> = read_text(&vocab_path)?.lines().map(String::from).collect();
    let mut seen = HashSet::new();
    for (i, w) in vocab.iter().enumerate() {
        let at = || format!("line {}: {w:?}", i + 1);
        if w.is_empty() || w.len() > MAX_WORD_BYTES {
            return Err(err(&vocab_path, format!("{}: words must be 1 to {MAX_WORD_BYTES} bytes", at())));
        }
        // A word that does not tokenize to itself could never be looked up.
        let mut parts = Vec::new();
        Tokenizer::for_each_word(w, |b, _| parts.push(b.to_vec()));
        if parts.len() != 1 || parts[0] != w.as_bytes() {
            return Err(err(
                &vocab_path,
                format!("{}: not a lower-case words-v1 word (it tokenizes differently)", at()),
            ));
        }
        if !seen.insert(w.as_str()) {
            return Err(err(&vocab_path, format!("{}: duplicate word", at())));
        }
    }
    if vocab.len() > (u32::MAX - 2) as usize {
        return Err(err(&vocab_path, "too many words"));
    }
    Ok(Preprocess::Text { seq_len: t.seq_len.unwrap_or(0), pad_side, vocab, wordpiece: None })
}

fn resolve_audio(path: &Path, a: &AudioSection) -> Result<Preprocess> {
    use zerocopy::little_endian::{F32, U32};
    if a.frontend != "logmel-v1" {
        return Err(err(path, format!("[audio] frontend {:?}: only \"logmel-v1\" exists", a.frontend)));
    }
    let p = ferrite_runtime::format::AudioParams {
        sample_rate: U32::new(a.sample_rate),
        clip_samples: U32::new(a.clip_samples),
        frame_len: U32::new(a.frame_len),
        hop: U32::new(a.hop),
        n_fft: U32::new(a.n_fft),
        n_mels: U32::new(a.n_mels),
        n_mfcc: U32::new(a.n_mfcc),
        window: U32::new(ferrite_runtime::format::WINDOW_HANN),
        fmin: F32::new(a.fmin),
        fmax: F32::new(a.fmax.unwrap_or(a.sample_rate as f32 / 2.0)),
        log_floor: F32::new(a.log_floor.unwrap_or(1e-6)),
        normalize: U32::new(match a.normalize.as_deref() {
            None | Some("none") => ferrite_runtime::format::NORMALIZE_NONE,
            Some("window-mean") => ferrite_runtime::format::NORMALIZE_WINDOW_MEAN,
            Some(other) => {
                return Err(err(path, format!("[audio] normalize: `{other}` is not \"none\" or \"window-mean\"")))
            }
        }),
    };
    // The runtime's own checks, so the two can never disagree on what is valid.
    ferrite_runtime::preprocess::AudioFrontend::from_params(&p).map_err(|e| err(path, format!("[audio]: {e}")))?;
    Ok(Preprocess::Audio(p))
}

#[cfg(test)]
mod tests {
    use super::check_spdx;

    #[test]
    fn spdx_expressions() {
        for ok in [
            "Apache-2.0",
            "CC-BY-SA-4.0",
            "MIT OR Apache-2.0",
            "GPL-2.0+",
            "(MIT AND BSD-3-Clause) OR CC0-1.0",
            "GPL-2.0-only WITH Classpath-exception-2.0",
            "LicenseRef-Ferrite-1",
        ] {
            assert!(check_spdx(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", "MIT OR", "AND MIT", "(MIT", "MIT)", "Apache 2.0 license", "MIT; rm -rf", "MIT OR OR BSD", "-MIT"]
        {
            assert!(check_spdx(bad).is_err(), "{bad}");
        }
    }
}
