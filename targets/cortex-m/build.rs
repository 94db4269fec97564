//! Lays out the board's memory (memory.x), copies the int8 artifacts the firmware embeds into
//! OUT_DIR and sizes its static buffers from them (sizes.rs), and turns five FSDD recordings (one digit per speaker) into 16-bit PCM arrays the
//! firmware bakes in, with the digit each one says. The artifacts come from `FERRITE_FW_MODELS` (a folder
//! with kws.fer and intent.fer; default ../../target/fw-models, which
//! `bash targets/cortex-m/make-models.sh` makes); the recordings
//! from `FERRITE_FSDD` (default: ../shared/data/fsdd/recordings beside the repository).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// One clip per FSDD speaker (the test split: recordings 0–4), each a different digit.
const CLIPS: [&str; 5] = ["2_george_3", "4_jackson_1", "6_lucas_2", "7_theo_3", "9_yweweler_4"];

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").unwrap_or_default();
    // mps2-an505 (Cortex-M33) boots from the secure aliases; mps2-an386 (Cortex-M4F) from 0.
    let mem = if target.starts_with("thumbv8m") {
        "MEMORY { FLASH : ORIGIN = 0x10000000, LENGTH = 4M\n RAM : ORIGIN = 0x38000000, LENGTH = 2M }\n"
    } else {
        "MEMORY { FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n RAM : ORIGIN = 0x20000000, LENGTH = 4M }\n"
    };
    fs::write(out.join("memory.x"), mem).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }
    println!("cargo:rerun-if-changed=build.rs");

    println!("cargo:rerun-if-env-changed=FERRITE_FW_MODELS");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    // Default: where `bash targets/cortex-m/make-models.sh` puts them.
    let models =
        env::var_os("FERRITE_FW_MODELS").map(PathBuf::from).unwrap_or_else(|| manifest.join("../../target/fw-models"));
    if !models.join("kws.fer").is_file() {
        panic!(
            "{}: no kws.fer. FERRITE_FW_MODELS names the folder holding kws.fer and intent.fer (int8); \
             `bash targets/cortex-m/make-models.sh` (from the repository root) makes target/fw-models",
            models.display()
        );
    }
    // The keyword-only build (no `intent` feature) embeds, and sizes its buffers for, kws.fer only.
    let intent = env::var_os("CARGO_FEATURE_INTENT").is_some();
    let names: &[&str] = if intent { &["kws.fer", "intent.fer"] } else { &["kws.fer"] };
    let mut sizes = Sizes::default();
    // FERRITE_FW_TAMPER=1: one byte of the keyword model's weights changed and its checksum made
    // right again, as a forger would: only the signature check at boot can catch it (CI runs it).
    println!("cargo:rerun-if-env-changed=FERRITE_FW_TAMPER");
    let tamper = env::var_os("FERRITE_FW_TAMPER").is_some_and(|v| v == "1");
    for name in names {
        let src = models.join(name);
        println!("cargo:rerun-if-changed={}", src.display());
        let mut bytes = fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        sizes.add(&bytes, &src);
        if tamper && *name == "kws.fer" {
            let at = bytes.len() / 2;
            bytes[at] ^= 0x01;
            let crc = ferrite_runtime::format::checksum(&bytes);
            bytes[48..52].copy_from_slice(&crc.to_le_bytes());
        }
        fs::write(out.join(name), &bytes).expect("artifact copy");
    }
    // The public key the signed firmware trusts (32 bytes), made by make-models.sh.
    if env::var_os("CARGO_FEATURE_SIGNED").is_some() {
        let key = models.join("trusted.raw");
        println!("cargo:rerun-if-changed={}", key.display());
        let raw = fs::read(&key).unwrap_or_else(|e| {
            panic!("{}: {e} (the `signed` firmware trusts the key make-models.sh signs with)", key.display())
        });
        assert_eq!(raw.len(), 32, "{}: an Ed25519 public key is 32 bytes", key.display());
        fs::write(out.join("trusted.raw"), raw).expect("key copy");
    }
    fs::write(out.join("sizes.rs"), sizes.rust()).expect("sizes.rs");

    println!("cargo:rerun-if-env-changed=FERRITE_FSDD");
    let fsdd = env::var_os("FERRITE_FSDD")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/data/fsdd/recordings"));
    // Each clip a named static (CLIP_k), so that the footprint report can tell test data from the
    // runtime in the ELF.
    let mut table = String::from("/// The baked-in clips: name, the digit said, 16-bit PCM at 8 kHz.\n");
    let mut list = String::from("pub static CLIPS: [(&str, &str, &[i16]); 5] = [\n");
    for (k, clip) in CLIPS.iter().enumerate() {
        let pcm = pcm_of(&fsdd.join(format!("{clip}.wav")));
        let digit = &clip[..1];
        table.push_str(&format!("static CLIP_{k}: [i16; {}] = {pcm:?};\n", pcm.len()));
        list.push_str(&format!("    ({clip:?}, {digit:?}, &CLIP_{k}),\n"));
    }
    table.push_str(&list);
    table.push_str("];\n");
    fs::write(out.join("clips.rs"), table).expect("clips.rs");
}

/// The static buffers the firmware needs, planned here from its artifacts (as the quantizer
/// planned each arena): the largest arena, op and region tables, and frontend buffers.
#[derive(Default)]
struct Sizes {
    arena: usize,
    ops: usize,
    regions: usize,
    scratch: usize,
    /// The keyword spotter's frontend tables (window, mel edges, DCT), as f32 bits.
    tables: Vec<u32>,
    /// The keyword stream's buffers (`StreamLens` for the artifact's stream defaults): one frame of
    /// samples, one window of rows, the posterior history, the classes.
    stream: [usize; 4],
}

impl Sizes {
    fn add(&mut self, bytes: &[u8], path: &Path) {
        let aligned = ferrite_runtime::AlignedBytes::copy_from(bytes);
        let m = ferrite_runtime::Model::from_bytes(&aligned).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.arena = self.arena.max(m.arena_len());
        self.ops = self.ops.max(m.op_count());
        self.regions = self.regions.max(m.region_count());
        if let ferrite_runtime::Preprocessing::Audio(fe) = m.preprocessing() {
            // The tables are computed here, on the host, by the runtime's own code: the device
            // keeps them in flash and runs no trigonometry (the same bits, so the same features).
            let mut tables = vec![0f32; fe.tables_len()];
            fe.tables(&mut tables).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            self.tables = tables.iter().map(|v| v.to_bits()).collect();
            self.scratch = self.scratch.max(fe.frame_scratch_len());
            let params = m.stream_params().unwrap_or_else(|| ferrite_runtime::stream::StreamParams::defaults_for(&fe));
            let classes = m.outputs().next().map_or(0, |o| o.info.len());
            let l = ferrite_runtime::stream::StreamLens::of(&fe, classes, &params);
            self.stream = [l.frontend.samples, l.frontend.rows, l.history, l.posteriors];
        }
    }

    fn rust(&self) -> String {
        let tables: Vec<String> = self.tables.iter().map(|b| format!("f32::from_bits({b:#010x})")).collect();
        format!(
            "/// Planned at build time from the embedded artifacts (build.rs).\n\
             const ARENA_BYTES: usize = {};\nconst MAX_OPS: usize = {};\nconst MAX_REGIONS: usize = {};\n\
             const MAX_SCRATCH: usize = {};\n\
             #[allow(dead_code)] // the keyword stream's (feature `stream`)\n\
             const STREAM: [usize; 4] = {:?};\n\
             /// The keyword spotter's frontend tables (`AudioFrontend::tables`, computed at build time).\n\
             static FRONTEND_TABLES: [f32; {}] = [{}];\n",
            self.arena,
            self.ops,
            self.regions,
            self.scratch,
            self.stream,
            tables.len(),
            tables.join(", ")
        )
    }
}

/// The samples of a 16-bit mono WAV (the runtime's own parser, on the host).
fn pcm_of(path: &Path) -> Vec<i16> {
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes =
        fs::read(path).unwrap_or_else(|e| panic!("{}: {e} (FERRITE_FSDD names the recordings)", path.display()));
    let wav = ferrite_runtime::preprocess::wav::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(wav.sample_rate, 8000, "{}: FSDD clips are 8 kHz", path.display());
    wav.samples().map(|s| (s * 32768.0) as i16).collect()
}
