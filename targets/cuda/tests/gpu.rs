//! On a machine with a GPU (feature `cuda`): the kernels compiled by NVRTC give the scalar
//! kernels' bytes. Without a GPU these skip, saying so, unless `FERRITE_REQUIRE_GPU` is set (the
//! device script sets it), when a missing GPU fails them.
#![cfg(feature = "cuda")]

use ferrite_cuda::gpu::Int8Kernels;
use ferrite_cuda::{Device, Error};
use ferrite_e2e::Rng;
use ferrite_runtime::kernels::generic::qgemm::qgemm;
use ferrite_runtime::kernels::tier_checks::QCase;

fn device() -> Option<Device> {
    match Device::open(0) {
        Ok(d) => {
            eprintln!("device: {:?}", d.info());
            Some(d)
        }
        Err(Error::NotAvailable(why)) if std::env::var_os("FERRITE_REQUIRE_GPU").is_none() => {
            eprintln!("skipped: {why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn qgemm_dp4a_on_the_device_matches_the_scalar_kernel() {
    let Some(dev) = device() else { return };
    let k8 = Int8Kernels::new(&dev).unwrap();
    let mut r = Rng::new(16);
    for case in 0..60 {
        let (m, k, n) = if case % 10 == 9 {
            (64, 384, 1536)
        } else {
            (1 + r.below(40) as usize, 1 + r.below(600) as usize, 1 + r.below(300) as usize)
        };
        let c = QCase::random(m, k, n, r.next_u64());
        let mut want = vec![0i8; m * n];
        assert!(qgemm(&c.q(), &c.a, m, &mut want));
        assert_eq!(k8.qgemm(&c.q(), &c.a, m).unwrap(), want, "case {case}: {m}x{k}x{n}");
    }
}
