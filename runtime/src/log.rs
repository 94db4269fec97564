//! The log shim: `debug!` and `warn!` forward to defmt with the `defmt` feature, and expand to
//! nothing without it (no formatting code, no strings in flash). Arguments must implement
//! `defmt::Format` (integers, `str`, …) where the feature is on.

/// A debug line (defmt's `debug!`), or nothing.
macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::debug!($($arg)*);
    }};
}

/// A warning (defmt's `warn!`), or nothing.
#[allow(unused_macros)]
macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::warn!($($arg)*);
    }};
}
