//! `ferrite embed`: sentence embeddings of texts, one line (or JSON object) per text, for semantic
//! search on a device; with several texts, their cosine similarities to the first.

use ferrite_quantizer::embed::{cosine, Embedder};
use std::path::Path;
use std::time::Instant;

/// Embeds each text and prints the values (space-separated, shortest round-trip decimals) or,
/// with `json`, one object per text.
pub fn run(artifact: &Path, texts: &[String], json: bool) -> anyhow::Result<()> {
    let model = crate::open(artifact)?;
    let mut e = Embedder::new(&model, artifact)?;
    let mut first: Option<Vec<f32>> = None;
    for text in texts {
        let t0 = Instant::now();
        let emb = e.embed(text)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let sim = first.as_deref().map(|f| cosine(f, &emb.values));
        if json {
            // Each value as its shortest f32 decimal (serde_json would print the f64 widening).
            let values: Vec<f64> = emb.values.iter().map(|v| v.to_string().parse().unwrap_or(f64::NAN)).collect();
            let mut o = serde_json::json!({"text": text, "dim": values.len(), "embedding": values,
                                           "tokens": emb.tokens, "notes": emb.notes, "ms": ms});
            if let Some(s) = sim {
                o["cosine_to_first"] = serde_json::json!(s);
            }
            out!("{o}");
        } else {
            for n in &emb.notes {
                eprintln!("ferrite: note: {text:?}: {n}");
            }
            let line: Vec<String> = emb.values.iter().map(|v| v.to_string()).collect();
            out!("{}", line.join(" "));
            match sim {
                Some(s) => {
                    eprintln!("ferrite: {} values in {ms:.2} ms; cosine to the first text {s:.4}", emb.values.len())
                }
                None => eprintln!("ferrite: {} values in {ms:.2} ms", emb.values.len()),
            }
        }
        first.get_or_insert(emb.values);
    }
    Ok(())
}
