//! Kernels. `generic` holds the scalar reference kernels, which are the specification every SIMD
//! tier (later: `x86_64/`, `aarch64/`) must match; [`KernelTable`] is the per-op function table
//! filled from `generic` and then overridden by whatever tiers the CPU supports.

pub mod generic;

/// The kernel tier in use (for `inspect` and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Portable scalar reference.
    Generic,
}

impl Tier {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Generic => "generic",
        }
    }
}

/// Function pointers for the kernel families that have more than one implementation tier.
/// Built once per session; a SIMD tier replaces entries it implements.
#[derive(Debug, Clone, Copy)]
pub struct KernelTable {
    /// Tier that filled the table last.
    pub tier: Tier,
    /// Dot product of two f32 rows (the inner loop of MatMul, Conv and the recurrent ops).
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// `acc[i] += a * x[i]` over f32 rows.
    pub axpy_f32: fn(&mut [f32], f32, &[f32]),
}

impl KernelTable {
    /// The table for this CPU. Only the generic tier exists in v1.
    pub fn detect() -> Self {
        Self::generic()
    }
    /// The scalar reference table.
    pub fn generic() -> Self {
        KernelTable { tier: Tier::Generic, dot_f32: generic::dot_f32, axpy_f32: generic::axpy_f32 }
    }
}
