//! Human-readable quantization reports: the per-layer table `quantize` and `inspect` print, and the
//! self-contained HTML report (inline SVG, no external assets) of `quantize --report`.
//! Both read the `model_card.quantization` object the artifact's metadata stores, so what is shown is
//! exactly what the artifact carries.

use serde_json::Value;
use std::fmt::Write as _;

/// The `model_card.quantization` object of an artifact's metadata, if it is an int8 artifact.
pub fn quantization(meta: &Value) -> Option<&Value> {
    meta.get("model_card")?.get("quantization").filter(|v| v.is_object())
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// SQNR as text (`999` in the JSON stands for an exact match).
fn db(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x >= 999.0 => "exact".into(),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

/// The per-layer table: op, kind, precision, SQNR, bytes before and after, and why a layer stayed
/// in float.
pub fn quant_text(q: &Value) -> String {
    let mut s = String::new();
    let cal = &q["calibration"];
    let _ = writeln!(
        s,
        "quantization: int8; calibration {} ({} samples, {}, {})",
        cal["data"].as_str().unwrap_or("?"),
        cal["samples"],
        cal["method"].as_str().unwrap_or("?"),
        cal["fingerprint"].as_str().unwrap_or("?")
    );
    if let Some(b) = q["accuracy_budget_db"].as_f64() {
        let _ = writeln!(s, "accuracy budget: layers under {b} dB SQNR stay fp16");
    }
    let _ = writeln!(
        s,
        "layer weights: {} -> {} bytes ({:.1}%)",
        q["layer_weight_bytes_f32"],
        q["layer_weight_bytes"],
        100.0 * num(&q["layer_weight_bytes"]) / num(&q["layer_weight_bytes_f32"]).max(1.0)
    );
    let _ = writeln!(s, "  {:<8} {:<7} {:>9} {:>10} {:>10}  layer", "op", "prec", "SQNR dB", "f32 B", "now B");
    for l in q["layers"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let _ = write!(
            s,
            "  {:<8} {:<7} {:>9} {:>10} {:>10}  {}",
            l["op"].as_str().unwrap_or("?"),
            l["precision"].as_str().unwrap_or("?"),
            db(&l["sqnr_db"]),
            l["bytes_f32"],
            l["bytes"],
            l["name"].as_str().unwrap_or("?")
        );
        if let Some(r) = l["reason"].as_str() {
            let _ = write!(s, "  ({r})");
        }
        s.push('\n');
    }
    s
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page skeleton shared by the quantize and eval reports.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n\
body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}}\n\
table{{border-collapse:collapse;margin:1em 0}}\ntd,th{{border:1px solid #ccc;padding:.25em .6em;text-align:right}}\n\
td.l,th.l{{text-align:left}}\ntr.flag td{{background:#fdd;font-weight:bold}}\n.f{{color:#b00}}\n\
</style>\n</head>\n<body>\n<h1>{}</h1>\n{}</body>\n</html>\n",
        esc(title),
        esc(title),
        body
    )
}

/// A horizontal bar chart (inline SVG) of `(label, value)` pairs; `mark` colours a bar red.
pub fn bar_chart(title: &str, unit: &str, bars: &[(String, f64, bool)]) -> String {
    let row = 18.0;
    let label_w = 330.0;
    let plot_w = 420.0;
    let max = bars.iter().map(|b| b.1).filter(|v| v.is_finite()).fold(1e-9f64, f64::max);
    let h = row * bars.len() as f64 + 30.0;
    let mut s = format!(
        "<figure>\n<figcaption>{}</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\">\n",
        esc(title),
        label_w + plot_w + 80.0
    );
    for (i, (label, v, mark)) in bars.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let w = if v.is_finite() { (v.max(0.0) / max) * plot_w } else { plot_w };
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\
<rect x=\"{}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>\
<text x=\"{}\" y=\"{}\" font-size=\"11\">{} {}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(label),
            label_w,
            y + 2.0,
            row - 4.0,
            if *mark { "#c33" } else { "#4a7" },
            label_w + w + 4.0,
            y + 12.0,
            if v.is_finite() { format!("{v:.1}") } else { "exact".into() },
            esc(unit)
        );
    }
    s.push_str("</svg>\n</figure>\n");
    s
}

/// The quantize report: calibration, sizes, the per-layer SQNR chart and table.
pub fn quantize_html(meta: &Value) -> String {
    let name = meta["name"].as_str().unwrap_or("model");
    let Some(q) = quantization(meta) else {
        return page(&format!("{name}: not an int8 artifact"), "<p>No quantization report.</p>\n");
    };
    let mut body = String::new();
    let cal = &q["calibration"];
    let _ = writeln!(
        body,
        "<p>Calibration: {} ({} samples, method {}, fingerprint {}).</p>",
        esc(cal["data"].as_str().unwrap_or("?")),
        cal["samples"],
        esc(cal["method"].as_str().unwrap_or("?")),
        esc(cal["fingerprint"].as_str().unwrap_or("?"))
    );
    let _ = writeln!(
        body,
        "<p>Layer weights: {} bytes in f32, {} bytes now.</p>",
        q["layer_weight_bytes_f32"], q["layer_weight_bytes"]
    );
    let layers = q["layers"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let bars: Vec<(String, f64, bool)> = layers
        .iter()
        .map(|l| {
            let v = l["sqnr_db"].as_f64().unwrap_or(f64::NAN);
            let v = if v >= 999.0 { f64::INFINITY } else { v };
            (
                format!("{} {}", l["op"].as_str().unwrap_or("?"), l["name"].as_str().unwrap_or("?")),
                v,
                l["precision"] != "int8",
            )
        })
        .collect();
    body.push_str(&bar_chart("Output SQNR per layer (dB, int8 against f32; red: kept in float)", "dB", &bars));
    body.push_str("<table>\n<tr><th class=\"l\">layer</th><th class=\"l\">op</th><th class=\"l\">precision</th><th>SQNR dB</th><th>bytes f32</th><th>bytes</th><th class=\"l\">note</th></tr>\n");
    for l in layers {
        let _ = writeln!(
            body,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(l["name"].as_str().unwrap_or("?")),
            esc(l["op"].as_str().unwrap_or("?")),
            esc(l["precision"].as_str().unwrap_or("?")),
            db(&l["sqnr_db"]),
            l["bytes_f32"],
            l["bytes"],
            esc(l["reason"].as_str().unwrap_or(""))
        );
    }
    body.push_str("</table>\n");
    page(&format!("{name}: int8 quantization report"), &body)
}
