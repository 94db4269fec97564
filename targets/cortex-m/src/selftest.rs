//! The `dsp` kernel tier checked on the target: the same checks `cargo test` runs for every host
//! tier (`ferrite_runtime::kernels::tier_checks`: named edge cases and deterministic random
//! shapes), here for the Cortex-M DSP tier against the generic kernels, under QEMU. A difference
//! panics (panic-semihosting prints it and exits 1); success prints the number of cases.

#![no_std]
#![no_main]

extern crate alloc;

use core::mem::MaybeUninit;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use embedded_alloc::LlffHeap as Heap;
use ferrite_runtime::kernels::tier_checks::{check_qconv, check_qgemm, check_qmean, qgemm_edge_cases, Gen, QCase};
use ferrite_runtime::kernels::{KernelTable, Tier};
use panic_semihosting as _;

#[global_allocator]
static HEAP: Heap = Heap::empty();
const HEAP_BYTES: usize = 1024 * 1024;
static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_BYTES] = [MaybeUninit::uninit(); HEAP_BYTES];

#[entry]
fn main() -> ! {
    // SAFETY: called once, before any allocation; HEAP_MEM is used by the heap only.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, HEAP_BYTES) };
    let Ok(t) = KernelTable::for_tier(Tier::Dsp) else {
        hprintln!("the dsp tier is not built for this target");
        exit(false);
    };
    hprintln!(
        "dsp tier: qgemm {}, qgemm_i32 {}, qconv_packed {}",
        t.qgemm.tier.name(),
        t.qgemm_i32.tier.name(),
        t.qconv_packed.tier.name()
    );
    // The named cases: K and N tails, -128 everywhere, int16 overflow of pair sums, ties, wrapping.
    qgemm_edge_cases(&t);
    let mut cases = 387;
    // Random shapes (the host runs these through proptest; here a fixed stream of seeds).
    let mut g = Gen::new(2024);
    for seed in 0..300 {
        let (m, k, n) = (g.range(1, 11) as usize, g.range(1, 299) as usize, g.range(1, 79) as usize);
        check_qgemm(&t, &QCase::random(m, k, n, seed), "random");
        cases += 1;
    }
    // Convolutions through the tier's GEMM (packed) and int8 means.
    for seed in 0..200 {
        check_qconv(&t, seed);
        check_qmean(&t, seed);
        cases += 2;
    }
    hprintln!("dsp tier bit-exact with the generic kernels on {} cases", cases);
    exit(true)
}

/// Ends the run with QEMU's exit status.
fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}
