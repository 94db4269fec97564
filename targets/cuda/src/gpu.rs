//! The CUDA engine (feature `cuda`): NVRTC compiles the kernels for the device's architecture once
//! per device and process ([`Kernels::for_device`], shared by every engine on that device), a
//! model's weights reach the device once ([`DeviceWeights`], shared by its sessions: copied, or
//! on unified-memory boards registered in place), and each session's [`CudaEngine`] holds its
//! arena copy and a stream of its own, on which the launches of a whole-graph run can be recorded
//! once as a CUDA Graph and replayed.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::GraphView;
use crate::offload::{Engine, Offload};
use crate::placement::Placement;
use cudarc::driver::sys::{self, CUdeviceptr};
use cudarc::driver::{result, CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr};
use ferrite_runtime::{Input, Model, Outputs, Session};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

fn driver(e: result::DriverError) -> Error {
    Error::Driver(e.to_string())
}

/// Every kernel of [`crate::kernels::SOURCES`], compiled for one device.
pub struct Kernels {
    ctx: Arc<CudaContext>,
    functions: HashMap<&'static str, CudaFunction>,
}

impl Kernels {
    /// The kernels for `device`, compiled by NVRTC the first time a process asks (NVRTC is
    /// loaded at run time: without it, [`Error::NotAvailable`]; a compile error carries NVRTC's
    /// log), then shared.
    pub fn for_device(device: &Device) -> Result<Arc<Kernels>> {
        static CACHE: Mutex<Vec<(usize, Arc<Kernels>)>> = Mutex::new(Vec::new());
        let ordinal = device.info().ordinal;
        let mut cache = CACHE.lock().map_err(|_| Error::Driver("kernel cache poisoned".into()))?;
        if let Some((_, k)) = cache.iter().find(|(o, _)| *o == ordinal) {
            return Ok(k.clone());
        }
        let k = Arc::new(Kernels::compile(device)?);
        cache.push((ordinal, k.clone()));
        Ok(k)
    }

    fn compile(device: &Device) -> Result<Kernels> {
        // SAFETY: only tries to load NVRTC's library names; calls nothing.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(Error::NotAvailable("no NVRTC library (libnvrtc.so) on this machine".into()));
        }
        let (major, minor) = device.info().compute_capability;
        if (major, minor) < (6, 1) {
            return Err(Error::NotAvailable(format!(
                "compute capability {major}.{minor} has no __dp4a (6.1 or later)"
            )));
        }
        // fmad off: no contraction of a·b + c, so f32 arithmetic rounds as the CPU kernels do.
        let opts = cudarc::nvrtc::CompileOptions {
            fmad: Some(false),
            options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
            ..Default::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(crate::kernels::module_source(), opts)
            .map_err(|e| Error::Driver(format!("NVRTC: {e:?}")))?;
        let ctx = device.context().clone();
        let module = ctx.load_module(ptx).map_err(driver)?;
        let mut functions = HashMap::new();
        for &name in crate::kernels::KERNELS {
            functions.insert(name, module.load_function(name).map_err(driver)?);
        }
        Ok(Kernels { ctx, functions })
    }

    /// The kernel called `name`.
    pub fn function(&self, name: &str) -> Result<&CudaFunction> {
        self.functions.get(name).ok_or_else(|| Error::Plan(format!("no kernel {name}")))
    }
}

/// How a model's weights reach the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsMode {
    /// Copied once into device memory.
    Upload,
    /// The host bytes (the mapped artifact) registered with the driver and read in place:
    /// on a unified-memory board (Jetson) that is the same memory, so nothing is copied; on a
    /// discrete GPU the kernels read them over the bus.
    MapHost,
    /// [`WeightsMode::MapHost`] where [`crate::DeviceInfo::unified_memory`], else upload.
    Auto,
}

enum Held {
    // Owned for its drop (the device memory is freed with it).
    Copy {
        _owned: CudaSlice<u8>,
    },
    /// The registered host range (page-rounded), unregistered on drop.
    Mapped(*mut c_void),
}

/// A model's weights section on the device, shared by every engine of its sessions (`Arc`).
pub struct DeviceWeights<'m> {
    ctx: Arc<CudaContext>,
    ptr: CUdeviceptr,
    held: Held,
    _model: std::marker::PhantomData<&'m [u8]>,
}

// SAFETY: the raw pointer in `Held::Mapped` is only passed back to the driver on drop; the
// registered bytes are the model's, borrowed immutably for 'm.
unsafe impl Send for DeviceWeights<'_> {}
// SAFETY: as above; nothing mutates through a shared DeviceWeights.
unsafe impl Sync for DeviceWeights<'_> {}

const PAGE: usize = 4096;

impl<'m> DeviceWeights<'m> {
    /// Puts `model`'s weights on `device` as `mode` says ([`WeightsMode::Auto`] uploads them
    /// where registering the host pages fails: a heap buffer sharing a page with another
    /// registered one, a driver without read-only registration for a read-only mapping).
    pub fn new(device: &Device, model: &'m Model<'_>, mode: WeightsMode) -> Result<Arc<DeviceWeights<'m>>> {
        let bytes: &'m [u8] = model.artifact().weights;
        let ctx = device.context().clone();
        ctx.bind_to_thread().map_err(driver)?;
        let held = match mode {
            WeightsMode::Upload => Self::upload(&ctx, bytes)?,
            WeightsMode::MapHost => Self::map(&ctx, bytes)?,
            WeightsMode::Auto if device.info().unified_memory() => {
                Self::map(&ctx, bytes).or_else(|_| Self::upload(&ctx, bytes))?
            }
            WeightsMode::Auto => Self::upload(&ctx, bytes)?,
        };
        let (ptr, held) = held;
        Ok(Arc::new(DeviceWeights { ctx, ptr, held, _model: Default::default() }))
    }

    fn upload(ctx: &Arc<CudaContext>, bytes: &[u8]) -> Result<(CUdeviceptr, Held)> {
        let stream = ctx.default_stream();
        // At least one byte: a kernel argument still needs an address.
        let mut slice = stream.alloc_zeros::<u8>(bytes.len().max(1)).map_err(driver)?;
        if !bytes.is_empty() {
            stream.memcpy_htod(bytes, &mut slice).map_err(driver)?;
        }
        stream.synchronize().map_err(driver)?;
        let ptr = slice.device_ptr(&stream).0;
        Ok((ptr, Held::Copy { _owned: slice }))
    }

    fn map(ctx: &Arc<CudaContext>, bytes: &'m [u8]) -> Result<(CUdeviceptr, Held)> {
        if bytes.is_empty() {
            return Self::upload(ctx, bytes);
        }
        // Whole pages around the section: the driver pins pages.
        let start = bytes.as_ptr() as usize;
        let (first, end) = (start / PAGE * PAGE, (start + bytes.len()).div_ceil(PAGE) * PAGE);
        let read_only =
            ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED).unwrap_or(0)
                != 0;
        let flags = sys::CU_MEMHOSTREGISTER_DEVICEMAP | if read_only { sys::CU_MEMHOSTREGISTER_READ_ONLY } else { 0 };
        let host = first as *mut c_void;
        // SAFETY: [first, end) covers the weights section of the model's bytes, which are
        // borrowed for 'm and outlive this registration (undone in Drop, while 'm holds); the
        // driver only pins and maps them (read-only where the device supports that flag).
        unsafe { sys::cuMemHostRegister_v2(host, end - first, flags) }.result().map_err(driver)?;
        let mut base: CUdeviceptr = 0;
        // SAFETY: `host` was registered just above with DEVICEMAP.
        if let Err(e) = unsafe { sys::cuMemHostGetDevicePointer_v2(&mut base, host, 0) }.result() {
            // SAFETY: unregisters what was registered above.
            unsafe { sys::cuMemHostUnregister(host) };
            return Err(driver(e));
        }
        Ok((base + (start - first) as u64, Held::Mapped(host)))
    }

    /// Whether the kernels read the host's bytes in place (nothing copied).
    pub fn is_mapped(&self) -> bool {
        matches!(self.held, Held::Mapped(_))
    }
}

impl Drop for DeviceWeights<'_> {
    fn drop(&mut self) {
        if let Held::Mapped(host) = self.held {
            let _ = self.ctx.bind_to_thread();
            // SAFETY: `host` is the range registered in `new`, still registered.
            unsafe { sys::cuMemHostUnregister(host) };
        }
    }
}

/// One session's device side: its arena copy, its stream, and the CUDA Graph of its whole-graph
/// run once recorded.
pub struct CudaEngine<'m> {
    kernels: Arc<Kernels>,
    weights: Arc<DeviceWeights<'m>>,
    stream: Arc<CudaStream>,
    _arena: CudaSlice<u8>,
    arena: CUdeviceptr,
    graph: Option<CudaGraph>,
    /// Whether whole-graph runs are recorded as CUDA Graphs.
    pub use_graphs: bool,
}

impl<'m> CudaEngine<'m> {
    /// An engine for a session whose arena is `arena_len` bytes (the copy is
    /// [`crate::offload::device_arena_len`] long, zeroed).
    pub fn new(kernels: Arc<Kernels>, weights: Arc<DeviceWeights<'m>>, arena_len: usize) -> Result<CudaEngine<'m>> {
        kernels.ctx.bind_to_thread().map_err(driver)?;
        // A stream of its own: the legacy default stream cannot be captured into a graph.
        let stream = kernels.ctx.new_stream().map_err(driver)?;
        let arena_slice = stream.alloc_zeros::<u8>(crate::offload::device_arena_len(arena_len)).map_err(driver)?;
        let arena = arena_slice.device_ptr(&stream).0;
        Ok(CudaEngine { kernels, weights, stream, _arena: arena_slice, arena, graph: None, use_graphs: true })
    }

    /// Waits for everything issued so far.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(driver)
    }
}

impl Engine for CudaEngine<'_> {
    fn arena(&self) -> u64 {
        self.arena
    }

    fn weights(&self) -> u64 {
        self.weights.ptr
    }

    fn upload(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.kernels.ctx.bind_to_thread().map_err(driver)?;
        // SAFETY: the destination is `bytes.len()` bytes inside the arena allocation (Offload
        // checks spans against the arena's length); from pageable memory the call returns once
        // the bytes are staged, so `bytes` may change afterwards.
        unsafe { result::memcpy_htod_async(self.arena + offset as u64, bytes, self.stream.cu_stream()) }.map_err(driver)
    }

    fn download(&mut self, offset: usize, out: &mut [u8]) -> Result<()> {
        self.kernels.ctx.bind_to_thread().map_err(driver)?;
        // SAFETY: the source is `out.len()` bytes inside the arena allocation; the stream is
        // synchronized before `out` is read.
        unsafe { result::memcpy_dtoh_async(out, self.arena + offset as u64, self.stream.cu_stream()) }
            .map_err(driver)?;
        self.synchronize()
    }

    fn launch(&mut self, kernel: &str, grid: u32, params: &mut [*mut c_void]) -> Result<()> {
        // The context current on this thread (a session may run on another thread than made it).
        self.kernels.ctx.bind_to_thread().map_err(driver)?;
        let f = self.kernels.function(kernel)?.cu_function();
        let block = (crate::lower::BLOCK, 1, 1);
        // SAFETY: `params` has one pointer per parameter of `kernel`, to values of its types, in
        // its order (lower.rs builds them from the same signatures the emulated tests check);
        // tensor pointers are inside the arena and weights allocations, which outlive the launch.
        unsafe { result::launch_kernel(f, (grid.max(1), 1, 1), block, 0, self.stream.cu_stream(), params) }
            .map_err(driver)
    }

    fn run_recorded(&mut self, record: &mut dyn FnMut(&mut dyn Engine) -> Result<()>) -> Result<()> {
        if !self.use_graphs {
            return record(self);
        }
        if self.graph.is_none() {
            self.kernels.ctx.bind_to_thread().map_err(driver)?;
            self.stream.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL).map_err(driver)?;
            let recorded = record(self);
            let graph = self.stream.end_capture(sys::CUgraphInstantiate_flags(0)).map_err(driver);
            recorded?;
            self.graph = graph?;
        }
        match &self.graph {
            Some(g) => g.launch().map_err(driver),
            None => Err(Error::Driver("stream capture gave no graph".into())),
        }
    }
}

/// A model on the GPU, as a user runs it: a CPU session for the inputs, outputs and any op
/// without a kernel, and the CUDA engine for the rest, placed once. Runs take the whole-graph
/// path (one upload, one CUDA Graph launch, one download) when every op has a kernel, else
/// the per-op path with CPU fallback.
pub struct CudaSession<'m, 'a> {
    host: Session<'m, 'a, 'static>,
    offload: Offload<CudaEngine<'m>>,
    graph: GraphView,
    placement: Placement,
}

impl<'m, 'a> CudaSession<'m, 'a> {
    /// Places `model` for `device`, with its weights already there (`weights`, which sessions of
    /// the same model share).
    pub fn new(device: &Device, model: &'m Model<'a>, weights: Arc<DeviceWeights<'m>>) -> Result<CudaSession<'m, 'a>> {
        let kernels = Kernels::for_device(device)?;
        let host = Session::new(model).map_err(Error::Run)?;
        let engine = CudaEngine::new(kernels, weights, model.arena_len())?;
        let offload = Offload::new(&host, engine);
        let graph = GraphView::of(model);
        let placement = crate::plan(&graph, &|op: &crate::OpNode| offload.supports(op));
        Ok(CudaSession { host, offload, graph, placement })
    }

    /// Where each op runs.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Whether whole-graph runs are recorded once as a CUDA Graph and replayed (the default), or
    /// launched op by op.
    pub fn set_cuda_graphs(&mut self, on: bool) {
        self.offload.engine().use_graphs = on;
    }

    /// Runs the model on `inputs` (host memory, one per graph input) and returns the outputs
    /// (host memory, borrowed until the next run).
    pub fn run(&mut self, inputs: &[Input<'_>]) -> Result<Outputs<'_>> {
        if self.placement.whole_graph {
            return self.offload.run_whole(&mut self.host, &self.graph, inputs);
        }
        crate::run_placed(&mut self.host, &self.graph, &self.placement, &mut self.offload, inputs).map(|(o, _)| o)
    }
}
