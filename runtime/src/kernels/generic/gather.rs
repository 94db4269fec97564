//! Gather along one axis (embedding lookup when axis is 0).

use super::FloatSrc;

/// Start of the row that index `raw` selects (negative indices count from the end).
pub(super) fn row_start(raw: i32, outer_i: usize, axis_len: usize, inner: usize) -> Result<usize, i64> {
    let j = if raw < 0 { raw as i64 + axis_len as i64 } else { raw as i64 };
    if j < 0 || j >= axis_len as i64 {
        return Err(raw as i64);
    }
    Ok((outer_i * axis_len + j as usize) * inner)
}

/// Gathers float rows; `out` is f32 whatever the data's storage type. Negative indices count
/// from the end (ONNX); an index out of range is an error (returns the bad index).
pub fn gather(
    data: &FloatSrc<'_>,
    outer: usize,
    axis_len: usize,
    inner: usize,
    idx: &[i32],
    out: &mut [f32],
) -> Result<(), i64> {
    let mut o = 0usize;
    for i in 0..outer {
        for &raw in idx {
            let start = row_start(raw, i, axis_len, inner)?;
            let Some(dst) = out.get_mut(o..o + inner) else { return Ok(()) };
            data.read_into(start, dst);
            o += inner;
        }
    }
    Ok(())
}

/// Gathers elements of any 4-, 2- or 1-byte type without conversion.
pub fn gather_raw<T: Copy>(
    data: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    idx: &[i32],
    out: &mut [T],
) -> Result<(), i64> {
    let mut o = 0usize;
    for i in 0..outer {
        for &raw in idx {
            let start = row_start(raw, i, axis_len, inner)?;
            if let (Some(dst), Some(src)) = (out.get_mut(o..o + inner), data.get(start..start + inner)) {
                dst.copy_from_slice(src);
            }
            o += inner;
        }
    }
    Ok(())
}
