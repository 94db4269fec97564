//! The stack's high-water mark by painting: before the work, the free stack below the current
//! frame is filled with a pattern; afterwards the lowest word that no longer holds it is as deep
//! as the stack went.

/// What unused stack holds.
const PAINT: u32 = 0xC0FF_EE11;
/// Words painted below the frame that paints them (256 KiB: far beyond what the firmware uses; a
/// deeper stack would show as the whole window).
const WINDOW_WORDS: usize = 64 * 1024;

extern "C" {
    /// The top of the stack (cortex-m-rt's link.x: the end of RAM).
    static _stack_start: u32;
    /// The end of the statics: the stack may grow down to here.
    static __sheap: u32;
}

/// The painted window: its lowest word and its length in words.
fn window() -> (*mut u32, usize) {
    // Only the addresses of the linker symbols are taken, never their values.
    let (bottom, top) = (core::ptr::addr_of!(__sheap) as usize, core::ptr::addr_of!(_stack_start) as usize);
    let free = top.saturating_sub(bottom) / 4;
    let words = free.min(WINDOW_WORDS);
    ((top - words * 4) as *mut u32, words)
}

/// Paints the window below the caller's frame (leaving the top 1 KiB, where the frames of `main`
/// and this function live).
#[inline(never)]
pub fn paint() {
    let (low, words) = window();
    let sp = cortex_m::register::msp::read() as usize;
    for i in 0..words {
        // SAFETY: the word lies in RAM between the end of the statics and the stack top; only words
        // at least 1 KiB below the current stack pointer are written, which no frame uses yet.
        let p = unsafe { low.add(i) };
        if (p as usize) + 1024 < sp {
            // SAFETY: as above.
            unsafe { p.write_volatile(PAINT) };
        }
    }
}

/// Bytes of stack used at the deepest point since [`paint`].
pub fn high_water() -> usize {
    let (low, words) = window();
    let top = core::ptr::addr_of!(_stack_start) as usize;
    for i in 0..words {
        // SAFETY: the word lies in the painted window (RAM).
        let p = unsafe { low.add(i) };
        // SAFETY: as above.
        if unsafe { p.read_volatile() } != PAINT {
            return top - p as usize;
        }
    }
    0
}
