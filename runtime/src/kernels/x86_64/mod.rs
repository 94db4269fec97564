//! x86-64 tiers: AVX2 (+FMA, F16C), AVX-512 (F/BW/VL + VNNI) and AMX (tiles: the int8 linear
//! layer with run-time activation scales). Each file holds one kernel
//! family of one tier; every entry point is a safe function that checks the CPU and the sizes it
//! is given before it enters `#[target_feature]` code, so a table entry can never execute an
//! instruction the CPU lacks.

pub(crate) mod conv_f32;
pub(crate) mod dynq_amx;
pub(crate) mod dynq_avx512;
pub(crate) mod elementwise;
pub(crate) mod qconv_dw;
pub(crate) mod qgemm_avx2;
pub(crate) mod qgemm_avx512;
mod requant;
pub(crate) mod sgemm;
pub(crate) mod transpose;
pub(crate) mod vmath;
