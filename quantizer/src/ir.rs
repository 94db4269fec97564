//! The quantizer's in-memory graph: Ferrite ops over named tensors, before memory planning and
//! serialisation. Import builds it, the passes in [`crate::passes`] rewrite it, [`crate::writer`]
//! lays it out as an artifact.

use ferrite_runtime::format::{DType, Layout};
use ferrite_runtime::ops::OpCode;

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Constant data of a weight tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// f32 values.
    F32(Vec<f32>),
    /// IEEE half bit patterns (set by the fp16 pass).
    F16(Vec<u16>),
    /// i32 values.
    I32(Vec<i32>),
    /// u8 values (booleans).
    U8(Vec<u8>),
    /// i8 values (int8 weights, set by the int8 pass).
    I8(Vec<i8>),
}

impl Data {
    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F16(_) => DType::F16,
            Data::I32(_) => DType::I32,
            Data::U8(_) => DType::U8,
            Data::I8(_) => DType::I8,
        }
    }
    /// Little-endian bytes.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Data::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Data::U8(v) => v.clone(),
            Data::I8(v) => v.iter().map(|&x| x as u8).collect(),
        }
    }
    /// Number of bytes.
    pub fn byte_len(&self) -> usize {
        match self {
            Data::F32(v) => 4 * v.len(),
            Data::F16(v) => 2 * v.len(),
            Data::I32(v) => 4 * v.len(),
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
        }
    }
    /// As f32 values, when it is float data.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }
}

/// One tensor: a weight (with data) or an activation (placed in the arena by the planner).
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Name (from the source graph).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Constant data for weights; `None` for activations.
    pub data: Option<Data>,
    /// How an i8 tensor is quantized (`None` for unquantized tensors).
    pub quant: Option<TensorQuant>,
    /// How the bytes hold the elements (packed weights, channels-last activations).
    pub layout: Layout,
}

/// Quantization of an i8 tensor, as its tensor record states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TensorQuant {
    /// Activations: `real = scale · (q − zero_point)`.
    PerTensor {
        /// Scale.
        scale: f32,
        /// Zero point.
        zero_point: i32,
    },
    /// Symmetric weights with one scale per slice along `axis`, held by the f32 weight `scales`,
    /// or folded into the consuming op's requantization (`None`).
    PerAxis {
        /// Axis.
        axis: usize,
        /// The scales tensor.
        scales: Option<TensorId>,
    },
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Bytes of the tensor's data as stored: a weight's data (packed layouts included), else
    /// elements × element size.
    pub fn byte_len(&self) -> usize {
        match &self.data {
            Some(d) => d.byte_len(),
            None => self.len() * self.dtype.size(),
        }
    }
    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One op.
#[derive(Debug, Clone)]
pub struct Op {
    /// Op code.
    pub code: OpCode,
    /// Name (from the source graph).
    pub name: String,
    /// Inputs (`None` = absent optional input).
    pub inputs: Vec<Option<TensorId>>,
    /// Outputs (`None` = absent optional output).
    pub outputs: Vec<Option<TensorId>>,
    /// Attribute words, as FORMAT.md specifies per op.
    pub attrs: Vec<u32>,
    /// Scratch tensor (recurrent ops).
    pub scratch: Option<TensorId>,
}

/// A whole graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// All tensors.
    pub tensors: Vec<Tensor>,
    /// Ops in execution order.
    pub ops: Vec<Op>,
    /// Graph inputs.
    pub inputs: Vec<TensorId>,
    /// Graph outputs.
    pub outputs: Vec<TensorId>,
}

impl Graph {
    /// Adds an activation tensor.
    pub fn activation(&mut self, name: impl Into<String>, dtype: DType, shape: Vec<usize>) -> TensorId {
        self.tensors.push(Tensor {
            name: name.into(),
            dtype,
            shape,
            data: None,
            quant: None,
            layout: Layout::RowMajor,
        });
        self.tensors.len() - 1
    }
    /// Adds a weight tensor.
    pub fn constant(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Data) -> TensorId {
        let dtype = data.dtype();
        self.tensors.push(Tensor {
            name: name.into(),
            dtype,
            shape,
            data: Some(data),
            quant: None,
            layout: Layout::RowMajor,
        });
        self.tensors.len() - 1
    }
    /// Adds an op.
    pub fn push(
        &mut self,
        code: OpCode,
        name: impl Into<String>,
        inputs: Vec<Option<TensorId>>,
        outputs: Vec<Option<TensorId>>,
        attrs: Vec<u32>,
    ) -> usize {
        self.ops.push(Op { code, name: name.into(), inputs, outputs, attrs, scratch: None });
        self.ops.len() - 1
    }
    /// Number of ops reading tensor `t` (plus one if it is a graph output).
    pub fn uses(&self, t: TensorId) -> usize {
        let in_ops = self.ops.iter().flat_map(|o| o.inputs.iter()).filter(|i| **i == Some(t)).count();
        in_ops + self.outputs.iter().filter(|&&o| o == t).count()
    }
    /// The op writing tensor `t`.
    pub fn producer(&self, t: TensorId) -> Option<usize> {
        self.ops.iter().position(|o| o.outputs.contains(&Some(t)))
    }
}
