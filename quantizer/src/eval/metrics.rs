//! Classification figures from predictions: accuracy, per-class precision/recall/F1, macro F1,
//! confusion matrix, per-slice accuracy. The rules match models/common/train_lib.py `metrics`
//! (F1 is 0 for a class with no true or predicted example), so figures compare exactly.

use serde::Serialize;
use std::collections::BTreeMap;

/// Figures of one class.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClassFigures {
    /// Label.
    pub label: String,
    /// Examples of this class.
    pub support: usize,
    /// Of the examples predicted as this class, the share that are.
    pub precision: f64,
    /// Of the examples of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Accuracy of one value of a slice (one speaker, one accent, ...).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SliceFigures {
    /// The value.
    pub value: String,
    /// Examples.
    pub n: usize,
    /// Correct predictions.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
}

/// Everything `ferrite eval` reports about one model on one data set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figures {
    /// Examples.
    pub n: usize,
    /// Correct predictions.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
    /// Mean F1 over classes.
    pub macro_f1: f64,
    /// Per class, in label order.
    pub per_class: Vec<ClassFigures>,
    /// Per slice name (speaker, accent, ...), its values in sorted order.
    pub per_slice: BTreeMap<String, Vec<SliceFigures>>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Labels, in class order.
    pub labels: Vec<String>,
}

/// One evaluated example: true class, predicted class, and its slice values.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// True class.
    pub truth: usize,
    /// Predicted class.
    pub predicted: usize,
    /// (slice name, value) pairs.
    pub slices: Vec<(String, String)>,
}

/// Computes the figures of `outcomes` over `labels`.
pub fn figures(labels: &[String], outcomes: &[Outcome]) -> Figures {
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for o in outcomes {
        if o.truth < k && o.predicted < k {
            confusion[o.truth][o.predicted] += 1;
        }
    }
    let per_class: Vec<ClassFigures> = (0..k)
        .map(|c| {
            let tp = confusion[c][c];
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let support: usize = confusion[c].iter().sum();
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            ClassFigures { label: labels[c].clone(), support, precision, recall, f1 }
        })
        .collect();
    let mut slices: BTreeMap<String, BTreeMap<String, (usize, usize)>> = BTreeMap::new();
    for o in outcomes {
        for (name, value) in &o.slices {
            let e = slices.entry(name.clone()).or_default().entry(value.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(o.truth == o.predicted);
        }
    }
    let per_slice = slices
        .into_iter()
        .map(|(name, values)| {
            let v = values
                .into_iter()
                .map(|(value, (n, correct))| SliceFigures { value, n, correct, accuracy: correct as f64 / n as f64 })
                .collect();
            (name, v)
        })
        .collect();
    let n = outcomes.len();
    let correct = outcomes.iter().filter(|o| o.truth == o.predicted).count();
    Figures {
        n,
        correct,
        accuracy: if n == 0 { 0.0 } else { correct as f64 / n as f64 },
        macro_f1: if k == 0 { 0.0 } else { per_class.iter().map(|c| c.f1).sum::<f64>() / k as f64 },
        per_class,
        per_slice,
        confusion,
        labels: labels.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(truth: usize, predicted: usize, spk: &str) -> Outcome {
        Outcome { truth, predicted, slices: vec![("speaker".into(), spk.into())] }
    }

    #[test]
    fn figures_by_hand() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        // a: 2 right, 1 taken for b; b: 1 right; c: never predicted, 1 taken for a.
        let out = [o(0, 0, "x"), o(0, 0, "x"), o(0, 1, "y"), o(1, 1, "y"), o(2, 0, "y")];
        let f = figures(&labels, &out);
        assert_eq!((f.n, f.correct), (5, 3));
        assert!((f.accuracy - 0.6).abs() < 1e-12);
        assert_eq!(f.confusion, vec![vec![2, 1, 0], vec![0, 1, 0], vec![1, 0, 0]]);
        let a = &f.per_class[0];
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-12 && (a.recall - 2.0 / 3.0).abs() < 1e-12);
        let b = &f.per_class[1];
        assert!((b.precision - 0.5).abs() < 1e-12 && (b.recall - 1.0).abs() < 1e-12);
        assert_eq!(f.per_class[2].f1, 0.0);
        let want_macro = (2.0 / 3.0 + 2.0 * 0.5 / 1.5 + 0.0) / 3.0;
        assert!((f.macro_f1 - want_macro).abs() < 1e-12);
        let spk = &f.per_slice["speaker"];
        assert_eq!((spk[0].value.as_str(), spk[0].n, spk[0].correct), ("x", 2, 2));
        assert_eq!((spk[1].value.as_str(), spk[1].n, spk[1].correct), ("y", 3, 1));
    }
}
