//! Ferrite's CUDA backend for Jetson-class boards (issue 15, in progress).
//!
//! What exists: [`Device::open`] finds a GPU through the driver loaded at run time (cudarc's
//! dynamic loading, so this crate builds and its tests run on machines without CUDA) and reports
//! a missing driver or device as [`Error::NotAvailable`], never a panic; [`GraphView`] reads an
//! artifact's op graph, and [`placement::plan`] puts each op on the GPU or the CPU with the fewest
//! host/device transfers, given which ops have GPU kernels ([`placement::Support`]). The kernels
//! themselves, the executor and batching are not written yet: [`placement::CUDA_KERNELS`] is
//! empty, so every op falls back to the CPU today, and `ferrite inspect --device cuda` says so.

pub mod device;
pub mod error;
pub mod graph;
pub mod placement;

pub use device::{Device, DeviceInfo};
pub use error::{Error, Result};
pub use graph::{GraphView, OpNode};
pub use placement::{plan, Place, Placement, Transfer};
