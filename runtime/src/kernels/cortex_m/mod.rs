//! The `dsp` tier: Cortex-M with the DSP extension. The int8 products over packed k4n16 weights
//! take two 16-bit multiply-accumulates per instruction (`smlad`), on weights sign-extended in
//! pairs (`sxtb16`), as CMSIS-NN does; everything else runs the generic kernels.

mod qgemm;

pub(crate) use qgemm::{qgemm, qgemm_i32};
