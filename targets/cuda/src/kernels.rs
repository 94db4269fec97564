//! The CUDA kernels' sources, compiled by NVRTC when a device is opened (not yet: the cudarc
//! backend that launches them is the next step of issue 15). They are written in the C subset
//! CUDA accepts, so the tests also compile them as C with `kernels/emu.h`, run every thread in turn
//! on the host, and compare their bytes with the runtime's scalar kernels (tests/kernels_emulated.rs).

/// int8 kernels: `ferrite_qgemm_dp4a` (QMatMul and pointwise QConv with `__dp4a`, compute
/// capability 6.1 or later; bit for bit the scalar `qgemm`).
pub const INT8_CU: &str = include_str!("../kernels/int8.cu");

/// The kernels [`INT8_CU`] defines, by name.
pub const INT8_KERNELS: &[&str] = &["ferrite_qgemm_dp4a"];

#[cfg(test)]
mod tests {
    #[test]
    fn every_named_kernel_is_defined() {
        for name in super::INT8_KERNELS {
            assert!(super::INT8_CU.contains(&format!("KERNEL void {name}(")), "{name}");
        }
    }
}
