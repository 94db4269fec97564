//! The CUDA kernels' sources, compiled by NVRTC when a backend is made (`gpu::Kernels`, feature
//! `cuda`). They are written in the C subset CUDA accepts, so the tests also compile them as C with
//! `kernels/emu.h`, run every thread in turn on the host, and compare their bytes with the
//! runtime's scalar kernels (tests/kernels_emulated.rs, tests/emulated_device.rs).

/// int8 kernels (`__dp4a`: compute capability 6.1 or later), bit for bit the scalar kernels.
pub const INT8_CU: &str = include_str!("../kernels/int8.cu");

/// f32 kernels (products, convolution, element-wise, normalization), bit for bit the scalar
/// kernels: same operations in the same order, fmad off, the runtime's own exp/tanh/erf.
pub const F32_CU: &str = include_str!("../kernels/f32.cu");

/// Recurrent kernels (LSTM, GRU), one launch per phase of a step.
pub const RNN_CU: &str = include_str!("../kernels/rnn.cu");

/// Data-movement kernels.
pub const MOVEMENT_CU: &str = include_str!("../kernels/movement.cu");

/// Every source, in the order NVRTC gets them (one module, after [`prelude`]).
pub const SOURCES: &[&str] = &[INT8_CU, F32_CU, RNN_CU, MOVEMENT_CU];

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
    "ferrite_matmul",
    "ferrite_conv_f32",
    "ferrite_unary",
    "ferrite_binary",
    "ferrite_layer_norm",
    "ferrite_softmax",
    "ferrite_reduce",
    "ferrite_cast_i32_f32",
    "ferrite_dynq_max",
    "ferrite_dynq_quantize",
    "ferrite_dynq_gemm",
    "ferrite_transpose",
    "ferrite_gather",
    "ferrite_gather_dequant",
    "ferrite_rnn_init",
    "ferrite_rnn_quantize",
    "ferrite_rnn_products",
    "ferrite_lstm_cell",
    "ferrite_gru_gates",
    "ferrite_gru_reset_products",
    "ferrite_gru_hidden",
    "ferrite_rnn_final",
];

/// What the sources share with the runtime, generated from its constants so that the two cannot
/// drift: erf's polynomial pieces (`ferrite_erf_pieces`, the runtime's `ERF_PIECES`).
pub fn prelude() -> String {
    use ferrite_runtime::kernels::generic::math::ERF_PIECES;
    let rows: Vec<String> = ERF_PIECES
        .iter()
        .map(|r| format!("{{{}}}", r.iter().map(|c| format!("{c:?}f")).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("__constant__ float ferrite_erf_pieces[16][7] = {{\n    {}\n}};\n", rows.join(",\n    "))
}

/// The sources as one translation unit, prelude first: what NVRTC compiles, and what the tests
/// compile as C.
pub fn module_source() -> String {
    let mut s = prelude();
    s.extend(SOURCES.iter().copied());
    s
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
