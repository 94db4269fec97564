//! The self-contained HTML page of `ferrite explain --html`: the sentence with its words shaded by
//! importance, or the spectrogram with heat strips under it (segments) and beside it (bands); the
//! reference model's shading beneath the model's; then every figure of the JSON in tables, printed
//! with the same digits ([`super::fig_text`]). The page is well-formed XML (XHTML syntax), so any
//! XML parser reads it, and it loads nothing from elsewhere.

use super::{fig_text, Explanation, Group, Spectrogram};
use std::fmt::Write as _;

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Characters XML 1.0 forbids (C0 controls other than tab and newlines).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// Red for parts that argued for the label, blue for those against, as strong as `v / scale`.
fn shade(v: f32, scale: f32) -> String {
    let a = if scale > 0.0 && v.is_finite() { (v.abs() / scale).min(1.0) } else { 0.0 };
    if v >= 0.0 {
        format!("rgba(215,48,39,{a:.3})")
    } else {
        format!("rgba(49,104,212,{a:.3})")
    }
}

/// The largest |importance| over the model and the reference: both are shaded on one scale.
fn scale_of(groups: &[Group]) -> f32 {
    groups
        .iter()
        .flat_map(|g| g.parts.iter())
        .flat_map(|p| [Some(p.importance), p.reference])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}\
.sentence{font-size:1.4em;line-height:2em}.w{padding:0.1em 0.2em;border-radius:0.2em}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:right}\
td:first-child,th:first-child{text-align:left}.note{color:#a50}.legend span{padding:0 0.5em}.unk{text-decoration:underline dotted}";

/// The page.
pub fn render(ex: &Explanation) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>Why {label}? (ferrite explain)</title><style>{STYLE}</style></head><body>\
         <h1>Why “{label}”?</h1><p>Model <code>{model}</code> predicts <b>{pred}</b>; the probability of \
         <b>{label}</b> (class {class}) is {score}.</p>",
        label = esc(&ex.label),
        model = esc(&ex.model),
        pred = esc(&ex.predicted),
        class = ex.class,
        score = fig_text(ex.score),
    );
    if let Some(r) = &ex.reference {
        let _ = write!(
            h,
            "<p>Reference <code>{}</code> predicts <b>{}</b>; its probability of {} is {}.</p>",
            esc(&r.model),
            esc(&r.predicted),
            esc(&ex.label),
            fig_text(r.score)
        );
    }
    for n in &ex.notes {
        let _ = write!(h, "<p class=\"note\">{}</p>", esc(n));
    }
    let scale = scale_of(&ex.groups);
    h.push_str(
        "<p class=\"legend\">Each part's importance is the drop of the label's probability when it is hidden: \
         <span style=\"background:rgba(215,48,39,0.8)\">for the label</span> \
         <span style=\"background:rgba(49,104,212,0.8)\">against it</span>; \
         <span class=\"unk\">dotted</span>: a word the vocabulary lacks (already read as unknown)</p>",
    );
    match &ex.spectrogram {
        None => sentences(&mut h, ex, scale),
        Some(sp) => spectrogram(&mut h, ex, sp, scale),
    }
    for g in &ex.groups {
        table(&mut h, ex, g);
    }
    h.push_str("</body></html>\n");
    h
}

/// The sentence once per model, each word shaded.
fn sentences(h: &mut String, ex: &Explanation, scale: f32) {
    let Some(g) = ex.groups.first() else { return };
    let mut rows = vec![("model", false)];
    if ex.reference.is_some() {
        rows.push(("reference", true));
    }
    for (who, is_ref) in rows {
        let _ = write!(h, "<p>{who}</p><p class=\"sentence\">");
        let mut at = 0usize;
        for p in &g.parts {
            let (a, b) = (p.span.0 as usize, p.span.1 as usize);
            let v = if is_ref { p.reference.unwrap_or(0.0) } else { p.importance };
            let class = if p.known == Some(false) { "w unk" } else { "w" };
            let _ = write!(
                h,
                "{}<span class=\"{class}\" style=\"background:{}\" title=\"{}\">{}</span>",
                esc(ex.input.get(at..a).unwrap_or("")),
                shade(v, scale),
                fig_text(v),
                esc(ex.input.get(a..b).unwrap_or(""))
            );
            at = b;
        }
        let _ = write!(h, "{}</p>", esc(ex.input.get(at..).unwrap_or("")));
    }
}

/// A colour for a spectrogram cell at `t` in [0, 1]: dark blue to yellow.
fn heat(t: f32) -> String {
    let t = t.clamp(0.0, 1.0);
    let (r, g, b) = if t < 0.5 {
        let u = t * 2.0;
        (20.0 + 160.0 * u, 20.0 + 40.0 * u, 80.0 + 40.0 * u)
    } else {
        let u = (t - 0.5) * 2.0;
        (180.0 + 70.0 * u, 60.0 + 170.0 * u, 120.0 - 80.0 * u)
    };
    format!("rgb({},{},{})", r as u8, g as u8, b as u8)
}

/// The log-mel spectrogram (low frequencies at the bottom), a heat strip per model under it
/// (segments) and beside it (bands).
fn spectrogram(h: &mut String, ex: &Explanation, sp: &Spectrogram, scale: f32) {
    let (frames, mels, log_mel) = (sp.frames, sp.mels, &sp.log_mel);
    const CW: usize = 8;
    const CH: usize = 4;
    const STRIP: usize = 14;
    let (w, ht) = (frames * CW, mels * CH);
    let strips = if ex.reference.is_some() { 2 } else { 1 };
    let (lo, hi) = log_mel.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (sw, sh) = (w + 6 + strips * (STRIP + 2), ht + 6 + strips * (STRIP + 2));
    let _ = write!(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{sw}\" height=\"{sh}\">");
    for (t, row) in log_mel.chunks_exact(mels.max(1)).enumerate() {
        for (j, v) in row.iter().enumerate() {
            let _ = write!(
                h,
                "<rect x=\"{}\" y=\"{}\" width=\"{CW}\" height=\"{CH}\" fill=\"{}\"/>",
                t * CW,
                ht - (j + 1) * CH,
                heat((v - lo) / span)
            );
        }
    }
    let (Some(seg), Some(band)) = (ex.groups.first(), ex.groups.get(1)) else { return };
    let per_seg = sp.grid.segment_frames * CW;
    let per_band = sp.grid.band_mels * CH;
    for k in 0..strips {
        let value = |p: &super::Part| if k == 0 { p.importance } else { p.reference.unwrap_or(0.0) };
        for (s, p) in seg.parts.iter().enumerate() {
            let width = per_seg.min(w.saturating_sub(s * per_seg));
            let _ = write!(
                h,
                "<rect x=\"{}\" y=\"{}\" width=\"{width}\" height=\"{STRIP}\" fill=\"{}\"><title>{} {}</title></rect>",
                s * per_seg,
                ht + 6 + k * (STRIP + 2),
                shade(value(p), scale),
                esc(&p.name),
                fig_text(value(p))
            );
        }
        for (b, p) in band.parts.iter().enumerate() {
            let height = per_band.min(ht.saturating_sub(b * per_band));
            let _ = write!(
                h,
                "<rect x=\"{}\" y=\"{}\" width=\"{STRIP}\" height=\"{height}\" fill=\"{}\"><title>{} {}</title></rect>",
                w + 6 + k * (STRIP + 2),
                ht.saturating_sub(b * per_band + height),
                shade(value(p), scale),
                esc(&p.name),
                fig_text(value(p))
            );
        }
    }
    h.push_str("</svg><p>Under the spectrogram: time segments; beside it: mel bands");
    if ex.reference.is_some() {
        h.push_str(" (first strip: the model; second: the reference)");
    }
    h.push_str(".</p>");
}

/// Every figure of one group.
fn table(h: &mut String, ex: &Explanation, g: &Group) {
    let has_ref = ex.reference.is_some();
    let _ = write!(
        h,
        "<h2>{} ({})</h2><table><tr><th>part</th><th>start</th><th>end</th><th>importance</th>{}</tr>",
        g.kind,
        esc(g.mask),
        if has_ref { "<th>reference</th>" } else { "" }
    );
    for p in &g.parts {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&p.name),
            fig_text(p.span.0),
            fig_text(p.span.1),
            fig_text(p.importance)
        );
        if let Some(r) = p.reference {
            let _ = write!(h, "<td>{}</td>", fig_text(r));
        }
        if let Some(k) = p.known {
            h.push_str(if k { "<td>in the vocabulary</td>" } else { "<td>not in the vocabulary</td>" });
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if has_ref {
        let rho = g.spearman.map_or("undefined".to_string(), fig_text);
        let _ = write!(h, "<p>Rank correlation (Spearman) of the model's and the reference's {}: {rho}</p>", g.kind);
    }
}
