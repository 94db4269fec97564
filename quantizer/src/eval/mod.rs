//! `ferrite eval`: runs an artifact with its own preprocessing over a labelled data set and reports
//! accuracy, macro F1, per-class figures, the confusion matrix and per-slice accuracy.

pub mod audit;
pub mod data;
pub mod metrics;
pub mod record;

use crate::classify::Classifier;
use crate::error::{Error, Result};
use data::{Dataset, Payload, Split};
use ferrite_runtime::Model;
use metrics::{figures, Figures, Outcome};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// The report of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The artifact.
    pub model: String,
    /// The data set path.
    pub data: String,
    /// How it was recognised (`wav-folder`, `snips`, `jsonl`).
    pub data_kind: String,
    /// The split used.
    pub split: String,
    /// The figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// Mean wall time per example (preprocessing included), milliseconds.
    pub ms_per_example: f64,
}

/// Bucket of a sentence length, for the `words` slice.
fn length_bucket(words: usize) -> &'static str {
    match words {
        0..=5 => "01-05",
        6..=10 => "06-10",
        11..=20 => "11-20",
        _ => "21+",
    }
}

/// Evaluates `model` (read from `model_path`) on `data`; `progress` draws a bar on stderr when it is
/// a terminal.
pub fn evaluate(
    model: &Model<'_>,
    model_path: &Path,
    data_path: &Path,
    split: Split,
    progress: bool,
) -> Result<Report> {
    let set: Dataset = data::load(data_path, split)?;
    Ok(evaluate_set(model, model_path, &set, data_path, split, progress)?.0)
}

/// [`evaluate`] on a loaded data set, also returning each example's outcome (in the set's order).
pub fn evaluate_set(
    model: &Model<'_>,
    model_path: &Path,
    set: &Dataset,
    data_path: &Path,
    split: Split,
    progress: bool,
) -> Result<(Report, Vec<Outcome>)> {
    let mut clf = Classifier::new(model, model_path)?;
    let labels: Vec<String> = clf.labels().to_vec();
    if labels.is_empty() {
        return Err(Error::Usage(format!("{}: the artifact has no labels to evaluate against", model_path.display())));
    }
    let bar = if progress {
        let b = indicatif::ProgressBar::new(set.examples.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("eval {bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let t0 = Instant::now();
    let mut outcomes = Vec::with_capacity(set.examples.len());
    for ex in &set.examples {
        let truth = labels.iter().position(|l| *l == ex.label).ok_or_else(|| Error::Data {
            path: data_path.to_owned(),
            message: format!("label {:?} is not one of the model's labels ({})", ex.label, labels.join(", ")),
        })?;
        let mut slices = ex.slices.clone();
        let pred = match &ex.payload {
            Payload::Wav(p) => {
                let bytes = std::fs::read(p).map_err(|source| Error::Io { path: p.clone(), source })?;
                clf.classify_wav(&bytes).map_err(|e| with_example(e, p.display().to_string()))?
            }
            Payload::Text(t) => {
                let p = clf.classify_text(t).map_err(|e| with_example(e, format!("{t:?}")))?;
                if let Some((words, unknown)) = p.words {
                    slices.push(("words".into(), length_bucket(words).into()));
                    slices.push(("unknown_words".into(), if unknown == 0 { "none" } else { "some" }.into()));
                }
                p
            }
        };
        outcomes.push(Outcome { truth, predicted: pred.best(), slices });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let split_name = match split {
        Split::Test => "test",
        Split::Train => "train",
        Split::All => "all",
    };
    let report = Report {
        model: model_path.display().to_string(),
        data: data_path.display().to_string(),
        data_kind: set.kind.to_owned(),
        split: split_name.to_owned(),
        figures: figures(&labels, &outcomes),
        ms_per_example: 1e3 * elapsed / outcomes.len().max(1) as f64,
    };
    Ok((report, outcomes))
}

fn with_example(e: Error, example: String) -> Error {
    match e {
        Error::Artifact { source, .. } => Error::Data { path: example.into(), message: source.to_string() },
        other => other,
    }
}

/// The report as text: headline, per-class table, confusion matrix, slices.
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let f = &r.figures;
    let mut s = String::new();
    let _ = writeln!(s, "{} on {} ({}, split {}): {} examples", r.model, r.data, r.data_kind, r.split, f.n);
    let _ = writeln!(
        s,
        "accuracy {:.2}% ({}/{}), macro F1 {:.4}, {:.2} ms per example",
        100.0 * f.accuracy,
        f.correct,
        f.n,
        f.macro_f1,
        r.ms_per_example
    );
    let w = f.labels.iter().map(|l| l.chars().count()).max().unwrap_or(5).max(5);
    let _ = writeln!(s, "\n{:<w$}  support  precision  recall     F1", "class");
    for c in &f.per_class {
        let _ =
            writeln!(s, "{:<w$}  {:>7}  {:>9.3}  {:>6.3}  {:>5.3}", c.label, c.support, c.precision, c.recall, c.f1);
    }
    let _ = writeln!(s, "\nconfusion (rows: true class, columns: predicted, in the order above)");
    for (l, row) in f.labels.iter().zip(&f.confusion) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>4}")).collect();
        let _ = writeln!(s, "{:<w$} {}", l, cells.join(""));
    }
    for (name, values) in &f.per_slice {
        let _ = writeln!(s, "\nby {name}:");
        for v in values {
            let _ = writeln!(s, "  {:<20} {:>6.2}%  ({}/{})", v.value, 100.0 * v.accuracy, v.correct, v.n);
        }
    }
    s
}
