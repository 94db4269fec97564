//! Copies that only rename bytes (Reshape, Flatten, Squeeze, Unsqueeze, Identity, transposes of
//! unit axes) become aliases when the artifact is written: the op goes, its output becomes a view
//! of its input's arena bytes (format storage class `Alias`), and the plan keeps the input's slot
//! live for as long as any alias of it is read.

use crate::ir::{Graph, TensorId};
use ferrite_runtime::ops::OpCode;

/// For each tensor, the arena tensor it views (`None`: it has its own bytes).
pub type Aliases = Vec<Option<TensorId>>;

/// Removes every Copy op whose input and output are activations of the same type and byte length,
/// and makes its output an alias of the input's root (aliases never chain). Graph inputs keep
/// their own bytes (callers write them).
pub fn fold_copies(g: &Graph) -> (Graph, Aliases) {
    let mut alias: Aliases = vec![None; g.tensors.len()];
    let mut out = Graph { ops: Vec::with_capacity(g.ops.len()), ..g.clone() };
    for op in &g.ops {
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
            alias[*y] = Some(alias[*x].unwrap_or(*x));
        } else {
            out.ops.push(op.clone());
        }
    }
    (out, alias)
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
        assert_eq!(alias[a], Some(x));
        assert_eq!(alias[b], Some(x));
        // A copy of weights stays an op (aliases view arena bytes only).
        assert_eq!(alias[c], None);
        assert_eq!(f.ops.len(), 1);
        assert_eq!(f.ops[0].name, "w2");
    }
}
