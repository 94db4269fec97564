//! OneHot as a row lookup: the indices, made valid, pick rows of a constant table whose row `i`
//! holds `on` at column `i` and `off` elsewhere, and whose last row, picked by every index outside
//! `[-depth, depth)`, is all `off` (as ONNX specifies). A MatMul that follows it then reads a
//! one-hot matrix: the optimisation passes turn that pair into one lookup of the MatMul's rows.

use super::{Lowering, Lr};
use crate::import::{const_f32, const_i64, Attrs};
use crate::ir::{Data, TensorId};
use ferrite_runtime::format::DType;
use ferrite_runtime::ops::{BinaryFn, CompareFn, LogicFn, OpCode};
use tract_onnx::pb;

/// Largest depth accepted: the table holds `(depth + 1) · depth` values.
const MAX_DEPTH: usize = 4096;

impl Lowering {
    pub(super) fn lower_one_hot(&mut self, node: &pb::NodeProto, name: String) -> Lr<()> {
        let depth_t = self.const_input(node, 1)?.ok_or("depth must be constant")?;
        let depth = match const_i64(&depth_t).as_deref() {
            Some(&[d]) if d >= 1 && d as usize <= MAX_DEPTH => d as usize,
            _ => return Err(format!("depth must be one integer in 1..={MAX_DEPTH}")),
        };
        let values = self.const_input(node, 2)?.ok_or("values must be constant")?;
        let x = self.need_tensor(node, 0)?;
        let o = self.need_output(node, 0)?;
        let ishape = self.g.tensors[x].shape.clone();
        let axis = Attrs(node).int_or("axis", -1);
        let rank = ishape.len() as i64 + 1;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) {
            return Err(format!("axis out of range for output rank {rank}"));
        }
        let table = match self.g.tensors[o].dtype {
            DType::F32 => match const_f32(&values).as_deref() {
                Some(&[off, on]) => Data::F32(one_hot_table(depth, off, on)),
                _ => return Err("values must hold two numbers, off and on".into()),
            },
            DType::I32 => match const_i64(&values).as_deref() {
                Some(&[off, on]) => {
                    let (off, on) = (i32::try_from(off), i32::try_from(on));
                    let (Ok(off), Ok(on)) = (off, on) else { return Err("values out of the int32 range".into()) };
                    Data::I32(one_hot_table(depth, off, on))
                }
                _ => return Err("values must hold two numbers, off and on".into()),
            },
            d => return Err(format!("values of type {d:?} (f32 and integers only)")),
        };
        let rows = self.valid_rows(&name, x, depth)?;
        let table = self.g.constant(format!("{name}.table"), vec![depth + 1, depth], table);
        let mut gshape = ishape.clone();
        gshape.push(depth);
        let last = axis as usize == ishape.len();
        let g = if last { o } else { self.g.activation(format!("{name}.rows"), self.g.tensors[o].dtype, gshape) };
        self.g.push(OpCode::Gather, name.clone(), vec![Some(table), Some(rows)], vec![Some(g)], vec![0]);
        if !last {
            // The depth axis, last after the lookup, moves to `axis`.
            let r = ishape.len();
            let perm = (0..=r).map(|j| {
                if j < axis as usize {
                    j
                } else if j == axis as usize {
                    r
                } else {
                    j - 1
                }
            });
            let perm = perm.map(|p| p as u32).collect();
            self.g.push(OpCode::Transpose, format!("{name}.move"), vec![Some(g)], vec![Some(o)], perm);
        }
        Ok(())
    }

    /// Row numbers for the table: an index in `[-depth, 0)` counts from the end, one outside
    /// `[-depth, depth)` picks row `depth` (all off). Computed in f32 (exact below 2^24); a float
    /// index is first truncated to an integer, as ONNX casts it.
    fn valid_rows(&mut self, name: &str, x: TensorId, depth: usize) -> Lr<TensorId> {
        let shape = self.g.tensors[x].shape.clone();
        let cast = |s: &mut Self, from: TensorId, to: DType, tag: &str| {
            let t = s.g.activation(format!("{name}.{tag}"), to, shape.clone());
            s.g.push(OpCode::Cast, format!("{name}.{tag}"), vec![Some(from)], vec![Some(t)], vec![]);
            t
        };
        let ints = match self.g.tensors[x].dtype {
            DType::I32 => x,
            DType::F32 => cast(self, x, DType::I32, "truncate"),
            d => return Err(format!("indices of type {d:?}")),
        };
        let xf = cast(self, ints, DType::F32, "index");
        let c = |s: &mut Self, tag: &str, v: f32| s.g.constant(format!("{name}.{tag}"), vec![], Data::F32(vec![v]));
        let (zero, d) = (c(self, "zero", 0.0), c(self, "depth", depth as f32));
        let flag = |s: &mut Self, tag: &str, func: CompareFn, (a, b): (TensorId, TensorId)| {
            let t = s.g.activation(format!("{name}.{tag}"), DType::U8, shape.clone());
            s.g.push(
                OpCode::Compare,
                format!("{name}.{tag}"),
                vec![Some(a), Some(b)],
                vec![Some(t)],
                vec![func as u32],
            );
            t
        };
        let select = |s: &mut Self, tag: &str, (c, a, b): (TensorId, TensorId, TensorId)| {
            let t = s.g.activation(format!("{name}.{tag}"), DType::F32, shape.clone());
            s.g.push(OpCode::Where, format!("{name}.{tag}"), vec![Some(c), Some(a), Some(b)], vec![Some(t)], vec![]);
            t
        };
        let negative = flag(self, "negative", CompareFn::Less, (xf, zero));
        let from_end = self.binary(format!("{name}.from_end"), BinaryFn::Add, (xf, d), shape.clone());
        let wrapped = select(self, "wrapped", (negative, from_end, xf));
        let above = flag(self, "at_least_0", CompareFn::GreaterOrEqual, (wrapped, zero));
        let below = flag(self, "below_depth", CompareFn::Less, (wrapped, d));
        let valid = self.g.activation(format!("{name}.valid"), DType::U8, shape.clone());
        self.g.push(
            OpCode::Logic,
            format!("{name}.valid"),
            vec![Some(above), Some(below)],
            vec![Some(valid)],
            vec![LogicFn::And as u32],
        );
        let row = select(self, "row", (valid, wrapped, d));
        Ok(cast(self, row, DType::I32, "row_index"))
    }
}

/// `depth + 1` rows of `depth`: row `i < depth` is `on` at column `i`, the last row all `off`.
fn one_hot_table<T: Copy>(depth: usize, off: T, on: T) -> Vec<T> {
    let mut t = vec![off; (depth + 1) * depth];
    for i in 0..depth {
        t[i * depth + i] = on;
    }
    t
}
