//! AArch64 tiers: NEON (ARMv8.0: Cortex-A53/A72, Raspberry Pi 3/4), dotprod (`sdot`: Cortex-A55/A76,
//! Raspberry Pi 5, Jetson Orin) and i8mm (`smmla`: Neoverse V1/N2, Cortex-A710). `sdot` and `smmla`
//! intrinsics are unstable on stable Rust, so those two instructions are written as inline `asm!`.
//! Every entry point is a safe function that checks the CPU and its sizes before entering
//! `#[target_feature]` code. CI runs these tiers under qemu-aarch64 with `QEMU_CPU=cortex-a72`
//! (NEON only), `neoverse-n1` (dotprod) and `neoverse-v1` (i8mm).

pub(crate) mod qgemm;
mod requant;
