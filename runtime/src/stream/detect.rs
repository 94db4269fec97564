//! From posteriors to detections: a moving average over the last runs, a threshold, and a
//! refractory period after each detection.

use super::{Detection, StreamParams};
use crate::error::{Error, Result};

/// Smooths each run's posteriors and decides when a keyword fires.
#[derive(Debug)]
pub struct Detector<'b> {
    params: StreamParams,
    classes: usize,
    /// The last `smooth` posterior vectors, row `run % smooth` for run `run`.
    history: &'b mut [f32],
    runs: u64,
    /// End (in samples) of the last detection's window.
    last_end: Option<u64>,
}

impl<'b> Detector<'b> {
    /// A detector for `classes` classes; `history` holds `params.smooth × classes` values.
    pub fn new(params: StreamParams, classes: usize, history: &'b mut [f32]) -> Result<Self> {
        params.check()?;
        let needed = params.smooth as usize * classes;
        if history.len() != needed || classes == 0 {
            return Err(Error::BufferSize { needed: needed as u64, given: history.len() as u64 });
        }
        Ok(Detector { params, classes, history, runs: 0, last_end: None })
    }

    /// The parameters.
    pub fn params(&self) -> &StreamParams {
        &self.params
    }

    /// Forgets every run and detection.
    pub fn reset(&mut self) {
        self.runs = 0;
        self.last_end = None;
        self.history.fill(0.0);
    }

    /// Takes the posteriors of the window `[start, end)` (samples of the stream) and returns the
    /// detection it fires, if any: the class other than the background with the highest average
    /// over the last `smooth` runs (fewer at the start), when that average reaches the threshold
    /// and the window ends at least `refractory` samples after the last detection's.
    pub fn observe(&mut self, posteriors: &[f32], start: u64, end: u64) -> Option<Detection> {
        let smooth = self.params.smooth as usize;
        let row = (self.runs % smooth as u64) as usize * self.classes;
        if let Some(dst) = self.history.get_mut(row..row + self.classes) {
            for (d, p) in dst.iter_mut().zip(posteriors) {
                *d = *p;
            }
        }
        self.runs += 1;
        let rows = (self.runs as usize).min(smooth);
        let (mut best, mut score) = (None, f32::NEG_INFINITY);
        for c in (0..self.classes).filter(|&c| Some(c as u32) != self.params.background) {
            let sum: f32 = (0..rows).map(|r| self.history.get(r * self.classes + c).copied().unwrap_or(0.0)).sum();
            let mean = sum / rows as f32;
            if mean > score {
                (best, score) = (Some(c), mean);
            }
        }
        let class = best?;
        let quiet = self.last_end.is_none_or(|last| end >= last + self.params.refractory as u64);
        if score < self.params.threshold || !quiet {
            return None;
        }
        self.last_end = Some(end);
        Some(Detection { class, score, start, end })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn params(smooth: u32, threshold: f32, refractory: u32, background: Option<u32>) -> StreamParams {
        StreamParams { hop_frames: 1, smooth, threshold, refractory, background }
    }

    /// The average over the last `smooth` runs decides; one confident run among doubtful ones
    /// does not fire, three in a row do; then the refractory period holds further detections.
    #[test]
    fn smoothing_threshold_and_refractory() {
        let mut h = [0.0f32; 9];
        let mut d = Detector::new(params(3, 0.75, 100, None), 3, &mut h).unwrap();
        let (low, high) = ([0.5, 0.3, 0.2], [0.05, 0.9, 0.05]);
        assert_eq!(d.observe(&low, 0, 50), None);
        assert_eq!(d.observe(&low, 10, 60), None);
        assert_eq!(d.observe(&high, 20, 70), None, "mean of class 0 is 0.35, of class 1 0.5");
        assert_eq!(d.observe(&high, 30, 80), None, "class 1: (0.3 + 0.9 + 0.9) / 3 = 0.7");
        let fired = d.observe(&high, 40, 90).expect("three confident runs fire");
        assert_eq!((fired.class, fired.start, fired.end), (1, 40, 90));
        assert!((fired.score - 0.9).abs() < 1e-6);
        // Within 100 samples of the end at 90: quiet, however confident.
        assert_eq!(d.observe(&high, 50, 100), None);
        assert_eq!(d.observe(&high, 139, 189), None);
        assert_eq!(d.observe(&high, 140, 190).map(|x| x.end), Some(190));
    }

    /// The first run fires alone when it is confident (no history yet to dilute it), and the
    /// background class never fires.
    #[test]
    fn first_run_and_background() {
        let mut h = [0.0f32; 6];
        let mut d = Detector::new(params(2, 0.6, 0, Some(0)), 3, &mut h).unwrap();
        assert_eq!(d.observe(&[0.97, 0.02, 0.01], 0, 10), None, "background");
        let mut h = [0.0f32; 6];
        let mut d = Detector::new(params(2, 0.6, 0, Some(0)), 3, &mut h).unwrap();
        assert_eq!(d.observe(&[0.1, 0.2, 0.7], 0, 10).map(|x| x.class), Some(2));
        d.reset();
        assert_eq!(d.observe(&[0.1, 0.7, 0.2], 0, 10).map(|x| x.class), Some(1), "reset forgets the history");
    }

    #[test]
    fn bad_parameters_and_buffers_are_typed_errors() {
        let mut h = [0.0f32; 6];
        for p in
            [params(0, 0.5, 0, None), params(2, 0.0, 0, None), params(2, 1.5, 0, None), params(2, f32::NAN, 0, None)]
        {
            assert!(matches!(Detector::new(p, 3, &mut h), Err(Error::BadInput { .. })), "{p:?}");
        }
        assert!(matches!(Detector::new(params(3, 0.5, 0, None), 3, &mut h), Err(Error::BufferSize { .. })));
        let mut none: [f32; 0] = [];
        assert!(Detector::new(params(1, 0.5, 0, None), 0, &mut none).is_err());
    }
}
