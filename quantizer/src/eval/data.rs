//! Evaluation data sets, recognised by their layout (docs/EVAL.md):
//! - a folder of WAV files named `{label}_{speaker}_{index}.wav` (FSDD; also its parent folder with
//!   `recordings/` and `speakers.json`), sliced by speaker and, from `speakers.json`, accent and gender;
//!   split `test` = index 0–4 (FSDD's official split), `train` = the rest;
//! - the Snips folder (one sub-folder per intent with `train_<I>_full.json` and `validate_<I>.json`,
//!   read as UTF-8 with a Latin-1 fallback), split `test` = `validate_*`, `train` = `train_*_full`;
//! - a JSON-lines file of `{"text": ..., "intent": ...}` records (`label` is accepted for `intent`).
//!
//! Text examples are sliced by length in words and by whether they hold words the model does not know.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which part of a data set to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The held-out test split (default).
    Test,
    /// The training split.
    Train,
    /// Everything.
    All,
}

/// What one example holds.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A WAV file, read when evaluated.
    Wav(PathBuf),
    /// A sentence.
    Text(String),
}

/// One example.
#[derive(Debug, Clone)]
pub struct Example {
    /// Its input.
    pub payload: Payload,
    /// Its true label.
    pub label: String,
    /// (slice name, value) pairs known before running the model.
    pub slices: Vec<(String, String)>,
}

/// A loaded data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// What kind of data set it was recognised as.
    pub kind: &'static str,
    /// Its examples, in a stable order (sorted file names, then file order).
    pub examples: Vec<Example>,
}

pub(crate) fn data_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Data { path: path.to_owned(), message: message.into() }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_owned(), source }
}

/// UTF-8, or Latin-1 where the bytes are not valid UTF-8 (some Snips files are not).
pub fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Loads the data set at `path`.
pub fn load(path: &Path, split: Split) -> Result<Dataset> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.is_file() {
        if split == Split::Train {
            return Err(data_err(path, "a JSON-lines file has no train split: use --split test or all"));
        }
        return load_jsonl(path);
    }
    let recordings = path.join("recordings");
    if recordings.is_dir() {
        return load_wav_folder(&recordings, Some(&path.join("speakers.json")), split);
    }
    let entries = list(path)?;
    if entries.iter().any(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav"))) {
        let parent_speakers = path.parent().map(|p| p.join("speakers.json"));
        let speakers = [Some(path.join("speakers.json")), parent_speakers].into_iter().flatten().find(|p| p.is_file());
        return load_wav_folder(path, speakers.as_deref(), split);
    }
    if entries.iter().any(|p| p.is_dir()) {
        return load_snips(path, &entries, split);
    }
    if entries.is_empty() {
        return Err(data_err(
            path,
            "the folder is empty: expected WAV files, .npy files, a Snips folder or a JSON-lines file",
        ));
    }
    Err(data_err(path, "not a data set: expected WAV files, a Snips folder or a JSON-lines file"))
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        v.push(e.map_err(io(dir))?.path());
    }
    v.sort();
    Ok(v)
}

fn load_wav_folder(dir: &Path, speakers: Option<&Path>, split: Split) -> Result<Dataset> {
    let info: BTreeMap<String, BTreeMap<String, String>> = match speakers.filter(|p| p.is_file()) {
        Some(p) => {
            let text = std::fs::read(p).map_err(io(p))?;
            let v: serde_json::Value =
                serde_json::from_slice(&text).map_err(|e| data_err(p, format!("not JSON: {e}")))?;
            let obj = v.as_object().ok_or_else(|| data_err(p, "expected an object of speakers"))?;
            obj.iter()
                .map(|(k, v)| {
                    let fields = v
                        .as_object()
                        .map(|o| o.iter().filter_map(|(f, x)| Some((f.clone(), x.as_str()?.to_owned()))).collect())
                        .unwrap_or_default();
                    (k.clone(), fields)
                })
                .collect()
        }
        None => BTreeMap::new(),
    };
    let mut examples = Vec::new();
    for p in list(dir)? {
        if !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
            continue;
        }
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let parts: Vec<&str> = stem.split('_').collect();
        let [label, speaker, index] = parts[..] else {
            return Err(data_err(&p, "WAV files must be named {label}_{speaker}_{index}.wav"));
        };
        let index: u32 =
            index.parse().map_err(|_| data_err(&p, "the index in {label}_{speaker}_{index}.wav must be a number"))?;
        let keep = match split {
            Split::Test => index < 5,
            Split::Train => index >= 5,
            Split::All => true,
        };
        if !keep {
            continue;
        }
        let mut slices = vec![("speaker".to_owned(), speaker.to_owned())];
        if let Some(fields) = info.get(speaker) {
            for key in ["accent", "gender"] {
                if let Some(v) = fields.get(key) {
                    slices.push((key.to_owned(), v.clone()));
                }
            }
        }
        examples.push(Example { payload: Payload::Wav(p.clone()), label: label.to_owned(), slices });
    }
    if examples.is_empty() {
        return Err(data_err(dir, "no WAV files in this split"));
    }
    Ok(Dataset { kind: "wav-folder", examples })
}

fn load_snips(dir: &Path, entries: &[PathBuf], split: Split) -> Result<Dataset> {
    let mut examples = Vec::new();
    for sub in entries.iter().filter(|p| p.is_dir()) {
        let intent = sub.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let files: Vec<String> = match split {
            Split::Test => vec![format!("validate_{intent}.json")],
            Split::Train => vec![format!("train_{intent}_full.json")],
            Split::All => vec![format!("train_{intent}_full.json"), format!("validate_{intent}.json")],
        };
        for f in files {
            let p = sub.join(&f);
            if !p.is_file() {
                return Err(data_err(sub, format!("Snips intent folder without {f}")));
            }
            let bytes = std::fs::read(&p).map_err(io(&p))?;
            let doc: serde_json::Value =
                serde_json::from_str(&decode_text(&bytes)).map_err(|e| data_err(&p, format!("not JSON: {e}")))?;
            let queries = doc
                .get(&intent)
                .and_then(|q| q.as_array())
                .ok_or_else(|| data_err(&p, format!("expected {{\"{intent}\": [...]}}")))?;
            for (i, q) in queries.iter().enumerate() {
                let chunks = q
                    .get("data")
                    .and_then(|d| d.as_array())
                    .ok_or_else(|| data_err(&p, format!("query {i} has no \"data\" list")))?;
                let mut text = String::new();
                for c in chunks {
                    text.push_str(
                        c.get("text")
                            .and_then(|t| t.as_str())
                            .ok_or_else(|| data_err(&p, format!("query {i}: chunk without text")))?,
                    );
                }
                examples.push(Example { payload: Payload::Text(text), label: intent.clone(), slices: Vec::new() });
            }
        }
    }
    if examples.is_empty() {
        return Err(data_err(dir, "no queries found"));
    }
    Ok(Dataset { kind: "snips", examples })
}

fn load_jsonl(path: &Path) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let text = String::from_utf8(bytes).map_err(|_| data_err(path, "JSON-lines file is not UTF-8"))?;
    let mut examples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |m: &str| data_err(path, format!("line {}: {m}", i + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| at(&format!("not JSON: {e}")))?;
        let text = v.get("text").and_then(|t| t.as_str()).ok_or_else(|| at("no \"text\" string"))?;
        let label = v
            .get("intent")
            .or_else(|| v.get("label"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| at("no \"intent\" (or \"label\") string"))?;
        examples.push(Example { payload: Payload::Text(text.to_owned()), label: label.to_owned(), slices: Vec::new() });
    }
    if examples.is_empty() {
        return Err(data_err(path, "no records"));
    }
    Ok(Dataset { kind: "jsonl", examples })
}
