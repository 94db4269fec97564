//! Re-laying out a written artifact: its sections' bodies copied (section contents hold no file
//! offsets), some replaced or dropped, one appended, each placed at its alignment as the writer
//! places them, the header's length and section count updated and the checksum written last.
//! `ferrite sign` appends the Signature section; `ferrite eval --record` replaces the metadata.

use crate::error::{Error, Result};
use ferrite_runtime::format::{
    checksum, Header, SectionEntry, SectionKind, COMPACT_SECTION_ALIGN, COMPACT_WEIGHT_ALIGN, SECTION_ALIGN,
};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

/// `bytes` (a valid artifact) with every section passed through `edit` (given its kind and body:
/// `None` drops it, `Some(body)` keeps it with that body), then `append` added last; returns the
/// new file (checksum written) and where each section's body now starts, in order.
pub fn relayout<'b>(
    bytes: &'b [u8],
    edit: impl Fn(u32, &'b [u8]) -> Option<std::borrow::Cow<'b, [u8]>>,
    append: Option<(SectionEntry, &'b [u8])>,
) -> Result<(Vec<u8>, Vec<usize>)> {
    let bad = |m: &str| Error::Usage(format!("cannot rewrite the artifact: {m}"));
    let aligned = ferrite_runtime::AlignedBytes::copy_from(bytes);
    ferrite_runtime::Model::from_bytes(aligned.as_slice()).map_err(|e| bad(&format!("not a valid artifact: {e}")))?;
    let header = Header::read_from_prefix(bytes).map_err(|_| bad("no header"))?.0;
    let count = header.section_count.get() as usize;
    let table = bytes.get(64..64 + count * 32).ok_or_else(|| bad("truncated section table"))?;
    let entries = <[SectionEntry]>::ref_from_bytes(table).map_err(|_| bad("section table"))?;
    let compact = header.flags.get() & ferrite_runtime::format::caps::COMPACT != 0;
    let mut kept: Vec<(SectionEntry, std::borrow::Cow<'b, [u8]>)> = Vec::new();
    for e in entries {
        let (o, l) = (e.offset.get() as usize, e.len.get() as usize);
        let body = bytes.get(o..o + l).ok_or_else(|| bad("section outside the file"))?;
        if let Some(b) = edit(e.kind.get(), body) {
            kept.push((*e, b));
        }
    }
    kept.extend(append.map(|(e, b)| (e, std::borrow::Cow::Borrowed(b))));
    let mut cursor = 64 + (kept.len() * 32) as u64;
    let mut offsets = Vec::new();
    for (e, body) in kept.iter_mut() {
        let align = match (compact, SectionKind::from_u32(e.kind.get())) {
            (false, _) => SECTION_ALIGN,
            (true, Some(SectionKind::Weights)) => COMPACT_WEIGHT_ALIGN,
            (true, _) => COMPACT_SECTION_ALIGN,
        };
        let off = cursor.div_ceil(align) * align;
        e.offset = U64::new(off);
        e.len = U64::new(body.len() as u64);
        cursor = off + body.len() as u64;
        offsets.push(off as usize);
    }
    let mut out = vec![0u8; cursor as usize];
    for (k, (e, body)) in kept.iter().enumerate() {
        out[64 + k * 32..64 + (k + 1) * 32].copy_from_slice(e.as_bytes());
        let o = e.offset.get() as usize;
        out[o..o + body.len()].copy_from_slice(body);
    }
    let mut h = header;
    h.section_count = U32::new(kept.len() as u32);
    h.total_len = U64::new(cursor);
    h.checksum = U32::ZERO;
    out[..64].copy_from_slice(h.as_bytes());
    finish(&mut out);
    Ok((out, offsets))
}

/// Writes the checksum of `out` (whose header's checksum field is read as zero) into its header.
pub fn finish(out: &mut [u8]) {
    out[48..52].fill(0);
    let c = checksum(out);
    out[48..52].copy_from_slice(&c.to_le_bytes());
}
