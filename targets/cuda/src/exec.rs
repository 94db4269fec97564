//! Running a placed graph: the ops the placement puts on the GPU run on a [`Backend`] that keeps
//! its own copy of the session's arena (same offsets), the rest on the session's CPU kernels.
//! Before each op, every input whose latest value is on the other side is copied over (whole
//! tensors: an alias brings the tensor it views); after the last op, graph outputs and recurrent
//! state come back to the host. The copies are the transfers [`crate::plan`] counts.

use crate::error::{Error, Result};
use crate::graph::GraphView;
use crate::placement::{Place, Placement};
use ferrite_runtime::{Input, OpSlot, Outputs, Ran, Session, Span};
use std::cell::RefCell;
use std::collections::HashMap;

/// A device that runs ops over its copy of the arena.
pub trait Backend {
    /// Copies the host arena's bytes `span` to the device's copy.
    fn upload(&mut self, span: Span, host: &[u8]) -> Result<()>;
    /// Copies the device's bytes `span` to the host arena.
    fn download(&mut self, span: Span, host: &mut [u8]) -> Result<()>;
    /// Runs op `slot` over the device's copy (its inputs are there).
    fn run(&mut self, slot: &OpSlot<'_>) -> Result<()>;
    /// Called once a run's outputs are back: reports what the device found wrong during the
    /// run (an index out of range), as the CPU kernel would have.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What a run copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copies {
    /// Host to device copies.
    pub uploads: usize,
    /// Device to host copies.
    pub downloads: usize,
    /// Bytes copied either way.
    pub bytes: usize,
}

/// Which sides hold a tensor's latest value.
#[derive(Debug, Clone, Copy)]
struct Held {
    host: bool,
    device: bool,
}

/// The bookkeeping of one run.
struct Mover<'g, 'b> {
    graph: &'g GraphView,
    backend: &'b mut dyn Backend,
    held: HashMap<u32, Held>,
    /// Where each tensor an op wrote lies (whole tensors).
    written: HashMap<u32, Span>,
    copies: Copies,
    error: Option<Error>,
}

impl Mover<'_, '_> {
    /// The whole tensor behind `span` (itself, or the tensor an alias views).
    fn whole(&self, span: Span) -> Span {
        let (tensor, off) = self.graph.base(span.tensor);
        let len = self.graph.byte_len.get(tensor as usize).copied().unwrap_or(span.len);
        Span { tensor, offset: span.offset.saturating_sub(off), len }
    }

    /// Makes `span`'s latest value present on `to`.
    fn bring(&mut self, span: Span, to: Place, host: &mut [u8]) -> Result<()> {
        let span = self.whole(span);
        // What no op wrote (graph inputs, and state at the start) is on the host.
        let h = *self.held.get(&span.tensor).unwrap_or(&Held { host: true, device: false });
        match to {
            Place::Gpu if !h.device => {
                self.backend.upload(span, host)?;
                self.copies.uploads += 1;
            }
            Place::Cpu if !h.host => {
                self.backend.download(span, host)?;
                self.copies.downloads += 1;
            }
            _ => return Ok(()),
        }
        self.copies.bytes += span.len;
        self.held.insert(span.tensor, Held { host: true, device: true });
        Ok(())
    }

    fn op(&mut self, slot: &OpSlot<'_>, place: Place, host: &mut [u8]) -> Result<Ran> {
        for span in slot.inputs() {
            self.bring(span, place, host)?;
        }
        if place == Place::Gpu {
            self.backend.run(slot)?;
        }
        for span in slot.outputs() {
            let whole = self.whole(span);
            self.held.insert(whole.tensor, Held { host: place == Place::Cpu, device: place == Place::Gpu });
            self.written.insert(whole.tensor, whole);
        }
        Ok(if place == Place::Gpu { Ran::Elsewhere } else { Ran::Here })
    }

    /// Keeps the first error for the caller; the session sees [`ferrite_runtime::Error::Offload`].
    fn fail(&mut self, e: Error) -> ferrite_runtime::Error {
        self.error.get_or_insert(e);
        ferrite_runtime::Error::Offload
    }
}

/// Runs `session`'s model on `inputs`, the ops `placement` puts on the GPU on `backend`.
pub fn run_placed<'s>(
    session: &'s mut Session<'_, '_, '_>,
    graph: &GraphView,
    placement: &Placement,
    backend: &mut dyn Backend,
    inputs: &[Input<'_>],
) -> Result<(Outputs<'s>, Copies)> {
    if placement.places.len() != graph.ops.len() || graph.ops.len() != session.ops().len() {
        return Err(Error::Plan("the placement is for another graph".into()));
    }
    let mover = RefCell::new(Mover {
        graph,
        backend,
        held: HashMap::new(),
        written: HashMap::new(),
        copies: Copies::default(),
        error: None,
    });
    let before = |slot: OpSlot<'_>, host: &mut [u8]| {
        let place = placement.places.get(slot.index).copied().unwrap_or(Place::Cpu);
        let mut m = mover.borrow_mut();
        m.op(&slot, place, host).map_err(|e| m.fail(e))
    };
    let end = |outputs: &mut dyn Iterator<Item = Span>, host: &mut [u8]| {
        let mut m = mover.borrow_mut();
        // Recurrent state the GPU wrote last: the next run (and `reset`) sees the host's copy.
        let state: Vec<Span> = m.graph.state.iter().filter_map(|t| m.written.get(t).copied()).collect();
        for span in outputs.chain(state) {
            m.bring(span, Place::Cpu, host).map_err(|e| m.fail(e))?;
        }
        m.backend.finish().map_err(|e| m.fail(e))
    };
    let out = session.run_split(inputs, before, end);
    let m = mover.into_inner();
    match (out, m.error) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(Error::Run(e)),
        (Ok(o), None) => Ok((o, m.copies)),
    }
}
