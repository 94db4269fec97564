//! The crate's one error type.

/// What can go wrong in the CUDA backend.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// No usable GPU: the build has no CUDA support, no driver library is installed, or the
    /// driver finds no device. The CPU path is unaffected.
    #[error("CUDA is not available: {0}")]
    NotAvailable(String),
    /// The driver refused a call (with its error name).
    #[error("CUDA driver: {0}")]
    Driver(String),
    /// A placement or backend that does not fit the session it is used with.
    #[error("offload plan: {0}")]
    Plan(String),
    /// The CPU session failed.
    #[error("{0}")]
    Run(ferrite_runtime::Error),
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;
