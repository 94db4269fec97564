//! The op set of format v1: op codes, attribute layouts and the shape rules of every op.
//!
//! [`prepare`] is the single place that decodes an op's attributes and checks its tensors: the
//! loader calls it to validate an artifact, and the session calls it again to get the kernel
//! parameters, so what is validated is exactly what runs. It is O(rank) per op and never allocates.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::format::{DType, Layout, MAX_RANK};

/// Op codes. Values are never reused; retired ones stay reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum OpCode {
    /// Gather along an axis with i32 indices. Attrs: `[axis]`.
    Gather = 1,
    /// Batched matrix product with optional bias and fused activation.
    /// Attrs: `[trans_a, trans_b, alpha: f32, act, act_a: f32, act_b: f32]`. Inputs: A, B, bias?.
    MatMul = 2,
    /// 1-D or 2-D convolution. Attrs: `[r, group, strides[r], pads_begin[r], pads_end[r],
    /// dilations[r], act, act_a: f32, act_b: f32]`. Inputs: X, W, B?.
    Conv = 3,
    /// Element-wise unary function. Attrs: `[func, a: f32, b: f32]`.
    Unary = 4,
    /// Element-wise binary function with multidirectional broadcasting. Attrs: `[func]`.
    Binary = 5,
    /// Softmax or LogSoftmax along one axis. Attrs: `[axis, log]`.
    Softmax = 6,
    /// Layer normalization over the axes from `axis` to the end. Attrs: `[axis, eps: f32]`.
    /// Inputs: X, scale, bias?.
    LayerNorm = 7,
    /// Reduction over a set of axes. Attrs: `[func, axes_mask]`.
    Reduce = 8,
    /// Average or max pooling, 1-D or 2-D. Attrs: `[kind, r, kernel[r], strides[r],
    /// pads_begin[r], pads_end[r], dilations[r], count_include_pad]`.
    Pool = 9,
    /// Copy with a new shape (Reshape, Flatten, Squeeze, Unsqueeze, Identity). No attrs.
    Copy = 10,
    /// Axis permutation. Attrs: `perm[rank]`.
    Transpose = 11,
    /// Concatenation along an axis. Attrs: `[axis]`.
    Concat = 12,
    /// Split along an axis into the outputs' sizes. Attrs: `[axis]`.
    Split = 13,
    /// Strided slice; the output shape gives the counts. Attrs: `[starts[rank], steps[rank]]`.
    Slice = 14,
    /// Broadcast to the output shape. No attrs.
    Expand = 15,
    /// `cond ? x : y` with broadcasting; cond is u8. No attrs.
    Where = 16,
    /// Element type conversion between f32, i32 and u8. No attrs.
    Cast = 17,
    /// ONNX LSTM. Attrs: `[direction, hidden, layout, clip: f32]`.
    /// Inputs: X, W, R, B?, initial_h?, initial_c?, P?. Outputs: Y?, Y_h?, Y_c?.
    Lstm = 18,
    /// ONNX GRU. Attrs: `[direction, hidden, layout, linear_before_reset, clip: f32]`.
    /// Inputs: X, W, R, B?, initial_h?. Outputs: Y?, Y_h?.
    Gru = 19,
    /// f32 → i8 with the output's scale and zero point (quantization version 2). No attrs.
    Quantize = 20,
    /// i8 → f32 with the input's scale and zero point. No attrs.
    Dequantize = 21,
    /// Int8 linear layer `y = requant(x · wᵀ + bias)`. Attrs: `[lo, hi]` (i32 output bounds).
    /// Inputs: x (i8 `[.., K]`), w (i8 weight `[N, K]`), bias (i32 `[N]`), requant (i32 `[N, 2]`:
    /// multiplier, shift per output channel).
    QMatMul = 22,
    /// Int8 convolution. Attrs: Conv's, with the activation set to none, then `[lo, hi]`.
    /// Inputs: x (i8 NCHW/NCW, or channels-last NHWC/NWC), w (i8 weight: row-major with NCHW
    /// inputs; k4n16-hwc or depthwise-hwc with channels-last ones), bias (i32 `[M]`), requant
    /// (i32 `[M, 2]`).
    QConv = 23,
    /// Int8 mean over a set of axes: `requant(Σ (x − zx))` with one requantization pair (the
    /// multiplier of `s_x / (count · s_y)`). Attrs: `[axes_mask]`. Inputs: x (i8), requant (i32
    /// weight `[1, 2]`). Output: i8, Reduce's shape rule.
    QMean = 24,
    /// Int8 to int8 through a 256-entry table: `out = table[x + 128]`, the quantizer's image of an
    /// element-wise chain (Dequantize → Sigmoid/Tanh/GELU/… → Quantize) on every int8 value, so the
    /// same bytes as the chain. No attrs. Inputs: x (i8), table (i8 weight `[256]`). Output: i8,
    /// x's shape and layout.
    QLut = 25,
    /// Padding to the output's shape. Attrs: `[mode, value, begin[rank]]` (mode 0 constant, 1
    /// reflect, 2 edge; `value` the constant's bits in the tensor's element type: f32 bits, an
    /// i32, or a u8). The end pads are the output's size less the input's and `begin`.
    Pad = 26,
    /// Element-wise comparison with broadcasting: f32 or i32 inputs (one type), u8 output (0, 1).
    /// Attrs: `[func]` ([`CompareFn`]).
    Compare = 27,
    /// Boolean logic on u8 (non-zero is true) with broadcasting; u8 output. Attrs: `[func]`
    /// ([`LogicFn`]; `Not` takes one input, the others two).
    Logic = 28,
    /// Index of the largest or smallest value along an axis (ONNX ArgMax/ArgMin): f32 or i32 input,
    /// i32 output of `outer × inner` elements (with or without the unit axis). Attrs:
    /// `[axis, min, select_last]`.
    ArgReduce = 29,
    /// Int8 linear layer with its f32 input quantized per row at run time (symmetric, scale
    /// `max |row| / 127`), f32 output: `y = (Σ q_x · w) · (s_row · s_w[n]) + bias[n]`
    /// ([`crate::kernels::generic::dynq`]). No attrs. Inputs: x (f32 `[.., K]`), w (i8 weight
    /// `[N, K]`, layout k4n16), w_scale (f32 weight `[N]`), bias (f32 weight `[N]`, optional).
    /// Scratch: f32, at least `rows + ⌈rows · K / 4⌉` (the row scales, then the int8 rows).
    DynQMatMul = 30,
}

impl OpCode {
    /// Parses an op code.
    pub fn from_u32(v: u32) -> Option<Self> {
        use OpCode::*;
        Some(match v {
            1 => Gather,
            2 => MatMul,
            3 => Conv,
            4 => Unary,
            5 => Binary,
            6 => Softmax,
            7 => LayerNorm,
            8 => Reduce,
            9 => Pool,
            10 => Copy,
            11 => Transpose,
            12 => Concat,
            13 => Split,
            14 => Slice,
            15 => Expand,
            16 => Where,
            17 => Cast,
            18 => Lstm,
            19 => Gru,
            20 => Quantize,
            21 => Dequantize,
            22 => QMatMul,
            23 => QConv,
            24 => QMean,
            25 => QLut,
            26 => Pad,
            27 => Compare,
            28 => Logic,
            29 => ArgReduce,
            30 => DynQMatMul,
            _ => return None,
        })
    }
    /// Display name.
    pub fn name(self) -> &'static str {
        use OpCode::*;
        match self {
            Gather => "Gather",
            MatMul => "MatMul",
            Conv => "Conv",
            Unary => "Unary",
            Binary => "Binary",
            Softmax => "Softmax",
            LayerNorm => "LayerNorm",
            Reduce => "Reduce",
            Pool => "Pool",
            Copy => "Copy",
            Transpose => "Transpose",
            Concat => "Concat",
            Split => "Split",
            Slice => "Slice",
            Expand => "Expand",
            Where => "Where",
            Cast => "Cast",
            Lstm => "LSTM",
            Gru => "GRU",
            Quantize => "Quantize",
            Dequantize => "Dequantize",
            QMatMul => "QMatMul",
            QConv => "QConv",
            QMean => "QMean",
            QLut => "QLut",
            Pad => "Pad",
            Compare => "Compare",
            Logic => "Logic",
            ArgReduce => "ArgReduce",
            DynQMatMul => "DynQMatMul",
        }
    }

    /// The cargo feature of `ferrite-runtime` that builds this op's kernels (`None`: always built).
    pub fn feature(self) -> Option<&'static str> {
        use OpCode::*;
        Some(match self {
            Copy => return None,
            Gather => "op-gather",
            MatMul => "op-matmul",
            Conv => "op-conv",
            Unary => "op-unary",
            Binary => "op-binary",
            Softmax => "op-softmax",
            LayerNorm => "op-layernorm",
            Reduce => "op-reduce",
            Pool => "op-pool",
            Transpose => "op-transpose",
            Concat => "op-concat",
            Split => "op-split",
            Slice => "op-slice",
            Expand => "op-expand",
            Where => "op-where",
            Cast => "op-cast",
            Lstm => "op-lstm",
            Gru => "op-gru",
            Quantize => "op-quantize",
            Dequantize => "op-dequantize",
            QMatMul => "op-qmatmul",
            QConv => "op-qconv",
            QMean => "op-qmean",
            QLut => "op-qlut",
            Pad => "op-pad",
            Compare => "op-compare",
            Logic => "op-logic",
            ArgReduce => "op-argreduce",
            DynQMatMul => "op-dynqmatmul",
        })
    }

    /// Whether this build of the runtime has the op's kernels (its [`feature`](Self::feature)).
    pub fn built(self) -> bool {
        use OpCode::*;
        match self {
            Copy => true,
            Gather => cfg!(feature = "op-gather"),
            MatMul => cfg!(feature = "op-matmul"),
            Conv => cfg!(feature = "op-conv"),
            Unary => cfg!(feature = "op-unary"),
            Binary => cfg!(feature = "op-binary"),
            Softmax => cfg!(feature = "op-softmax"),
            LayerNorm => cfg!(feature = "op-layernorm"),
            Reduce => cfg!(feature = "op-reduce"),
            Pool => cfg!(feature = "op-pool"),
            Transpose => cfg!(feature = "op-transpose"),
            Concat => cfg!(feature = "op-concat"),
            Split => cfg!(feature = "op-split"),
            Slice => cfg!(feature = "op-slice"),
            Expand => cfg!(feature = "op-expand"),
            Where => cfg!(feature = "op-where"),
            Cast => cfg!(feature = "op-cast"),
            Lstm => cfg!(feature = "op-lstm"),
            Gru => cfg!(feature = "op-gru"),
            Quantize => cfg!(feature = "op-quantize"),
            Dequantize => cfg!(feature = "op-dequantize"),
            QMatMul => cfg!(feature = "op-qmatmul"),
            QConv => cfg!(feature = "op-qconv"),
            QMean => cfg!(feature = "op-qmean"),
            QLut => cfg!(feature = "op-qlut"),
            Pad => cfg!(feature = "op-pad"),
            Compare => cfg!(feature = "op-compare"),
            Logic => cfg!(feature = "op-logic"),
            ArgReduce => cfg!(feature = "op-argreduce"),
            DynQMatMul => cfg!(feature = "op-dynqmatmul"),
        }
    }
}

/// Unary functions (also used as fused activations; 0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum UnaryFn {
    /// x
    Identity = 0,
    /// max(x, 0)
    Relu = 1,
    /// x if x ≥ 0 else a·x
    LeakyRelu = 2,
    /// min(max(x, a), b)
    Clip = 3,
    /// 1 / (1 + e^-x)
    Sigmoid = 4,
    /// tanh(x)
    Tanh = 5,
    /// x·Φ(x) with the exact erf form
    GeluErf = 6,
    /// GELU, tanh approximation
    GeluTanh = 7,
    /// √x
    Sqrt = 8,
    /// erf(x)
    Erf = 9,
    /// eˣ
    Exp = 10,
    /// ln x
    Log = 11,
    /// -x
    Neg = 12,
    /// |x|
    Abs = 13,
    /// 1/x
    Reciprocal = 14,
    /// x rounded to the nearest integer, ties to even (ONNX Round; dynamic quantization)
    Round = 15,
}

impl UnaryFn {
    /// Parses a function code.
    pub fn from_u32(v: u32) -> Option<Self> {
        use UnaryFn::*;
        Some(match v {
            0 => Identity,
            1 => Relu,
            2 => LeakyRelu,
            3 => Clip,
            4 => Sigmoid,
            5 => Tanh,
            6 => GeluErf,
            7 => GeluTanh,
            8 => Sqrt,
            9 => Erf,
            10 => Exp,
            11 => Log,
            12 => Neg,
            13 => Abs,
            14 => Reciprocal,
            15 => Round,
            _ => return None,
        })
    }
}

/// Binary functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum BinaryFn {
    /// a + b
    Add = 0,
    /// a - b
    Sub = 1,
    /// a · b
    Mul = 2,
    /// a / b
    Div = 3,
    /// aᵇ
    Pow = 4,
    /// max(a, b)
    Max = 5,
    /// min(a, b)
    Min = 6,
}

impl BinaryFn {
    /// Parses a function code.
    pub fn from_u32(v: u32) -> Option<Self> {
        use BinaryFn::*;
        Some(match v {
            0 => Add,
            1 => Sub,
            2 => Mul,
            3 => Div,
            4 => Pow,
            5 => Max,
            6 => Min,
            _ => return None,
        })
    }
}

/// Comparison functions of [`OpCode::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CompareFn {
    /// `a == b`.
    Equal = 0,
    /// `a < b`.
    Less = 1,
    /// `a <= b`.
    LessOrEqual = 2,
    /// `a > b`.
    Greater = 3,
    /// `a >= b`.
    GreaterOrEqual = 4,
}

impl CompareFn {
    /// Parses a function code.
    pub fn from_u32(v: u32) -> Option<Self> {
        use CompareFn::*;
        [Equal, Less, LessOrEqual, Greater, GreaterOrEqual].into_iter().find(|f| *f as u32 == v)
    }
}

/// Boolean functions of [`OpCode::Logic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum LogicFn {
    /// `a && b`.
    And = 0,
    /// `a || b`.
    Or = 1,
    /// `a != b`.
    Xor = 2,
    /// `!a` (one input).
    Not = 3,
}

impl LogicFn {
    /// Parses a function code.
    pub fn from_u32(v: u32) -> Option<Self> {
        use LogicFn::*;
        [And, Or, Xor, Not].into_iter().find(|f| *f as u32 == v)
    }
}

/// How [`OpCode::Pad`] fills the border (ONNX `Pad`'s modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    /// A constant value.
    Constant,
    /// The input mirrored at its edge, the edge not repeated (`[a b c]` → `c b | a b c | b a`).
    Reflect,
    /// The edge value repeated.
    Edge,
}

/// Reduction functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ReduceFn {
    /// Arithmetic mean.
    Mean = 0,
    /// Sum.
    Sum = 1,
    /// Maximum.
    Max = 2,
    /// Minimum.
    Min = 3,
}

/// Shape and type of one tensor, as the kernels see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Number of dimensions.
    pub rank: usize,
    /// Dimensions (entries past `rank` are 1).
    pub dims: [usize; MAX_RANK],
    /// Per-tensor quantization of i8 activations (zero for other tensors).
    pub quant: Quant,
    /// How the bytes hold the elements.
    pub layout: crate::format::Layout,
}

/// Per-tensor affine quantization, `real = scale · (q − zero_point)`, as the tensor record holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quant {
    /// Bits of the f32 scale (bits, so that [`TensorInfo`] stays `Eq`).
    pub scale_bits: u32,
    /// Zero point, in `[-128, 127]`.
    pub zero_point: i32,
}

impl Quant {
    /// The scale.
    pub fn scale(&self) -> f32 {
        f32::from_bits(self.scale_bits)
    }
}

impl TensorInfo {
    /// The used dimensions.
    pub fn shape(&self) -> &[usize] {
        self.dims.get(..self.rank).unwrap_or(&[])
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }
    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Dimension `i` (1 past the rank).
    pub fn dim(&self, i: usize) -> usize {
        self.dims.get(i).copied().unwrap_or(1)
    }
}

/// Fused activation of Conv and MatMul.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    /// Function.
    pub func: UnaryFn,
    /// First parameter.
    pub a: f32,
    /// Second parameter.
    pub b: f32,
}

/// Kernel parameters of one op, derived from its attributes and tensors by [`prepare`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub enum Params {
    Gather {
        axis: usize,
        outer: usize,
        axis_len: usize,
        inner: usize,
        n_idx: usize,
    },
    MatMul {
        m: usize,
        k: usize,
        n: usize,
        batch: usize,
        trans_a: bool,
        trans_b: bool,
        alpha: f32,
        act: Activation,
        a_batch_strides: [usize; MAX_RANK],
        b_batch_strides: [usize; MAX_RANK],
        batch_dims: [usize; MAX_RANK],
        batch_rank: usize,
    },
    Conv(ConvParams),
    Unary {
        func: UnaryFn,
        a: f32,
        b: f32,
    },
    Binary {
        func: BinaryFn,
    },
    Softmax {
        outer: usize,
        axis_len: usize,
        inner: usize,
        log: bool,
    },
    LayerNorm {
        outer: usize,
        inner: usize,
        eps: f32,
    },
    Reduce {
        func: ReduceFn,
        mask: u32,
    },
    Pool(PoolParams),
    Copy,
    Transpose {
        perm: [usize; MAX_RANK],
    },
    Concat {
        axis: usize,
    },
    Split {
        axis: usize,
    },
    Slice {
        starts: [usize; MAX_RANK],
        steps: [isize; MAX_RANK],
    },
    Expand,
    Where,
    Cast,
    Rnn(RnnParams),
    Quantize,
    Dequantize,
    QMatMul {
        k: usize,
        n: usize,
        lo: i8,
        hi: i8,
        /// Weights in layout k4n16 (else row-major).
        packed: bool,
    },
    /// [`OpCode::DynQMatMul`]: reduction length, output channels, the fused activation, and
    /// whether input 4 (a residual added last) is present.
    DynQMatMul {
        k: usize,
        n: usize,
        act: Activation,
        residual: bool,
    },
    QConv {
        geom: ConvParams,
        lo: i8,
        hi: i8,
        kind: QConvKind,
    },
    QMean {
        /// Elements summed per output element.
        count: usize,
        mask: u32,
    },
    QLut,
    Pad {
        mode: PadMode,
        value: u32,
        begin: [usize; MAX_RANK],
    },
    Compare {
        func: CompareFn,
    },
    Logic {
        func: LogicFn,
    },
    ArgReduce {
        outer: usize,
        len: usize,
        inner: usize,
        min: bool,
        select_last: bool,
    },
}

/// How an int8 convolution's tensors are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QConvKind {
    /// NCHW activations, row-major weights (quantization version 2 as issue 4 wrote it).
    Nchw,
    /// Channels-last activations, weights in k4n16-hwc (pointwise: a GEMM; otherwise patches).
    Packed,
    /// Channels-last activations, depthwise weights in depthwise-hwc.
    Depthwise,
}

/// Convolution geometry, with 1-D convolutions seen as 2-D with height 1.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub struct ConvParams {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub m: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub group: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub act: Activation,
}

/// Pooling geometry, with 1-D pooling seen as 2-D with height 1.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub struct PoolParams {
    pub max: bool,
    pub nc: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub count_include_pad: bool,
}

/// LSTM/GRU geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub struct RnnParams {
    pub lstm: bool,
    pub seq: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
    pub dirs: usize,
    pub reverse_only: bool,
    pub batch_first: bool,
    pub linear_before_reset: bool,
    pub clip: f32,
    /// Int8 matrices: the quantization of the inputs and hidden states their products read.
    pub int8: Option<RnnQuant>,
    /// Int8 W and R in layout k4n16 (else row-major).
    pub packed: bool,
    /// The scratch also holds every step's input products (packed int8 or f32 matrices, when the
    /// scratch is long enough: see [`RnnParams::xproj_len`]): they are one GEMM over the sequence.
    pub xproj: bool,
}

/// How an int8 recurrent op quantizes what its int8 matrices multiply: x (and, in GRU, nothing
/// else) with `x_*`, hidden states (and GRU's `r ⊙ h`) with `h_*`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub struct RnnQuant {
    pub x_scale: f32,
    pub x_zp: i32,
    pub h_scale: f32,
    pub h_zp: i32,
}

impl RnnParams {
    /// Number of gates (4 for LSTM, 3 for GRU).
    pub fn gates(&self) -> usize {
        if self.lstm {
            4
        } else {
            3
        }
    }
    /// f32 elements of scratch one run needs: per batch row, the gate pre-activations, the
    /// recurrent product, h, c and a spare hidden row.
    pub fn scratch_len(&self) -> usize {
        self.scratch_f32_len() + self.scratch_i8_len().div_ceil(4)
    }
    /// The f32 part of the scratch (the int8 part follows it).
    pub fn scratch_f32_len(&self) -> usize {
        let gh = self.gates() * self.hidden;
        self.batch * (2 * gh + 3 * self.hidden)
    }
    /// Bytes of int8 scratch: per batch row, the quantized x row and hidden row (int8 ops only).
    pub fn scratch_i8_len(&self) -> usize {
        if self.int8.is_some() {
            self.batch * (self.input + self.hidden)
        } else {
            0
        }
    }
    /// Words of the optional input-projection part of the scratch: the products of every row of X
    /// with every row of W (`seq·batch × dirs·gates·hidden`; i32 sums for packed int8 matrices,
    /// f32 for f32 ones), then X quantized (`seq·batch·input` bytes, rounded up to words; unused
    /// by f32 ops, kept so that one length serves both).
    pub fn xproj_len(&self) -> usize {
        let rows = self.seq * self.batch;
        rows * self.dirs * self.gates() * self.hidden + (rows * self.input).div_ceil(4)
    }
}

/// Why an op is rejected (becomes [`crate::Error::BadOp`]).
pub type Rule = &'static str;

/// Everything [`prepare`] needs to know about one op.
pub struct OpTensors<'s> {
    /// Input tensors (`None` for an absent optional input).
    pub inputs: &'s [Option<TensorInfo>],
    /// Output tensors (`None` for an absent optional output).
    pub outputs: &'s [Option<TensorInfo>],
    /// Whether each input is stored in the weights section.
    pub input_is_weight: &'s [bool],
    /// The scratch tensor, if any.
    pub scratch: Option<TensorInfo>,
}

struct AttrReader<'a> {
    words: &'a [u32],
}

impl AttrReader<'_> {
    fn u(&self, i: usize) -> Result<u32, Rule> {
        self.words.get(i).copied().ok_or(rule!("missing attribute"))
    }
    fn us(&self, i: usize) -> Result<usize, Rule> {
        Ok(self.u(i)? as usize)
    }
    fn f(&self, i: usize) -> Result<f32, Rule> {
        Ok(f32::from_bits(self.u(i)?))
    }
    fn exact(&self, n: usize) -> Result<(), Rule> {
        if self.words.len() == n {
            Ok(())
        } else {
            Err(rule!("wrong number of attributes"))
        }
    }
}

fn need(ts: &[Option<TensorInfo>], i: usize) -> Result<&TensorInfo, Rule> {
    ts.get(i).and_then(|t| t.as_ref()).ok_or(rule!("missing required tensor"))
}

fn float(t: &TensorInfo) -> Result<(), Rule> {
    if t.dtype == DType::F32 {
        Ok(())
    } else {
        Err(rule!("tensor must be f32"))
    }
}

/// f32 always; f16 allowed where the input is a weight (fp16 artifacts store big weights as f16).
fn float_or_f16_weight(t: &TensorInfo, is_weight: bool) -> Result<(), Rule> {
    match t.dtype {
        DType::F32 => Ok(()),
        DType::F16 if is_weight => Ok(()),
        _ => Err(rule!("tensor must be f32 (or an f16 weight)")),
    }
}

/// An i8 tensor with per-tensor quantization (the loader checked scale and zero point).
fn int8_tensor(t: &TensorInfo) -> Result<(), Rule> {
    if t.dtype == DType::I8 && t.quant.scale_bits != 0 {
        Ok(())
    } else {
        Err(rule!("tensor must be a quantized i8 tensor"))
    }
}

/// Inputs 2 (bias, optional) and 3 (requantization) of QMatMul and QConv, for `n` channels.
fn int8_bias_requant(ins: &[Option<TensorInfo>], bias_w: bool, req_w: bool, n: usize) -> Result<(), Rule> {
    let b = need(ins, 2)?;
    if b.dtype != DType::I32 || !bias_w || b.shape() != [n] {
        return Err(rule!("int8 bias must be an i32 weight [N] (zeros when the layer has none)"));
    }
    let q = need(ins, 3)?;
    if q.dtype != DType::I32 || !req_w || q.shape() != [n, 2] {
        return Err(rule!("requantization must be an i32 weight [N, 2]"));
    }
    Ok(())
}

/// `[lo, hi]` output bounds of an int8 op, as i32 words within i8.
fn bounds(r: &AttrReader<'_>, at: usize) -> Result<(i8, i8), Rule> {
    let lo = i8::try_from(r.u(at)? as i32).map_err(|_| rule!("lo out of i8"))?;
    let hi = i8::try_from(r.u(at + 1)? as i32).map_err(|_| rule!("hi out of i8"))?;
    if lo > hi {
        return Err(rule!("lo above hi"));
    }
    Ok((lo, hi))
}

fn activation(r: &AttrReader<'_>, at: usize) -> Result<Activation, Rule> {
    let func = UnaryFn::from_u32(r.u(at)?).ok_or(rule!("unknown activation"))?;
    match func {
        UnaryFn::Identity | UnaryFn::Relu | UnaryFn::LeakyRelu | UnaryFn::Clip | UnaryFn::Sigmoid | UnaryFn::Tanh => {}
        _ => return Err(rule!("activation cannot be fused")),
    }
    Ok(Activation { func, a: r.f(at + 1)?, b: r.f(at + 2)? })
}

/// Broadcast-compatible: every input dim (right-aligned) is 1 or equals the output's.
pub fn broadcasts_to(inp: &TensorInfo, out: &TensorInfo) -> bool {
    if inp.rank > out.rank {
        return false;
    }
    let off = out.rank - inp.rank;
    inp.shape().iter().enumerate().all(|(i, &d)| d == 1 || d == out.dim(i + off))
}

fn out_size(input: usize, pad: usize, kernel: usize, dilation: usize, stride: usize) -> Result<usize, Rule> {
    if stride == 0 || dilation == 0 || kernel == 0 {
        return Err(rule!("zero stride, dilation or kernel"));
    }
    let span = dilation.checked_mul(kernel - 1).and_then(|s| s.checked_add(1)).ok_or(rule!("kernel span overflows"))?;
    let padded = input.checked_add(pad).ok_or(rule!("padding overflows"))?;
    if padded < span {
        return Err(rule!("kernel larger than padded input"));
    }
    Ok((padded - span) / stride + 1)
}

/// Spatial geometry shared by Conv and Pool: reads `r` then stride/pad/dilation blocks.
struct Window {
    stride: [usize; 2],
    pad_begin: [usize; 2],
    pad_total: [usize; 2],
    dilation: [usize; 2],
}

fn set(arr: &mut [usize; 2], i: usize, v: usize) {
    if let Some(x) = arr.get_mut(i) {
        *x = v;
    }
}

/// Reads `strides[r], pads_begin[r], pads_end[r], dilations[r]` starting at word `base`; 1-D
/// windows fill the width slot so kernels only see 2-D.
fn window(r: &AttrReader<'_>, rank: usize, base: usize) -> Result<Window, Rule> {
    let mut w = Window { stride: [1; 2], pad_begin: [0; 2], pad_total: [0; 2], dilation: [1; 2] };
    let off = 2 - rank;
    for i in 0..rank {
        let (s, pb, pe, d) =
            (r.us(base + i)?, r.us(base + rank + i)?, r.us(base + 2 * rank + i)?, r.us(base + 3 * rank + i)?);
        if pb > 1 << 16 || pe > 1 << 16 {
            return Err(rule!("padding too large"));
        }
        set(&mut w.stride, i + off, s);
        set(&mut w.pad_begin, i + off, pb);
        set(&mut w.pad_total, i + off, pb + pe);
        set(&mut w.dilation, i + off, d);
    }
    Ok(w)
}

fn shapes_equal(a: &TensorInfo, b: &TensorInfo) -> bool {
    a.shape() == b.shape()
}

/// Checks that `out` is `x` with the axes of `mask` reduced (kept as 1, or removed); returns the
/// number of elements reduced into each output element.
fn reduced_shape(x: &TensorInfo, out: &TensorInfo, mask: u32) -> Result<usize, Rule> {
    if x.rank < 32 && mask >> x.rank != 0 {
        return Err(rule!("axes mask names axes past the rank"));
    }
    // Output is the input with reduced axes set to 1 (keepdims) or removed.
    let mut kept = [1usize; MAX_RANK];
    let mut removed = [0usize; MAX_RANK];
    let mut nr = 0;
    let mut count = 1usize;
    for i in 0..x.rank {
        let red = mask & (1 << i) != 0;
        if let Some(k) = kept.get_mut(i) {
            *k = if red { 1 } else { x.dim(i) };
        }
        if red {
            count = count.saturating_mul(x.dim(i));
        } else {
            if let Some(s) = removed.get_mut(nr) {
                *s = x.dim(i);
            }
            nr += 1;
        }
    }
    let keep_ok = out.rank == x.rank && out.shape() == kept.get(..x.rank).unwrap_or(&[]);
    let rm_ok = out.rank == nr && out.shape() == removed.get(..nr).unwrap_or(&[]);
    if !keep_ok && !rm_ok {
        return Err(rule!("output shape mismatch"));
    }
    Ok(count)
}

/// Decodes one op's attributes and checks its tensors; returns the kernel parameters.
pub fn prepare(op: OpCode, words: &[u32], t: &OpTensors<'_>) -> Result<Params, Rule> {
    if !op.built() {
        return Err(NOT_BUILT);
    }
    let r = AttrReader { words };
    let ins = t.inputs;
    let outs = t.outputs;
    let is_w = |i: usize| t.input_is_weight.get(i).copied().unwrap_or(false);
    let single_out = || -> Result<&TensorInfo, Rule> {
        if outs.len() != 1 {
            return Err(rule!("op must have exactly one output"));
        }
        need(outs, 0)
    };
    if t.scratch.is_some() && !matches!(op, OpCode::Lstm | OpCode::Gru | OpCode::DynQMatMul) {
        return Err(rule!("only recurrent ops and DynQMatMul take scratch"));
    }
    // Packed layouts are weight formats of particular kernels; no other input may have one.
    for (i, x) in ins.iter().enumerate() {
        let allowed = |l: Layout| match op {
            OpCode::QMatMul | OpCode::DynQMatMul => i == 1 && l == Layout::K4N16,
            OpCode::QConv => i == 1 && matches!(l, Layout::K4N16Hwc | Layout::DepthwiseHwc),
            OpCode::Lstm | OpCode::Gru => (i == 1 || i == 2) && l == Layout::K4N16,
            _ => false,
        };
        if x.is_some_and(|x| x.layout.is_packed() && !allowed(x.layout)) {
            return Err(rule!("packed layout on an input that does not take one"));
        }
    }
    match op {
        #[cfg(feature = "op-gather")]
        OpCode::Gather => {
            r.exact(1)?;
            let data = need(ins, 0)?;
            // An int8 table (symmetric, one scale per column) is dequantized as it is gathered.
            let int8 = data.dtype == DType::I8 && is_w(0);
            if ins.len() != (if int8 { 3 } else { 2 }) {
                return Err(rule!("Gather takes 2 inputs (3 for an int8 table: data, indices, column scales)"));
            }
            let idx = need(ins, 1)?;
            let out = single_out()?;
            if idx.dtype != DType::I32 {
                return Err(rule!("Gather indices must be i32"));
            }
            let axis = r.us(0)?;
            if axis >= data.rank {
                return Err(rule!("axis out of range"));
            }
            if int8 {
                let scales = need(ins, 2)?;
                float(scales)?;
                if axis != 0 || data.rank != 2 || !is_w(2) || scales.shape() != [data.dim(1)] {
                    return Err(rule!("int8 Gather: a 2-D table on axis 0 with one f32 scale per column"));
                }
            }
            match (data.dtype, out.dtype) {
                (a, b) if a == b && !int8 => {}
                (DType::F16, DType::F32) if is_w(0) => {}
                (DType::I8, DType::F32) if int8 => {}
                _ => return Err(rule!("Gather output dtype must match data (or be f32 for f16 weights)")),
            }
            // out shape = data[..axis] ++ idx ++ data[axis+1..]
            if out.rank != data.rank - 1 + idx.rank {
                return Err(rule!("output rank mismatch"));
            }
            let mut k = 0;
            for i in 0..data.rank {
                if i == axis {
                    for j in 0..idx.rank {
                        if out.dim(k) != idx.dim(j) {
                            return Err(rule!("output shape mismatch"));
                        }
                        k += 1;
                    }
                } else {
                    if out.dim(k) != data.dim(i) {
                        return Err(rule!("output shape mismatch"));
                    }
                    k += 1;
                }
            }
            let outer = data.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner = data.shape().get(axis + 1..).unwrap_or(&[]).iter().product();
            Ok(Params::Gather { axis, outer, axis_len: data.dim(axis), inner, n_idx: idx.len() })
        }
        #[cfg(feature = "op-matmul")]
        OpCode::MatMul => {
            r.exact(6)?;
            if ins.len() != 3 {
                return Err(rule!("MatMul takes 3 inputs (bias may be absent)"));
            }
            let a = need(ins, 0)?;
            let b = need(ins, 1)?;
            let out = single_out()?;
            float_or_f16_weight(a, is_w(0))?;
            float_or_f16_weight(b, is_w(1))?;
            float(out)?;
            let trans_a = r.u(0)? != 0;
            let trans_b = r.u(1)? != 0;
            let alpha = r.f(2)?;
            let act = activation(&r, 3)?;
            if a.rank < 2 || b.rank < 2 || out.rank < 2 {
                return Err(rule!("MatMul operands must have rank ≥ 2 (the importer adds unit axes)"));
            }
            let (m, k) =
                if trans_a { (a.dim(a.rank - 1), a.dim(a.rank - 2)) } else { (a.dim(a.rank - 2), a.dim(a.rank - 1)) };
            let (k2, n) =
                if trans_b { (b.dim(b.rank - 1), b.dim(b.rank - 2)) } else { (b.dim(b.rank - 2), b.dim(b.rank - 1)) };
            if k != k2 {
                return Err(rule!("inner dimensions differ"));
            }
            if out.dim(out.rank - 2) != m || out.dim(out.rank - 1) != n {
                return Err(rule!("output shape mismatch"));
            }
            // Batch dims broadcast numpy-style.
            let batch_rank = out.rank - 2;
            let mut batch_dims = [1usize; MAX_RANK];
            let mut a_strides = [0usize; MAX_RANK];
            let mut b_strides = [0usize; MAX_RANK];
            let a_b = a.rank - 2;
            let b_b = b.rank - 2;
            if a_b > batch_rank || b_b > batch_rank {
                return Err(rule!("operand batch rank above output's"));
            }
            let mut sa = m * k;
            let mut sb = k * n;
            for i in (0..batch_rank).rev() {
                let od = out.dim(i);
                if let Some(bd) = batch_dims.get_mut(i) {
                    *bd = od;
                }
                let ad = if i + a_b >= batch_rank { a.dim(i + a_b - batch_rank) } else { 1 };
                let bd = if i + b_b >= batch_rank { b.dim(i + b_b - batch_rank) } else { 1 };
                if (ad != od && ad != 1) || (bd != od && bd != 1) {
                    return Err(rule!("batch dims do not broadcast"));
                }
                if let Some(s) = a_strides.get_mut(i) {
                    *s = if ad == 1 { 0 } else { sa };
                }
                if let Some(s) = b_strides.get_mut(i) {
                    *s = if bd == 1 { 0 } else { sb };
                }
                sa = sa.saturating_mul(ad);
                sb = sb.saturating_mul(bd);
            }
            if let Some(bias) = ins.get(2).and_then(|x| x.as_ref()) {
                float(bias)?;
                if !broadcasts_to(bias, out) {
                    return Err(rule!("bias does not broadcast to the output"));
                }
            }
            let batch = out.len() / (m * n).max(1);
            Ok(Params::MatMul {
                m,
                k,
                n,
                batch,
                trans_a,
                trans_b,
                alpha,
                act,
                a_batch_strides: a_strides,
                b_batch_strides: b_strides,
                batch_dims,
                batch_rank,
            })
        }
        #[cfg(any(feature = "op-conv", feature = "op-qconv"))]
        OpCode::Conv | OpCode::QConv => {
            let quant = op == OpCode::QConv;
            if ins.len() != (if quant { 4 } else { 3 }) {
                return Err(rule!("Conv takes 3 inputs (bias may be absent), QConv 4 (x, w, bias, requant)"));
            }
            let x = need(ins, 0)?;
            let w = need(ins, 1)?;
            let out = single_out()?;
            if quant {
                int8_tensor(x)?;
                int8_tensor(out)?;
                if w.dtype != DType::I8 || !is_w(1) {
                    return Err(rule!("QConv weights must be an i8 weight"));
                }
            } else {
                float(x)?;
                float_or_f16_weight(w, is_w(1))?;
                float(out)?;
            }
            let rank = r.us(0)?;
            if rank != 1 && rank != 2 {
                return Err(rule!("only 1-D and 2-D convolution"));
            }
            r.exact(2 + 4 * rank + 3 + if quant { 2 } else { 0 })?;
            let group = r.us(1)?;
            let win = window(&r, rank, 2)?;
            let act = activation(&r, 2 + 4 * rank)?;
            if x.rank != rank + 2 || w.rank != rank + 2 || out.rank != rank + 2 {
                return Err(rule!("Conv tensors must have rank r+2"));
            }
            // Channels-last activations hold [N, (H,) W, C]; weights keep their logical dims.
            let cl = x.layout == Layout::ChannelsLast;
            if quant && cl != (out.layout == Layout::ChannelsLast) {
                return Err(rule!("QConv input and output must both be channels-last or neither"));
            }
            if !quant && (cl || out.layout == Layout::ChannelsLast) {
                return Err(rule!("float Conv takes NCHW tensors"));
            }
            let (n, c) = (x.dim(0), if cl { x.dim(rank + 1) } else { x.dim(1) });
            let (h, wd) = match (rank, cl) {
                (2, false) => (x.dim(2), x.dim(3)),
                (2, true) => (x.dim(1), x.dim(2)),
                (_, false) => (1, x.dim(2)),
                (_, true) => (1, x.dim(1)),
            };
            let m = w.dim(0);
            let (kh, kw) = if rank == 2 { (w.dim(2), w.dim(3)) } else { (1, w.dim(2)) };
            if group == 0 || c % group != 0 || m % group != 0 {
                return Err(rule!("channels not divisible by group"));
            }
            if w.dim(1) != c / group {
                return Err(rule!("weight channels do not match input channels / group"));
            }
            let oh = out_size(h, win.pad_total[0], kh, win.dilation[0], win.stride[0])?;
            let ow = out_size(wd, win.pad_total[1], kw, win.dilation[1], win.stride[1])?;
            let expect_o = match (rank, cl) {
                (2, false) => [n, m, oh, ow],
                (2, true) => [n, oh, ow, m],
                (_, false) => [n, m, ow, 0],
                (_, true) => [n, ow, m, 0],
            };
            if out.shape() != expect_o.get(..rank + 2).unwrap_or(&[]) {
                return Err(rule!("output shape mismatch"));
            }
            let kind = match (cl, w.layout) {
                (false, Layout::RowMajor) if !quant || cfg!(feature = "int8-row-major") => QConvKind::Nchw,
                (false, Layout::RowMajor) => return Err(ROW_MAJOR_NOT_BUILT),
                (true, Layout::K4N16Hwc) => QConvKind::Packed,
                (true, Layout::DepthwiseHwc) if group == c && group == m => QConvKind::Depthwise,
                _ => return Err(rule!("QConv weights: row-major with NCHW inputs, k4n16-hwc or depthwise-hwc (group = C = M) with channels-last ones")),
            };
            if quant {
                int8_bias_requant(ins, is_w(2), is_w(3), m)?;
                if act.func != UnaryFn::Identity {
                    return Err(rule!("QConv carries its activation in [lo, hi]"));
                }
                if (w.len() / m.max(1)) > crate::kernels::generic::int8::MAX_K {
                    return Err(rule!("QConv reduction longer than MAX_K"));
                }
            } else if let Some(b) = ins.get(2).and_then(|x| x.as_ref()) {
                float(b)?;
                if b.shape() != [m] {
                    return Err(rule!("bias must have shape [M]"));
                }
            }
            let geom = ConvParams {
                n,
                c,
                h,
                w: wd,
                m,
                oh,
                ow,
                kh,
                kw,
                group,
                stride: win.stride,
                pad: win.pad_begin,
                dilation: win.dilation,
                act,
            };
            if quant {
                let (lo, hi) = bounds(&r, 2 + 4 * rank + 3)?;
                Ok(Params::QConv { geom, lo, hi, kind })
            } else {
                Ok(Params::Conv(geom))
            }
        }
        #[cfg(feature = "op-qmatmul")]
        OpCode::QMatMul => {
            r.exact(2)?;
            if ins.len() != 4 {
                return Err(rule!("QMatMul takes 4 inputs (x, w, bias, requant)"));
            }
            let x = need(ins, 0)?;
            let w = need(ins, 1)?;
            let out = single_out()?;
            int8_tensor(x)?;
            int8_tensor(out)?;
            if w.dtype != DType::I8 || !is_w(1) || w.rank != 2 {
                return Err(rule!("QMatMul weights must be a 2-D i8 weight [N, K]"));
            }
            let (n, k) = (w.dim(0), w.dim(1));
            if k == 0 || k > crate::kernels::generic::int8::MAX_K {
                return Err(rule!("QMatMul reduction length out of range"));
            }
            if x.rank == 0 || x.dim(x.rank - 1) != k || out.rank != x.rank {
                return Err(rule!("QMatMul input must be [.., K] and the output [.., N]"));
            }
            if !last_dim_replaced(x, out, n) {
                return Err(rule!("output shape mismatch"));
            }
            int8_bias_requant(ins, is_w(2), is_w(3), n)?;
            let (lo, hi) = bounds(&r, 0)?;
            let packed = w.layout == Layout::K4N16;
            if !packed && !cfg!(feature = "int8-row-major") {
                return Err(ROW_MAJOR_NOT_BUILT);
            }
            Ok(Params::QMatMul { k, n, lo, hi, packed })
        }
        #[cfg(feature = "op-dynqmatmul")]
        OpCode::DynQMatMul => dyn_qmatmul_params(&r, t),
        #[cfg(any(feature = "op-quantize", feature = "op-dequantize"))]
        OpCode::Quantize | OpCode::Dequantize => {
            r.exact(0)?;
            // Quantize may take the affine normalization before it: (x − offset) · scale, two f32
            // weights of x's last dimension (the quantizer fuses Sub → Mul → Quantize into it).
            let affine = op == OpCode::Quantize && ins.len() == 3;
            if ins.len() != 1 && !affine {
                return Err(rule!("Quantize takes one input (or three: x, offset, scale); Dequantize one"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            if affine {
                let last = x.dim(x.rank.saturating_sub(1));
                for i in 1..3 {
                    let v = need(ins, i)?;
                    if v.dtype != DType::F32 || !is_w(i) || v.rank != 1 || v.dim(0) != last || x.rank == 0 {
                        return Err(rule!("Quantize's offset and scale are f32 weights of x's last dimension"));
                    }
                }
            }
            if op == OpCode::Quantize {
                float(x)?;
                int8_tensor(out)?;
            } else {
                int8_tensor(x)?;
                float(out)?;
            }
            if !shapes_equal(x, out) {
                return Err(rule!("output shape must equal the input's"));
            }
            Ok(if op == OpCode::Quantize { Params::Quantize } else { Params::Dequantize })
        }
        #[cfg(feature = "op-unary")]
        OpCode::Unary => {
            r.exact(3)?;
            if ins.len() != 1 {
                return Err(rule!("Unary takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            float(x)?;
            float(out)?;
            if !shapes_equal(x, out) {
                return Err(rule!("output shape must equal input shape"));
            }
            let func = UnaryFn::from_u32(r.u(0)?).ok_or(rule!("unknown unary function"))?;
            Ok(Params::Unary { func, a: r.f(1)?, b: r.f(2)? })
        }
        #[cfg(feature = "op-binary")]
        OpCode::Binary => {
            r.exact(1)?;
            if ins.len() != 2 {
                return Err(rule!("Binary takes 2 inputs"));
            }
            let a = need(ins, 0)?;
            let b = need(ins, 1)?;
            let out = single_out()?;
            float(a)?;
            float(b)?;
            float(out)?;
            if !broadcasts_to(a, out) || !broadcasts_to(b, out) {
                return Err(rule!("inputs do not broadcast to the output"));
            }
            let func = BinaryFn::from_u32(r.u(0)?).ok_or(rule!("unknown binary function"))?;
            Ok(Params::Binary { func })
        }
        #[cfg(feature = "op-softmax")]
        OpCode::Softmax => {
            r.exact(2)?;
            if ins.len() != 1 {
                return Err(rule!("Softmax takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            float(x)?;
            float(out)?;
            if !shapes_equal(x, out) {
                return Err(rule!("output shape must equal input shape"));
            }
            let axis = r.us(0)?;
            if axis >= x.rank {
                return Err(rule!("axis out of range"));
            }
            let outer = x.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner = x.shape().get(axis + 1..).unwrap_or(&[]).iter().product();
            Ok(Params::Softmax { outer, axis_len: x.dim(axis), inner, log: r.u(1)? != 0 })
        }
        #[cfg(feature = "op-layernorm")]
        OpCode::LayerNorm => {
            r.exact(2)?;
            if ins.len() != 3 {
                return Err(rule!("LayerNorm takes 3 inputs (bias may be absent)"));
            }
            let x = need(ins, 0)?;
            let scale = need(ins, 1)?;
            let out = single_out()?;
            float(x)?;
            float(scale)?;
            float(out)?;
            if !shapes_equal(x, out) {
                return Err(rule!("output shape must equal input shape"));
            }
            let axis = r.us(0)?;
            if axis >= x.rank {
                return Err(rule!("axis out of range"));
            }
            let norm = x.shape().get(axis..).unwrap_or(&[]);
            let inner: usize = norm.iter().product();
            if scale.len() != inner {
                return Err(rule!("scale must hold one value per normalized element"));
            }
            if let Some(b) = ins.get(2).and_then(|x| x.as_ref()) {
                float(b)?;
                if b.len() != inner {
                    return Err(rule!("bias must hold one value per normalized element"));
                }
            }
            Ok(Params::LayerNorm { outer: x.len() / inner.max(1), inner, eps: r.f(1)? })
        }
        #[cfg(feature = "op-reduce")]
        OpCode::Reduce => {
            r.exact(2)?;
            if ins.len() != 1 {
                return Err(rule!("Reduce takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            float(x)?;
            float(out)?;
            let func = match r.u(0)? {
                0 => ReduceFn::Mean,
                1 => ReduceFn::Sum,
                2 => ReduceFn::Max,
                3 => ReduceFn::Min,
                _ => return Err(rule!("unknown reduce function")),
            };
            let mask = r.u(1)?;
            reduced_shape(x, out, mask)?;
            Ok(Params::Reduce { func, mask })
        }
        #[cfg(feature = "op-qlut")]
        OpCode::QLut => {
            r.exact(0)?;
            if ins.len() != 2 {
                return Err(rule!("QLut takes 2 inputs (x, table)"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            int8_tensor(x)?;
            int8_tensor(out)?;
            let table = need(ins, 1)?;
            if table.dtype != DType::I8 || !is_w(1) || table.shape() != [256] {
                return Err(rule!("QLut's table must be an i8 weight [256]"));
            }
            if !shapes_equal(x, out) || x.layout != out.layout {
                return Err(rule!("QLut's output has its input's shape and layout"));
            }
            Ok(Params::QLut)
        }
        #[cfg(feature = "op-qmean")]
        OpCode::QMean => {
            r.exact(1)?;
            if ins.len() != 2 {
                return Err(rule!("QMean takes 2 inputs (x, requant)"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            int8_tensor(x)?;
            int8_tensor(out)?;
            let q = need(ins, 1)?;
            if q.dtype != DType::I32 || !is_w(1) || q.shape() != [1, 2] {
                return Err(rule!("QMean's requantization must be an i32 weight [1, 2]"));
            }
            let mask = r.u(0)?;
            let count = reduced_shape(x, out, mask)?;
            // |x − zx| ≤ 255: 2^23 terms keep the i32 sum exact.
            if count == 0 || count > 1 << 23 {
                return Err(rule!("QMean over 0 or more than 2^23 elements"));
            }
            Ok(Params::QMean { count, mask })
        }
        #[cfg(feature = "op-pool")]
        OpCode::Pool => {
            if ins.len() != 1 {
                return Err(rule!("Pool takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            float(x)?;
            float(out)?;
            if x.layout != Layout::RowMajor {
                return Err(rule!("Pool takes NCHW tensors"));
            }
            let max = match r.u(0)? {
                0 => false,
                1 => true,
                _ => return Err(rule!("unknown pool kind")),
            };
            let rank = r.us(1)?;
            if rank != 1 && rank != 2 {
                return Err(rule!("only 1-D and 2-D pooling"));
            }
            r.exact(2 + 5 * rank + 1)?;
            let mut k = [1usize; 2];
            for i in 0..rank {
                if let Some(kk) = k.get_mut(i + 2 - rank) {
                    *kk = r.us(2 + i)?;
                }
            }
            let win = window(&r, rank, 2 + rank)?;
            let count_include_pad = r.u(2 + 5 * rank)? != 0;
            if x.rank != rank + 2 || out.rank != rank + 2 {
                return Err(rule!("Pool tensors must have rank r+2"));
            }
            let (h, w) = if rank == 2 { (x.dim(2), x.dim(3)) } else { (1, x.dim(2)) };
            let oh = out_size(h, win.pad_total[0], k[0], win.dilation[0], win.stride[0])?;
            let ow = out_size(w, win.pad_total[1], k[1], win.dilation[1], win.stride[1])?;
            let expect = if rank == 2 { [x.dim(0), x.dim(1), oh, ow] } else { [x.dim(0), x.dim(1), ow, 0] };
            if out.shape() != expect.get(..rank + 2).unwrap_or(&[]) {
                return Err(rule!("output shape mismatch"));
            }
            Ok(Params::Pool(PoolParams {
                max,
                nc: x.dim(0) * x.dim(1),
                h,
                w,
                oh,
                ow,
                kh: k[0],
                kw: k[1],
                stride: win.stride,
                pad: win.pad_begin,
                dilation: win.dilation,
                count_include_pad,
            }))
        }
        OpCode::Copy | OpCode::Expand => {
            r.exact(0)?;
            if ins.len() != 1 {
                return Err(rule!("op takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            if x.dtype != out.dtype {
                return Err(rule!("dtype must not change"));
            }
            if op == OpCode::Copy {
                if x.len() != out.len() {
                    return Err(rule!("element count must not change"));
                }
                Ok(Params::Copy)
            } else {
                if !broadcasts_to(x, out) {
                    return Err(rule!("input does not broadcast to the output"));
                }
                Ok(Params::Expand)
            }
        }
        #[cfg(feature = "op-transpose")]
        OpCode::Transpose => {
            if ins.len() != 1 {
                return Err(rule!("Transpose takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            r.exact(x.rank)?;
            if x.dtype != out.dtype || x.rank != out.rank {
                return Err(rule!("dtype and rank must not change"));
            }
            let mut perm = [0usize; MAX_RANK];
            let mut seen = [false; MAX_RANK];
            for i in 0..x.rank {
                let p = r.us(i)?;
                let s = seen.get_mut(p).ok_or(rule!("perm entry out of range"))?;
                if *s {
                    return Err(rule!("perm repeats an axis"));
                }
                *s = true;
                if let Some(q) = perm.get_mut(i) {
                    *q = p;
                }
                if out.dim(i) != x.dim(p) {
                    return Err(rule!("output shape mismatch"));
                }
            }
            Ok(Params::Transpose { perm })
        }
        #[cfg(feature = "op-concat")]
        OpCode::Concat => {
            r.exact(1)?;
            let out = single_out()?;
            let axis = r.us(0)?;
            if axis >= out.rank {
                return Err(rule!("axis out of range"));
            }
            if ins.is_empty() {
                return Err(rule!("Concat needs inputs"));
            }
            let mut total = 0usize;
            for i in 0..ins.len() {
                let x = need(ins, i)?;
                if x.dtype != out.dtype || x.rank != out.rank {
                    return Err(rule!("inputs must match the output's dtype and rank"));
                }
                for d in 0..out.rank {
                    if d != axis && x.dim(d) != out.dim(d) {
                        return Err(rule!("inputs differ off the concat axis"));
                    }
                }
                total = total.checked_add(x.dim(axis)).ok_or(rule!("overflow"))?;
            }
            if total != out.dim(axis) {
                return Err(rule!("concat sizes do not add up"));
            }
            Ok(Params::Concat { axis })
        }
        #[cfg(feature = "op-split")]
        OpCode::Split => {
            r.exact(1)?;
            if ins.len() != 1 {
                return Err(rule!("Split takes 1 input"));
            }
            let x = need(ins, 0)?;
            let axis = r.us(0)?;
            if axis >= x.rank {
                return Err(rule!("axis out of range"));
            }
            if outs.is_empty() {
                return Err(rule!("Split needs outputs"));
            }
            let mut total = 0usize;
            for i in 0..outs.len() {
                let o = need(outs, i)?;
                if o.dtype != x.dtype || o.rank != x.rank {
                    return Err(rule!("outputs must match the input's dtype and rank"));
                }
                for d in 0..x.rank {
                    if d != axis && x.dim(d) != o.dim(d) {
                        return Err(rule!("outputs differ off the split axis"));
                    }
                }
                total = total.checked_add(o.dim(axis)).ok_or(rule!("overflow"))?;
            }
            if total != x.dim(axis) {
                return Err(rule!("split sizes do not add up"));
            }
            Ok(Params::Split { axis })
        }
        #[cfg(feature = "op-slice")]
        OpCode::Slice => {
            if ins.len() != 1 {
                return Err(rule!("Slice takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            r.exact(2 * x.rank)?;
            if x.dtype != out.dtype || x.rank != out.rank {
                return Err(rule!("dtype and rank must not change"));
            }
            let mut starts = [0usize; MAX_RANK];
            let mut steps = [1isize; MAX_RANK];
            for i in 0..x.rank {
                let s = r.us(i)?;
                let st = r.u(x.rank + i)? as i32 as isize;
                let cnt = out.dim(i);
                if st == 0 {
                    return Err(rule!("zero step"));
                }
                if cnt > 0 {
                    if s >= x.dim(i) {
                        return Err(rule!("start out of range"));
                    }
                    // last index = s + step*(cnt-1) must stay in [0, dim)
                    let last = (s as i128) + (st as i128) * ((cnt - 1) as i128);
                    if last < 0 || last >= x.dim(i) as i128 {
                        return Err(rule!("slice runs out of the input"));
                    }
                }
                if let Some(p) = starts.get_mut(i) {
                    *p = s;
                }
                if let Some(p) = steps.get_mut(i) {
                    *p = st;
                }
            }
            Ok(Params::Slice { starts, steps })
        }
        #[cfg(feature = "op-compare")]
        OpCode::Compare => {
            r.exact(1)?;
            if ins.len() != 2 {
                return Err(rule!("Compare takes 2 inputs"));
            }
            let (a, b) = (need(ins, 0)?, need(ins, 1)?);
            let out = single_out()?;
            if a.dtype != b.dtype || !matches!(a.dtype, DType::F32 | DType::I32) || out.dtype != DType::U8 {
                return Err(rule!("Compare reads two f32 or two i32 and writes u8"));
            }
            if !broadcasts_to(a, out) || !broadcasts_to(b, out) {
                return Err(rule!("inputs do not broadcast to the output"));
            }
            Ok(Params::Compare { func: CompareFn::from_u32(r.u(0)?).ok_or(rule!("unknown comparison"))? })
        }
        #[cfg(feature = "op-logic")]
        OpCode::Logic => {
            r.exact(1)?;
            let func = LogicFn::from_u32(r.u(0)?).ok_or(rule!("unknown logic function"))?;
            let arity = if func == LogicFn::Not { 1 } else { 2 };
            if ins.len() != arity {
                return Err(rule!("Logic takes 2 inputs (Not: 1)"));
            }
            let out = single_out()?;
            for i in 0..arity {
                let x = need(ins, i)?;
                if x.dtype != DType::U8 || !broadcasts_to(x, out) {
                    return Err(rule!("Logic reads u8 that broadcasts to the output"));
                }
            }
            if out.dtype != DType::U8 {
                return Err(rule!("Logic writes u8"));
            }
            Ok(Params::Logic { func })
        }
        #[cfg(feature = "op-argreduce")]
        OpCode::ArgReduce => {
            r.exact(3)?;
            if ins.len() != 1 {
                return Err(rule!("ArgReduce takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            let axis = r.us(0)?;
            if axis >= x.rank || !matches!(x.dtype, DType::F32 | DType::I32) || out.dtype != DType::I32 {
                return Err(rule!("ArgReduce reads f32 or i32 along an axis and writes i32"));
            }
            let outer: usize = x.shape().get(..axis).unwrap_or(&[]).iter().product();
            let inner: usize = x.shape().get(axis + 1..).unwrap_or(&[]).iter().product();
            let len = x.dim(axis);
            if len == 0 || out.len() != outer * inner {
                return Err(rule!("ArgReduce's output holds one index per reduced row"));
            }
            Ok(Params::ArgReduce { outer, len, inner, min: r.u(1)? != 0, select_last: r.u(2)? != 0 })
        }
        #[cfg(feature = "op-pad")]
        OpCode::Pad => {
            if ins.len() != 1 {
                return Err(rule!("Pad takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            r.exact(2 + x.rank)?;
            if x.dtype != out.dtype || x.rank != out.rank || x.dtype.size() == 2 {
                return Err(rule!("Pad keeps the dtype (f32, i32 or u8) and the rank"));
            }
            let mode = match r.u(0)? {
                0 => PadMode::Constant,
                1 => PadMode::Reflect,
                2 => PadMode::Edge,
                _ => return Err(rule!("unknown pad mode")),
            };
            let mut begin = [0usize; MAX_RANK];
            for (i, b) in begin.iter_mut().enumerate().take(x.rank) {
                *b = r.us(2 + i)?;
                let (d, o) = (x.dim(i), out.dim(i));
                let end = o
                    .checked_sub(d)
                    .and_then(|e| e.checked_sub(*b))
                    .ok_or(rule!("Pad's output is smaller than its input and pads"))?;
                // Reflect mirrors without repeating the edge, so each pad stays under the size;
                // reflect and edge need something to copy.
                let fits = match mode {
                    PadMode::Constant => true,
                    PadMode::Reflect => (*b == 0 && end == 0) || (*b < d && end < d),
                    PadMode::Edge => (*b == 0 && end == 0) || d > 0,
                };
                if !fits {
                    return Err(rule!("reflect pads must be smaller than the axis, edge pads need a non-empty axis"));
                }
            }
            Ok(Params::Pad { mode, value: r.u(1)?, begin })
        }
        #[cfg(feature = "op-where")]
        OpCode::Where => {
            r.exact(0)?;
            if ins.len() != 3 {
                return Err(rule!("Where takes 3 inputs"));
            }
            let c = need(ins, 0)?;
            let x = need(ins, 1)?;
            let y = need(ins, 2)?;
            let out = single_out()?;
            if c.dtype != DType::U8 {
                return Err(rule!("condition must be u8"));
            }
            if x.dtype != out.dtype || y.dtype != out.dtype {
                return Err(rule!("branches must match the output dtype"));
            }
            if out.dtype.size() != 4 {
                return Err(rule!("Where supports 32-bit element types"));
            }
            if !broadcasts_to(c, out) || !broadcasts_to(x, out) || !broadcasts_to(y, out) {
                return Err(rule!("inputs do not broadcast to the output"));
            }
            Ok(Params::Where)
        }
        #[cfg(feature = "op-cast")]
        OpCode::Cast => {
            r.exact(0)?;
            if ins.len() != 1 {
                return Err(rule!("Cast takes 1 input"));
            }
            let x = need(ins, 0)?;
            let out = single_out()?;
            let ok = |d: DType| matches!(d, DType::F32 | DType::I32 | DType::U8);
            if !ok(x.dtype) || !ok(out.dtype) {
                return Err(rule!("Cast supports f32, i32 and u8"));
            }
            if !shapes_equal(x, out) {
                return Err(rule!("output shape must equal input shape"));
            }
            Ok(Params::Cast)
        }
        #[cfg(any(feature = "op-lstm", feature = "op-gru"))]
        OpCode::Lstm | OpCode::Gru => prepare_rnn(op == OpCode::Lstm, &r, t),
        // Ops whose feature is off (the loader refuses them before this, with their feature).
        #[allow(unreachable_patterns)]
        _ => Err(NOT_BUILT),
    }
}

/// The rule for int8 QMatMul/QConv with row-major weights (what quantization version 2 wrote
/// before the packed layouts) in a build without the `int8-row-major` feature.
const ROW_MAJOR_NOT_BUILT: Rule =
    rule!("int8 row-major weights are not built into this runtime (feature int8-row-major)");

/// The rule for an op left out of this build (op selection features).
const NOT_BUILT: Rule = rule!("op not built into this runtime (its cargo feature is off)");

fn prepare_rnn(lstm: bool, r: &AttrReader<'_>, t: &OpTensors<'_>) -> Result<Params, Rule> {
    let ins = t.inputs;
    let outs = t.outputs;
    let is_w = |i: usize| t.input_is_weight.get(i).copied().unwrap_or(false);
    let gates = if lstm { 4 } else { 3 };
    let base = if lstm { 4 } else { 5 };
    let int8 = ins.get(1).and_then(|x| x.as_ref()).is_some_and(|w| w.dtype == DType::I8);
    r.exact(base + if int8 { 4 } else { 0 })?;
    if ins.len() != (if lstm { 7 } else { 5 }) + (if int8 { 2 } else { 0 }) {
        return Err(rule!("wrong number of recurrent inputs (int8 ops add W and R row scales)"));
    }
    if outs.len() != if lstm { 3 } else { 2 } {
        return Err(rule!("wrong number of recurrent outputs"));
    }
    let direction = r.u(0)?;
    let hidden = r.us(1)?;
    let batch_first = match r.u(2)? {
        0 => false,
        1 => true,
        _ => return Err(rule!("layout must be 0 or 1")),
    };
    let (lbr, clip) = if lstm {
        (false, r.f(3)?)
    } else {
        (
            match r.u(3)? {
                0 => false,
                1 => true,
                _ => return Err(rule!("linear_before_reset must be 0 or 1")),
            },
            r.f(4)?,
        )
    };
    if clip.is_nan() || clip < 0.0 {
        return Err(rule!("clip must be ≥ 0 (0 = none)"));
    }
    let (dirs, reverse_only) = match direction {
        0 => (1, false),
        1 => (1, true),
        2 => (2, false),
        _ => return Err(rule!("unknown direction")),
    };
    let x = need(ins, 0)?;
    let w = need(ins, 1)?;
    let rr = need(ins, 2)?;
    let x_int8 = x.dtype == DType::I8;
    if !x_int8 {
        float(x)?;
    }
    if w.layout != rr.layout {
        return Err(rule!("W and R must have the same layout"));
    }
    let q = if int8 {
        if rr.dtype != DType::I8 || !is_w(1) || !is_w(2) {
            return Err(rule!("int8 W and R must both be i8 weights"));
        }
        let q = RnnQuant {
            x_scale: r.f(base)?,
            x_zp: r.u(base + 1)? as i32,
            h_scale: r.f(base + 2)?,
            h_zp: r.u(base + 3)? as i32,
        };
        let ok = |s: f32, z: i32| s.is_finite() && s > 0.0 && (-128..=127).contains(&z);
        if !ok(q.x_scale, q.x_zp) || !ok(q.h_scale, q.h_zp) {
            return Err(rule!("int8 recurrent op: bad x or h quantization"));
        }
        // An int8 X is read as is: its quantization must be the one the products expect.
        if x_int8 && (x.quant.scale_bits != q.x_scale.to_bits() || x.quant.zero_point != q.x_zp) {
            return Err(rule!("int8 X must carry the op's x quantization"));
        }
        Some(q)
    } else if x_int8 {
        return Err(rule!("an int8 X needs int8 W and R"));
    } else {
        float_or_f16_weight(w, is_w(1))?;
        float_or_f16_weight(rr, is_w(2))?;
        None
    };
    if x.rank != 3 {
        return Err(rule!("X must have rank 3"));
    }
    let (seq, batch) = if batch_first { (x.dim(1), x.dim(0)) } else { (x.dim(0), x.dim(1)) };
    let input = x.dim(2);
    let gh = gates * hidden;
    if hidden == 0 || hidden > 1 << 20 {
        return Err(rule!("hidden size out of range"));
    }
    if w.shape() != [dirs, gh, input] {
        return Err(rule!("W must be [dirs, gates*hidden, input]"));
    }
    if rr.shape() != [dirs, gh, hidden] {
        return Err(rule!("R must be [dirs, gates*hidden, hidden]"));
    }
    if int8 {
        let first = if lstm { 7 } else { 5 };
        for i in [first, first + 1] {
            let s = need(ins, i)?;
            float(s)?;
            if !is_w(i) || s.shape() != [dirs * gh] {
                return Err(rule!("int8 row scales must be f32 weights [dirs*gates*hidden]"));
            }
        }
        if input.max(hidden) > crate::kernels::generic::int8::MAX_K {
            return Err(rule!("recurrent reduction longer than MAX_K"));
        }
    }
    if let Some(b) = ins.get(3).and_then(|x| x.as_ref()) {
        float(b)?;
        if b.shape() != [dirs, 2 * gh] {
            return Err(rule!("B must be [dirs, 2*gates*hidden]"));
        }
    }
    let state_shape = if batch_first { [batch, dirs, hidden] } else { [dirs, batch, hidden] };
    for i in [4usize, 5] {
        if i == 5 && !lstm {
            continue;
        }
        if let Some(s) = ins.get(i).and_then(|x| x.as_ref()) {
            float(s)?;
            if s.shape() != state_shape {
                return Err(rule!("initial state shape mismatch"));
            }
        }
    }
    if lstm {
        if let Some(p) = ins.get(6).and_then(|x| x.as_ref()) {
            float(p)?;
            if p.shape() != [dirs, 3 * hidden] {
                return Err(rule!("P must be [dirs, 3*hidden]"));
            }
        }
    }
    if let Some(y) = outs.first().and_then(|x| x.as_ref()) {
        float(y)?;
        let expect = if batch_first { [batch, seq, dirs, hidden] } else { [seq, dirs, batch, hidden] };
        if y.shape() != expect {
            return Err(rule!("Y shape mismatch"));
        }
    }
    for o in outs.iter().skip(1).flatten() {
        float(o)?;
        if o.shape() != state_shape {
            return Err(rule!("final state shape mismatch"));
        }
    }
    let p = RnnParams {
        lstm,
        seq,
        batch,
        input,
        hidden,
        dirs,
        reverse_only,
        batch_first,
        linear_before_reset: lbr,
        clip,
        int8: q,
        packed: w.layout == Layout::K4N16,
        xproj: false,
    };
    let s = t.scratch.ok_or(rule!("recurrent ops need a scratch tensor"))?;
    if s.dtype != DType::F32 || s.len() < p.scratch_len() {
        return Err(rule!("scratch tensor too small"));
    }
    // Packed int8 or row-major f32/f16 matrices can take every step's input products at once.
    let projectable =
        (p.packed && p.int8.is_some()) || (p.int8.is_none() && matches!(w.dtype, DType::F32 | DType::F16));
    let xproj = projectable && s.len() >= p.scratch_len().saturating_add(p.xproj_len());
    Ok(Params::Rnn(RnnParams { xproj, ..p }))
}

/// Whether `out` is `x` with its last dimension `n`: a linear layer's output shape.
#[cfg(any(feature = "op-qmatmul", feature = "op-dynqmatmul"))]
fn last_dim_replaced(x: &TensorInfo, out: &TensorInfo, n: usize) -> bool {
    out.rank == x.rank && (0..x.rank).all(|i| out.dim(i) == if i + 1 == x.rank { n } else { x.dim(i) })
}

/// [`OpCode::DynQMatMul`]'s rules: f32 `[.., K]` in, packed i8 weights `[N, K]` with f32 scales
/// and an optional bias, an optional f32 residual of the output's shape (input 4), f32 `[.., N]`
/// out, and a scratch for the row scales and int8 rows. Attributes: none, or a fused activation
/// `(func, a, b)` (the element-wise functions, GELU included).
#[cfg(feature = "op-dynqmatmul")]
fn dyn_qmatmul_params(r: &AttrReader<'_>, t: &OpTensors<'_>) -> Result<Params, Rule> {
    let act = match r.words.len() {
        0 => Activation { func: UnaryFn::Identity, a: 0.0, b: 0.0 },
        3 => {
            let func = UnaryFn::from_u32(r.u(0)?).ok_or(rule!("unknown activation"))?;
            if matches!(func, UnaryFn::Log | UnaryFn::Round) {
                return Err(rule!("activation cannot be fused"));
            }
            Activation { func, a: r.f(1)?, b: r.f(2)? }
        }
        _ => return Err(rule!("wrong number of attributes")),
    };
    let ins = t.inputs;
    if !(3..=5).contains(&ins.len()) || t.outputs.len() != 1 {
        return Err(rule!(
            "DynQMatMul takes x, w, w_scale, an optional bias and an optional residual, and has one output"
        ));
    }
    let is_w = |i: usize| t.input_is_weight.get(i).copied().unwrap_or(false);
    let (x, w, ws, out) = (need(ins, 0)?, need(ins, 1)?, need(ins, 2)?, need(t.outputs, 0)?);
    if w.dtype != DType::I8 || !is_w(1) || w.rank != 2 || w.layout != Layout::K4N16 {
        return Err(rule!("DynQMatMul weights must be a 2-D i8 weight [N, K] in layout k4n16"));
    }
    let (n, k) = (w.dim(0), w.dim(1));
    if k == 0 || k > crate::kernels::generic::int8::MAX_K {
        return Err(rule!("DynQMatMul reduction length out of range"));
    }
    let per_channel = |v: &TensorInfo| v.dtype == DType::F32 && v.len() == n && v.rank == 1;
    if !is_w(2) || !per_channel(ws) {
        return Err(rule!("DynQMatMul w_scale must be an f32 weight [N]"));
    }
    if let Some(b) = ins.get(3).copied().flatten() {
        if !is_w(3) || !per_channel(&b) {
            return Err(rule!("DynQMatMul bias must be an f32 weight [N]"));
        }
    }
    if x.dtype != DType::F32 || out.dtype != DType::F32 || x.rank == 0 || x.dim(x.rank - 1) != k || out.rank != x.rank {
        return Err(rule!("DynQMatMul input must be f32 [.., K] and the output f32 [.., N]"));
    }
    if !last_dim_replaced(x, out, n) {
        return Err(rule!("output shape mismatch"));
    }
    let residual = ins.get(4).copied().flatten();
    if let Some(res) = residual {
        if res.dtype != DType::F32 || res.shape() != out.shape() {
            return Err(rule!("DynQMatMul residual must be f32 of the output's shape"));
        }
    }
    let rows = x.len() / k;
    let s = t.scratch.ok_or(rule!("DynQMatMul needs a scratch tensor"))?;
    if s.dtype != DType::F32 || s.len() < rows + (rows * k).div_ceil(4) {
        return Err(rule!("scratch tensor too small"));
    }
    Ok(Params::DynQMatMul { k, n, act, residual: residual.is_some() })
}
