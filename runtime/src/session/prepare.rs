//! Ops prepared once, when a session is created: each op's kernel parameters (`ops::prepare`),
//! the kernel entry and tier it runs, and where each of its tensors is (weights, or an arena
//! region), together with the order in which the arena is split so that the op gets shared views
//! of what it reads and exclusive views of what it writes. A run then only splits slices and calls
//! kernels: no shape rule, slot search or sort is left in the run loop.

use crate::error::{Error, Result};
use crate::format::{ArenaSlot, Artifact, Storage, TensorRecord, NO_TENSOR};
use crate::kernels::{KernelTable, Tier};
use crate::model::MAX_IO;
use crate::ops::{self, OpCode, OpTensors, Params};
use zerocopy::FromBytes;

/// Most regions one op writes (outputs and scratch).
pub(crate) const MAX_WRITES: usize = MAX_IO + 1;

/// Where one tensor an op (or the caller) touches lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// An absent optional input or output.
    Absent,
    /// In the weights section: `offset` counts from the start of the section.
    Weight,
    /// In the arena: `offset` counts from the start of the arena.
    Arena,
}

/// One tensor of one op: its place and bytes, and, for arena reads, which piece of the split arena
/// holds it.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// Tensor index (`NO_TENSOR` when absent).
    pub(crate) tensor: u32,
    pub(crate) place: Place,
    pub(crate) offset: usize,
    pub(crate) len: usize,
    /// Arena reads: the gap between writes that holds the region, and the region's offset in it.
    pub(crate) gap: u8,
    pub(crate) gap_offset: usize,
}

impl Region {
    /// An unused entry (for caller-provided tables).
    pub const EMPTY: Region =
        Region { tensor: NO_TENSOR, place: Place::Absent, offset: 0, len: 0, gap: 0, gap_offset: 0 };

    /// The tensor's index in the artifact (`NO_TENSOR` when absent).
    pub fn tensor(&self) -> u32 {
        self.tensor
    }

    /// Where its bytes are.
    pub fn place(&self) -> Place {
        self.place
    }

    /// Its first byte: from the start of the weights section, or of the arena.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no bytes (an absent tensor).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One op, ready to run.
#[derive(Debug, Clone, Copy)]
pub struct PreparedOp {
    pub(crate) code: OpCode,
    pub(crate) params: Params,
    /// The tier of the kernel this op runs.
    pub(crate) tier: Tier,
    /// First of this op's regions in the session's region table: inputs, outputs, scratch.
    pub(crate) first: u32,
    pub(crate) n_in: u8,
    pub(crate) n_out: u8,
    pub(crate) has_scratch: bool,
    /// Written regions (indices relative to `first`), sorted by arena offset.
    pub(crate) writes: [u8; MAX_WRITES],
    pub(crate) n_writes: u8,
}

impl PreparedOp {
    /// An unused entry (for caller-provided tables).
    pub const EMPTY: PreparedOp = PreparedOp {
        code: OpCode::Copy,
        params: Params::Copy,
        tier: Tier::Generic,
        first: 0,
        n_in: 0,
        n_out: 0,
        has_scratch: false,
        writes: [0; MAX_WRITES],
        n_writes: 0,
    };

    /// The op code.
    pub fn code(&self) -> OpCode {
        self.code
    }

    /// The tier of the kernel the op runs.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The kernel parameters prepared from its attributes and tensors.
    pub fn params(&self) -> Params {
        self.params
    }

    /// How many inputs it has (absent optional ones included).
    pub fn n_inputs(&self) -> usize {
        self.n_in as usize
    }

    /// How many outputs it has.
    pub fn n_outputs(&self) -> usize {
        self.n_out as usize
    }

    pub(crate) fn n_regions(&self) -> usize {
        self.n_in as usize + self.n_out as usize + usize::from(self.has_scratch)
    }

    /// This op's regions (inputs, outputs, scratch) in the session's region table.
    pub(crate) fn regions<'r>(&self, all: &'r [Region]) -> &'r [Region] {
        all.get(self.first as usize..self.first as usize + self.n_regions()).unwrap_or(&[])
    }
}

/// Number of region entries a session of `art` needs: graph inputs, graph outputs, and every
/// op's inputs, outputs and scratch.
pub(crate) fn region_count(art: &Artifact<'_>) -> usize {
    let ops: usize = art
        .ops
        .iter()
        .map(|o| o.inputs_len.get() as usize + o.outputs_len.get() as usize + usize::from(o.scratch.get() != NO_TENSOR))
        .sum();
    art.plan.inputs_len.get() as usize + art.plan.outputs_len.get() as usize + ops
}

fn slot_of(art: &Artifact<'_>, tensor: u32) -> Option<ArenaSlot> {
    art.slots.get(art.slots.find(tensor)?)
}

/// The region of tensor `t` (its weights, its slot, or its alias target's slot).
pub(crate) fn region_of(art: &Artifact<'_>, t: u32) -> Result<Region> {
    if t == NO_TENSOR {
        return Ok(Region::EMPTY);
    }
    let bad = Error::BadPlan(rule!("tensor has no place"));
    let rec: TensorRecord = art.tensors.get(t as usize).ok_or(bad)?;
    let len = usize::try_from(rec.byte_len.get()).map_err(|_| bad)?;
    let (place, offset) = match Storage::from_u8(rec.storage).ok_or(bad)? {
        Storage::Weights => (Place::Weight, usize::try_from(rec.offset.get()).map_err(|_| bad)?),
        Storage::Arena | Storage::State => {
            (Place::Arena, usize::try_from(slot_of(art, t).ok_or(bad)?.offset.get()).map_err(|_| bad)?)
        }
        Storage::Alias => {
            let target = slot_of(art, rec.alias_of.get()).ok_or(bad)?;
            let base = usize::try_from(target.offset.get()).map_err(|_| bad)?;
            (Place::Arena, base + usize::try_from(rec.offset.get()).map_err(|_| bad)?)
        }
    };
    Ok(Region { tensor: t, place, offset, len, gap: 0, gap_offset: 0 })
}

/// Prepares op `index` into `op`, writing its regions to `regions` (exactly `n_regions` entries).
// Never inlined: its tensor-info table is then off the stack while ops run (firmware stacks are
// small: the keyword firmware's peak drops by 1 KB).
#[inline(never)]
pub(crate) fn prepare_op(
    art: &Artifact<'_>,
    index: u32,
    kernels: &KernelTable,
    first: u32,
    regions: &mut [Region],
) -> Result<PreparedOp> {
    let bad = |rule| Error::BadOp { index, rule };
    let rec = art.ops.get(index as usize).ok_or(bad(rule!("op index")))?;
    let code = OpCode::from_u32(rec.opcode.get()).ok_or(bad(rule!("unknown op code")))?;
    let ins = art.index_range(rec.inputs_start.get(), rec.inputs_len.get()).ok_or(bad(rule!("inputs")))?;
    let outs = art.index_range(rec.outputs_start.get(), rec.outputs_len.get()).ok_or(bad(rule!("outputs")))?;
    let (ni, no) = (ins.len(), outs.len());
    if ni + no > MAX_IO {
        return Err(bad(rule!("more than 32 inputs and outputs")));
    }
    let scratch = rec.scratch.get();
    let n = ni + no + usize::from(scratch != NO_TENSOR);
    if regions.len() != n {
        return Err(bad(rule!("region table size")));
    }
    // Inputs then outputs in one table (not one per side: firmware stacks are small).
    let mut info = [None; MAX_IO];
    let mut in_w = [false; MAX_IO];
    let all = ins.iter().chain(outs.iter()).chain((scratch != NO_TENSOR).then_some(scratch));
    for (j, (t, r)) in all.zip(regions.iter_mut()).enumerate() {
        *r = region_of(art, t)?;
        if let Some(i) = info.get_mut(j) {
            *i = crate::model::info_at(&art.tensors, t as usize);
        }
        if let Some(w) = in_w.get_mut(j).filter(|_| j < ni) {
            *w = r.place == Place::Weight;
        }
    }
    let words_le = art.attr_range(rec.attrs_start.get(), rec.attrs_len.get()).ok_or(bad(rule!("attrs")))?;
    let mut words = [0u32; 64];
    for (d, s) in words.iter_mut().zip(words_le) {
        *d = s;
    }
    let scratch_info = crate::model::info_at(&art.tensors, scratch as usize);
    let params = ops::prepare(
        code,
        words.get(..words_le.len()).ok_or(bad(rule!("more than 64 attribute words")))?,
        &OpTensors {
            inputs: info.get(..ni).unwrap_or(&[]),
            outputs: info.get(ni..ni + no).unwrap_or(&[]),
            input_is_weight: in_w.get(..ni).unwrap_or(&[]),
            scratch: scratch_info,
        },
    )
    .map_err(bad)?;
    let mut op = PreparedOp {
        code,
        params,
        tier: tier_of(code, &params, info.first().copied().flatten().filter(|_| ni > 0).as_ref(), kernels),
        first,
        n_in: ni as u8,
        n_out: no as u8,
        has_scratch: scratch != NO_TENSOR,
        writes: [0; MAX_WRITES],
        n_writes: 0,
    };
    plan_views(&mut op, regions).map_err(bad)?;
    check_requant(art, &op, regions).map_err(bad)?;
    check_row_sums(art, regions).map_err(bad)?;
    Ok(op)
}

/// Every k4n16 weight the op reads holds the true sums of its rows, checked once here (reading
/// the weights once, as the first run would): the tiers then compute the same sums however they
/// use the stored ones, and a file whose sums were altered is refused rather than run.
fn check_row_sums(art: &Artifact<'_>, regions: &[Region]) -> core::result::Result<(), &'static str> {
    use crate::format::{k4n16_geometry, Layout};
    for r in regions.iter().filter(|r| r.place == Place::Weight) {
        let Some(rec) = art.tensors.get(r.tensor as usize) else { continue };
        let layout = Layout::from_u8(rec.layout).unwrap_or(Layout::RowMajor);
        if !matches!(layout, Layout::K4N16 | Layout::K4N16Hwc) {
            continue;
        }
        let mut dims = [0usize; crate::format::MAX_RANK];
        for (d, v) in dims.iter_mut().zip(rec.dims.iter()) {
            *d = v.get() as usize;
        }
        let (rows, k) =
            k4n16_geometry(layout, dims.get(..rec.rank as usize).unwrap_or(&[])).ok_or(rule!("packed geometry"))?;
        let bytes = art.weights.get(r.offset..r.offset + r.len).ok_or(rule!("packed weights out of the weights"))?;
        let w = crate::kernels::generic::qgemm::PackedI8::from_bytes(bytes, rows, k).ok_or(rule!("packed weights"))?;
        if !w.sums_are_true() {
            return Err(rule!("packed weights: a stored row sum differs from the sum of its row"));
        }
    }
    Ok(())
}

/// An int8 product's requantization pairs are all in range, checked once here instead of on every
/// run (a pair from the file could hold any bits).
fn check_requant(art: &Artifact<'_>, op: &PreparedOp, regions: &[Region]) -> core::result::Result<(), &'static str> {
    let at = match op.params {
        Params::QMatMul { .. } | Params::QConv { .. } => 3,
        Params::QMean { .. } => 1,
        _ => return Ok(()),
    };
    let r = regions.get(at).filter(|r| r.place == Place::Weight).ok_or(rule!("requantization must be a weight"))?;
    let bytes = art.weights.get(r.offset..r.offset + r.len).ok_or(rule!("requantization out of the weights"))?;
    let pairs =
        <[crate::kernels::generic::int8::Requant]>::ref_from_bytes(bytes).map_err(|_| rule!("requantization pairs"))?;
    if pairs.iter().all(|p| p.is_valid()) {
        Ok(())
    } else {
        Err(rule!("requantization pair out of range (multiplier in [2^30, 2^31), shift in 1..=62)"))
    }
}

/// The tier of the kernel an op runs with this table.
fn tier_of(code: OpCode, params: &Params, input: Option<&crate::ops::TensorInfo>, k: &KernelTable) -> Tier {
    match (code, params) {
        // A tier's transpose32 takes every 4-byte transpose of rank 1 or more: a batch of matrix
        // transposes, strided planes (the last axis moves) or whole runs (it stays).
        (_, Params::Transpose { .. }) => match input {
            Some(x) if x.dtype.size() == 4 && x.rank > 0 => k.transpose32.tier,
            _ => Tier::Generic,
        },
        (_, Params::Quantize) => k.quantize.tier,
        (_, Params::Dequantize) => k.dequantize.tier,
        (_, Params::QLut) => k.lut.tier,
        (_, Params::QMean { .. }) => k.qmean.tier,
        (_, Params::Unary { func, .. }) if *func != crate::ops::UnaryFn::Log => k.unary.tier,
        (_, Params::Softmax { inner: 1, log: false, .. }) => k.softmax_rows.tier,
        (_, Params::LayerNorm { .. }) => k.layer_norm.tier,
        (_, Params::Conv(_)) => k.conv_f32.tier,
        (_, Params::MatMul { .. }) => k.sgemm.tier.max(k.dot_gemm.tier),
        (_, Params::Rnn(p)) if p.int8.is_some() => k.qgemm_i32.tier.max(k.rnn_cells.tier),
        (_, Params::Rnn(_)) => k.dot_gemm.tier.max(k.rnn_cells.tier),
        (_, Params::QMatMul { packed: true, .. }) => k.qgemm.tier,
        // The AMX kernel takes reductions in whole 64-byte tile rows; others run on AVX-512
        // (as do lean weights, which only stripped firmware artifacts hold).
        (_, Params::DynQMatMul { k: len, .. }) if k.dynq.tier == Tier::Amx && !len.is_multiple_of(64) => Tier::Avx512,
        (_, Params::DynQMatMul { .. }) => k.dynq.tier,
        (_, Params::QConv { kind: crate::ops::QConvKind::Packed, .. }) => k.qconv_packed.tier,
        (_, Params::QConv { kind: crate::ops::QConvKind::Depthwise, .. }) => k.qconv_dw.tier,
        (OpCode::MatMul | OpCode::Lstm | OpCode::Gru, _) => k.dot_gemm.tier,
        _ => Tier::Generic,
    }
}

/// Orders the op's arena writes by offset and assigns every arena read to the gap between two
/// writes that holds it. Reads may overlap each other (the same tensor twice, an alias and its
/// target); a write may overlap nothing.
fn plan_views(op: &mut PreparedOp, regions: &mut [Region]) -> core::result::Result<(), &'static str> {
    let ni = op.n_in as usize;
    let mut nw = 0usize;
    for (j, r) in regions.iter().enumerate().skip(ni) {
        if r.place == Place::Arena {
            *op.writes.get_mut(nw).ok_or(rule!("too many writes"))? = j as u8;
            nw += 1;
        }
    }
    let writes = op.writes.get_mut(..nw).ok_or(rule!("too many writes"))?;
    // An empty output (a Split part of size 0) holds no bytes wherever the plan put it, perhaps
    // inside another output: it moves to offset 0, before every other write.
    for &j in writes.iter() {
        if let Some(r) = regions.get_mut(j as usize).filter(|r| r.len == 0) {
            r.offset = 0;
        }
    }
    // Insertion sort by offset: a handful of writes, and no 5 KB of slice-sort code in firmware.
    let at = |j: u8| regions.get(j as usize).map_or((0, 0), |r| (r.offset, r.len));
    for i in 1..writes.len() {
        let mut k = i;
        while k > 0 && writes.get(k - 1).map_or((0, 0), |&w| at(w)) > writes.get(k).map_or((0, 0), |&w| at(w)) {
            writes.swap(k - 1, k);
            k -= 1;
        }
    }
    op.n_writes = nw as u8;
    let mut prev_end = 0usize;
    for &j in writes.iter() {
        let r = regions.get(j as usize).ok_or(rule!("region"))?;
        if r.offset < prev_end {
            return Err(rule!("an op's outputs overlap"));
        }
        prev_end = r.offset + r.len;
    }
    let span = |g: usize| -> (usize, usize) {
        let start = match g {
            0 => 0,
            _ => writes.get(g - 1).and_then(|&j| regions.get(j as usize)).map_or(0, |r| r.offset + r.len),
        };
        let end = writes.get(g).and_then(|&j| regions.get(j as usize)).map_or(usize::MAX, |r| r.offset);
        (start, end)
    };
    let mut gaps = [(0usize, 0usize); MAX_WRITES + 1];
    for (g, s) in gaps.iter_mut().enumerate().take(nw + 1) {
        *s = span(g);
    }
    for r in regions.iter_mut().take(ni) {
        if r.place != Place::Arena || r.len == 0 {
            continue;
        }
        let end = r.offset.checked_add(r.len).ok_or(rule!("region overflows"))?;
        let g = gaps
            .iter()
            .take(nw + 1)
            .position(|&(s, e)| s <= r.offset && end <= e)
            .ok_or(rule!("an op reads bytes it writes"))?;
        r.gap = g as u8;
        r.gap_offset = r.offset - gaps.get(g).map_or(0, |s| s.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(offset: usize, len: usize) -> Region {
        Region { tensor: 0, place: Place::Arena, offset, len, gap: 0, gap_offset: 0 }
    }

    #[test]
    fn an_empty_output_inside_another_does_not_overlap() {
        // One input at [0, 64), outputs at [64, 128) and an empty one the plan put at 96.
        let mut op = PreparedOp { n_in: 1, n_out: 2, ..PreparedOp::EMPTY };
        let mut regions = [arena(0, 64), arena(64, 64), arena(96, 0)];
        plan_views(&mut op, &mut regions).unwrap();
        assert_eq!(op.n_writes, 2);
        // The empty write sorts first; the input lies in the gap before the full output.
        assert_eq!(op.writes[..2], [2, 1]);
        assert_eq!(regions[2].offset, 0);
        let mut overlapping = [arena(0, 64), arena(64, 64), arena(96, 8)];
        assert!(plan_views(&mut PreparedOp { n_in: 1, n_out: 2, ..PreparedOp::EMPTY }, &mut overlapping).is_err());
    }
}
