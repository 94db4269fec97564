//! Spearman's rank correlation, the agreement of two attributions (float against quantized).

/// Spearman's rank correlation of `a` and `b` (equal lengths): Pearson's correlation of their
/// ranks, ties given their average rank. `None` when the lengths differ, there are fewer than two
/// values, or either side is constant (the correlation is undefined). O(n²) and allocation-free:
/// attributions have tens of entries.
pub fn spearman(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len() as f64;
    let mean = (n + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..a.len() {
        let (ra, rb) = (rank(a, i) - mean, rank(b, i) - mean);
        sab += ra * rb;
        saa += ra * ra;
        sbb += rb * rb;
    }
    if saa == 0.0 || sbb == 0.0 {
        return None;
    }
    Some((sab / libm::sqrt(saa * sbb)) as f32)
}

/// The 1-based rank of `v[i]` in `v`, ties averaged (NaN compares as neither less nor equal).
fn rank(v: &[f32], i: usize) -> f64 {
    let x = v[i];
    let less = v.iter().filter(|&&y| y < x).count() as f64;
    let equal = v.iter().filter(|&&y| y == x).count().max(1) as f64;
    less + (equal + 1.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::spearman;

    #[test]
    fn known_values() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
        assert!((r - 0.820_782_7).abs() < 1e-6, "{r}");
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
        assert_eq!(spearman(&[1.0, 2.0], &[1.0]), None);
    }
}
