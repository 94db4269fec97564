//! The int8 GEMM kernel's arithmetic on random shapes, without a GPU: `ferrite_qgemm_dp4a` from the
//! emulated device's library (the kernels compiled as C with kernels/emu.h, every thread run in
//! turn on the host), on 32-thread blocks (a partial last block, unlike the backend's 128), its
//! bytes compared with the runtime's scalar `qgemm`. What this cannot check (speed, memory access
//! on the device, NVRTC accepting the file) is the device script's.

mod common;

use common::Emulator;
use ferrite_e2e::Rng;
use ferrite_runtime::kernels::generic::qgemm::qgemm;
use ferrite_runtime::kernels::tier_checks::QCase;
use std::ffi::c_void;

#[test]
fn qgemm_dp4a_matches_the_scalar_kernel_bit_for_bit() {
    let Some(emu) = Emulator::build() else { return };
    let mut r = Rng::new(15);
    for case in 0..120 {
        // Ragged shapes (k not a multiple of 4, partial blocks), now and then a transformer's.
        let (m, k, n) = if case % 10 == 9 {
            (32, 384, 64)
        } else {
            (1 + r.below(6) as usize, 1 + r.below(300) as usize, 1 + r.below(80) as usize)
        };
        let c = QCase::random(m, k, n, r.next_u64());
        let mut want = vec![0i8; m * n];
        assert!(qgemm(&c.q(), &c.a, m, &mut want));

        let w = c.weights();
        let rq: Vec<i32> = c.rq.iter().flat_map(|x| [x.multiplier, x.shift]).collect();
        let mut got = vec![0i8; m * n];
        let mut ptrs = [c.a.as_ptr() as u64, w.data.as_ptr() as u64, w.sums.as_ptr() as u64];
        let mut more = [c.bias.as_ptr() as u64, rq.as_ptr() as u64, got.as_mut_ptr() as u64];
        let mut ints = [m as i32, k as i32, n as i32, c.za, c.zy, c.lo as i32, c.hi as i32];
        let p = |v: &mut u64| v as *mut u64 as *mut c_void;
        let i = |v: &mut i32| v as *mut i32 as *mut c_void;
        let [a, wd, sums] = &mut ptrs;
        let [bias, rqp, out] = &mut more;
        let [mi, ki, ni, za, zy, lo, hi] = &mut ints;
        // (a, m, k, w, sums, n, bias, rq, za, zy, lo, hi, out), as int8.cu declares them.
        let mut params =
            [p(a), i(mi), i(ki), p(wd), p(sums), i(ni), p(bias), p(rqp), i(za), i(zy), i(lo), i(hi), p(out)];
        let grid = ((m * n) as u32).div_ceil(32);
        // SAFETY: the parameters are the kernel's, in order; the pointers address `c.a` (m·k),
        // the full packed weights and their sums (16-row blocks), `c.bias`, `rq` (2n) and `got`
        // (m·n), all alive across the call, which covers every index the threads touch.
        unsafe { emu.launch("ferrite_qgemm_dp4a", grid, 32, &mut params) }.unwrap();
        assert_eq!(got, want, "case {case}: {m}x{k}x{n}, za {}, zy {}", c.za, c.zy);
    }
}
