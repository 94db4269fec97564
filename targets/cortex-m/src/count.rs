//! Instructions per step under QEMU with `-icount shift=0` (feature `count`; `count.sh` runs it):
//! the virtual clock then advances a fixed time per instruction, so SysTick counts instructions.
//! QEMU does not model the Cortex-M pipeline, so this is work done, not cycles; it is what compares
//! kernel tiers here. The ratio of instructions to ticks is measured on a known loop first.

use core::arch::asm;
use cortex_m::peripheral::{syst::SystClkSource, SYST};

/// Starts SysTick counting down from its 24-bit maximum on the core clock.
pub fn start() {
    // SAFETY: the firmware is single-threaded and nothing else uses SysTick.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_counter();
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
