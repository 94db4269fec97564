//! Sets `ferrite_dsp` where the Cortex-M DSP extension is there to use (the `dsp` kernel tier):
//! always on ARMv7E-M (thumbv7em: Cortex-M4/M7), and on ARMv8-M Mainline (thumbv8m.main:
//! Cortex-M33/M55, where the extension is optional) when the `dsp` feature says the part has it.
//! Cortex-M has no register to ask at run time, so this is a build-time fact.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ferrite_dsp)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let dsp_feature = std::env::var_os("CARGO_FEATURE_DSP").is_some();
    if target.starts_with("thumbv7em") || (target.starts_with("thumbv8m.main") && dsp_feature) {
        println!("cargo:rustc-cfg=ferrite_dsp");
    }
}
