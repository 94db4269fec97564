//! A heap buffer aligned to 64 bytes, for artifacts read into memory rather than mapped.

use alloc::vec::Vec;

#[derive(Clone, Copy, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Bytes on a 64-byte boundary, as [`crate::Model::from_bytes`] requires.
#[derive(Clone)]
pub struct AlignedBytes {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes` into a fresh aligned buffer.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut lines = alloc::vec![Line([0; 64]); bytes.len().div_ceil(64)];
        let dst: &mut [u8] = zerocopy::IntoBytes::as_mut_bytes(lines.as_mut_slice());
        if let Some(d) = dst.get_mut(..bytes.len()) {
            d.copy_from_slice(bytes);
        }
        AlignedBytes { lines, len: bytes.len() }
    }
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let all: &[u8] = zerocopy::IntoBytes::as_bytes(self.lines.as_slice());
        all.get(..self.len).unwrap_or(&[])
    }
    /// The bytes, mutably (tests corrupt artifacts this way).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let all: &mut [u8] = zerocopy::IntoBytes::as_mut_bytes(self.lines.as_mut_slice());
        all.get_mut(..self.len).unwrap_or(&mut [])
    }
}

impl core::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}
