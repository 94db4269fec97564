//! What the firmware reports, over semihosting: as text, or (feature `defmt`) as defmt frames,
//! which `defmt-print -e ELF` decodes on the host — the format strings and the float formatting
//! then stay on the host instead of in flash.

#[cfg(not(feature = "defmt"))]
mod text {
    //! Lines built by hand into a small buffer, then written out: no `core::fmt` (its machinery
    //! and integer formatting are about 2 kB of flash a firmware need not carry to print).

    /// One output line.
    struct Line {
        buf: [u8; 160],
        len: usize,
    }

    impl Line {
        fn new() -> Self {
            Line { buf: [0; 160], len: 0 }
        }
        /// Appends `s` (cut at the buffer's end: a report line is never that long).
        fn s(mut self, s: &str) -> Self {
            for &b in s.as_bytes() {
                if let Some(d) = self.buf.get_mut(self.len) {
                    *d = b;
                    self.len += 1;
                }
            }
            self
        }
        /// Appends `v` in decimal.
        fn n(self, v: u32) -> Self {
            let mut digits = [0u8; 10];
            let mut i = digits.len();
            let mut v = v;
            while let Some(d) = i.checked_sub(1).and_then(|j| digits.get_mut(j)) {
                *d = b'0' + (v % 10) as u8;
                i -= 1;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            self.s(core::str::from_utf8(digits.get(i..).unwrap_or(&[])).unwrap_or("?"))
        }
        /// Appends a score with three decimals, through integers.
        fn milli(self, x: f32) -> Self {
            let m = (x * 1000.0) as i32; // saturates; a logit far beyond ±2e6 prints clamped
            let line = if m < 0 { self.s("-") } else { self };
            let frac = m.unsigned_abs() % 1000;
            let line = line.n(m.unsigned_abs() / 1000).s(".");
            let line = if frac < 100 { line.s("0") } else { line };
            let line = if frac < 10 { line.s("0") } else { line };
            line.n(frac)
        }
        fn out(self) {
            let line = self.s("\n");
            if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
                let _ = out.write_all(line.buf.get(..line.len).unwrap_or(&[]));
            }
        }
    }

    pub fn model(what: &str, bytes: usize, arena: usize, ops: usize, regions: usize) {
        let line = Line::new().s(what).s(": ").n(bytes as u32).s(" bytes in flash, arena ").n(arena as u32);
        line.s(" bytes, ").n(ops as u32).s(" ops, ").n(regions as u32).s(" regions").out();
    }
    pub fn result(item: &str, label: &str, score: f32, ok: bool) {
        let line = Line::new().s("\"").s(item).s("\": ").s(label).s(" (").milli(score).s(") ");
        line.s(if ok { "ok" } else { "WRONG" }).out();
    }
    pub fn stack(what: &str, bytes: usize) {
        Line::new().s("stack high-water mark, ").s(what).s(": ").n(bytes as u32).s(" bytes").out();
    }
    pub fn done(wrong: usize) {
        if wrong == 0 {
            Line::new().s("all labels right").out();
        } else {
            Line::new().n(wrong as u32).s(" wrong labels").out();
        }
    }
    pub fn error(what: &str) {
        Line::new().s("error: ").s(what).out();
    }
    pub fn panic(message: &str, file: &str, line: u32) {
        Line::new().s("panicked at ").s(file).s(":").n(line).s(": ").s(message).out();
    }
    #[cfg(feature = "intent")]
    pub fn why(label: &str, score: f32) {
        Line::new()
            .s("explain: why ")
            .s(label)
            .s(" (probability ")
            .milli(score)
            .s("), importance in millionths:")
            .out();
    }
    #[cfg(feature = "intent")]
    pub fn importance(word: &str, micro: i32) {
        let line = Line::new().s("explain: ").s(word).s(" ");
        let line = if micro < 0 { line.s("-") } else { line.s("+") };
        line.n(micro.unsigned_abs()).out();
    }
    #[cfg(feature = "stream")]
    pub fn detection(label: &str, score: f32, start: u64, end: u64) {
        let line = Line::new().s("stream: ").s(label).s(" (").milli(score).s(") in samples ").n(start as u32);
        line.s("..").n(end as u32).out();
    }
    #[cfg(feature = "stream")]
    pub fn stream(detections: usize, right: usize, clips: usize) {
        let line = Line::new().s("stream: ").n(detections as u32).s(" detections, ").n(right as u32);
        line.s(" of ").n(clips as u32).s(" clips heard as their digit, in order").out();
    }
    #[cfg(feature = "count")]
    pub fn instructions(tier: &str, features: u32, inference: u32) {
        let line = Line::new().s("instructions, tier ").s(tier).s(": features ").n(features);
        line.s(", inference ").n(inference).out();
    }
    #[cfg(all(feature = "count", feature = "signed"))]
    pub fn signature(bytes: usize, keyed: u32, plain: u32) {
        let line = Line::new().s("instructions, loading the keyword model (").n(bytes as u32).s(" bytes): ");
        let line = line.n(keyed).s(" with its signature checked, ").n(plain).s(" without");
        line.out();
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
    pub fn panic(message: &str, file: &str, line: u32) {
        defmt::println!("panicked at {=str}:{=u32}: {=str}", file, line, message);
    }
    #[cfg(feature = "intent")]
    pub fn why(label: &str, score: f32) {
        defmt::println!("explain: why {=str} (probability {=f32}), importance in millionths:", label, score);
    }
    #[cfg(feature = "intent")]
    pub fn importance(word: &str, micro: i32) {
        defmt::println!("explain: {=str} {=i32}", word, micro);
    }
    #[cfg(feature = "stream")]
    pub fn detection(label: &str, score: f32, start: u64, end: u64) {
        defmt::println!("stream: {=str} ({=f32}) in samples {=u64}..{=u64}", label, score, start, end);
    }
    #[cfg(feature = "stream")]
    pub fn stream(detections: usize, right: usize, clips: usize) {
        defmt::println!(
            "stream: {=usize} detections, {=usize} of {=usize} clips heard as their digit, in order",
            detections,
            right,
            clips
        );
    }
    #[cfg(feature = "count")]
    pub fn instructions(tier: &str, features: u32, inference: u32) {
        defmt::println!("instructions, tier {=str}: features {=u32}, inference {=u32}", tier, features, inference);
    }
    #[cfg(all(feature = "count", feature = "signed"))]
    pub fn signature(bytes: usize, keyed: u32, plain: u32) {
        defmt::println!(
            "instructions, loading the keyword model ({=usize} bytes): {=u32} with its signature checked, {=u32} without",
            bytes,
            keyed,
            plain
        );
    }
}

#[cfg(feature = "defmt")]
pub use frames::*;
#[cfg(not(feature = "defmt"))]
pub use text::*;
