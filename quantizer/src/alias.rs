//! Copies that only rename bytes (Reshape, Flatten, Squeeze, Unsqueeze, Identity, transposes of
//! unit axes) and splits whose parts are contiguous (along the first axis that is not 1) become
//! aliases when the artifact is written: the op goes, each output becomes a view of its input's
//! arena bytes at an offset (format storage class `Alias`), and the plan keeps the input's slot
//! live for as long as any alias of it is read.

use crate::ir::{Graph, TensorId};
use ferrite_runtime::ops::OpCode;

/// Where an alias's bytes are: `offset` bytes into tensor `target`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The tensor with its own bytes.
    pub target: TensorId,
    /// Byte offset into them.
    pub offset: u64,
}

/// For each tensor, the arena bytes it views (`None`: it has its own bytes).
pub type Aliases = Vec<Option<View>>;

/// Removes every Copy op whose input and output are activations of the same type and byte length,
/// and every Split whose parts are contiguous runs of its input, and makes their outputs views of
/// the input's root (aliases never chain). Graph inputs keep their own bytes (callers write them).
pub fn fold_copies(g: &Graph) -> (Graph, Aliases) {
    let mut alias: Aliases = vec![None; g.tensors.len()];
    let mut out = Graph { ops: Vec::with_capacity(g.ops.len()), ..g.clone() };
    for op in &g.ops {
        if let Some(parts) = contiguous_split(g, op) {
            let x = parts.0;
            let root = alias[x].unwrap_or(View { target: x, offset: 0 });
            for (y, off) in parts.1 {
                alias[y] = Some(View { target: root.target, offset: root.offset + off });
            }
            continue;
        }
        let (Some(Some(x)), Some(Some(y))) = (op.inputs.first(), op.outputs.first()) else {
            out.ops.push(op.clone());
            continue;
        };
        let (tx, ty) = (&g.tensors[*x], &g.tensors[*y]);
        let foldable = op.code == OpCode::Copy
            && op.inputs.len() == 1
            && op.outputs.len() == 1
            && op.scratch.is_none()
            && tx.data.is_none()
            && ty.data.is_none()
            && tx.dtype == ty.dtype
            && tx.byte_len() == ty.byte_len()
            && !g.inputs.contains(y);
        if foldable {
            alias[*y] = Some(alias[*x].unwrap_or(View { target: *x, offset: 0 }));
        } else {
            out.ops.push(op.clone());
        }
    }
    (out, alias)
}

/// A Split whose every part is one contiguous run of its input (the axes before the split axis
/// are all 1), with activations only: its input and each output with its byte offset.
fn contiguous_split(g: &Graph, op: &crate::ir::Op) -> Option<(TensorId, Vec<(TensorId, u64)>)> {
    if op.code != OpCode::Split || op.inputs.len() != 1 || op.scratch.is_some() {
        return None;
    }
    let x = (*op.inputs.first()?)?;
    let tx = &g.tensors[x];
    let axis = *op.attrs.first()? as usize;
    if tx.data.is_some() || axis >= tx.shape.len() || tx.shape[..axis].iter().any(|&d| d != 1) {
        return None;
    }
    let mut parts = Vec::with_capacity(op.outputs.len());
    let mut offset = 0u64;
    for y in &op.outputs {
        let y = (*y)?;
        let ty = &g.tensors[y];
        if ty.data.is_some() || ty.dtype != tx.dtype || g.inputs.contains(&y) {
            return None;
        }
        parts.push((y, offset));
        offset += ty.byte_len() as u64;
    }
    (offset == tx.byte_len() as u64).then_some((x, parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Data;
    use ferrite_runtime::format::DType;

    #[test]
    fn chained_copies_view_the_first_input() {
        let mut g = Graph::default();
        let x = g.activation("x", DType::F32, vec![2, 3]);
        let a = g.activation("a", DType::F32, vec![6]);
        let b = g.activation("b", DType::F32, vec![3, 2]);
        let w = g.constant("w", vec![6], Data::F32(vec![1.0; 6]));
        let c = g.activation("c", DType::F32, vec![6]);
        g.inputs.push(x);
        g.push(OpCode::Copy, "r1", vec![Some(x)], vec![Some(a)], vec![]);
        g.push(OpCode::Copy, "r2", vec![Some(a)], vec![Some(b)], vec![]);
        g.push(OpCode::Copy, "w2", vec![Some(w)], vec![Some(c)], vec![]);
        g.outputs.extend([b, c]);
        let (f, alias) = fold_copies(&g);
        assert_eq!(alias[a], Some(View { target: x, offset: 0 }));
        assert_eq!(alias[b], Some(View { target: x, offset: 0 }));
        // A copy of weights stays an op (aliases view arena bytes only).
        assert_eq!(alias[c], None);
        assert_eq!(f.ops.len(), 1);
        assert_eq!(f.ops[0].name, "w2");
    }

    #[test]
    fn contiguous_splits_become_views_at_offsets() {
        let mut g = Graph::default();
        let x = g.activation("x", DType::F32, vec![6, 4]);
        let r = g.activation("r", DType::F32, vec![1, 6, 4]);
        let (p, q) = (g.activation("p", DType::F32, vec![1, 2, 4]), g.activation("q", DType::F32, vec![1, 4, 4]));
        // Along the last axis the parts interleave: that split stays an op.
        let (u, v) = (g.activation("u", DType::F32, vec![1, 6, 1]), g.activation("v", DType::F32, vec![1, 6, 3]));
        g.inputs.push(x);
        g.push(OpCode::Copy, "reshape", vec![Some(x)], vec![Some(r)], vec![]);
        g.push(OpCode::Split, "rows", vec![Some(r)], vec![Some(p), Some(q)], vec![1]);
        g.push(OpCode::Split, "cols", vec![Some(r)], vec![Some(u), Some(v)], vec![2]);
        g.outputs.extend([p, q, u, v]);
        let (f, alias) = fold_copies(&g);
        assert_eq!(alias[p], Some(View { target: x, offset: 0 }));
        assert_eq!(alias[q], Some(View { target: x, offset: 32 }));
        assert_eq!((alias[u], alias[v]), (None, None));
        assert_eq!(f.ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["cols"]);
    }
}
