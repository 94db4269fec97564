//! Minimal NumPy `.npy` reading and writing (format versions 1.0–3.0, little-endian, C order).
//! Input files are untrusted: every field is checked and every failure is an [`Error::Npy`].

use crate::error::{Error, Result};
use std::path::Path;

/// Values read from an `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// float32 (float64 and float16 files are converted).
    F32(Vec<f32>),
    /// int64 (int32, int16, int8, uint8 files are widened).
    I64(Vec<i64>),
    /// bool.
    Bool(Vec<u8>),
}

/// An array read from an `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values.
    pub data: NpyData,
}

const MAGIC: &[u8] = b"\x93NUMPY";
/// Refuse arrays above 1 GiB of data: a hostile header could otherwise ask for anything.
const MAX_BYTES: usize = 1 << 30;

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Npy { path: path.to_owned(), message: msg.into() }
}

/// Reads an `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    parse(path, &bytes)
}

fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let k = header.find(&format!("'{key}'"))?;
    let rest = &header[k + key.len() + 2..];
    let colon = rest.find(':')?;
    Some(rest[colon + 1..].trim_start())
}

/// Parses `.npy` bytes (`path` names the source in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(path, "not an .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(path, "truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(bad(path, format!("unsupported format version {v}"))),
    };
    let end =
        start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(path, "truncated header"))?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad(path, "header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad(path, "header has no 'descr'"))?;
    let descr =
        descr.strip_prefix('\'').and_then(|d| d.split('\'').next()).ok_or_else(|| bad(path, "malformed 'descr'"))?;
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| bad(path, "header has no 'fortran_order'"))?;
    if fortran.starts_with("True") {
        return Err(bad(path, "Fortran-order arrays are not supported (save with np.ascontiguousarray)"));
    }
    let shape_s = dict_value(header, "shape").ok_or_else(|| bad(path, "header has no 'shape'"))?;
    let shape_s =
        shape_s.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or_else(|| bad(path, "malformed 'shape'"))?;
    let mut shape = Vec::new();
    for part in shape_s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        shape.push(
            part.trim_end_matches('L').parse::<usize>().map_err(|_| bad(path, format!("bad dimension '{part}'")))?,
        );
    }
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(path, "shape overflows"))?;
    let (elem, kind) = match descr {
        "<f4" => (4, 'f'),
        "<f8" => (8, 'f'),
        "<f2" => (2, 'f'),
        "<i8" => (8, 'i'),
        "<i4" => (4, 'i'),
        "<i2" => (2, 'i'),
        "|i1" => (1, 'i'),
        "|u1" => (1, 'u'),
        "|b1" => (1, 'b'),
        d => {
            return Err(bad(
                path,
                format!("unsupported dtype '{d}' (use float32, int64, int32 or bool, little-endian)"),
            ))
        }
    };
    let nbytes = count.checked_mul(elem).filter(|&n| n <= MAX_BYTES).ok_or_else(|| bad(path, "array too large"))?;
    let body = &bytes[end..];
    if body.len() != nbytes {
        return Err(bad(path, format!("data is {} bytes, shape {shape:?} needs {nbytes}", body.len())));
    }
    let data = match (kind, elem) {
        ('f', 4) => NpyData::F32(body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        ('f', 8) => NpyData::F32(
            body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
        ),
        ('f', _) => {
            NpyData::F32(body.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect())
        }
        ('i', 8) => {
            NpyData::I64(body.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
        }
        ('i', 4) => {
            NpyData::I64(body.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect())
        }
        ('i', 2) => NpyData::I64(body.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect()),
        ('i', _) => NpyData::I64(body.iter().map(|&b| b as i8 as i64).collect()),
        ('u', _) => NpyData::I64(body.iter().map(|&b| b as i64).collect()),
        _ => NpyData::Bool(body.to_vec()),
    };
    Ok(NpyArray { shape, data })
}

/// Encodes f32 values as `.npy` (version 1.0, `<f4`, C order).
pub fn encode_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims = match shape.len() {
        0 => String::new(),
        1 => format!("{},", shape[0]),
        _ => shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    // Pad so that the data starts on a 64-byte boundary, ending with a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let p = Path::new("t.npy");
        let b = encode_f32(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let a = parse(p, &b).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::F32(vec![1., 2., 3., 4., 5., 6.]));
        let s = parse(p, &encode_f32(&[], &[7.0])).unwrap();
        assert_eq!(s.shape, Vec::<usize>::new());
        for cut in 0..b.len() {
            assert!(parse(p, &b[..cut]).is_err(), "truncated at {cut} accepted");
        }
        let mut big = b.clone();
        let text = String::from_utf8_lossy(&big[10..]).replace("(2, 3)", "(9, 9)");
        big.truncate(10);
        big.extend_from_slice(text.as_bytes());
        assert!(parse(p, &big).is_err());
    }
}
