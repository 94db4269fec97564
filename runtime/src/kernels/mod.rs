//! Kernels. `generic` holds the scalar reference kernels, which are the specification every SIMD
//! tier must match (int8: bit for bit). [`KernelTable`] is a plain table of function pointers,
//! one per kernel family, filled from `generic` and then overridden by each tier the CPU has, up
//! to the tier asked for. A session builds it once; every prepared op records which entry (and so
//! which tier) it runs.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(all(target_arch = "arm", ferrite_dsp))]
mod cortex_m;
pub mod generic;
#[cfg(target_arch = "x86_64")]
mod x86_64;

/// An instruction-set tier. Each tier includes the ones below it on the same architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Portable scalar reference (every target).
    Generic,
    /// x86-64 with AVX2, FMA and F16C.
    Avx2,
    /// x86-64 with AVX-512 F/BW/VL and VNNI (and everything Avx2 needs).
    Avx512,
    /// x86-64 with AMX-TILE and AMX-INT8 (Sapphire Rapids and later Xeons, Xeon 6 SoCs) and
    /// everything Avx512 needs; on Linux the process asks for the tile state once.
    Amx,
    /// AArch64 Advanced SIMD (ARMv8.0: Cortex-A53/A72).
    Neon,
    /// AArch64 with the dot-product extension (`sdot`: Cortex-A55/A76, Raspberry Pi 5, Orin).
    Dotprod,
    /// AArch64 with the int8 matrix-multiply extension (`smmla`: Neoverse V1/N2, Cortex-A710).
    I8mm,
    /// Cortex-M with the DSP extension (`smlad`, `sxtb16`: Cortex-M4/M7, and M33/M55 built with
    /// the runtime feature `dsp`).
    Dsp,
}

impl Tier {
    /// Every tier, in order.
    pub const ALL: [Tier; 8] =
        [Tier::Generic, Tier::Avx2, Tier::Avx512, Tier::Amx, Tier::Neon, Tier::Dotprod, Tier::I8mm, Tier::Dsp];

    /// Name (as `FERRITE_KERNELS` and `inspect` spell it).
    pub fn name(self) -> &'static str {
        match self {
            Tier::Generic => "generic",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
            Tier::Amx => "amx",
            Tier::Neon => "neon",
            Tier::Dotprod => "dotprod",
            Tier::I8mm => "i8mm",
            Tier::Dsp => "dsp",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == s.trim())
    }

    /// Whether this CPU (and this build) can run the tier: detected at run time on hosted
    /// targets, from the compile-time target features elsewhere.
    pub fn available(self) -> bool {
        match self {
            Tier::Generic => true,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => x86::has_avx2() && x86::has_avx512(),
            #[cfg(target_arch = "x86_64")]
            Tier::Amx => x86::has_avx2() && x86::has_avx512() && x86::has_amx(),
            #[cfg(target_arch = "aarch64")]
            Tier::Neon => true,
            #[cfg(target_arch = "aarch64")]
            Tier::Dotprod => arm::has_dotprod(),
            #[cfg(target_arch = "aarch64")]
            Tier::I8mm => arm::has_dotprod() && arm::has_i8mm(),
            // Known at build time: Cortex-M has no feature register to ask.
            #[cfg(all(target_arch = "arm", ferrite_dsp))]
            Tier::Dsp => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The best tier this CPU has.
    pub fn best() -> Tier {
        // Cortex-M knows its tier at build time: a constant lets the compiler keep only that
        // tier's kernels in firmware.
        if cfg!(target_arch = "arm") {
            return if cfg!(ferrite_dsp) { Tier::Dsp } else { Tier::Generic };
        }
        Tier::ALL.into_iter().rev().find(|t| t.available()).unwrap_or(Tier::Generic)
    }

    /// The tier `FERRITE_KERNELS` asks for (std builds), if set: an unknown name or a tier the CPU
    /// lacks is an error, never a fallback and never an illegal instruction. The variable is read
    /// once per process (reading it allocates its value), so creating a session over caller
    /// buffers allocates nothing even when it is set.
    #[cfg(feature = "std")]
    pub fn from_env() -> crate::Result<Option<Tier>> {
        // None: unset or empty; Some(None): a name that names no tier.
        static ASKED: std::sync::OnceLock<Option<Option<Tier>>> = std::sync::OnceLock::new();
        let asked = ASKED.get_or_init(|| match std::env::var("FERRITE_KERNELS") {
            Ok(v) if !v.trim().is_empty() => Some(Tier::from_name(&v)),
            _ => None,
        });
        match *asked {
            None => Ok(None),
            Some(None) => Err(crate::Error::UnknownTier),
            Some(Some(t)) if !t.available() => Err(crate::Error::TierUnavailable(t)),
            Some(Some(t)) => Ok(Some(t)),
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    //! Run-time feature checks (std) or compile-time target features (no std).
    #[cfg(feature = "std")]
    pub fn has_avx2() -> bool {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
    }
    #[cfg(feature = "std")]
    pub fn has_avx512() -> bool {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    /// AVX-512 VBMI (byte permutes: Ice Lake, Zen 4; not Cascade Lake), used inside the AVX-512
    /// tier where it helps and checked by the kernel that uses it.
    #[cfg(feature = "std")]
    pub fn has_avx512_vbmi() -> bool {
        std::is_x86_feature_detected!("avx512vbmi")
    }
    #[cfg(not(feature = "std"))]
    pub fn has_avx512_vbmi() -> bool {
        cfg!(target_feature = "avx512vbmi")
    }
    /// AMX-TILE and AMX-INT8 with the OS's tile state enabled (XCR0 bits 17 and 18) and, Linux
    /// granting tile state only on request, this process's permission (`arch_prctl
    /// ARCH_REQ_XCOMP_PERM`), asked for once. Other systems and builds without std: not used.
    #[cfg(all(feature = "std", target_os = "linux"))]
    pub fn has_amx() -> bool {
        static AMX: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AMX.get_or_init(|| amx_in_cpu_and_os() && request_amx())
    }
    #[cfg(not(all(feature = "std", target_os = "linux")))]
    pub fn has_amx() -> bool {
        false
    }
    #[cfg(all(feature = "std", target_os = "linux"))]
    #[allow(unused_unsafe)]
    fn amx_in_cpu_and_os() -> bool {
        use core::arch::x86_64::__cpuid_count;
        // SAFETY: cpuid exists on every x86-64 CPU; leaf 7 is read only when the CPU has it.
        let (max, osxsave) = unsafe { (__cpuid_count(0, 0).eax, __cpuid_count(1, 0).ecx & (1 << 27) != 0) };
        if max < 7 || !osxsave {
            return false;
        }
        // SAFETY: as above. EDX bit 24: AMX-TILE, bit 25: AMX-INT8.
        let edx = unsafe { __cpuid_count(7, 0).edx };
        if edx & (3 << 24) != 3 << 24 {
            return false;
        }
        let (lo, _hi): (u32, u32);
        // SAFETY: OSXSAVE is set, so `xgetbv` with ECX = 0 (XCR0) is allowed; it reads no memory.
        unsafe { core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") _hi, options(nomem, nostack)) };
        lo & (3 << 17) == 3 << 17
    }
    #[cfg(all(feature = "std", target_os = "linux"))]
    fn request_amx() -> bool {
        const SYS_ARCH_PRCTL: isize = 158;
        const ARCH_REQ_XCOMP_PERM: usize = 0x1023;
        const XFEATURE_XTILEDATA: usize = 18;
        let ret: isize;
        // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) only changes which state the kernel
        // lets this process use; it reads and writes no user memory. `syscall` clobbers rcx and
        // r11, declared.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            )
        };
        ret == 0
    }
    #[cfg(not(feature = "std"))]
    pub fn has_avx2() -> bool {
        cfg!(all(target_feature = "avx2", target_feature = "fma", target_feature = "f16c"))
    }
    #[cfg(not(feature = "std"))]
    pub fn has_avx512() -> bool {
        cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "avx512vnni"
        ))
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    //! Run-time feature checks (std) or compile-time target features (no std).
    #[cfg(feature = "std")]
    pub fn has_dotprod() -> bool {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(feature = "std")]
    pub fn has_i8mm() -> bool {
        std::arch::is_aarch64_feature_detected!("i8mm")
    }
    #[cfg(not(feature = "std"))]
    pub fn has_dotprod() -> bool {
        cfg!(target_feature = "dotprod")
    }
    #[cfg(not(feature = "std"))]
    pub fn has_i8mm() -> bool {
        cfg!(target_feature = "i8mm")
    }
}

/// One table entry: the function and the tier it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Kernel<F> {
    /// The tier that provided `run`.
    pub tier: Tier,
    /// The function.
    pub run: F,
}

/// Products against transposed f32 rows `(m, k, n, a, w, out)` ([`generic::dot_gemm`]).
pub type DotGemmFn = fn(usize, usize, usize, &[f32], &[f32], &mut [f32]);
/// f32 convolution ([`generic::conv`]).
pub type ConvF32Fn = fn(&crate::ops::ConvParams, &[f32], &generic::FloatSrc<'_>, Option<&[f32]>, &mut [f32]);
/// int8 mean over axes `(dims, mask, x, zx, requant, zy, out)` ([`generic::qconv::qmean`]).
pub type QMeanFn = fn(&[usize], u32, &[i8], i32, generic::int8::Requant, i32, &mut [i8]) -> bool;
/// int8 through a 256-entry table ([`generic::int8::lut`]).
pub type LutFn = fn(&[i8; 256], &[i8], &mut [i8]);
/// f16 bit patterns widened to f32 ([`generic::widen_f16`]).
pub type WidenFn = fn(&[u16], &mut [f32]);
/// f32 GEMM `(m, k, n, a, b, out, accumulate)` ([`generic::sgemm`]).
pub type SgemmFn = fn(usize, usize, usize, &[f32], &[f32], &mut [f32], bool);
/// int8 GEMM over packed weights with the requantization epilogue ([`generic::qgemm::qgemm`]).
pub type QGemmFn = fn(&generic::qgemm::QGemm<'_>, &[i8], usize, &mut [i8]) -> bool;
/// f32 to int8 with a scale and zero point ([`generic::int8::quantize_slice`]).
pub type QuantizeFn = fn(&[f32], f32, i32, &mut [i8]);
/// int8 to f32 with a scale and zero point ([`generic::int8::dequantize_slice`]).
pub type DequantizeFn = fn(&[i8], f32, i32, &mut [f32]);
/// An element-wise unary function over a slice ([`generic::unary`]).
pub type UnaryFn = fn(crate::ops::UnaryFn, f32, f32, &[f32], &mut [f32]);
/// Softmax along rows of contiguous elements ([`generic::softmax`] with `inner` = 1):
/// `(rows, row_len, log, x, out)`.
pub type SoftmaxRowsFn = fn(usize, usize, bool, &[f32], &mut [f32]);
/// Transpose of 4-byte elements `(perm, x, in_info, out_info, out)` ([`generic::transpose`]).
pub type Transpose32Fn =
    fn(&[usize; crate::format::MAX_RANK], &[u32], &crate::ops::TensorInfo, &crate::ops::TensorInfo, &mut [u32]);
/// LayerNorm `(outer, inner, eps, x, scale, bias, out)` ([`generic::layer_norm`]).
pub type LayerNormFn = fn(usize, usize, f32, &[f32], &[f32], Option<&[f32]>, &mut [f32]);
/// Channels-last int8 convolution with k4n16-hwc weights ([`generic::qconv::qconv_packed`]
/// with the tier's GEMM).
pub type QConvPackedFn = fn(&generic::qconv::QConv<'_>, &generic::qgemm::PackedI8<'_>, &[i8], &mut [i8]) -> bool;
/// Channels-last depthwise int8 convolution ([`generic::qconv::qconv_depthwise`]).
pub type QDepthwiseFn = fn(&generic::qconv::QConv<'_>, &[i8], &[i8], &mut [i8]) -> bool;
/// int8 GEMM over a row range of packed weights, raw i32 sums ([`generic::qgemm::qgemm_i32`]).
pub type QGemmI32Fn = fn(&generic::qgemm::PackedI8<'_>, (usize, usize), &[i8], usize, i32, &mut [i32]) -> bool;
/// The int8 linear layer with activations quantized per row at run time
/// `(layer, x, xq, scales, out)` ([`generic::dynq::dyn_qmatmul`]).
pub type DynQFn = fn(&generic::dynq::DynQLayer<'_>, &[f32], &mut [i8], &mut [f32], &mut [f32]) -> bool;

/// The kernel families, each filled from `generic` and overridden by the tiers up to
/// [`KernelTable::tier`].
#[derive(Debug, Clone, Copy)]
pub struct KernelTable {
    /// The tier the table was built for (the highest tier any entry may come from).
    pub tier: Tier,
    /// Products against transposed f32 rows (MatMul with `trans_b`, recurrent ops).
    pub dot_gemm: Kernel<DotGemmFn>,
    /// int8 through a table (QLut).
    pub lut: Kernel<LutFn>,
    /// int8 mean (QMean: global average pooling).
    pub qmean: Kernel<QMeanFn>,
    /// f16 to f32 (fp16 weights, widened a block at a time).
    pub widen_f16: Kernel<WidenFn>,
    /// f32 GEMM (MatMul of two plain f32 operands).
    pub sgemm: Kernel<SgemmFn>,
    /// f32 convolution.
    pub conv_f32: Kernel<ConvF32Fn>,
    /// int8 GEMM, requantized (QMatMul, pointwise and im2col QConv).
    pub qgemm: Kernel<QGemmFn>,
    /// int8 GEMM, raw sums (int8 LSTM/GRU gate products).
    pub qgemm_i32: Kernel<QGemmI32Fn>,
    /// The int8 linear layer with run-time activation scales (DynQMatMul).
    pub dynq: Kernel<DynQFn>,
    /// Channels-last int8 convolution with packed weights.
    pub qconv_packed: Kernel<QConvPackedFn>,
    /// Channels-last depthwise int8 convolution.
    pub qconv_dw: Kernel<QDepthwiseFn>,
    /// f32 to int8 (Quantize, recurrent x and h).
    pub quantize: Kernel<QuantizeFn>,
    /// int8 to f32 (Dequantize).
    pub dequantize: Kernel<DequantizeFn>,
    /// Element-wise unary functions (Unary ops).
    pub unary: Kernel<UnaryFn>,
    /// Softmax over contiguous rows.
    pub softmax_rows: Kernel<SoftmaxRowsFn>,
    /// Transpose of f32/i32 tensors (tiers: batches of matrix transposes).
    pub transpose32: Kernel<Transpose32Fn>,
    /// LayerNorm.
    pub layer_norm: Kernel<LayerNormFn>,
    /// The element-wise part of LSTM/GRU steps.
    pub rnn_cells: Kernel<generic::RnnCells>,
}

impl KernelTable {
    /// The table for the best tier this CPU has.
    #[inline(always)]
    pub fn detect() -> Self {
        Self::build(Tier::best())
    }

    /// The scalar reference table.
    pub fn generic() -> Self {
        Self::build(Tier::Generic)
    }

    /// The table for `tier`, if this CPU has it.
    pub fn for_tier(tier: Tier) -> crate::Result<Self> {
        if !tier.available() {
            return Err(crate::Error::TierUnavailable(tier));
        }
        Ok(Self::build(tier))
    }

    // Inlined so that a build whose tier is known at compile time (firmware: `detect()` with no
    // override) keeps only that tier's kernels: the generic GEMM is not linked beside `dsp`.
    #[inline(always)]
    fn build(tier: Tier) -> Self {
        // Op selection: a family that no built op uses gets a stub that is never called (the
        // loader refuses ops left out), so its kernel is not linked into firmware.
        macro_rules! generic {
            ([$($op:literal),+] $run:expr, $stub:expr) => {
                Kernel { tier: Tier::Generic, run: if cfg!(any($(feature = $op),+)) { $run } else { $stub } }
            };
        }
        // DynQMatMul as the generic driver over a tier's parts (tiers without a fused kernel): a
        // closure that captures nothing, so that it is a fn pointer.
        #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", ferrite_dsp)), allow(unused_macros))]
        macro_rules! dynq_over {
            ($quantize:path, $qgemm_i32:path, $act:path) => {
                |l, x, xq, sc, o| {
                    let fns = generic::dynq::DynQKernels { quantize: $quantize, qgemm_i32: $qgemm_i32, act: $act };
                    generic::dynq::dyn_qmatmul(fns, l, x, xq, sc, o)
                }
            };
        }
        #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", ferrite_dsp)), allow(unused_mut))]
        let mut t = KernelTable {
            tier,
            dot_gemm: generic!(["op-matmul", "op-lstm", "op-gru"] generic::dot_gemm, |_, _, _, _, _, _| {}),
            sgemm: generic!(["op-matmul"] generic::sgemm, |_, _, _, _, _, _, _| {}),
            widen_f16: generic!(["op-matmul", "op-lstm", "op-gru"] generic::widen_f16, |_, _| {}),
            lut: generic!(["op-qlut"] generic::int8::lut, |_, _, _| {}),
            qmean: generic!(["op-qmean"] generic::qconv::qmean, |_, _, _, _, _, _, _| false),
            conv_f32: generic!(["op-conv"] generic::conv, |_, _, _, _, _| {}),
            qgemm: generic!(["op-qmatmul", "op-qconv"] generic::qgemm::qgemm, |_, _, _, _| false),
            qgemm_i32: generic!(["op-lstm", "op-gru", "op-dynqmatmul"] generic::qgemm::qgemm_i32, |_, _, _, _, _, _| false),
            dynq: generic!(
                ["op-dynqmatmul"] | l,
                x,
                xq,
                sc,
                o | generic::dynq::dyn_qmatmul(generic::dynq::GENERIC, l, x, xq, sc, o),
                |_, _, _, _, _| false
            ),
            qconv_packed: generic!(
                ["op-qconv"] | q,
                w,
                x,
                o | generic::qconv::qconv_packed(q, w, x, o, generic::qgemm::qgemm),
                |_, _, _, _| false
            ),
            qconv_dw: generic!(["op-qconv"] generic::qconv::qconv_depthwise, |_, _, _, _| false),
            quantize: generic!(["op-quantize", "op-lstm", "op-gru"] generic::int8::quantize_slice, |_, _, _, _| {}),
            dequantize: generic!(["op-dequantize"] generic::int8::dequantize_slice, |_, _, _, _| {}),
            unary: generic!(["op-unary"] generic::unary, |_, _, _, _, _| {}),
            softmax_rows: generic!(["op-softmax"] generic::softmax_rows, |_, _, _, _, _| {}),
            transpose32: generic!(["op-transpose"] generic::transpose::<u32>, |_, _, _, _, _| {}),
            layer_norm: generic!(["op-layernorm"] generic::layer_norm, |_, _, _, _, _, _, _| {}),
            rnn_cells: generic!(
                ["op-lstm", "op-gru"]
                generic::GENERIC_CELLS,
                generic::RnnCells {
                    lstm: |_, _, _, _, _, _| {},
                    gru_gates: |_, _, _, _| {},
                    gru_hidden: |_, _, _, _, _| {}
                }
            ),
        };
        // Each tier overrides what it implements, lowest first, up to the tier asked for.
        #[cfg(target_arch = "x86_64")]
        {
            if tier >= Tier::Avx2 && tier <= Tier::Amx {
                t.qgemm = Kernel { tier: Tier::Avx2, run: x86_64::qgemm_avx2::qgemm };
                t.qgemm_i32 = Kernel { tier: Tier::Avx2, run: x86_64::qgemm_avx2::qgemm_i32 };
                t.qconv_dw = Kernel { tier: Tier::Avx2, run: x86_64::qconv_dw::qconv_dw_avx2 };
                t.qconv_packed = Kernel {
                    tier: Tier::Avx2,
                    run: |q, w, x, o| generic::qconv::qconv_packed(q, w, x, o, x86_64::qgemm_avx2::qgemm),
                };
                t.quantize = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::avx2::quantize };
                t.dequantize = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::dequantize_avx2 };
                t.unary = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::avx2::unary };
                t.softmax_rows = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::avx2::softmax_rows };
                t.transpose32 = Kernel { tier: Tier::Avx2, run: x86_64::transpose::transpose32_avx2 };
                t.layer_norm = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::avx2::layer_norm };
                t.rnn_cells = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::avx2::CELLS };
                t.dot_gemm = Kernel { tier: Tier::Avx2, run: x86_64::sgemm::dot_gemm_avx2 };
                t.sgemm = Kernel { tier: Tier::Avx2, run: x86_64::sgemm::sgemm_avx2 };
                t.widen_f16 = Kernel { tier: Tier::Avx2, run: x86_64::elementwise::widen_f16c };
                t.conv_f32 = Kernel { tier: Tier::Avx2, run: x86_64::conv_f32::conv_avx2 };
                t.dynq = Kernel {
                    tier: Tier::Avx2,
                    run: dynq_over!(
                        x86_64::elementwise::avx2::quantize_mul,
                        x86_64::qgemm_avx2::qgemm_i32,
                        x86_64::elementwise::avx2::unary_in_place
                    ),
                };
            }
            if tier >= Tier::Avx512 && tier <= Tier::Amx {
                t.qgemm = Kernel { tier: Tier::Avx512, run: x86_64::qgemm_avx512::qgemm };
                t.qgemm_i32 = Kernel { tier: Tier::Avx512, run: x86_64::qgemm_avx512::qgemm_i32 };
                t.qconv_dw = Kernel { tier: Tier::Avx512, run: x86_64::qconv_dw::qconv_dw_avx512 };
                t.qconv_packed = Kernel { tier: Tier::Avx512, run: x86_64::qconv_dw::qconv_packed_avx512 };
                t.quantize = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::avx512::quantize };
                t.dequantize = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::dequantize_avx512 };
                t.unary = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::avx512::unary };
                t.softmax_rows = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::avx512::softmax_rows };
                t.layer_norm = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::avx512::layer_norm };
                t.lut = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::lut_vbmi };
                t.qmean = Kernel { tier: Tier::Avx512, run: x86_64::qconv_dw::qmean_avx512 };
                t.rnn_cells = Kernel { tier: Tier::Avx512, run: x86_64::elementwise::avx512::CELLS };
                t.sgemm = Kernel { tier: Tier::Avx512, run: x86_64::sgemm::sgemm_avx512 };
                t.dot_gemm = Kernel { tier: Tier::Avx512, run: x86_64::sgemm::dot_gemm_avx512 };
                t.conv_f32 = Kernel { tier: Tier::Avx512, run: x86_64::conv_f32::conv_avx512 };
                t.dynq = Kernel { tier: Tier::Avx512, run: x86_64::dynq_avx512::dyn_qmatmul };
            }
            if tier == Tier::Amx {
                t.dynq = Kernel { tier: Tier::Amx, run: x86_64::dynq_amx::dyn_qmatmul };
            }
        }
        #[cfg(all(target_arch = "arm", ferrite_dsp))]
        if tier == Tier::Dsp {
            t.qgemm = Kernel { tier: Tier::Dsp, run: cortex_m::qgemm };
            if cfg!(any(feature = "op-lstm", feature = "op-gru", feature = "op-dynqmatmul")) {
                t.qgemm_i32 = Kernel { tier: Tier::Dsp, run: cortex_m::qgemm_i32 };
            }
            if cfg!(feature = "op-dynqmatmul") {
                t.dynq = Kernel {
                    tier: Tier::Dsp,
                    run: dynq_over!(generic::int8::quantize_mul_slice, cortex_m::qgemm_i32, generic::unary_in_place),
                };
            }
            t.qconv_packed =
                Kernel { tier: Tier::Dsp, run: |q, w, x, o| generic::qconv::qconv_packed(q, w, x, o, cortex_m::qgemm) };
        }
        #[cfg(target_arch = "aarch64")]
        {
            if tier >= Tier::Neon {
                t.qconv_dw = Kernel { tier: Tier::Neon, run: aarch64::qgemm::qconv_dw_neon };
                t.qgemm = Kernel { tier: Tier::Neon, run: aarch64::qgemm::qgemm_neon };
                t.qgemm_i32 = Kernel { tier: Tier::Neon, run: aarch64::qgemm::qgemm_i32_neon };
            }
            if tier >= Tier::Dotprod {
                t.qgemm = Kernel { tier: Tier::Dotprod, run: aarch64::qgemm::qgemm_dot };
                t.qgemm_i32 = Kernel { tier: Tier::Dotprod, run: aarch64::qgemm::qgemm_i32_dot };
            }
            if tier >= Tier::I8mm {
                t.qgemm = Kernel { tier: Tier::I8mm, run: aarch64::qgemm::qgemm_mm };
                t.qgemm_i32 = Kernel { tier: Tier::I8mm, run: aarch64::qgemm::qgemm_i32_mm };
            }
            t.dynq = Kernel {
                tier: t.qgemm_i32.tier,
                run: match tier {
                    Tier::Neon => dynq_over!(
                        generic::int8::quantize_mul_slice,
                        aarch64::qgemm::qgemm_i32_neon,
                        generic::unary_in_place
                    ),
                    Tier::Dotprod => dynq_over!(
                        generic::int8::quantize_mul_slice,
                        aarch64::qgemm::qgemm_i32_dot,
                        generic::unary_in_place
                    ),
                    Tier::I8mm => dynq_over!(
                        generic::int8::quantize_mul_slice,
                        aarch64::qgemm::qgemm_i32_mm,
                        generic::unary_in_place
                    ),
                    _ => t.dynq.run,
                },
            };
            t.qconv_packed = Kernel {
                tier: t.qgemm.tier,
                run: match tier {
                    Tier::Neon => |q, w, x, o| generic::qconv::qconv_packed(q, w, x, o, aarch64::qgemm::qgemm_neon),
                    Tier::Dotprod => |q, w, x, o| generic::qconv::qconv_packed(q, w, x, o, aarch64::qgemm::qgemm_dot),
                    Tier::I8mm => |q, w, x, o| generic::qconv::qconv_packed(q, w, x, o, aarch64::qgemm::qgemm_mm),
                    _ => t.qconv_packed.run,
                },
            };
        }
        t
    }
}

#[cfg(any(test, feature = "selftest"))]
pub mod tier_checks;
#[cfg(test)]
mod tier_tests;
