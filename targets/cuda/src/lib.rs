//! Ferrite's CUDA backend for Jetson-class boards (issue 15, in progress).
//!
//! What exists: [`Device::open`] finds a GPU through the driver loaded at run time (cudarc's
//! dynamic loading, so this crate builds and its tests run on machines without CUDA) and reports
//! a missing driver or device as [`Error::NotAvailable`], never a panic; [`GraphView`] reads an
//! artifact's op graph, and [`placement::plan`] puts each op on the GPU or the CPU with the fewest
//! host/device transfers, given which ops have GPU kernels ([`placement::Support`]);
//! [`run_placed`] runs a placed graph, the GPU's ops on a [`Backend`] that keeps its own copy of
//! the session's arena and the rest on the session's CPU kernels, copying exactly the transfers the
//! placement counted (tested with a fake backend, bit for bit against the CPU session).
//! [`kernels`] holds the first CUDA kernel (int8 GEMM with `__dp4a`), checked bit for bit against
//! the scalar kernel by running it on the host; with the `cuda` feature, `gpu` compiles it with
//! NVRTC and launches it (tests/gpu.rs, run by targets/cuda/device/run.sh where a GPU is). The
//! cudarc [`Backend`] for the executor and batching are not written yet: [`placement::CUDA_KERNELS`] is empty, so every op falls back to
//! the CPU today, and `ferrite inspect --device cuda` says so.

pub mod device;
pub mod error;
pub mod exec;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod graph;
pub mod kernels;
pub mod placement;

pub use device::{Device, DeviceInfo};
pub use error::{Error, Result};
pub use exec::{run_placed, Backend, Copies};
pub use graph::{GraphView, OpNode};
pub use placement::{plan, Place, Placement, Transfer};
