//! `ferrite eval QUANT.fer --reference REF --data D --record`: the audit's summary written into
//! the quantized artifact's model card (`model_card.audit`), where `inspect` shows it and a later
//! signature covers it. Data sets are named and fingerprinted, never located: no path of the
//! machine that ran the audit goes into the artifact.

use super::audit::{Audit, Delta};
use super::data::{Dataset, Payload};
use crate::error::{Error, Result};
use crate::relayout::relayout;
use ferrite_runtime::format::SectionKind;
use serde_json::{json, Value};
use sha2::Digest;
use std::borrow::Cow;
use std::path::Path;

/// SHA-256 of a data set's examples as evaluated (each label, then the sentence or the WAV file's
/// bytes, length-prefixed, in order; the first 16 bytes, in hex), with their count.
pub fn fingerprint(set: &Dataset) -> Result<String> {
    let mut h = sha2::Sha256::new();
    for e in &set.examples {
        let payload: Cow<'_, [u8]> = match &e.payload {
            Payload::Text(t) => Cow::Borrowed(t.as_bytes()),
            Payload::Wav(p) => Cow::Owned(std::fs::read(p).map_err(|source| Error::Io { path: p.clone(), source })?),
        };
        for part in [e.label.as_bytes(), &payload] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    let hex: String = h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}/{}", set.examples.len()))
}

/// SHA-256 of `bytes`, in hex (what the record says of the reference file).
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn worst(ds: &[Delta]) -> Value {
    ds.iter()
        .min_by(|a, b| a.change_pts.total_cmp(&b.change_pts))
        .map_or(Value::Null, |d| json!({"group": d.group, "value": d.value, "n": d.n, "change_pts": d.change_pts}))
}

/// The summary `--record` stores: data set (name, split, fingerprint), reference (file name and
/// SHA-256), overall accuracy and macro-F1 change, agreement, the worst class and the worst slice,
/// flags, and the tool that measured it. `reference_sha256` is [`sha256_hex`] of the reference file.
pub fn summary(a: &Audit, data: &Path, set_fingerprint: &str, reference: &Path, reference_sha256: &str) -> Value {
    json!({
        "data": {"name": crate::quantize::data_set_name(data), "split": a.split, "examples": a.n,
                 "sha256": set_fingerprint},
        "reference": {"file": reference.file_name().map(|n| n.to_string_lossy().into_owned()), "sha256": reference_sha256},
        "accuracy_pct": {"reference": a.reference.accuracy_pct, "quantized": a.quantized.accuracy_pct},
        "accuracy_change_pts": a.accuracy_change_pts,
        "macro_f1_change_pts": a.macro_f1_change_pts,
        "agreement_pct": a.agreement_pct,
        "worst_class": worst(&a.classes),
        "worst_slice": worst(&a.slices),
        "flagged": a.flagged,
        "flag_threshold_pts": a.flag_threshold_pts,
        "tool": format!("ferrite-quantizer {}", env!("CARGO_PKG_VERSION")),
        "tool_commit": option_env!("FERRITE_GIT_COMMIT").unwrap_or("unknown"),
    })
}

/// `bytes` with `summary` as its model card's `audit` (a previous one is replaced). A signed
/// artifact is refused: recording would break its signature, and the audit belongs under it
/// (record, then sign).
pub fn record(bytes: &[u8], summary: Value) -> Result<Vec<u8>> {
    let aligned = ferrite_runtime::AlignedBytes::copy_from(bytes);
    let model = ferrite_runtime::Model::from_bytes(aligned.as_slice())
        .map_err(|e| Error::Usage(format!("cannot record: not a valid artifact: {e}")))?;
    if !model.artifact().signature.is_empty() {
        return Err(Error::Usage(
            "the artifact is signed: record the audit before signing (recording would break the signature)".into(),
        ));
    }
    let mut meta: Value = serde_json::from_str(model.metadata()).unwrap_or_else(|_| json!({}));
    if !meta.is_object() {
        meta = json!({});
    }
    if !meta["model_card"].is_object() {
        meta["model_card"] = json!({});
    }
    meta["model_card"]["audit"] = summary;
    let text = serde_json::to_vec(&meta).map_err(|e| Error::Usage(e.to_string()))?;
    // Every artifact the writer makes has a metadata section; one without would lose the record.
    let replaced = std::cell::Cell::new(false);
    let edit = |kind: u32, body| {
        Some(if kind == SectionKind::Metadata as u32 {
            replaced.set(true);
            Cow::Owned(text.clone())
        } else {
            Cow::Borrowed(body)
        })
    };
    let (out, _) = relayout(bytes, edit, None)?;
    if !replaced.get() {
        return Err(Error::Usage("cannot record: the artifact has no metadata section".into()));
    }
    Ok(out)
}
