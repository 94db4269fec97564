//! Instructions per step under QEMU with `-icount shift=0` (feature `count`; `count.sh` runs it):
//! the virtual clock then advances a fixed time per instruction, so SysTick counts instructions.
//! QEMU does not model the Cortex-M pipeline, so this is work done, not cycles; it is what compares
//! kernel tiers here. The ratio of instructions to ticks is measured on a known loop first.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;

/// SysTick wrap-arounds (each 2^24 ticks), for steps longer than one period.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Starts SysTick counting down from its 24-bit maximum on the core clock, counting wraps.
pub fn start() {
    // SAFETY: the firmware is single-threaded and nothing else uses SysTick.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// SysTick ticks `f` took, however many periods (the wrap count read around the step).
pub fn long_ticks(f: impl FnOnce()) -> u64 {
    let (w0, a) = (WRAPS.load(Ordering::Relaxed), SYST::get_current());
    f();
    let (w1, b) = (WRAPS.load(Ordering::Relaxed), SYST::get_current());
    (w1.wrapping_sub(w0) as u64) * 0x0100_0000 + a as u64 - b as u64
}

/// SysTick ticks `f` took (it must take less than 2^24 ticks).
pub fn ticks(f: impl FnOnce()) -> u32 {
    let a = SYST::get_current();
    f();
    let b = SYST::get_current();
    a.wrapping_sub(b) & 0x00FF_FFFF
}

/// Instructions per SysTick tick: a loop of 3 instructions (nop, subs, bne) run 300,000 times.
pub fn instructions_per_tick() -> f32 {
    let n = ticks(|| {
        let mut i: u32 = 300_000;
        // SAFETY: a register-only countdown loop.
        unsafe { asm!("2:", "nop", "subs {i}, {i}, #1", "bne 2b", i = inout(reg) i, options(nomem, nostack)) };
        let _ = i;
    });
    900_000.0 / n.max(1) as f32
}
