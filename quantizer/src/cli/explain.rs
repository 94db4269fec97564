//! `ferrite explain`: which words, time segments or mel bands made the model decide (occlusion,
//! runtime/src/explain), as a table, JSON (`--json`) or a self-contained HTML page (`--html`).

use crate::open;
use anyhow::{anyhow, Context};
use ferrite_quantizer::explain::{self, html, Explanation, Subject};
use std::path::{Path, PathBuf};

/// What `ferrite explain` was asked.
pub struct Args {
    /// The artifact.
    pub artifact: PathBuf,
    /// Text to explain.
    pub text: Option<String>,
    /// WAV file to explain.
    pub wav: Option<PathBuf>,
    /// Label to explain (name or class index; default: the predicted one).
    pub label: Option<String>,
    /// Reference artifact explained for the same label.
    pub reference: Option<PathBuf>,
    /// Length of an audio time segment.
    pub segment_ms: f32,
    /// Number of mel bands.
    pub bands: usize,
    /// Print JSON.
    pub json: bool,
    /// Write the HTML page here.
    pub html: Option<PathBuf>,
}

/// Runs the command.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let model = open(&a.artifact)?;
    let reference = a.reference.as_deref().map(open).transpose()?;
    let bytes;
    let subject = match (&a.text, &a.wav) {
        (Some(t), None) => Subject::Text(t),
        (None, Some(w)) => {
            bytes = std::fs::read(w).map_err(|e| anyhow!("{}: {e}", w.display()))?;
            Subject::Wav { bytes: &bytes, segment_ms: a.segment_ms, bands: a.bands }
        }
        _ => return Err(anyhow!("give --text TEXT or --wav FILE.wav")),
    };
    let label = a.label.as_deref().map(|l| explain::find_label(&model, l)).transpose()?;
    let refs = reference.as_ref().zip(a.reference.as_deref());
    let mut ex = explain::explain(&model, &a.artifact, &subject, label, refs).map_err(|e| match &a.wav {
        Some(w) if matches!(e, ferrite_quantizer::Error::Artifact { .. }) => anyhow!("{}: {e}", w.display()),
        _ => anyhow!(e),
    })?;
    if let Some(w) = &a.wav {
        ex.input = w.display().to_string();
    }
    if let Some(path) = &a.html {
        write_html(path, &ex)?;
    }
    if a.json {
        out!("{}", ex.to_json());
    } else {
        print_table(&ex)?;
    }
    Ok(())
}

fn write_html(path: &Path, ex: &Explanation) -> anyhow::Result<()> {
    std::fs::write(path, html::render(ex)).with_context(|| format!("{}: cannot write the report", path.display()))?;
    eprintln!("ferrite: wrote {}", path.display());
    Ok(())
}

/// A bar of up to 20 blocks for `v / scale`.
fn bar(v: f32, scale: f32) -> String {
    let n = if scale > 0.0 { ((v.abs() / scale) * 20.0).round() as usize } else { 0 };
    let c = if v >= 0.0 { "█" } else { "░" };
    c.repeat(n.min(20))
}

fn print_table(ex: &Explanation) -> anyhow::Result<()> {
    let mut o =
        format!("{} predicts {}; explaining {} (probability {:.4})\n", ex.model, ex.predicted, ex.label, ex.score);
    if let Some(r) = &ex.reference {
        o += &format!("reference {} predicts {}; probability of {}: {:.4}\n", r.model, r.predicted, ex.label, r.score);
    }
    for n in &ex.notes {
        eprintln!("ferrite: note: {n}");
    }
    for g in &ex.groups {
        let scale = g.parts.iter().fold(0.0f32, |m, p| m.max(p.importance.abs()));
        let head = if ex.reference.is_some() { "  reference" } else { "" };
        o += &format!("\n{:<20} {:>10}{head}   ({}: {})\n", g.kind, "importance", g.kind, g.mask);
        for p in &g.parts {
            let r = p.reference.map_or(String::new(), |r| format!(" {r:>+10.4}"));
            let unknown = if p.known == Some(false) { "  (not in the vocabulary)" } else { "" };
            o += &format!("{:<20} {:>+10.4}{r}   {}{unknown}\n", p.name, p.importance, bar(p.importance, scale));
        }
        if ex.reference.is_some() {
            let rho = g.spearman.map_or("undefined (a side is constant)".into(), |r| format!("{r:.3}"));
            o += &format!("rank correlation with the reference (Spearman): {rho}\n");
        }
    }
    out!("{}", o.trim_end());
    Ok(())
}
