//! Comparisons, boolean logic and arg-max/arg-min: the ops whose results are booleans (u8, 0 or
//! 1) or indices (i32), as ONNX `Equal`/`Less`/…, `And`/`Or`/`Xor`/`Not` and `ArgMax`/`ArgMin`.

use super::{broadcast_strides, BroadcastIter};
use crate::ops::{CompareFn, LogicFn, TensorInfo};

/// `out = a <func> b` (1 or 0) with broadcasting. NaN compares false (unequal), as IEEE says.
pub fn compare<T: Copy + PartialOrd>(
    func: CompareFn,
    a: (&[T], &TensorInfo),
    b: (&[T], &TensorInfo),
    out_info: &TensorInfo,
    out: &mut [u8],
) {
    let strides = [broadcast_strides(a.1, out_info), broadcast_strides(b.1, out_info)];
    for (o, [ia, ib]) in out.iter_mut().zip(BroadcastIter::new(out_info, strides)) {
        let (Some(x), Some(y)) = (a.0.get(ia), b.0.get(ib)) else { continue };
        *o = u8::from(match func {
            CompareFn::Equal => x == y,
            CompareFn::Less => x < y,
            CompareFn::LessOrEqual => x <= y,
            CompareFn::Greater => x > y,
            CompareFn::GreaterOrEqual => x >= y,
        });
    }
}

/// `out = a <func> b` on booleans (any non-zero byte is true) with broadcasting; `Not` reads `a`
/// only.
pub fn logic(
    func: LogicFn,
    a: (&[u8], &TensorInfo),
    b: Option<(&[u8], &TensorInfo)>,
    out_info: &TensorInfo,
    out: &mut [u8],
) {
    let b = b.unwrap_or(a);
    let strides = [broadcast_strides(a.1, out_info), broadcast_strides(b.1, out_info)];
    for (o, [ia, ib]) in out.iter_mut().zip(BroadcastIter::new(out_info, strides)) {
        let x = a.0.get(ia).is_some_and(|&v| v != 0);
        let y = b.0.get(ib).is_some_and(|&v| v != 0);
        *o = u8::from(match func {
            LogicFn::And => x && y,
            LogicFn::Or => x || y,
            LogicFn::Xor => x != y,
            LogicFn::Not => !x,
        });
    }
}

/// The index of the largest (`min`: smallest) value along an axis of length `len` between
/// `outer` and `inner`: the first such index, or the last with `select_last`. NaN is never
/// selected unless every value is NaN (then index 0).
pub fn arg_reduce<T: Copy + PartialOrd>(
    x: &[T],
    (outer, len, inner): (usize, usize, usize),
    min: bool,
    select_last: bool,
    out: &mut [i32],
) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| x.get((o * len + k) * inner + i).copied();
            let mut best: Option<(usize, T)> = None;
            for k in 0..len {
                let Some(v) = at(k) else { continue };
                #[allow(clippy::eq_op)]
                let is_nan = v != v;
                if is_nan {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((_, b)) if min => v < b || (select_last && v == b),
                    Some((_, b)) => v > b || (select_last && v == b),
                };
                if better {
                    best = Some((k, v));
                }
            }
            if let Some(slot) = out.get_mut(o * inner + i) {
                *slot = best.map_or(0, |(k, _)| k as i32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::generic::tests::info;

    #[test]
    fn compare_broadcasts_and_nan_is_false() {
        let a = [1.0f32, 2.0, f32::NAN, 4.0];
        let b = [2.0f32];
        let mut out = [9u8; 4];
        compare(CompareFn::GreaterOrEqual, (&a, &info(&[4])), (&b, &info(&[1])), &info(&[4]), &mut out);
        assert_eq!(out, [0, 1, 0, 1]);
        compare(CompareFn::Equal, (&a, &info(&[4])), (&a, &info(&[4])), &info(&[4]), &mut out);
        assert_eq!(out, [1, 1, 0, 1]);
    }

    #[test]
    fn logic_reads_any_non_zero_byte_as_true() {
        let (a, b) = ([0u8, 1, 2, 0], [0u8, 0, 7, 5]);
        let i = info(&[4]);
        let mut out = [9u8; 4];
        logic(LogicFn::And, (&a, &i), Some((&b, &i)), &i, &mut out);
        assert_eq!(out, [0, 0, 1, 0]);
        logic(LogicFn::Xor, (&a, &i), Some((&b, &i)), &i, &mut out);
        assert_eq!(out, [0, 1, 0, 1]);
        logic(LogicFn::Not, (&a, &i), None, &i, &mut out);
        assert_eq!(out, [1, 0, 0, 1]);
    }

    #[test]
    fn arg_reduce_ties_and_nan() {
        // Two rows of four along the last axis.
        let x = [1.0f32, 3.0, 3.0, f32::NAN, f32::NAN, f32::NAN, -1.0, -1.0];
        let mut out = [9i32; 2];
        arg_reduce(&x, (2, 4, 1), false, false, &mut out);
        assert_eq!(out, [1, 2]);
        arg_reduce(&x, (2, 4, 1), false, true, &mut out);
        assert_eq!(out, [2, 3]);
        arg_reduce(&x, (2, 4, 1), true, false, &mut out);
        assert_eq!(out, [0, 2]);
        // Along the first axis of a 4 x 2 view: columns (1, 3, NaN, -1) and (3, NaN, NaN, -1).
        arg_reduce(&x, (1, 4, 2), false, false, &mut out);
        assert_eq!(out, [1, 0]);
    }
}
