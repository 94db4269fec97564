//! Lays out the board's memory (memory.x), copies the two int8 artifacts the firmware embeds into
//! OUT_DIR, and turns five FSDD recordings (one digit per speaker) into 16-bit PCM arrays the
//! firmware bakes in, with the digit each one says. The artifacts come from `FERRITE_FW_MODELS` (a folder
//! with kws.fer and intent.fer: `bash targets/cortex-m/make-models.sh` makes it); the recordings
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
    println!("cargo:rerun-if-changed=build.rs");

    println!("cargo:rerun-if-env-changed=FERRITE_FW_MODELS");
    let models = env::var_os("FERRITE_FW_MODELS").map(PathBuf::from).unwrap_or_else(|| {
        panic!("FERRITE_FW_MODELS must name a folder holding kws.fer and intent.fer (int8): run `bash targets/cortex-m/make-models.sh DIR` from the repository root")
    });
    for name in ["kws.fer", "intent.fer"] {
        let src = models.join(name);
        println!("cargo:rerun-if-changed={}", src.display());
        fs::copy(&src, out.join(name)).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    }

    println!("cargo:rerun-if-env-changed=FERRITE_FSDD");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let fsdd = env::var_os("FERRITE_FSDD")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/data/fsdd/recordings"));
    let mut table = String::from("/// The baked-in clips: name, the digit said, 16-bit PCM at 8 kHz.\n");
    table.push_str("pub static CLIPS: [(&str, &str, &[i16]); 5] = [\n");
    for clip in CLIPS {
        let pcm = pcm_of(&fsdd.join(format!("{clip}.wav")));
        let digit = &clip[..1];
        table.push_str(&format!("    ({clip:?}, {digit:?}, &{pcm:?}),\n"));
    }
    table.push_str("];\n");
    fs::write(out.join("clips.rs"), table).expect("clips.rs");
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
