//! Ferrite's CUDA backend for Jetson-class boards (issue 15, in progress).
//!
//! - [`Device::open`] finds a GPU through the driver loaded at run time (cudarc's dynamic
//!   loading, so this crate builds and its tests run on machines without CUDA) and reports a
//!   missing driver or device as [`Error::NotAvailable`], never a panic.
//! - [`GraphView`] reads an artifact's op graph; [`placement::plan`] puts each op on the GPU or
//!   the CPU with the fewest host/device transfers, given which ops the backend lowered.
//! - [`lower`] turns each prepared op the kernels cover into launches (kernel, grid, arguments as
//!   arena/weights offsets and scalars); [`kernels`] holds their CUDA sources, written in the C
//!   subset CUDA accepts so that the tests run them on the host too.
//! - [`Offload`] runs those launches on an [`Engine`] (device memory and launch primitives):
//!   per op through [`run_placed`] (the rest on the session's CPU kernels, copying exactly the
//!   transfers the placement counted), or the whole graph at once ([`Offload::run_whole`]).
//! - With feature `cuda`, `gpu` is the real engine: NVRTC-compiled kernels shared per device,
//!   weights on the device once per model (copied, or registered in place on unified memory),
//!   a stream per session, whole-graph runs recorded as CUDA Graphs.
//!
//! The tests run everything above the engine on an emulated device (tests/emulated_device.rs:
//! the kernels compiled as C), bit for bit against the CPU session on every trained model; the
//! real engine is tested by tests/gpu.rs where a GPU is (targets/cuda/device/run.sh).

pub mod device;
pub mod error;
pub mod exec;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod lower;
pub mod offload;
pub mod placement;

pub use device::{Device, DeviceInfo};
pub use error::{Error, Result};
pub use exec::{run_placed, Backend, Copies};
pub use graph::{GraphView, OpNode};
pub use offload::{Engine, Offload};
pub use placement::{plan, Place, Placement, Transfer};
