//! Fuzz the ONNX importer: arbitrary bytes through `import_bytes` must give `Ok` or a typed `Err`,
//! never a crash. Panics inside tract are contained by the importer (they become
//! `Error::Contained`, as `ferrite quantize` reports them); any other panic aborts and is a finding.
//! Whatever imports is also written as an artifact and loaded back. Half the inputs import as
//! int8 conversion reads a model (`dynamic_as_weights`).

#![no_main]

use ferrite_quantizer::import::{import_bytes, quiet_contained_panics, ImportOptions};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(
    init: {
        // After libFuzzer's abort-on-panic hook: contained panics stay quiet, others still abort.
        quiet_contained_panics();
    },
    |data: &[u8]| {
        // A path that holds no external data: a file naming some reads nothing.
        let path = Path::new("/nonexistent/fuzz/model.onnx");
        // Odd lengths import as int8 conversion reads them (ONNX Runtime's dynamic quantization
        // as its weights' QDQ form: import/dynamic.rs), even ones as f32 does.
        let opts = ImportOptions { dynamic_as_weights: data.len() % 2 == 1, ..Default::default() };
        if let Ok(imported) = import_bytes(path, data, &opts) {
            let mut g = imported.graph;
            ferrite_quantizer::passes::optimize(&mut g);
            let _ = ferrite_quantizer::writer::write(&g, "{}", Default::default());
        }
    }
);
