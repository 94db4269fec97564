//! The CUDA kernels' sources, compiled by NVRTC when a backend is made (`gpu::Kernels`, feature
//! `cuda`). They are written in the C subset CUDA accepts, so the tests also compile them as C with
//! `kernels/emu.h`, run every thread in turn on the host, and compare their bytes with the
//! runtime's scalar kernels (tests/kernels_emulated.rs, tests/emulated_device.rs).

/// int8 kernels (`__dp4a`: compute capability 6.1 or later), bit for bit the scalar kernels.
pub const INT8_CU: &str = include_str!("../kernels/int8.cu");

/// Data-movement kernels.
pub const MOVEMENT_CU: &str = include_str!("../kernels/movement.cu");

/// Every source, in the order NVRTC gets them (one module).
pub const SOURCES: &[&str] = &[INT8_CU, MOVEMENT_CU];

/// The kernels the sources define, by name: what [`crate::lower`] launches.
pub const KERNELS: &[&str] = &[
    "ferrite_qgemm_dp4a",
    "ferrite_qconv_packed",
    "ferrite_qconv_depthwise",
    "ferrite_qmean",
    "ferrite_quantize",
    "ferrite_quantize_affine",
    "ferrite_dequantize",
    "ferrite_qlut",
    "ferrite_transpose",
];

/// The sources as one translation unit.
pub fn module_source() -> String {
    SOURCES.concat()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_named_kernel_is_defined_once() {
        let all = super::module_source();
        for name in super::KERNELS {
            assert_eq!(all.matches(&format!("KERNEL void {name}(")).count(), 1, "{name}");
        }
        assert_eq!(all.matches("KERNEL void ").count(), super::KERNELS.len());
    }
}
