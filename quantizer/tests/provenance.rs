//! Provenance in the model card (issue 13): every trained model's int8 artifact, made as the README
//! makes them, shows its source file's SHA-256, the tool and its commit, the license and intended
//! use of its ferrite.toml, its calibration set's name and fingerprint, and the audit that
//! `eval --reference --record` stores; no absolute path of the building machine is in it; a
//! recorded artifact signs and verifies, and recording into a signed one is refused.

mod common;

use common::{ferrite, root, s};
use sha2::Digest;
use std::path::Path;
use std::process::Output;

fn ok(args: &[&str]) -> Output {
    let o = ferrite(args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn sha256_hex(path: &Path) -> String {
    sha2::Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

fn toml_model(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(root().join("models").join(name).join("ferrite.toml")).unwrap();
    text.parse::<toml::Table>().unwrap()["model"].as_table().unwrap().clone()
}

#[test]
fn every_trained_int8_artifact_shows_its_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("models/data-sample");
    for (name, calib) in [
        ("kws-dscnn", sample.join("fsdd")),
        ("kws-crnn", sample.join("fsdd")),
        ("intent-lstm", sample.join("snips-calib.jsonl")),
        ("intent-transformer", sample.join("snips-calib.jsonl")),
    ] {
        let onnx = root().join("models").join(name).join("model.onnx");
        let fer = dir.path().join(format!("{name}.fer"));
        ok(&["quantize", s(&onnx), "--precision", "int8", "--calib", s(&calib), "-o", s(&fer)]);
        ok(&["eval", s(&fer), "--reference", s(&onnx), "--data", s(&calib), "--record"]);
        let text = String::from_utf8(ok(&["inspect", s(&fer)]).stdout).unwrap();
        let m = toml_model(name);
        let line = |key: &str| text.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or("").to_string();
        assert!(line("source:").contains(&format!("model.onnx sha256:{}", sha256_hex(&onnx))), "{name}: {text}");
        assert!(line("tool:").contains("ferrite-quantizer") && !line("tool:").contains("not recorded"), "{text}");
        assert_eq!(line("license:").trim(), format!("license: {}", m["license"].as_str().unwrap()));
        assert_eq!(line("intended use:").trim(), format!("intended use: {}", m["intended_use"].as_str().unwrap()));
        let cal = line("calibration:");
        let set = calib.file_name().unwrap().to_str().unwrap();
        assert!(cal.starts_with(&format!("  calibration: {set}, ")) && cal.contains("minmax, sha256:"), "{cal}");
        let audit = line("audit:");
        assert!(
            audit.contains(&format!("audit: {set} "))
                && audit.contains("against model.onnx")
                && audit.contains("flagged"),
            "{audit}"
        );

        // The JSON model card: the same fields, and no path of this machine anywhere in the metadata.
        let j: serde_json::Value = serde_json::from_slice(&ok(&["inspect", s(&fer), "--json"]).stdout).unwrap();
        let card = &j["metadata"]["model_card"];
        assert_eq!(card["audit"]["reference"]["sha256"], sha256_hex(&onnx));
        assert!(card["audit"]["data"]["sha256"].as_str().unwrap().starts_with("sha256:"), "{card}");
        assert!(card["audit"]["worst_class"]["change_pts"].is_number(), "{card}");
        let meta = j["metadata"].to_string();
        for p in [root(), dir.path().to_path_buf()] {
            let p = p.canonicalize().unwrap();
            assert!(!meta.contains(s(&p)), "{name}: the metadata holds the path {}", p.display());
        }
        assert!(!meta.contains(s(&root())), "{name}");
    }
}

#[test]
fn record_then_sign_and_never_after() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = root().join("models/intent-lstm/model.onnx");
    let calib = root().join("models/data-sample/snips-calib.jsonl");
    let fer = dir.path().join("intent.fer");
    ok(&["quantize", s(&onnx), "--precision", "int8", "--calib", s(&calib), "-o", s(&fer)]);
    let before = std::fs::read(&fer).unwrap();
    let run_text =
        |f: &Path| String::from_utf8(ok(&["run", s(f), "--text", "play some jazz", "--json"]).stdout).unwrap();
    let answer = run_text(&fer);
    ok(&["eval", s(&fer), "--reference", s(&onnx), "--data", s(&calib), "--record"]);
    let after = std::fs::read(&fer).unwrap();
    assert_ne!(before, after, "the record changes the model card");
    // Recording twice replaces the audit; what runs does not change.
    ok(&["eval", s(&fer), "--reference", s(&onnx), "--data", s(&calib), "--record"]);
    let strip_ms = |t: &str| t.split("\"ms\"").next().unwrap().to_string();
    assert_eq!(strip_ms(&run_text(&fer)), strip_ms(&answer));

    let key = dir.path().join("k");
    ok(&["keygen", "-o", s(&key)]);
    ok(&["sign", s(&fer), "--key", s(&key)]);
    ok(&["verify", s(&fer), "--pubkey", &format!("{}.pub", s(&key))]);
    let o = ferrite(&["eval", s(&fer), "--reference", s(&onnx), "--data", s(&calib), "--record"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("record the audit before signing"));
    ok(&["verify", s(&fer), "--pubkey", &format!("{}.pub", s(&key))]);
    // --record needs --reference (a usage error).
    assert_eq!(ferrite(&["eval", s(&fer), "--data", s(&calib), "--record"]).status.code(), Some(2));
}
