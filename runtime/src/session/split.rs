//! Running a session's ops on two executors: this session's CPU kernels and another one (a GPU
//! backend) that takes some ops. The other executor keeps its own copy of the arena, laid out the
//! same way (a tensor is at the same offset in both), and copies tensors between the two as its
//! placement says; the session asks it before every op and runs on the CPU whatever it leaves.
//! Nothing here allocates, so a firmware-style session can offload too.

use super::prepare::{Place, Region};
use super::{Outputs, Session};
use crate::error::{Error, Result};
use crate::ops::OpCode;
use crate::session::Input;

/// An arena tensor's bytes as an op or the graph sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The tensor's index in the artifact (an alias's own index for a view).
    pub tensor: u32,
    /// Its first byte in the arena.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
}

/// The arena spans among `regions` (weights and absent tensors left out).
fn spans(regions: &[Region]) -> impl Iterator<Item = Span> + '_ {
    regions.iter().filter(|r| r.place == Place::Arena).map(|r| Span { tensor: r.tensor, offset: r.offset, len: r.len })
}

/// One op, as the other executor sees it before it runs.
#[derive(Debug, Clone, Copy)]
pub struct OpSlot<'s> {
    /// Its index in execution order.
    pub index: usize,
    /// Its op code.
    pub code: OpCode,
    inputs: &'s [Region],
    outputs: &'s [Region],
}

impl OpSlot<'_> {
    /// The arena tensors it reads, in input order.
    pub fn inputs(&self) -> impl Iterator<Item = Span> + '_ {
        spans(self.inputs)
    }

    /// The arena tensors it writes, in output order.
    pub fn outputs(&self) -> impl Iterator<Item = Span> + '_ {
        spans(self.outputs)
    }
}

/// Where an op ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// The other executor ran it: the CPU skips it.
    Elsewhere,
    /// The CPU is to run it (after the other executor brought its inputs back).
    Here,
}

impl<'m, 'a, 'b> Session<'m, 'a, 'b> {
    /// Runs the model on `inputs` with a second executor: `before` gets each op and the arena
    /// before the op runs and says where it ran; after the last op, `end` gets the graph outputs'
    /// spans and the arena, to bring back what the other executor holds. Returns the outputs as
    /// [`Session::run`] does.
    pub fn run_split(
        &mut self,
        inputs: &[Input<'_>],
        mut before: impl FnMut(OpSlot<'_>, &mut [u8]) -> Result<Ran>,
        end: impl FnOnce(&mut dyn Iterator<Item = Span>, &mut [u8]) -> Result<()>,
    ) -> Result<Outputs<'_>> {
        let art = self.art;
        let kernels = self.kernels;
        let arena = self.arena.bytes();
        let (ops, regions) = self.prepared.view();
        super::write_inputs(&art, arena, regions, inputs)?;
        for (index, op) in ops.iter().enumerate() {
            let regs = op.regions(regions);
            let (ni, no) = (op.n_in as usize, op.n_out as usize);
            let slot = OpSlot {
                index,
                code: op.code,
                inputs: regs.get(..ni).unwrap_or(&[]),
                outputs: regs.get(ni..ni + no).unwrap_or(&[]),
            };
            if before(slot, arena)? == Ran::Here {
                super::exec::run_op(&art, arena, index as u32, op, regs, &kernels)?;
            }
        }
        let n_in = art.plan.inputs_len.get() as usize;
        let outs = regions.get(n_in..n_in + art.plan.outputs_len.get() as usize).unwrap_or(&[]);
        end(&mut spans(outs), arena)?;
        Ok(self.outputs())
    }

    /// Runs op `index` alone over the arena as it is (its inputs already there): what an executor
    /// that borrows the CPU kernels for some ops calls, on a session of its own.
    pub fn run_op(&mut self, index: usize) -> Result<()> {
        let art = self.art;
        let kernels = self.kernels;
        let arena = self.arena.bytes();
        let (ops, regions) = self.prepared.view();
        let op = ops.get(index).ok_or(Error::BadOp { index: index as u32, rule: rule!("no such op") })?;
        let regs = op.regions(regions);
        super::exec::run_op(&art, arena, index as u32, op, regs, &kernels)
    }

    /// Op `index`'s regions: its inputs, then its outputs, then its scratch if it has one (empty
    /// for an index past the last op). What an executor with its own kernels launches them on.
    pub fn op_regions(&self, index: usize) -> &[Region] {
        let (ops, regions) = self.prepared.view();
        ops.get(index).map_or(&[], |op| op.regions(regions))
    }

    /// Where tensor `t`'s bytes are (weights, arena, or absent for no such tensor): what an
    /// executor that uploads graph inputs and state itself looks up.
    pub fn tensor_region(&self, t: u32) -> Region {
        super::prepare::region_of(&self.art, t).unwrap_or(Region::EMPTY)
    }

    /// Tensor `t`'s type, shape, quantization and layout, as the kernels see it.
    pub fn tensor_info(&self, t: u32) -> Option<crate::ops::TensorInfo> {
        crate::model::info_at(&self.art.tensors, t as usize)
    }

    /// The arena's bytes, for an executor that keeps a copy of it in step (see
    /// [`Session::run_split`]).
    pub fn arena_mut(&mut self) -> &mut [u8] {
        self.arena.bytes()
    }
}
