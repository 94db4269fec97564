//! A [`Backend`] that runs ops as the kernel launches [`crate::lower`] made, on an [`Engine`]:
//! the memory and launch primitives of one device. The CUDA engine (`gpu::CudaEngine`, feature
//! `cuda`) and the tests' emulated one (the kernels compiled as C) differ only there, so the
//! lowering, argument passing and transfers the tests check are the ones a GPU gets.

use crate::error::{Error, Result};
use crate::exec::Backend;
use crate::graph::{GraphView, OpNode};
use crate::lower::{Arg, ParamValues, MAX_ARGS};
use ferrite_runtime::{Input, OpSlot, Outputs, Place, Ran, Session, Span};
use std::cell::RefCell;
use std::ffi::c_void;

/// Bytes an engine's arena copy has past the session's arena: the run's status word (an `int`
/// that kernels set to an op's index + 1 when they meet an index out of range), 8-aligned.
pub const STATUS_BYTES: usize = 8;

/// The length of an engine's arena copy for a session arena of `arena_len` bytes: the arena,
/// then the status word at [`status_offset`].
pub fn device_arena_len(arena_len: usize) -> usize {
    status_offset(arena_len) + STATUS_BYTES
}

/// Where the status word is in an engine's arena copy.
pub fn status_offset(arena_len: usize) -> usize {
    arena_len.div_ceil(8) * 8
}

/// One device's memory and launches. Its addresses are fixed for its life: an [`Offload`]
/// resolves every launch's arguments against them once.
pub trait Engine {
    /// The device address of the arena copy's first byte (the copy is
    /// [`device_arena_len`] bytes long, zeroed at least where the status word is).
    fn arena(&self) -> u64;
    /// The device address of the weights section's first byte.
    fn weights(&self) -> u64;
    /// Copies `bytes` to the arena copy, `offset` bytes in.
    fn upload(&mut self, offset: usize, bytes: &[u8]) -> Result<()>;
    /// Copies the arena copy's bytes from `offset` into `out`.
    fn download(&mut self, offset: usize, out: &mut [u8]) -> Result<()>;
    /// Launches `kernel` on `grid` blocks of [`crate::lower::BLOCK`] threads, with the driver's
    /// parameter convention (one pointer to each argument's value).
    fn launch(&mut self, kernel: &str, grid: u32, params: &mut [*mut c_void]) -> Result<()>;
    /// Runs `record`, which issues the same launches (same kernels, grids and argument values)
    /// every time: an engine with CUDA Graphs records them once and replays the graph after;
    /// this default runs them as they come.
    fn run_recorded(&mut self, record: &mut dyn FnMut(&mut dyn Engine) -> Result<()>) -> Result<()>
    where
        Self: Sized,
    {
        record(self)
    }
}

/// One launch with its arguments resolved against the engine's addresses.
struct Ready {
    kernel: &'static str,
    grid: u32,
    values: ParamValues,
}

impl Ready {
    fn launch(&self, engine: &mut dyn Engine) -> Result<()> {
        let mut buf = [std::ptr::null_mut(); MAX_ARGS];
        let params = self
            .values
            .pointers(&mut buf)
            .ok_or_else(|| Error::Plan(format!("{}: too many arguments", self.kernel)))?;
        engine.launch(self.kernel, self.grid, params)
    }
}

/// The ops of one session lowered to launches, run on an engine.
pub struct Offload<E: Engine> {
    engine: E,
    /// Each op's launches (`None`: the op runs on the CPU), resolved once.
    launches: Vec<Option<Vec<Ready>>>,
    /// The status word's offset in the engine's arena copy.
    status: usize,
    /// Whether any launch reports through the status word (read after each run if so).
    checks_status: bool,
}

impl<E: Engine> Offload<E> {
    /// Lowers `session`'s ops for `engine` (whose arena copy has the session's arena length) and
    /// resolves their arguments against its addresses.
    pub fn new(session: &Session<'_, '_, '_>, engine: E) -> Offload<E> {
        let status = status_offset(session.model().arena_len());
        let (arena, weights) = (engine.arena(), engine.weights());
        let lowered = crate::lower::lower_all(session);
        let checks_status = lowered.iter().flatten().flatten().any(|l| l.args.contains(&Arg::Status));
        let launches = lowered
            .into_iter()
            .map(|op| {
                op.map(|ls| {
                    ls.into_iter()
                        .map(|l| Ready {
                            kernel: l.kernel,
                            grid: l.grid,
                            values: l.values(arena, weights, arena + status as u64),
                        })
                        .collect()
                })
            })
            .collect();
        Offload { engine, launches, status, checks_status }
    }

    /// Whether op `op` has launches (what placement asks: `|op| offload.supports(op)`).
    pub fn supports(&self, op: &OpNode) -> bool {
        matches!(self.launches.get(op.index), Some(Some(_)))
    }

    /// How many launches op `index` takes on the device (0: none, it runs on the CPU).
    pub fn launch_count(&self, index: usize) -> usize {
        self.launches.get(index).and_then(|l| l.as_ref()).map_or(0, Vec::len)
    }

    /// The engine.
    pub fn engine(&mut self) -> &mut E {
        &mut self.engine
    }

    /// Whether every op has launches (the whole graph can run on the device).
    pub fn whole_graph(&self) -> bool {
        self.launches.iter().all(Option::is_some)
    }

    /// Runs the whole graph on the device with one upload of the graph inputs and state before
    /// the first op and one download of the outputs and state after the last, every launch
    /// issued at once through [`Engine::run_recorded`] (a CUDA Graph on the CUDA engine). An
    /// error when some op has no launches: [`crate::run_placed`] runs such graphs.
    pub fn run_whole<'s>(
        &mut self,
        session: &'s mut Session<'_, '_, '_>,
        graph: &GraphView,
        inputs: &[Input<'_>],
    ) -> Result<Outputs<'s>> {
        if !self.whole_graph() || self.launches.len() != graph.ops.len() {
            return Err(Error::Plan("not every op of this graph has a GPU kernel".into()));
        }
        // Graph inputs and state, whole (aliases resolved by GraphView), as arena spans.
        let spans = |ts: &mut dyn Iterator<Item = &u32>| -> Vec<Span> {
            ts.map(|&t| session.tensor_region(t))
                .filter(|r| r.place() == Place::Arena)
                .map(|r| Span { tensor: r.tensor(), offset: r.offset(), len: r.len() })
                .collect()
        };
        let (ins, state) = (spans(&mut graph.inputs.iter().chain(&graph.state)), spans(&mut graph.state.iter()));
        let error = RefCell::new(None);
        let fail = |e: Error| {
            error.borrow_mut().get_or_insert(e);
            ferrite_runtime::Error::Offload
        };
        let this = RefCell::new(self);
        let before = |slot: OpSlot<'_>, host: &mut [u8]| {
            if slot.index == 0 {
                let mut me = this.borrow_mut();
                me.issue(&ins, host).map_err(&fail)?;
            }
            Ok(Ran::Elsewhere)
        };
        let end = |outputs: &mut dyn Iterator<Item = Span>, host: &mut [u8]| {
            let mut me = this.borrow_mut();
            for span in outputs.chain(state.iter().copied()) {
                me.download(span, host).map_err(&fail)?;
            }
            me.finish().map_err(&fail)
        };
        let out = session.run_split(inputs, before, end);
        match (out, error.into_inner()) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(Error::Run(e)),
            (Ok(o), None) => Ok(o),
        }
    }

    /// Uploads `ins`, then issues every op's launches as one recording.
    fn issue(&mut self, ins: &[Span], host: &[u8]) -> Result<()> {
        for &span in ins {
            Backend::upload(self, span, host)?;
        }
        let launches = &self.launches;
        self.engine
            .run_recorded(&mut |e: &mut dyn Engine| launches.iter().flatten().flatten().try_for_each(|l| l.launch(e)))
    }
}

fn check(span: Span, host_len: usize) -> Result<core::ops::Range<usize>> {
    let end = span.offset.checked_add(span.len).filter(|&e| e <= host_len);
    end.map(|e| span.offset..e).ok_or_else(|| Error::Plan(format!("tensor {} outside the arena", span.tensor)))
}

impl<E: Engine> Backend for Offload<E> {
    fn upload(&mut self, span: Span, host: &[u8]) -> Result<()> {
        let r = check(span, host.len())?;
        self.engine.upload(span.offset, &host[r])
    }

    fn download(&mut self, span: Span, host: &mut [u8]) -> Result<()> {
        let r = check(span, host.len())?;
        self.engine.download(span.offset, &mut host[r])
    }

    fn run(&mut self, slot: &OpSlot<'_>) -> Result<()> {
        let Some(Some(launches)) = self.launches.get(slot.index) else {
            return Err(Error::Plan(format!("op {} ({}) has no GPU kernel", slot.index, slot.code.name())));
        };
        launches.iter().try_for_each(|l| l.launch(&mut self.engine))
    }

    fn finish(&mut self) -> Result<()> {
        if !self.checks_status {
            return Ok(());
        }
        let mut word = [0u8; 4];
        self.engine.download(self.status, &mut word)?;
        let tag = i32::from_le_bytes(word);
        if tag == 0 {
            return Ok(());
        }
        self.engine.upload(self.status, &[0; 4])?;
        let index = u32::try_from(tag - 1).unwrap_or(u32::MAX);
        Err(Error::Run(ferrite_runtime::Error::BadOp { index, rule: "Gather index out of range" }))
    }
}
