//! RIFF/WAVE reading: PCM 16-bit little-endian, mono, any chunk order (unknown chunks skipped).
//! Everything else is a typed error naming what was found; nothing here panics on any bytes.

use crate::error::{Error, Result};
use zerocopy::little_endian::I16;
use zerocopy::FromBytes;

/// `WAVE_FORMAT_PCM`.
const FORMAT_PCM: u16 = 1;
/// `WAVE_FORMAT_EXTENSIBLE` (its sub-format must then be PCM).
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// A parsed WAV file, borrowing its sample bytes.
#[derive(Debug, Clone, Copy)]
pub struct Wav<'a> {
    /// Samples per second.
    pub sample_rate: u32,
    data: &'a [I16],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a WAV file held in memory.
pub fn parse(bytes: &[u8]) -> Result<Wav<'_>> {
    if bytes.len() < 12 {
        return Err(Error::BadWav(rule!("shorter than a RIFF header")));
    }
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(Error::BadWav(rule!("not a RIFF/WAVE file")));
    }
    let mut pos = 12usize;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    loop {
        let (Some(id), Some(size)) = (bytes.get(pos..pos + 4), u32_at(bytes, pos + 4)) else {
            return Err(Error::BadWav(if fmt.is_some() { rule!("no data chunk") } else { rule!("no fmt chunk") }));
        };
        let body_start = pos + 8;
        let size = size as usize;
        let body = bytes.get(body_start..).unwrap_or(&[]);
        match id {
            b"fmt " => {
                let body = body.get(..size).ok_or(Error::BadWav(rule!("fmt chunk runs past the end of the file")))?;
                let (Some(tag), Some(channels), Some(rate), Some(bits)) =
                    (u16_at(body, 0), u16_at(body, 2), u32_at(body, 4), u16_at(body, 14))
                else {
                    return Err(Error::BadWav(rule!("fmt chunk shorter than 16 bytes")));
                };
                let tag = if tag == FORMAT_EXTENSIBLE {
                    // The sub-format GUID starts with the plain format tag.
                    u16_at(body, 24).ok_or(Error::BadWav(rule!("extensible fmt chunk shorter than 40 bytes")))?
                } else {
                    tag
                };
                fmt = Some((tag, channels, rate, bits));
            }
            b"data" => {
                let (tag, channels, rate, bits) = fmt.ok_or(Error::BadWav(rule!("data chunk before the fmt chunk")))?;
                if tag != FORMAT_PCM {
                    return Err(Error::UnsupportedWav { what: rule!("format tag (only PCM = 1)"), value: tag as u32 });
                }
                if channels != 1 {
                    return Err(Error::UnsupportedWav {
                        what: rule!("channel count (only mono)"),
                        value: channels as u32,
                    });
                }
                if bits != 16 {
                    return Err(Error::UnsupportedWav { what: rule!("bits per sample (only 16)"), value: bits as u32 });
                }
                if rate == 0 {
                    return Err(Error::BadWav(rule!("sample rate is 0")));
                }
                let data = body.get(..size).ok_or(Error::BadWav(rule!("data chunk runs past the end of the file")))?;
                if !size.is_multiple_of(2) {
                    return Err(Error::BadWav(rule!("data chunk holds an odd number of bytes")));
                }
                if data.is_empty() {
                    return Err(Error::BadWav(rule!("no samples")));
                }
                let data = <[I16]>::ref_from_bytes(data).map_err(|_| Error::BadWav(rule!("data chunk")))?;
                return Ok(Wav { sample_rate: rate, data });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body_start
            .checked_add(size)
            .and_then(|p| p.checked_add(size & 1))
            .ok_or(Error::BadWav(rule!("chunk size overflows")))?;
    }
}

impl<'a> Wav<'a> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no samples (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Samples scaled to [-1, 1): `s / 32768`.
    pub fn samples(&self) -> impl Iterator<Item = f32> + 'a {
        self.data.iter().map(|s| s.get() as f32 / 32768.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    pub(crate) fn wav_bytes(channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * channels as u32 * bits as u32 / 8).to_le_bytes());
        b.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_mono_16_bit() {
        let w = wav_bytes(1, 8000, 16, &[0x00, 0x80, 0xff, 0x7f, 0, 0]);
        let wav = parse(&w).unwrap();
        assert_eq!(wav.sample_rate, 8000);
        let s: Vec<f32> = wav.samples().collect();
        assert_eq!(s, [-1.0, 32767.0 / 32768.0, 0.0]);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let stereo = wav_bytes(2, 8000, 16, &[0; 8]);
        assert!(matches!(parse(&stereo), Err(Error::UnsupportedWav { value: 2, .. })));
        let b24 = wav_bytes(1, 8000, 24, &[0; 6]);
        assert!(matches!(parse(&b24), Err(Error::UnsupportedWav { value: 24, .. })));
        let ok = wav_bytes(1, 8000, 16, &[0; 8]);
        for cut in 0..ok.len() {
            assert!(parse(&ok[..cut]).is_err(), "a file cut at {cut} bytes must be an error");
        }
        let mut float = ok.clone();
        float[20] = 3;
        assert!(matches!(parse(&float), Err(Error::UnsupportedWav { value: 3, .. })));
        assert!(matches!(parse(&wav_bytes(1, 8000, 16, &[])), Err(Error::BadWav("no samples"))));
        assert!(matches!(parse(&wav_bytes(1, 0, 16, &[0, 0])), Err(Error::BadWav("sample rate is 0"))));
    }

    #[test]
    fn skips_unknown_chunks() {
        let mut w = wav_bytes(1, 16000, 16, &[1, 0]);
        // Insert an odd-sized LIST chunk (padded to even) before the data chunk.
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), &[7, 7, 7, 0]].concat();
        let at = 36;
        w.splice(at..at, list);
        let wav = parse(&w).unwrap();
        assert_eq!((wav.sample_rate, wav.len()), (16000, 1));
    }
}
