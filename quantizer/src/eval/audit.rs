//! The quantization audit of `ferrite eval --reference`: the quantized model and its reference
//! (f32 artifact or ONNX model) on the same examples, with top-1 agreement and the accuracy change
//! of every class and every slice (speaker, accent, sentence length ...).
//!
//! A class or slice is **flagged** when its accuracy drops by more than
//! `max(1 point, 2 × the overall drop)`: quantization that costs one group of users much more than
//! the average is what an overall accuracy figure hides.

use super::data::{self, Split};
use super::metrics::{Figures, Outcome};
use super::{evaluate_set, Report};
use crate::error::{Error, Result};
use ferrite_runtime::Model;
use serde::Serialize;
use std::path::Path;

/// Rounds to two decimals: every figure of the audit is stored as it is shown.
fn r2(x: f64) -> f64 {
    let v = (x * 100.0).round() / 100.0;
    // No "-0.00" in reports.
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

/// Headline figures of one model.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// The artifact or ONNX file.
    pub model: String,
    /// Accuracy, percent.
    pub accuracy_pct: f64,
    /// Macro F1, percent.
    pub macro_f1_pct: f64,
    /// Correct predictions.
    pub correct: usize,
    /// Mean time per example, milliseconds.
    pub ms_per_example: f64,
}

/// The accuracy change of one class or one slice value.
#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    /// `class`, or the slice name (`speaker`, `words`, ...).
    pub group: String,
    /// The class label or slice value.
    pub value: String,
    /// Examples.
    pub n: usize,
    /// Reference accuracy, percent.
    pub reference_pct: f64,
    /// Quantized accuracy, percent.
    pub quantized_pct: f64,
    /// `quantized − reference`, points (negative: a drop).
    pub change_pts: f64,
    /// Drop above the threshold.
    pub flagged: bool,
}

/// The whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The data set.
    pub data: String,
    /// The split.
    pub split: String,
    /// Examples.
    pub n: usize,
    /// The reference model.
    pub reference: Side,
    /// The quantized model.
    pub quantized: Side,
    /// Share of examples on which both models predict the same class, percent.
    pub agreement_pct: f64,
    /// `quantized − reference` accuracy, points.
    pub accuracy_change_pts: f64,
    /// `quantized − reference` macro F1, points.
    pub macro_f1_change_pts: f64,
    /// A class or slice is flagged when it drops by more than this many points.
    pub flag_threshold_pts: f64,
    /// Flagged classes and slices.
    pub flagged: usize,
    /// Per class (accuracy = recall), in label order.
    pub classes: Vec<Delta>,
    /// Per slice value, by slice name then value.
    pub slices: Vec<Delta>,
    /// Labels, in class order.
    pub labels: Vec<String>,
    /// Reference confusion matrix (`[true][predicted]`).
    pub confusion_reference: Vec<Vec<usize>>,
    /// Quantized confusion matrix.
    pub confusion_quantized: Vec<Vec<usize>>,
}

fn side(r: &Report) -> Side {
    Side {
        model: r.model.clone(),
        accuracy_pct: r2(100.0 * r.figures.accuracy),
        macro_f1_pct: r2(100.0 * r.figures.macro_f1),
        correct: r.figures.correct,
        ms_per_example: r2(r.ms_per_example),
    }
}

/// Evaluates both models on `data_path` and compares them.
pub fn audit(
    quantized: (&Model<'_>, &Path),
    reference: (&Model<'_>, &Path),
    data_path: &Path,
    split: Split,
    progress: bool,
) -> Result<Audit> {
    let set = data::load(data_path, split)?;
    audit_set(quantized, reference, &set, data_path, split, progress)
}

/// [`audit`] on a data set already loaded from `data_path`.
pub fn audit_set(
    quantized: (&Model<'_>, &Path),
    reference: (&Model<'_>, &Path),
    set: &data::Dataset,
    data_path: &Path,
    split: Split,
    progress: bool,
) -> Result<Audit> {
    let (rq, oq) = evaluate_set(quantized.0, quantized.1, set, data_path, split, progress)?;
    let (rr, or) = evaluate_set(reference.0, reference.1, set, data_path, split, progress)?;
    if rq.figures.labels != rr.figures.labels {
        return Err(Error::Usage(format!(
            "{} and {} have different labels: they are not the same model",
            quantized.1.display(),
            reference.1.display()
        )));
    }
    Ok(compare(&rq, &oq, &rr, &or))
}

/// The audit of two evaluations of the same examples.
pub fn compare(rq: &Report, oq: &[Outcome], rr: &Report, or: &[Outcome]) -> Audit {
    let (fq, fr): (&Figures, &Figures) = (&rq.figures, &rr.figures);
    let n = oq.len().min(or.len());
    let agree = oq.iter().zip(or).filter(|(a, b)| a.predicted == b.predicted).count();
    let drop = 100.0 * (fr.accuracy - fq.accuracy);
    let threshold = 1.0f64.max(2.0 * drop);
    let delta = |group: &str, value: &str, n: usize, r: f64, q: f64| {
        let (r, q) = (100.0 * r, 100.0 * q);
        Delta {
            group: group.to_owned(),
            value: value.to_owned(),
            n,
            reference_pct: r2(r),
            quantized_pct: r2(q),
            change_pts: r2(q - r),
            // Compared unrounded; a tiny tolerance keeps "exactly at the threshold" unflagged.
            flagged: r - q > threshold + 1e-9,
        }
    };
    let classes: Vec<Delta> = fr
        .per_class
        .iter()
        .zip(&fq.per_class)
        .map(|(r, q)| delta("class", &r.label, r.support, r.recall, q.recall))
        .collect();
    let mut slices = Vec::new();
    for (name, values) in &fr.per_slice {
        let Some(qv) = fq.per_slice.get(name) else { continue };
        for r in values {
            if let Some(q) = qv.iter().find(|q| q.value == r.value) {
                slices.push(delta(name, &r.value, r.n, r.accuracy, q.accuracy));
            }
        }
    }
    let flagged = classes.iter().chain(&slices).filter(|d| d.flagged).count();
    Audit {
        data: rq.data.clone(),
        split: rq.split.clone(),
        n,
        reference: side(rr),
        quantized: side(rq),
        agreement_pct: r2(100.0 * agree as f64 / n.max(1) as f64),
        accuracy_change_pts: r2(-drop),
        macro_f1_change_pts: r2(100.0 * (fq.macro_f1 - fr.macro_f1)),
        flag_threshold_pts: r2(threshold),
        flagged,
        classes,
        slices,
        labels: fr.labels.clone(),
        confusion_reference: fr.confusion.clone(),
        confusion_quantized: fq.confusion.clone(),
    }
}

/// The audit as text: headline, then every class and slice with its change (flags marked `<<`).
pub fn render_text(a: &Audit) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "audit on {} (split {}): {} examples", a.data, a.split, a.n);
    let _ = writeln!(s, "{:<18} {:>10} {:>10} {:>9}", "", "reference", "quantized", "change");
    let _ = writeln!(
        s,
        "{:<18} {:>9.2}% {:>9.2}% {:>+9.2}",
        "accuracy", a.reference.accuracy_pct, a.quantized.accuracy_pct, a.accuracy_change_pts
    );
    let _ = writeln!(
        s,
        "{:<18} {:>9.2}% {:>9.2}% {:>+9.2}",
        "macro F1", a.reference.macro_f1_pct, a.quantized.macro_f1_pct, a.macro_f1_change_pts
    );
    let _ = writeln!(s, "{:<18} {:>9.2}%", "top-1 agreement", a.agreement_pct);
    let _ = writeln!(s, "reference: {}\nquantized: {}", a.reference.model, a.quantized.model);
    let _ = writeln!(
        s,
        "flag: a class or slice whose accuracy drops by more than {:.2} points (max(1, 2 x overall drop)): {} flagged",
        a.flag_threshold_pts, a.flagged
    );
    let w = a.classes.iter().chain(&a.slices).map(|d| d.value.chars().count()).max().unwrap_or(5).max(5);
    let mut group = "";
    for d in a.classes.iter().chain(&a.slices) {
        if d.group != group {
            group = &d.group;
            let _ = writeln!(
                s,
                "\nby {group}:\n  {:<w$} {:>5} {:>10} {:>10} {:>8}",
                "", "n", "reference", "quantized", "change"
            );
        }
        let _ = writeln!(
            s,
            "  {:<w$} {:>5} {:>9.2}% {:>9.2}% {:>+8.2}{}",
            d.value,
            d.n,
            d.reference_pct,
            d.quantized_pct,
            d.change_pts,
            if d.flagged { "  << flagged" } else { "" }
        );
    }
    s
}
