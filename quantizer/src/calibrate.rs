//! Calibration for int8 (docs/QUANTIZATION.md): the calibration set (`.npy` folder, or raw data
//! through the artifact's preprocessing), per-tensor activation ranges from observed values (min/max,
//! percentile, or the range that minimises the expected quantization error), the affine parameters
//! they give, and symmetric per-channel weight quantization.
//!
//! Ranges are estimated in two passes over the calibration set, as the runtime's
//! `Session::run_observed` delivers each tensor: pass one finds min and max, pass two fills a
//! fixed histogram over that span. Work in progress for issue 4: not yet driven by `quantize`.

use crate::error::{Error, Result};
use crate::eval::data::{self, data_err, Payload, Split};
use ferrite_runtime::{Input, Model, OutputData, Preprocessing, Session};
use std::collections::BTreeMap;
use std::path::Path;

/// How an activation range is chosen from the observed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// The `p` and `1 − p` quantiles (e.g. 0.9999), clipping rare outliers.
    Percentile(f64),
    /// The range minimising expected squared error (clipping plus rounding) under the histogram.
    Mse,
}

/// Bins of the pass-two histogram.
pub const BINS: usize = 2048;

/// What is known about one tensor's values.
#[derive(Debug, Clone)]
pub struct Observer {
    /// Smallest value seen in pass one.
    pub min: f32,
    /// Largest value seen in pass one.
    pub max: f32,
    /// Pass-two counts over `[min, max]` in [`BINS`] equal bins (empty until pass two).
    pub hist: Vec<u64>,
    /// Values seen in pass one (NaN and infinities are skipped and counted here).
    pub non_finite: u64,
}

impl Default for Observer {
    fn default() -> Self {
        Observer { min: f32::INFINITY, max: f32::NEG_INFINITY, hist: Vec::new(), non_finite: 0 }
    }
}

impl Observer {
    /// Pass one: widen the range.
    pub fn observe_range(&mut self, values: &[f32]) {
        for &v in values {
            if v.is_finite() {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            } else {
                self.non_finite += 1;
            }
        }
    }

    fn bin_width(&self) -> f64 {
        (self.max as f64 - self.min as f64) / BINS as f64
    }

    /// Pass two: count values into the histogram over the pass-one range.
    pub fn observe_hist(&mut self, values: &[f32]) {
        if self.hist.is_empty() {
            self.hist = vec![0; BINS];
        }
        let w = self.bin_width();
        for &v in values.iter().filter(|v| v.is_finite()) {
            let b = if w > 0.0 { (((v as f64 - self.min as f64) / w) as usize).min(BINS - 1) } else { 0 };
            self.hist[b] += 1;
        }
    }

    /// The chosen range, always containing 0 (so that 0, padding and ReLU's floor, is exact).
    pub fn range(&self, method: Method) -> (f32, f32) {
        if self.min > self.max {
            return (0.0, 0.0);
        }
        let (lo, hi) = match method {
            Method::MinMax => (self.min, self.max),
            Method::Percentile(p) => self.percentile_range(p),
            Method::Mse => self.mse_range(),
        };
        (lo.min(0.0), hi.max(0.0))
    }

    fn edge(&self, bin: usize) -> f32 {
        (self.min as f64 + bin as f64 * self.bin_width()) as f32
    }

    fn percentile_range(&self, p: f64) -> (f32, f32) {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return (self.min, self.max);
        }
        let tail = ((1.0 - p.clamp(0.5, 1.0)) * total as f64).floor() as u64;
        let (mut lo_bin, mut acc) = (0, 0u64);
        while lo_bin < BINS - 1 && acc + self.hist[lo_bin] <= tail {
            acc += self.hist[lo_bin];
            lo_bin += 1;
        }
        let (mut hi_bin, mut acc) = (BINS, 0u64);
        while hi_bin > lo_bin + 1 && acc + self.hist[hi_bin - 1] <= tail {
            acc += self.hist[hi_bin - 1];
            hi_bin -= 1;
        }
        (self.edge(lo_bin), self.edge(hi_bin))
    }

    /// Expected squared error of quantizing the histogram to 256 levels over `[lo, hi]`: values
    /// outside are clipped (error to the bound, at the bin centre), values inside get the uniform
    /// rounding error `Δ²/12`.
    pub fn expected_error(&self, lo: f32, hi: f32) -> f64 {
        let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
        let step = (hi - lo) / 255.0;
        let w = self.bin_width();
        let mut err = 0.0;
        for (b, &n) in self.hist.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let c = self.min as f64 + (b as f64 + 0.5) * w;
            let e = if c < lo {
                (lo - c).powi(2)
            } else if c > hi {
                (c - hi).powi(2)
            } else {
                step * step / 12.0
            };
            err += n as f64 * e;
        }
        err
    }

    fn mse_range(&self) -> (f32, f32) {
        if self.hist.iter().all(|&n| n == 0) {
            return (self.min, self.max);
        }
        // Greedy: shrink by one bin from whichever end lowers the expected error more, down to one
        // bin, and keep the best range seen on the way (O(BINS²) per tensor).
        let (mut lo_bin, mut hi_bin) = (0usize, BINS);
        let mut best = (self.min, self.max, self.expected_error(self.min, self.max));
        while hi_bin - lo_bin > 1 {
            let e_lo = self.expected_error(self.edge(lo_bin + 1), self.edge(hi_bin));
            let e_hi = self.expected_error(self.edge(lo_bin), self.edge(hi_bin - 1));
            let e = if e_lo <= e_hi {
                lo_bin += 1;
                e_lo
            } else {
                hi_bin -= 1;
                e_hi
            };
            if e < best.2 {
                best = (self.edge(lo_bin), self.edge(hi_bin), e);
            }
        }
        (best.0, best.1)
    }
}

/// Affine int8 parameters for a range containing 0: `scale = (hi − lo) / 255`,
/// `zero_point = round(−128 − lo / scale)` clamped to [−128, 127]. A zero-width range gets scale 1.
pub fn affine_params(lo: f32, hi: f32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
    if hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let scale = (hi - lo) / 255.0;
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale as f32, zp)
}

/// Symmetric per-channel int8 weights: `w` holds `channels` rows; `scale_c = max|w_c| / 127` (1 for
/// an all-zero row), `q = clamp(round(w / scale_c), −127, 127)`, ties away from zero.
pub fn quantize_weights_per_channel(w: &[f32], channels: usize) -> (Vec<f32>, Vec<i8>) {
    if channels == 0 || !w.len().is_multiple_of(channels) {
        return (Vec::new(), Vec::new());
    }
    let k = w.len() / channels;
    let mut scales = Vec::with_capacity(channels);
    let mut q = Vec::with_capacity(w.len());
    for row in w.chunks_exact(k.max(1)).take(channels) {
        let m = row.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let s = if m > 0.0 && m.is_finite() { m / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(row.iter().map(|&v| ((v / s).round().clamp(-127.0, 127.0)) as i8));
    }
    (scales, q)
}

/// Signal-to-quantization-noise ratio in dB: `10·log10(Σ ref² / Σ (ref − got)²)`; infinite when the
/// two are equal.
pub fn sqnr_db(reference: &[f32], got: &[f32]) -> f64 {
    let signal: f64 = reference.iter().map(|&r| (r as f64).powi(2)).sum();
    let noise: f64 = reference.iter().zip(got).map(|(&r, &g)| (r as f64 - g as f64).powi(2)).sum();
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// One example of the calibration set: the model's input, or all of its inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum CalibInput {
    /// Float features (or any f32 input).
    F32(Vec<f32>),
    /// Token ids.
    I32(Vec<i32>),
    /// Every input of a model with several (a stateful one: samples and state), in input order.
    Many(Vec<CalibInput>),
}

impl CalibInput {
    /// The runtime inputs.
    pub fn as_inputs(&self) -> Vec<Input<'_>> {
        match self {
            CalibInput::F32(v) => vec![Input::F32(v)],
            CalibInput::I32(v) => vec![Input::I32(v)],
            CalibInput::Many(v) => v.iter().flat_map(|x| x.as_inputs()).collect(),
        }
    }
    /// The f32 values of input `i` (for observing graph inputs' ranges).
    fn f32_input(&self, i: usize) -> Option<&[f32]> {
        match (self, i) {
            (CalibInput::F32(v), 0) => Some(v),
            (CalibInput::Many(v), _) => v.get(i).and_then(|x| x.f32_input(0)),
            _ => None,
        }
    }
    /// Every value in order, as little-endian bytes (the set's fingerprint).
    pub fn hash_into(&self, h: &mut sha2::Sha256) {
        use sha2::Digest;
        match self {
            CalibInput::F32(v) => v.iter().for_each(|f| h.update(f.to_le_bytes())),
            CalibInput::I32(v) => v.iter().for_each(|f| h.update(f.to_le_bytes())),
            CalibInput::Many(v) => v.iter().for_each(|x| x.hash_into(h)),
        }
    }
}

/// The file name `ferrite run --output` gives an output, and a calibration example's folder
/// gives an input: the name with characters other than `[A-Za-z0-9._-]` as `_`.
pub fn file_stem_for(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".repeat(s.len().max(1))
    } else {
        s
    }
}

/// One `.npy` file as the value of model input `input` for one example (exact shape, the first
/// dimension 1 for a batched model, and element type).
fn npy_input(f: &Path, input: &ferrite_runtime::TensorDesc<'_>, batch: usize) -> Result<CalibInput> {
    let a = crate::npy::read(f)?;
    let mut want = input.info.shape().to_vec();
    if batch > 1 {
        if let Some(d) = want.first_mut() {
            *d = 1;
        }
    }
    if a.shape != want {
        return Err(data_err(f, format!("shape {:?} does not match input {} {:?}", a.shape, input.name, want)));
    }
    Ok(match (a.data, input.info.dtype) {
        (crate::npy::NpyData::F32(v), ferrite_runtime::format::DType::F32) => CalibInput::F32(v),
        (crate::npy::NpyData::I64(v), ferrite_runtime::format::DType::I32) => CalibInput::I32(
            v.iter()
                .map(|&x| i32::try_from(x).map_err(|_| data_err(f, format!("id {x} does not fit in i32"))))
                .collect::<Result<_>>()?,
        ),
        _ => return Err(data_err(f, format!("element type does not match input {}", input.name))),
    })
}

/// A model with several inputs: `path` holds one folder per example, each with `<input>.npy` for
/// every input (names as [`file_stem_for`] writes them), at most `max` of them, evenly spread.
fn load_examples(
    inputs: &[ferrite_runtime::TensorDesc<'_>],
    path: &Path,
    max: usize,
    batch: usize,
) -> Result<Vec<CalibInput>> {
    let mut dirs: Vec<_> = std::fs::read_dir(path)
        .map_err(|source| Error::Io { path: path.to_owned(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        let names: Vec<String> = inputs.iter().map(|i| format!("{}.npy", file_stem_for(i.name))).collect();
        return Err(data_err(
            path,
            format!(
                "a model with {} inputs calibrates on one folder per example, each holding {}",
                inputs.len(),
                names.join(", ")
            ),
        ));
    }
    spread(dirs.len(), max)
        .into_iter()
        .map(|i| {
            let one = inputs
                .iter()
                .map(|inp| npy_input(&dirs[i].join(format!("{}.npy", file_stem_for(inp.name))), inp, batch));
            Ok(CalibInput::Many(one.collect::<Result<_>>()?))
        })
        .collect()
}

/// Indices `i · len / n` for `i < n` (all of them when `n ≥ len`): an evenly spread, reproducible
/// subset, the rule models/common/datasets.py `calibration_items` follows too.
pub fn spread(len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n).map(|i| i * len / n).collect()
}

/// The calibration set at `path`, at most `max` examples, as model inputs: a folder of `.npy` files
/// (each the model's single input, exact shape), or raw data the artifact's preprocessing reads (a
/// WAV folder, the Snips folder or JSON lines; the **training** split where there is one).
pub fn load_calibration(model: &Model<'_>, path: &Path, max: usize) -> Result<Vec<CalibInput>> {
    load_calibration_batched(model, path, max, 1)
}

/// [`load_calibration`] for a model whose inputs hold `batch` examples each (`ferrite quantize
/// --batch`): the examples are read one by one as for batch 1, then grouped `batch` at a time
/// (the last group completed with examples from the start), so that every tensor sees exactly
/// the values it sees at batch 1 (MinMax ranges are then equal; histograms count the examples
/// that complete the last group twice).
pub fn load_calibration_batched(model: &Model<'_>, path: &Path, max: usize, batch: usize) -> Result<Vec<CalibInput>> {
    let one = load_items(model, path, max, batch.max(1))?;
    Ok(if batch > 1 { group(&one, batch) } else { one })
}

/// Concatenates `items` `batch` at a time, wrapping around for the last group.
fn group(items: &[CalibInput], batch: usize) -> Vec<CalibInput> {
    fn cat(parts: &[&CalibInput]) -> CalibInput {
        match parts.first() {
            Some(CalibInput::F32(_)) => CalibInput::F32(
                parts.iter().flat_map(|p| if let CalibInput::F32(v) = p { v.clone() } else { Vec::new() }).collect(),
            ),
            Some(CalibInput::I32(_)) => CalibInput::I32(
                parts.iter().flat_map(|p| if let CalibInput::I32(v) = p { v.clone() } else { Vec::new() }).collect(),
            ),
            Some(CalibInput::Many(first)) => CalibInput::Many(
                (0..first.len())
                    .map(|i| {
                        let ith: Vec<&CalibInput> = parts
                            .iter()
                            .filter_map(|p| if let CalibInput::Many(v) = p { v.get(i) } else { None })
                            .collect();
                        cat(&ith)
                    })
                    .collect(),
            ),
            None => CalibInput::F32(Vec::new()),
        }
    }
    (0..items.len().div_ceil(batch))
        .map(|g| cat(&(0..batch).map(|j| &items[(g * batch + j) % items.len()]).collect::<Vec<_>>()))
        .collect()
}

fn load_items(model: &Model<'_>, path: &Path, max: usize, batch: usize) -> Result<Vec<CalibInput>> {
    let inputs: Vec<_> = model.inputs().collect();
    if inputs.len() > 1 {
        return load_examples(&inputs, path, max, batch);
    }
    let [input] = inputs[..] else {
        return Err(data_err(path, "the model has no inputs"));
    };
    let is_npy = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let npys: Vec<_> = match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut v: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_npy(p)).collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    };
    let out: Vec<CalibInput> = if !npys.is_empty() {
        let mut out = Vec::new();
        for i in spread(npys.len(), max) {
            out.push(npy_input(&npys[i], &input, batch)?);
        }
        out
    } else {
        let set = data::load(path, Split::Train).or_else(|e| match e {
            // A JSON-lines file has no train split: all of it is the calibration set.
            Error::Data { .. } if path.is_file() => data::load(path, Split::All),
            e => Err(e),
        })?;
        let mut out = Vec::new();
        for i in spread(set.examples.len(), max) {
            let ex = &set.examples[i];
            let item = match (&ex.payload, model.preprocessing()) {
                (Payload::Text(t), Preprocessing::Text(tok)) => {
                    let mut ids = vec![0i32; tok.seq_len()];
                    tok.encode(t, &mut ids).map_err(|e| data_err(path, format!("{t:?}: {e}")))?;
                    CalibInput::I32(ids)
                }
                (Payload::Wav(p), Preprocessing::Audio(fe)) => {
                    let bytes = std::fs::read(p).map_err(|source| Error::Io { path: p.clone(), source })?;
                    CalibInput::F32(fe.features_from_wav(&bytes).map_err(|e| data_err(p, e.to_string()))?)
                }
                _ => return Err(data_err(
                    path,
                    "this data does not fit the artifact's preprocessing (text data for a text model, WAV for audio)",
                )),
            };
            out.push(item);
        }
        out
    };
    if out.is_empty() {
        return Err(data_err(path, "no calibration examples"));
    }
    Ok(out)
}

/// Runs `model` on every calibration input twice (range, then histogram) and returns each f32 tensor
/// an op writes, and the graph's f32 input, by name, with its range under `method`. `progress` is called after each run with
/// (runs done, runs in total).
pub fn observe_ranges(
    model: &Model<'_>,
    inputs: &[CalibInput],
    method: Method,
    mut progress: impl FnMut(usize, usize),
) -> Result<BTreeMap<String, (f32, f32)>> {
    let mut session = Session::new(model).map_err(|source| Error::Artifact { path: "<model>".into(), source })?;
    let mut observers: BTreeMap<String, Observer> = BTreeMap::new();
    let total = 2 * inputs.len();
    let input_names: Vec<String> = model.inputs().map(|d| d.name.to_owned()).collect();
    for pass in 0..2 {
        for (i, x) in inputs.iter().enumerate() {
            // Graph inputs are written by the caller, not by an op: observe them here.
            for (k, name) in input_names.iter().enumerate() {
                let Some(v) = x.f32_input(k) else { continue };
                let obs = observers.entry(name.clone()).or_default();
                if pass == 0 {
                    obs.observe_range(v);
                } else {
                    obs.observe_hist(v);
                }
            }
            session
                .run_observed(&x.as_inputs(), |o| {
                    if let OutputData::F32(v) = o.data {
                        let obs = observers.entry(o.name.to_owned()).or_default();
                        if pass == 0 {
                            obs.observe_range(v);
                        } else {
                            obs.observe_hist(v);
                        }
                    }
                })
                .map_err(|source| Error::Artifact { path: "<model>".into(), source })?;
            progress(pass * inputs.len() + i + 1, total);
        }
    }
    Ok(observers.into_iter().map(|(k, o)| (k, o.range(method))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(values: &[f32]) -> Observer {
        let mut o = Observer::default();
        o.observe_range(values);
        o.observe_hist(values);
        o
    }

    #[test]
    fn minmax_contains_zero() {
        let o = observed(&[0.5, 2.0, 1.0]);
        assert_eq!(o.range(Method::MinMax), (0.0, 2.0));
        let o = observed(&[-3.0, -1.0]);
        assert_eq!(o.range(Method::MinMax), (-3.0, 0.0));
        let o = observed(&[f32::NAN, 1.0, f32::INFINITY]);
        assert_eq!((o.range(Method::MinMax), o.non_finite), ((0.0, 1.0), 2));
        assert_eq!(Observer::default().range(Method::Mse), (0.0, 0.0));
    }

    #[test]
    fn percentile_clips_an_outlier() {
        // 10,000 values in [-1, 1] and one at 100: min/max spends the int8 range on the outlier.
        let mut v: Vec<f32> = (0..10_000).map(|i| (i as f32 / 5000.0) - 1.0).collect();
        v.push(100.0);
        let o = observed(&v);
        assert_eq!(o.range(Method::MinMax).1, 100.0);
        let (lo, hi) = o.range(Method::Percentile(0.9999));
        assert!(lo <= -0.99 && hi < 1.2, "percentile range {lo}..{hi}");
        // One outlier costs more clipped (99²) than 10,000 values lose to coarser steps: MSE keeps it.
        let (_, hi) = o.range(Method::Mse);
        assert!(hi > 90.0, "mse range ..{hi}");
    }

    #[test]
    fn mse_is_never_worse_than_the_other_methods() {
        // Cauchy quantiles (a heavy two-sided tail) and a uniform spread. At 8 bits clipping rarely
        // pays (a clipped value costs its squared excess, a step only Δ²/12), so MSE ends close to
        // min/max, but never with a larger expected error than min/max or a percentile range.
        let cauchy: Vec<f32> =
            (1..20_000).map(|i| (std::f64::consts::PI * (i as f64 / 20_000.0 - 0.5)).tan() as f32).collect();
        let uniform: Vec<f32> = (0..20_000).map(|i| i as f32 / 10_000.0 - 1.0).collect();
        for v in [cauchy, uniform] {
            let o = observed(&v);
            let err = |m| {
                let (lo, hi) = o.range(m);
                o.expected_error(lo, hi)
            };
            let mse = err(Method::Mse);
            assert!(mse <= err(Method::MinMax) && mse <= err(Method::Percentile(0.999)), "{mse}");
        }
    }

    #[test]
    fn affine_parameters() {
        let (s, z) = affine_params(-1.0, 1.0);
        assert!((s - 2.0 / 255.0).abs() < 1e-9);
        // -128 - (-1 / s) = -0.5, rounded away from zero: -1. Real 0 is then q = -1, exactly.
        assert_eq!(z, -1);
        assert_eq!(affine_params(0.0, 0.0), (1.0, 0));
        let (s, z) = affine_params(0.0, 6.0);
        assert!((s - 6.0 / 255.0).abs() < 1e-9 && z == -128, "ReLU6 range: real 0 is the lowest code");
    }

    #[test]
    fn weights_per_channel() {
        let (s, q) = quantize_weights_per_channel(&[0.5, -1.0, 0.25, 0.0, 0.0, 0.0], 2);
        assert_eq!(s, [1.0 / 127.0, 1.0]);
        assert_eq!(q, [64, -127, 32, 0, 0, 0]);
        assert_eq!(quantize_weights_per_channel(&[1.0; 5], 2).0.len(), 0);
    }

    #[test]
    fn spread_is_even_and_reproducible() {
        assert_eq!(spread(10, 4), [0, 2, 5, 7]);
        assert_eq!(spread(3, 10), [0, 1, 2]);
        assert!(spread(0, 5).is_empty());
    }

    #[test]
    fn sqnr() {
        assert_eq!(sqnr_db(&[1.0, 2.0], &[1.0, 2.0]), f64::INFINITY);
        let db = sqnr_db(&[1.0, 0.0], &[0.9, 0.0]);
        assert!((db - 20.0).abs() < 1e-5, "{db}");
    }
}
