//! What the firmware reports, over semihosting: as text, or (feature `defmt`) as defmt frames,
//! which `defmt-print -e ELF` decodes on the host — the format strings and the float formatting
//! then stay on the host instead of in flash.

#[cfg(not(feature = "defmt"))]
mod text {
    use cortex_m_semihosting::hprintln;

    /// A score with three decimals through integer formatting: core's float formatting would add
    /// about 8 KB of flash.
    struct Milli(f32);

    impl core::fmt::Display for Milli {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let m = (self.0 * 1000.0) as i32; // saturates; a logit far beyond ±2e6 prints clamped
            let sign = if m < 0 { "-" } else { "" };
            write!(f, "{}{}.{:03}", sign, m.unsigned_abs() / 1000, m.unsigned_abs() % 1000)
        }
    }

    pub fn model(what: &str, bytes: usize, arena: usize, ops: usize, regions: usize) {
        hprintln!("{}: {} bytes in flash, arena {} bytes, {} ops, {} regions", what, bytes, arena, ops, regions);
    }
    pub fn result(item: &str, label: &str, score: f32, ok: bool) {
        hprintln!("\"{}\": {} ({}) {}", item, label, Milli(score), if ok { "ok" } else { "WRONG" });
    }
    pub fn stack(what: &str, bytes: usize) {
        hprintln!("stack high-water mark, {}: {} bytes", what, bytes);
    }
    pub fn done(wrong: usize) {
        if wrong == 0 {
            hprintln!("all labels right");
        } else {
            hprintln!("{} wrong labels", wrong);
        }
    }
    pub fn error(what: &str) {
        hprintln!("error: {}", what);
    }
    #[cfg(feature = "count")]
    pub fn instructions(tier: &str, features: u32, inference: u32) {
        hprintln!("instructions, tier {}: features {}, inference {}", tier, features, inference);
    }
}

#[cfg(feature = "defmt")]
mod frames {
    pub fn model(what: &str, bytes: usize, arena: usize, ops: usize, regions: usize) {
        defmt::println!(
            "{=str}: {=usize} bytes in flash, arena {=usize} bytes, {=usize} ops, {=usize} regions",
            what,
            bytes,
            arena,
            ops,
            regions
        );
    }
    pub fn result(item: &str, label: &str, score: f32, ok: bool) {
        defmt::println!("\"{=str}\": {=str} ({=f32}) {=str}", item, label, score, if ok { "ok" } else { "WRONG" });
    }
    pub fn stack(what: &str, bytes: usize) {
        defmt::println!("stack high-water mark, {=str}: {=usize} bytes", what, bytes);
    }
    pub fn done(wrong: usize) {
        if wrong == 0 {
            defmt::println!("all labels right");
        } else {
            defmt::println!("{=usize} wrong labels", wrong);
        }
    }
    pub fn error(what: &str) {
        defmt::println!("error: {=str}", what);
    }
    #[cfg(feature = "count")]
    pub fn instructions(tier: &str, features: u32, inference: u32) {
        defmt::println!("instructions, tier {=str}: features {=u32}, inference {=u32}", tier, features, inference);
    }
}

#[cfg(feature = "defmt")]
pub use frames::*;
#[cfg(not(feature = "defmt"))]
pub use text::*;
