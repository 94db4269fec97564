//! `ferrite explain` on the host: the runtime's occlusion ([`ferrite_runtime::explain`]) run on text
//! or a WAV file, optionally also on a reference artifact (the float model a quantized one came
//! from) for the same label, and the result as JSON or a self-contained HTML page ([`html`]).
//! docs/EXPLAIN.md says what the figures mean.

pub mod html;

use crate::error::{Error, Result};
use ferrite_runtime::explain::{self, AudioGrid, AudioScratch, Target};
use ferrite_runtime::preprocess::{wav, AudioFrontend};
use ferrite_runtime::{Model, Preprocessing, Session};
use serde_json::{json, Value};
use std::path::Path;

/// What to explain.
pub enum Subject<'t> {
    /// A sentence, for a text model.
    Text(&'t str),
    /// A WAV file's bytes, for an audio model; the clip is cut into segments of `segment_ms`
    /// milliseconds and `bands` bands of mel filters.
    Wav {
        /// The file's bytes.
        bytes: &'t [u8],
        /// Length of a time segment.
        segment_ms: f32,
        /// Number of mel bands.
        bands: usize,
    },
}

/// One part of the input and how much it mattered.
#[derive(Debug, Clone)]
pub struct Part {
    /// What the part is: the word, or its time or frequency span.
    pub name: String,
    /// Where it is: byte range of a word in the text; start and end of a segment (ms) or of a
    /// band (Hz).
    pub span: (f32, f32),
    /// Drop of the label's probability when the part is hidden.
    pub importance: f32,
    /// The same in the reference model.
    pub reference: Option<f32>,
    /// For a word: whether the model's vocabulary has it (an unknown word is already read as
    /// unknown, so hiding it changes nothing).
    pub known: Option<bool>,
}

/// Parts of one kind: words, segments or bands.
#[derive(Debug, Clone)]
pub struct Group {
    /// `words`, `segments` or `bands`.
    pub kind: &'static str,
    /// What hiding a part means.
    pub mask: &'static str,
    /// The parts in input order.
    pub parts: Vec<Part>,
    /// Spearman's rank correlation of the model's and the reference's importances.
    pub spearman: Option<f32>,
}

/// The reference model's side of an explanation.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The reference artifact, as given.
    pub model: String,
    /// What it predicts for the whole input.
    pub predicted: String,
    /// Its probability of the explained label.
    pub score: f32,
}

/// A whole explanation.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The artifact, as given.
    pub model: String,
    /// The input: the text, or the WAV file's name.
    pub input: String,
    /// The label explained.
    pub label: String,
    /// Its class index.
    pub class: usize,
    /// The label the model predicts.
    pub predicted: String,
    /// The explained label's probability for the whole input.
    pub score: f32,
    /// Words, or segments and bands.
    pub groups: Vec<Group>,
    /// The reference model's side.
    pub reference: Option<Reference>,
    /// Things the reader should know (words past the sequence length not explained, ...).
    pub notes: Vec<String>,
    /// For audio: the log-mel spectrogram and its grid, drawn by the HTML report.
    pub spectrogram: Option<Spectrogram>,
}

/// An audio explanation's log-mel spectrogram and how it was cut into parts.
#[derive(Debug, Clone)]
pub struct Spectrogram {
    /// Frames (rows).
    pub frames: usize,
    /// Mel filters (columns).
    pub mels: usize,
    /// Log-mel energies, `[frames][mels]`.
    pub log_mel: Vec<f32>,
    /// The segments and bands explained.
    pub grid: AudioGrid,
}

fn rt(path: &Path) -> impl Fn(ferrite_runtime::Error) -> Error + '_ {
    move |source| Error::Artifact { path: path.to_owned(), source }
}

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

/// Label name of class `i` (its number when the artifact has no labels).
fn label_of(model: &Model<'_>, i: usize) -> String {
    model.label(i).map(String::from).unwrap_or_else(|| i.to_string())
}

/// Resolves `--label`: a label name, or a class index.
pub fn find_label(model: &Model<'_>, label: &str) -> Result<usize> {
    if let Some(i) = model.labels().position(|l| l == label) {
        return Ok(i);
    }
    let classes = model.outputs().next().map_or(0, |d| d.info.len());
    match label.parse::<usize>() {
        Ok(i) if i < classes => Ok(i),
        _ => {
            let known: Vec<&str> = model.labels().collect();
            Err(usage(format!(
                "no label {label:?} (labels: {}; or a class index below {classes})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )))
        }
    }
}

/// One model's explanation of the subject.
struct Side {
    /// The class explained.
    class: usize,
    /// The class predicted.
    predicted: usize,
    /// The explained class's probability.
    score: f32,
    /// Importances: words; or segments, then bands.
    imps: Vec<Vec<f32>>,
    /// Audio: the clip's log-mel energies, the frontend's tables and the grid, computed once.
    clip: Option<(Vec<f32>, Vec<f32>, AudioGrid)>,
}

fn run_text(model: &Model<'_>, path: &Path, text: &str, target: Target) -> Result<Side> {
    let Preprocessing::Text(tok) = model.preprocessing() else {
        return Err(usage(format!("{}: a text explanation needs a model with a tokenizer", path.display())));
    };
    let mut session = Session::new(model).map_err(rt(path))?;
    let mut ids = vec![0i32; tok.seq_len()];
    let mut imp = vec![0f32; tok.seq_len()];
    let e = explain::explain_text(&mut session, text, target, &mut ids, &mut imp).map_err(rt(path))?;
    imp.truncate(e.words);
    Ok(Side { class: e.label, predicted: e.predicted, score: e.score, imps: vec![imp], clip: None })
}

/// The model's audio frontend.
fn frontend(model: &Model<'_>, path: &Path) -> Result<AudioFrontend> {
    match model.preprocessing() {
        Preprocessing::Audio(fe) => Ok(fe),
        _ => Err(usage(format!("{}: an audio explanation needs a model with an audio frontend", path.display()))),
    }
}

/// The clip at the model's rate as log-mel energies, with the frontend's tables.
fn clip(model: &Model<'_>, path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, Vec<f32>)> {
    let fe = frontend(model, path)?;
    let w = wav::parse(bytes).map_err(rt(path))?;
    let samples: Vec<f32> = w.samples().collect();
    fe.log_mel_at(&samples, w.sample_rate).map_err(rt(path))
}

fn grid_of(model: &Model<'_>, path: &Path, segment_ms: f32, bands: usize) -> Result<AudioGrid> {
    let fe = frontend(model, path)?;
    if !(segment_ms.is_finite() && segment_ms > 0.0) || bands == 0 {
        return Err(usage("--segment-ms must be positive and --bands at least 1".into()));
    }
    let hop_ms = fe.hop() as f32 * 1000.0 / fe.sample_rate() as f32;
    let segment_frames = ((segment_ms / hop_ms).round() as usize).clamp(1, fe.n_frames());
    let band_mels = fe.n_mels().div_ceil(bands.min(fe.n_mels()));
    Ok(AudioGrid { segment_frames, band_mels })
}

fn run_audio(model: &Model<'_>, path: &Path, bytes: &[u8], grid: AudioGrid, target: Target) -> Result<Side> {
    let (log_mel, tables) = clip(model, path, bytes)?;
    let fe = frontend(model, path)?;
    let mut session = Session::new(model).map_err(rt(path))?;
    let mut features = vec![0f32; fe.feature_len()];
    let mut mel_row = vec![0f32; fe.n_mels()];
    let mut seg = vec![0f32; grid.segments(fe.n_frames())];
    let mut band = vec![0f32; grid.bands(fe.n_mels())];
    let scratch = AudioScratch { tables: &tables, features: &mut features, mel_row: &mut mel_row };
    let e =
        explain::explain_audio(&mut session, &log_mel, grid, target, scratch, &mut seg, &mut band).map_err(rt(path))?;
    let clip = Some((log_mel, tables, grid));
    Ok(Side { class: e.label, predicted: e.predicted, score: e.score, imps: vec![seg, band], clip })
}

/// Explains `model` (read from `path`) on `subject`, for `label` (default: the predicted one), and
/// when `reference` is given, the reference model for the same label (matched by name).
pub fn explain(
    model: &Model<'_>,
    path: &Path,
    subject: &Subject<'_>,
    label: Option<usize>,
    reference: Option<(&Model<'_>, &Path)>,
) -> Result<Explanation> {
    let target = label.map_or(Target::Predicted, Target::Label);
    let side = |m: &Model<'_>, p: &Path, t: Target| match subject {
        Subject::Text(text) => run_text(m, p, text, t),
        Subject::Wav { bytes, segment_ms, bands } => run_audio(m, p, bytes, grid_of(m, p, *segment_ms, *bands)?, t),
    };
    let main = side(model, path, target)?;
    let label_name = label_of(model, main.class);
    let reference = match reference {
        Some((r, rp)) => {
            let rclass = if model.label_count() > 0 { find_label(r, &label_name)? } else { main.class };
            Some((rp, side(r, rp, Target::Label(rclass))?, r))
        }
        None => None,
    };
    let mut ex = Explanation {
        model: path.display().to_string(),
        input: String::new(),
        label: label_name,
        class: main.class,
        predicted: label_of(model, main.predicted),
        score: main.score,
        groups: Vec::new(),
        reference: reference.as_ref().map(|(rp, rs, r)| Reference {
            model: rp.display().to_string(),
            predicted: label_of(r, rs.predicted),
            score: rs.score,
        }),
        notes: Vec::new(),
        spectrogram: None,
    };
    let ref_imps = reference.as_ref().map(|(_, rs, _)| &rs.imps);
    match subject {
        Subject::Text(text) => describe_text(&mut ex, model, text, &main.imps[0], ref_imps.map(|r| &r[0][..])),
        Subject::Wav { .. } => describe_audio(&mut ex, model, path, main, ref_imps)?,
    }
    Ok(ex)
}

fn group(kind: &'static str, mask: &'static str, mut parts: Vec<Part>, imp: &[f32], r: Option<&[f32]>) -> Group {
    for (p, &v) in parts.iter_mut().zip(imp) {
        p.importance = v;
    }
    let mut spearman = None;
    if let Some(r) = r {
        for (p, &v) in parts.iter_mut().zip(r) {
            p.reference = Some(v);
        }
        spearman = explain::spearman(imp, r);
    }
    Group { kind, mask, parts, spearman }
}

fn describe_text(ex: &mut Explanation, model: &Model<'_>, text: &str, imp: &[f32], r: Option<&[f32]>) {
    ex.input = text.to_string();
    // The words as the model's own tokenizer splits them (wordpiece-v1 splits off punctuation).
    let (mut spans, mut known) = (Vec::new(), Vec::new());
    if let Preprocessing::Text(tok) = model.preprocessing() {
        tok.each_word(text, |span, k| {
            spans.push(span);
            known.push(k);
        });
    }
    if spans.len() > imp.len() {
        ex.notes.push(format!("the text has {} words; the model reads the first {}", spans.len(), imp.len()));
    }
    if r.is_some_and(|r| r.len() != imp.len()) {
        ex.notes.push("the reference reads a different number of words: no rank correlation".into());
    }
    let parts = spans
        .iter()
        .zip(known)
        .take(imp.len())
        .map(|(s, k)| Part {
            name: text[s.clone()].to_string(),
            span: (s.start as f32, s.end as f32),
            importance: 0.0,
            reference: None,
            known: Some(k),
        })
        .collect();
    ex.groups.push(group("words", "the word read as unknown", parts, imp, r));
}

fn describe_audio(
    ex: &mut Explanation,
    model: &Model<'_>,
    path: &Path,
    main: Side,
    r: Option<&Vec<Vec<f32>>>,
) -> Result<()> {
    let fe = frontend(model, path)?;
    let (log_mel, tables, grid) = main.clip.ok_or_else(|| usage("an audio explanation without its clip".into()))?;
    let imps = main.imps;
    let (rate, hop, n_frames, n_mels) = (fe.sample_rate() as f32, fe.hop(), fe.n_frames(), fe.n_mels());
    let ms = |sample: usize| sample as f32 * 1000.0 / rate;
    let segments = (0..imps[0].len())
        .map(|s| {
            let (a, b) = (s * grid.segment_frames, ((s + 1) * grid.segment_frames).min(n_frames));
            let span = (ms(a * hop), ms((b - 1) * hop + fe.frame_len()));
            Part {
                name: format!("{:.0}-{:.0} ms", span.0, span.1),
                span,
                importance: 0.0,
                reference: None,
                known: None,
            }
        })
        .collect();
    let edges = fe.filter_edges(&tables);
    let bands = (0..imps[1].len())
        .map(|b| {
            let (a, e) = (b * grid.band_mels, ((b + 1) * grid.band_mels).min(n_mels));
            let span = (edges.get(a).copied().unwrap_or(0.0), edges.get(e + 1).copied().unwrap_or(0.0));
            Part {
                name: format!("{:.0}-{:.0} Hz", span.0, span.1),
                span,
                importance: 0.0,
                reference: None,
                known: None,
            }
        })
        .collect();
    let silence = "set to silence (the log floor)";
    ex.groups.push(group("segments", silence, segments, &imps[0], r.map(|r| &r[0][..])));
    ex.groups.push(group("bands", silence, bands, &imps[1], r.map(|r| &r[1][..])));
    ex.spectrogram = Some(Spectrogram { frames: n_frames, mels: n_mels, log_mel, grid });
    Ok(())
}

/// An f32 as a JSON number with its shortest decimal form (`null` when not finite): the JSON and
/// the HTML print every figure through this, so they print the same digits.
pub fn fig(x: f32) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    // Display gives the shortest decimal that reads back as `x`; as an f64 it prints the same.
    let shortest: f64 = x.to_string().parse().unwrap_or(f64::NAN);
    serde_json::Number::from_f64(shortest).map_or(Value::Null, Value::Number)
}

/// [`fig`] as text.
pub fn fig_text(x: f32) -> String {
    fig(x).to_string()
}

impl Explanation {
    /// The explanation as JSON (docs/EXPLAIN.md lists the fields).
    pub fn to_json(&self) -> Value {
        let groups: serde_json::Map<String, Value> = self
            .groups
            .iter()
            .map(|g| {
                let parts: Vec<Value> = g
                    .parts
                    .iter()
                    .map(|p| {
                        let mut v = json!({"name": p.name, "start": fig(p.span.0), "end": fig(p.span.1),
                            "importance": fig(p.importance)});
                        if let Some(r) = p.reference {
                            v["reference"] = fig(r);
                        }
                        if let Some(k) = p.known {
                            v["in_vocabulary"] = Value::Bool(k);
                        }
                        v
                    })
                    .collect();
                (g.kind.to_string(), json!({"mask": g.mask, "parts": parts, "spearman": g.spearman.map(fig)}))
            })
            .collect();
        let mut v = json!({
            "model": self.model, "input": self.input, "method": "occlusion",
            "score_of": "the label's probability", "label": self.label, "class": self.class,
            "predicted": self.predicted, "score": fig(self.score), "notes": self.notes,
        });
        for (k, g) in groups {
            v[k] = g;
        }
        if let Some(r) = &self.reference {
            v["reference"] = json!({"model": r.model, "predicted": r.predicted, "score": fig(r.score)});
        }
        v
    }
}
