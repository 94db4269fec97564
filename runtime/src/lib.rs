//! # ferrite-runtime
//!
//! Loads Ferrite artifacts (one file: tensors, ops, weights, memory plan, metadata) and runs
//! them. The core is `no_std` and allocation-free: [`Model::from_bytes`] validates a `&[u8]`
//! (from mmap, `include_bytes!` or flash) and borrows the weights in place; a [`Session`] runs the
//! ops in order inside one arena whose size the artifact records.
//!
//! ```no_run
//! # fn main() -> Result<(), ferrite_runtime::Error> {
//! use ferrite_runtime::{Input, Model, Session};
//! let model = Model::open("model.fer")?;          // mmap + validation (feature `std`)
//! let mut session = Session::new(&model)?;          // allocates the arena once (feature `alloc`)
//! let features = vec![0.0f32; 490];
//! let out = session.run(&[Input::F32(&features)])?;
//! println!("{:?}", out.f32(0));
//! # Ok(()) }
//! ```
//!
//! Features: `std` (default; `Model::open` through memmap2) implies `alloc` (`Session::new`,
//! [`AlignedBytes`]). Without them the crate builds for bare-metal targets. `defmt` sends a few
//! log lines (session set-up) through defmt; without it the log shim compiles to nothing.
//! `all-ops` (default) builds every op and FFT size; firmware lists only the `op-*` and `fft-N`
//! features its models use (`ferrite inspect` prints them) so that the rest costs no flash, and an
//! artifact with an op or FFT size left out is refused at load ([`Error::OpNotBuilt`],
//! [`Error::BadPreprocess`]).

#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]
// With only some ops (or FFT sizes) selected, helpers of the others go unused: that is the point
// of the features.
#![cfg_attr(
    not(feature = "all-ops"),
    allow(dead_code, unused_imports, unused_variables, unused_macros, unreachable_code)
)]

#[cfg(target_endian = "big")]
compile_error!("ferrite-runtime borrows little-endian weights in place; big-endian targets are not supported");

#[cfg(feature = "alloc")]
extern crate alloc;

#[macro_use]
mod log;

#[macro_use]
mod error;
pub mod explain;
pub mod format;
pub mod kernels;
mod model;
pub mod ops;
pub mod preprocess;
mod session;
pub mod stream;

pub use error::{Error, Result};
pub use model::{LoadOptions, Model, OpDesc, TensorDesc, MAX_IO};
pub use ops::TensorInfo;
pub use preprocess::Preprocessing;
pub use session::{
    Input, Observed, OpSlot, OutputData, Outputs, Place, PreparedOp, Ran, Region, Session, SessionOptions, Span,
    ARENA_ALIGN,
};

#[cfg(feature = "alloc")]
mod aligned;
#[cfg(feature = "alloc")]
pub use aligned::AlignedBytes;
