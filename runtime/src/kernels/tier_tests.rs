//! Every tier against the scalar reference, one shared macro per kernel family (the checks are in
//! `tier_checks`): random shapes and values (proptest) plus named edge cases. A tier the CPU lacks
//! is skipped (printed), so every host passes; CI runs each tier somewhere (natively, with
//! `FERRITE_KERNELS`, under qemu-aarch64, or — `dsp` — in the Cortex-M self-test firmware).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
extern crate std;

use super::tier_checks::*;
use super::{KernelTable, Tier};

/// Declares, for one tier, the edge cases and a property test of a kernel family.
macro_rules! tier_tests {
    ($name:ident, $tier:expr) => {
        mod $name {
            use super::*;
            use proptest::prelude::*;

            fn table() -> Option<KernelTable> {
                static SAID: std::sync::Once = std::sync::Once::new();
                match KernelTable::for_tier($tier) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        SAID.call_once(|| std::eprintln!("skipped: tier {} is not available here", $tier.name()));
                        None
                    }
                }
            }

            #[test]
            fn qgemm_edge_cases() {
                if let Some(t) = table() {
                    super::qgemm_edge_cases(&t);
                }
            }

            #[test]
            fn elementwise_cases() {
                if let Some(t) = table() {
                    for seed in 0..400 {
                        check_elementwise(&t, seed);
                        check_lut(&t, seed);
                        check_transpose(&t, seed);
                    }
                }
            }

            #[test]
            fn sgemm_cases() {
                if let Some(t) = table() {
                    for seed in 0..300 {
                        check_sgemm(&t, seed);
                    }
                }
            }

            #[test]
            fn conv_f32_cases() {
                if let Some(t) = table() {
                    for seed in 0..200 {
                        check_conv_f32(&t, seed);
                    }
                }
            }

            #[test]
            fn matmul_f16_cases() {
                if let Some(t) = table() {
                    for seed in 0..60 {
                        check_matmul_f16(&t, seed);
                    }
                }
            }

            #[test]
            fn qconv_cases() {
                if let Some(t) = table() {
                    for seed in 0..200 {
                        check_qmean(&t, seed);
                        check_qconv(&t, seed);
                        check_dynq(&t, seed);
                    }
                }
            }

            proptest! {
                #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
                #[test]
                fn qgemm_matches_generic(m in 1usize..12, k in 1usize..300, n in 1usize..80, seed in any::<u64>()) {
                    if let Some(t) = table() {
                        check_qgemm(&t, &QCase::random(m, k, n, seed), "random");
                    }
                }
            }
        }
    };
}

tier_tests!(generic, Tier::Generic);
tier_tests!(avx2, Tier::Avx2);
tier_tests!(avx512, Tier::Avx512);
tier_tests!(amx, Tier::Amx);
tier_tests!(neon, Tier::Neon);
tier_tests!(dotprod, Tier::Dotprod);
tier_tests!(i8mm, Tier::I8mm);
tier_tests!(dsp, Tier::Dsp);
