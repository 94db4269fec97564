//! `ferrite eval QUANT.fer --reference REF --data D`: the quantization audit (eval/audit.rs) as text
//! or JSON, an HTML report, `--fail-on-flag` for CI, and `--record`, which writes the summary into
//! the artifact's model card (eval/record.rs).

use crate::open;
use anyhow::anyhow;
use ferrite_quantizer::eval::{audit, data, record};
use ferrite_quantizer::quantize::{write_atomically, QuantizeOptions};
use ferrite_runtime::Model;
use std::path::{Path, PathBuf};

/// Status of `eval --fail-on-flag` when a class or slice is flagged (1 is any other error).
pub const EXIT_FLAGGED: u8 = 3;

/// The error `eval --fail-on-flag` ends with (mapped to [`EXIT_FLAGGED`]).
#[derive(Debug)]
pub struct Flagged;
impl std::fmt::Display for Flagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("flagged classes or slices")
    }
}
impl std::error::Error for Flagged {}

/// What `ferrite eval --reference` was asked.
pub struct Args {
    /// The quantized artifact.
    pub artifact: PathBuf,
    /// The reference: an artifact, or an ONNX file converted to f32 here.
    pub reference: PathBuf,
    /// The data set.
    pub data: PathBuf,
    /// Its split.
    pub split: data::Split,
    /// Print JSON.
    pub json: bool,
    /// Exit with [`EXIT_FLAGGED`] when something is flagged.
    pub fail_on_flag: bool,
    /// Write the HTML report here.
    pub report: Option<PathBuf>,
    /// Record the summary in the artifact's model card.
    pub record: bool,
}

/// The reference as artifact bytes: the file read, or (an ONNX file) converted to f32 with its
/// folder's ferrite.toml. `on_disk` is the file's bytes, read once by the caller.
fn reference_artifact(path: &Path, on_disk: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        let mut opts = QuantizeOptions::default();
        let cfg = path.with_file_name("ferrite.toml");
        if cfg.is_file() {
            ferrite_quantizer::config::load(&cfg)?.apply_to(&mut opts);
        }
        eprintln!("ferrite: converting the reference {} (f32) ...", path.display());
        Ok(ferrite_quantizer::quantize::quantize(path, &opts)?.bytes)
    } else {
        Ok(on_disk)
    }
}

/// Runs the audit.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let model = open(&a.artifact)?;
    let on_disk = std::fs::read(&a.reference).map_err(|e| anyhow!("{}: {e}", a.reference.display()))?;
    // The file's SHA-256 is recorded; its bytes are read once.
    let reference_sha = a.record.then(|| record::sha256_hex(&on_disk));
    let ref_bytes = ferrite_runtime::AlignedBytes::copy_from(&reference_artifact(&a.reference, on_disk)?);
    let ref_model = Model::from_bytes(&ref_bytes).map_err(|e| anyhow!("{}: {e}", a.reference.display()))?;
    let set = data::load(&a.data, a.split)?;
    let au = audit::audit_set((&model, &a.artifact), (&ref_model, &a.reference), &set, &a.data, a.split, true)?;
    if a.json {
        out!("{}", serde_json::to_string(&au)?);
    } else {
        use std::io::Write as _;
        write!(std::io::stdout().lock(), "{}", audit::render_text(&au))?;
    }
    if let Some(r) = &a.report {
        let meta: serde_json::Value = serde_json::from_str(model.metadata()).unwrap_or(serde_json::Value::Null);
        write_atomically(r, ferrite_quantizer::report::eval_html(&au, &meta).as_bytes())?;
        eprintln!("ferrite: wrote report {}", r.display());
    }
    if let Some(sha) = reference_sha {
        let summary = record::summary(&au, &a.data, &record::fingerprint(&set)?, &a.reference, &sha);
        let bytes = record::record(model.bytes(), summary).map_err(|e| anyhow!("{}: {e}", a.artifact.display()))?;
        drop(model);
        write_atomically(&a.artifact, &bytes)?;
        eprintln!("ferrite: recorded the audit in the model card of {} (inspect shows it)", a.artifact.display());
    }
    if a.fail_on_flag && au.flagged > 0 {
        eprintln!("ferrite: {} class(es) or slice(s) flagged (--fail-on-flag)", au.flagged);
        return Err(Flagged.into());
    }
    Ok(())
}
