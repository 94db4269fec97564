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

/// SQNR as text with `decimals` decimals (`999` in the JSON stands for an exact match): one in the
/// terminal table, the two the JSON stores in the HTML report.
fn db(v: &Value, decimals: usize) -> String {
    match v.as_f64() {
        Some(x) if x >= 999.0 => "exact".into(),
        Some(x) => format!("{x:.decimals$}"),
        None => "-".into(),
    }
}

/// The provenance a model card records, one line each: source file and its SHA-256, the tool and
/// its commit, license, intended use, calibration (data set name, method, fingerprint) and the
/// recorded audit. A field the card lacks is said to be missing, not left out.
pub fn provenance_text(card: &Value) -> String {
    let s = |v: &Value| v.as_str().map(String::from);
    let or_missing = |v: Option<String>| v.unwrap_or_else(|| "not recorded".into());
    let src = &card["source"];
    let mut o = String::from("provenance:\n");
    o += &format!(
        "  source: {} sha256:{} ({} bytes, {}, opset {})\n",
        or_missing(s(&src["file"])),
        or_missing(s(&src["sha256"])),
        src["bytes"],
        s(&src["producer"]).filter(|p| !p.is_empty()).unwrap_or_else(|| "producer unknown".into()),
        src["opset"]
    );
    o += &format!("  tool: {}, commit {}\n", or_missing(s(&card["tool"])), or_missing(s(&card["tool_commit"])));
    o += &format!("  license: {}\n", or_missing(s(&card["license"])));
    o += &format!("  intended use: {}\n", or_missing(s(&card["intended_use"])));
    let cal = &card["quantization"]["calibration"];
    if cal.is_object() {
        o += &format!(
            "  calibration: {}, {} samples, {}, {}\n",
            or_missing(s(&cal["data"])),
            cal["samples"],
            or_missing(s(&cal["method"])),
            s(&cal["fingerprint"]).unwrap_or_else(|| "no fingerprint".into())
        );
    }
    let a = &card["audit"];
    if a.is_object() {
        let worst = |w: &Value| match w.is_object() {
            true => {
                let (g, v) = (w["group"].as_str().unwrap_or("?"), w["value"].as_str().unwrap_or("?"));
                let what = if g == "class" { v.to_string() } else { format!("{g}={v}") };
                format!("{what} {:+.2} pts", w["change_pts"].as_f64().unwrap_or(0.0))
            }
            false => "none".into(),
        };
        o += &format!(
            "  audit: {} {} ({} examples, {}) against {} (sha256:{}): accuracy {}% -> {}% ({:+.2} pts), agreement {}%, worst class {}, worst slice {}, {} flagged\n",
            a["data"]["name"].as_str().unwrap_or("?"),
            a["data"]["split"].as_str().unwrap_or("?"),
            a["data"]["examples"],
            a["data"]["sha256"].as_str().unwrap_or("?"),
            a["reference"]["file"].as_str().unwrap_or("?"),
            a["reference"]["sha256"].as_str().map_or("?", |h| &h[..h.len().min(16)]),
            a["accuracy_pct"]["reference"],
            a["accuracy_pct"]["quantized"],
            a["accuracy_change_pts"].as_f64().unwrap_or(0.0),
            a["agreement_pct"],
            worst(&a["worst_class"]),
            worst(&a["worst_slice"]),
            a["flagged"]
        );
    } else {
        o += "  audit: not recorded (ferrite eval ... --reference ... --record)\n";
    }
    o
}

/// The per-layer table: op, kind, precision, SQNR, bytes before and after, and why a layer stayed
/// in float.
pub fn quant_text(q: &Value) -> String {
    let mut s = String::new();
    let cal = &q["calibration"];
    if cal["samples"] == 0 {
        let _ = writeln!(
            s,
            "quantization: int8 with the model's own scales ({} tensors; no calibration)",
            q["model_scales"]
        );
    } else {
        let _ = writeln!(
            s,
            "quantization: int8; calibration {} ({} samples, {}, {})",
            cal["data"].as_str().unwrap_or("?"),
            cal["samples"],
            cal["method"].as_str().unwrap_or("?"),
            cal["fingerprint"].as_str().unwrap_or("?")
        );
    }
    if let Some(b) = q["accuracy_budget_db"].as_f64() {
        let _ = writeln!(s, "accuracy budget: layers whose own SQNR is under {b} dB stay fp16");
    }
    let _ = writeln!(
        s,
        "layer weights: {} -> {} bytes ({:.1}%)",
        q["layer_weight_bytes_f32"],
        q["layer_weight_bytes"],
        100.0 * num(&q["layer_weight_bytes"]) / num(&q["layer_weight_bytes_f32"]).max(1.0)
    );
    let _ = writeln!(
        s,
        "  {:<8} {:<7} {:>9} {:>9} {:>10} {:>10}  layer",
        "op", "prec", "SQNR dB", "own dB", "f32 B", "now B"
    );
    for l in q["layers"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let _ = write!(
            s,
            "  {:<8} {:<7} {:>9} {:>9} {:>10} {:>10}  {}",
            l["op"].as_str().unwrap_or("?"),
            l["precision"].as_str().unwrap_or("?"),
            db(&l["sqnr_db"], 1),
            db(&l["sqnr_own_db"], 1),
            l["bytes_f32"].as_u64().unwrap_or(0),
            l["bytes"].as_u64().unwrap_or(0),
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
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>\n\
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
    body.push_str(&bar_chart(
        "Output SQNR per layer (dB, int8 model against f32, error accumulated up to the layer; red: kept in float)",
        "dB",
        &bars,
    ));
    body.push_str(
        "<p>\"own SQNR\": the layer alone in int8 (its input from the f32 model); --accuracy-budget compares it.</p>\n",
    );
    body.push_str("<table>\n<tr><th class=\"l\">layer</th><th class=\"l\">op</th><th class=\"l\">precision</th><th>SQNR dB</th><th>own SQNR dB</th><th>bytes f32</th><th>bytes</th><th class=\"l\">note</th></tr>\n");
    for l in layers {
        let _ = writeln!(
            body,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(l["name"].as_str().unwrap_or("?")),
            esc(l["op"].as_str().unwrap_or("?")),
            esc(l["precision"].as_str().unwrap_or("?")),
            db(&l["sqnr_db"], 2),
            db(&l["sqnr_own_db"], 2),
            l["bytes_f32"],
            l["bytes"],
            esc(l["reason"].as_str().unwrap_or(""))
        );
    }
    body.push_str("</table>\n");
    page(&format!("{name}: int8 quantization report"), &body)
}

/// A confusion matrix as an inline SVG heat map with the count in every cell.
pub fn confusion_svg(title: &str, labels: &[String], m: &[Vec<usize>]) -> String {
    let cell = 26.0;
    let pad = 90.0;
    let k = labels.len() as f64;
    let max = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut s = format!(
        "<figure>\n<figcaption>{}</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\">\n",
        esc(title),
        pad + cell * k + 10.0,
        pad + cell * k + 10.0
    );
    for (i, l) in labels.iter().enumerate() {
        let short: String = l.chars().take(12).collect();
        let c = pad + cell * i as f64 + cell / 2.0;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>\
<text x=\"{c}\" y=\"{}\" font-size=\"10\" text-anchor=\"start\" transform=\"rotate(-60 {c} {})\">{}</text>",
            pad - 4.0,
            c + 3.0,
            esc(&short),
            pad - 4.0,
            pad - 4.0,
            esc(&short)
        );
    }
    for (i, row) in m.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (x, y) = (pad + cell * j as f64, pad + cell * i as f64);
            let t = v as f64 / max;
            let fill = if i == j {
                format!("rgb({},{},{})", (255.0 - 180.0 * t) as u8, (255.0 - 90.0 * t) as u8, (255.0 - 180.0 * t) as u8)
            } else if v > 0 {
                format!("rgb(255,{},{})", (200.0 - 150.0 * t) as u8, (200.0 - 150.0 * t) as u8)
            } else {
                "#fff".into()
            };
            let _ = writeln!(
                s,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#ccc\"/>\
<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{v}</text>",
                x + cell / 2.0,
                y + cell / 2.0 + 3.0
            );
        }
    }
    s.push_str("</svg>\n</figure>\n");
    s
}

/// The eval report of `ferrite eval --reference --report`: headline figures, the per-layer SQNR
/// chart (int8 artifacts), both confusion matrices, and every class and slice with its change,
/// flags highlighted. Every figure of the `--json` audit is on the page.
pub fn eval_html(a: &crate::eval::audit::Audit, quant_meta: &Value) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>Data: {} (split {}), {} examples.<br/>Reference: {}<br/>Quantized: {}</p>",
        esc(&a.data),
        esc(&a.split),
        a.n,
        esc(&a.reference.model),
        esc(&a.quantized.model)
    );
    body.push_str(
        "<table>\n<tr><th class=\"l\"></th><th>reference</th><th>quantized</th><th>change (points)</th></tr>\n",
    );
    let _ = writeln!(
        body,
        "<tr><td class=\"l\">accuracy %</td><td>{:.2}</td><td>{:.2}</td><td>{:+.2}</td></tr>",
        a.reference.accuracy_pct, a.quantized.accuracy_pct, a.accuracy_change_pts
    );
    let _ = writeln!(
        body,
        "<tr><td class=\"l\">macro F1 %</td><td>{:.2}</td><td>{:.2}</td><td>{:+.2}</td></tr>",
        a.reference.macro_f1_pct, a.quantized.macro_f1_pct, a.macro_f1_change_pts
    );
    let _ = writeln!(
        body,
        "<tr><td class=\"l\">correct</td><td>{}</td><td>{}</td><td></td></tr>",
        a.reference.correct, a.quantized.correct
    );
    let _ = writeln!(
        body,
        "<tr><td class=\"l\">ms per example</td><td>{:.2}</td><td>{:.2}</td><td></td></tr>",
        a.reference.ms_per_example, a.quantized.ms_per_example
    );
    let _ = writeln!(
        body,
        "<tr><td class=\"l\">top-1 agreement %</td><td colspan=\"3\">{:.2}</td></tr>\n</table>",
        a.agreement_pct
    );
    let _ = writeln!(
        body,
        "<p>Flag rule: a class or slice whose accuracy drops by more than max(1, 2 &#215; overall drop) = {:.2} points. \
<strong class=\"f\">{} flagged.</strong></p>",
        a.flag_threshold_pts, a.flagged
    );
    if let Some(q) = quantization(quant_meta) {
        let bars: Vec<(String, f64, bool)> = q["layers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|l| {
                let v = l["sqnr_db"].as_f64().unwrap_or(f64::NAN);
                (
                    format!("{} {}", l["op"].as_str().unwrap_or("?"), l["name"].as_str().unwrap_or("?")),
                    if v >= 999.0 { f64::INFINITY } else { v },
                    l["precision"] != "int8",
                )
            })
            .collect();
        body.push_str(&bar_chart("Output SQNR per layer of the quantized model (dB; red: kept in float)", "dB", &bars));
    }
    body.push_str("<div style=\"display:flex;flex-wrap:wrap;gap:2em\">\n");
    body.push_str(&confusion_svg(
        "Confusion, reference (rows: true, columns: predicted)",
        &a.labels,
        &a.confusion_reference,
    ));
    body.push_str(&confusion_svg("Confusion, quantized", &a.labels, &a.confusion_quantized));
    body.push_str("</div>\n");
    let mut group = "";
    for d in a.classes.iter().chain(&a.slices) {
        if d.group != group {
            if !group.is_empty() {
                body.push_str("</table>\n");
            }
            group = &d.group;
            let _ = writeln!(
                body,
                "<h2>By {}</h2>\n<table>\n<tr><th class=\"l\">{}</th><th>n</th><th>reference %</th><th>quantized %</th><th>change (points)</th><th class=\"l\">flag</th></tr>",
                esc(group),
                esc(group)
            );
        }
        let _ = writeln!(
            body,
            "<tr{}><td class=\"l\">{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:+.2}</td><td class=\"l\">{}</td></tr>",
            if d.flagged { " class=\"flag\"" } else { "" },
            esc(&d.value),
            d.n,
            d.reference_pct,
            d.quantized_pct,
            d.change_pts,
            if d.flagged { "flagged" } else { "" }
        );
    }
    if !group.is_empty() {
        body.push_str("</table>\n");
    }
    let name = quant_meta["name"].as_str().unwrap_or("model");
    page(&format!("{name}: quantization audit"), &body)
}
