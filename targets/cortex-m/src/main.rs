//! Ferrite on a Cortex-M, under QEMU: the int8 keyword spotter hears five baked-in digits through
//! the runtime's own audio frontend, and the int8 intent classifier reads three sentences through
//! its tokenizer. Artifacts live in flash (`include_bytes!`, 64-byte aligned) and are validated
//! in place; sessions run in static buffers (no heap: the runtime is built without `alloc`).
//! Labels, scores and the stack's high-water mark go out over semihosting; the exit status is
//! QEMU's, and any wrong label fails it.

#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use ferrite_runtime::{Input, Model, PreparedOp, Preprocessing, Region, Session, SessionOptions};
use panic_semihosting as _;

mod stack;

/// Bytes 64-byte aligned (what `Model::from_bytes` asks of an artifact, and of an arena).
#[repr(C, align(64))]
struct Align64<B: ?Sized>(B);

static KWS: &Align64<[u8]> = &Align64(*include_bytes!(concat!(env!("OUT_DIR"), "/kws.fer")));
#[cfg(feature = "intent")]
static INTENT: &Align64<[u8]> = &Align64(*include_bytes!(concat!(env!("OUT_DIR"), "/intent.fer")));

include!(concat!(env!("OUT_DIR"), "/clips.rs"));

/// Sentences and the intent each one asks for.
#[cfg(feature = "intent")]
const SENTENCES: [(&str, &str); 3] = [
    ("will it rain in paris tomorrow", "GetWeather"),
    ("play some jazz music by miles davis", "PlayMusic"),
    ("book a table for two at an italian restaurant", "BookRestaurant"),
];

/// The arena: the largest either model asks for (intent-lstm int8: 97,984 bytes; kws-dscnn int8:
/// 16,000), and the op and region tables a session prepares into.
#[cfg(feature = "intent")]
const ARENA_BYTES: usize = 128 * 1024;
#[cfg(not(feature = "intent"))]
const ARENA_BYTES: usize = 16_000;
const MAX_OPS: usize = if cfg!(feature = "intent") { 32 } else { 16 };
const MAX_REGIONS: usize = if cfg!(feature = "intent") { 256 } else { 128 };
/// Feature and scratch buffers of the audio frontend (kws-dscnn: 490 and 1,107 floats).
const MAX_FEATURES: usize = 490;
const MAX_SCRATCH: usize = 1107;

/// Caller memory for one session at a time: the arena and the prepared-op tables.
struct Tables {
    arena: &'static mut Align64<[u8; ARENA_BYTES]>,
    ops: &'static mut [PreparedOp; MAX_OPS],
    regions: &'static mut [Region; MAX_REGIONS],
}

/// Caller memory for the preprocessing (the clips are read from flash as they are).
struct Raw {
    features: [f32; MAX_FEATURES],
    scratch: [f32; MAX_SCRATCH],
    #[cfg(feature = "intent")]
    ids: [i32; 64],
}

// All in .bss (zeroed at boot, nothing in flash); the tables are filled with empty entries in
// `main` (their empty value is not all zero bits, and a const initialiser would put 10 KB into
// .data, which has an image in flash).
static mut ARENA: Align64<[u8; ARENA_BYTES]> = Align64([0; ARENA_BYTES]);
static mut OPS: MaybeUninit<[PreparedOp; MAX_OPS]> = MaybeUninit::uninit();
static mut REGIONS: MaybeUninit<[Region; MAX_REGIONS]> = MaybeUninit::uninit();
static mut RAW: Raw = Raw {
    features: [0.0; MAX_FEATURES],
    scratch: [0.0; MAX_SCRATCH],
    #[cfg(feature = "intent")]
    ids: [0; 64],
};

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: `main` runs once, on one core, with no interrupt handler touching these statics:
    // these are their only references.
    let (mut tables, raw) = unsafe {
        let tables = Tables {
            arena: &mut *core::ptr::addr_of_mut!(ARENA),
            ops: (*core::ptr::addr_of_mut!(OPS)).write([PreparedOp::EMPTY; MAX_OPS]),
            regions: (*core::ptr::addr_of_mut!(REGIONS)).write([Region::EMPTY; MAX_REGIONS]),
        };
        (tables, &mut *core::ptr::addr_of_mut!(RAW))
    };
    let wrong = keywords(&mut tables, raw);
    let kws_stack = stack::high_water();
    hprintln!("stack high-water mark, keyword spotter: {} bytes", kws_stack);
    #[cfg(feature = "intent")]
    let wrong = {
        stack::paint();
        let wrong = wrong + intents(&mut tables, raw);
        hprintln!("stack high-water mark, intent classifier: {} bytes", stack::high_water());
        wrong
    };
    if wrong == 0 {
        hprintln!("all labels right");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("{} wrong labels", wrong);
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints `what` and exits with a failure.
fn fail(what: &str) -> ! {
    hprintln!("error: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Validates the artifact `bytes` in place and prints what it holds. Never inlined, nor are the
/// steps below: each frame is then live only during its step, so the stack peak is the deepest
/// step's, not their sum.
#[inline(never)]
fn open<'a>(what: &str, bytes: &'a [u8]) -> Model<'a> {
    let model = Model::from_bytes(bytes).unwrap_or_else(|_| fail(what));
    hprintln!(
        "{}: {} bytes in flash, arena {} bytes, {} ops, {} regions",
        what,
        bytes.len(),
        model.arena_len(),
        model.op_count(),
        model.region_count()
    );
    model
}

/// Prints one result: 1 if its label is not the one wanted, else 0.
fn report(item: &str, (label, score): (&str, f32), want: &str) -> usize {
    let ok = label == want;
    hprintln!("\"{}\": {} ({}) {}", item, label, Milli(score), if ok { "ok" } else { "WRONG" });
    usize::from(!ok)
}

/// A score printed with three decimals through integer formatting: core's float formatting
/// would add about 8 KB of flash.
struct Milli(f32);

impl core::fmt::Display for Milli {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = (self.0 * 1000.0) as i32; // saturates; a logit far beyond ±2e6 prints clamped
        let sign = if m < 0 { "-" } else { "" };
        write!(f, "{}{}.{:03}", sign, m.unsigned_abs() / 1000, m.unsigned_abs() % 1000)
    }
}

/// The five clips through the keyword spotter: how many got a wrong label.
fn keywords(t: &mut Tables, b: &mut Raw) -> usize {
    let model = open("keyword spotter", &KWS.0);
    let Preprocessing::Audio(fe) = model.preprocessing() else { fail("the keyword model has no audio frontend") };
    let (flen, slen) = (fe.feature_len(), fe.scratch_len());
    if flen > MAX_FEATURES || slen > MAX_SCRATCH {
        fail("feature buffers too small");
    }
    let mut wrong = 0;
    for (name, want, pcm) in CLIPS.iter() {
        fe.features_i16(pcm, &mut b.features[..flen], &mut b.scratch[..slen]).unwrap_or_else(|_| fail("features"));
        wrong += report(name, classify(&model, t, Input::F32(&b.features[..flen])), want);
    }
    wrong
}

/// The three sentences through the intent classifier: how many got a wrong label.
#[cfg(feature = "intent")]
fn intents(t: &mut Tables, b: &mut Raw) -> usize {
    let model = open("intent classifier", &INTENT.0);
    let Preprocessing::Text(tok) = model.preprocessing() else { fail("the intent model has no tokenizer") };
    let len = tok.seq_len();
    if len > b.ids.len() {
        fail("id buffer too small");
    }
    let mut wrong = 0;
    for (text, want) in SENTENCES {
        tok.encode(text, &mut b.ids[..len]).unwrap_or_else(|_| fail("tokenizer"));
        wrong += report(text, classify(&model, t, Input::I32(&b.ids[..len])), want);
    }
    wrong
}

/// Runs `model` on `input` in the static buffers: the top label and its logit.
#[inline(never)]
fn classify<'m>(model: &'m Model<'_>, t: &mut Tables, input: Input<'_>) -> (&'m str, f32) {
    if model.arena_len() > ARENA_BYTES || model.op_count() > MAX_OPS || model.region_count() > MAX_REGIONS {
        fail("the model needs larger buffers");
    }
    let mut s =
        Session::with_buffers(model, &mut t.arena.0, &mut t.ops[..], &mut t.regions[..], SessionOptions::default())
            .unwrap_or_else(|_| fail("session"));
    let out = s.run(&[input]).unwrap_or_else(|_| fail("run"));
    let logits = out.f32(0).unwrap_or_else(|| fail("no f32 output"));
    let top = (0..logits.len()).fold(0, |best, i| if logits[i] > logits[best] { i } else { best });
    (model.label(top).unwrap_or("?"), logits[top])
}
