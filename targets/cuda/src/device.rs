//! Finding the GPU. The driver library is loaded at run time; a build without the `cuda` feature,
//! a machine without the library, and a driver that finds no device all give
//! [`Error::NotAvailable`], never a panic, and leave the CPU path as it was.

use crate::error::{Error, Result};

/// What the backend needs to know about a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device's index for the driver.
    pub ordinal: usize,
    /// Its name (e.g. `Orin`).
    pub name: String,
    /// Compute capability (8.7 on Orin): which instructions kernels may use (`dp4a` from 6.1,
    /// int8 tensor cores from 7.2).
    pub compute_capability: (i32, i32),
    /// Device memory in bytes (on an integrated GPU, the board's shared memory).
    pub total_memory: usize,
    /// An integrated GPU sharing the host's memory (Jetson): `CU_DEVICE_ATTRIBUTE_INTEGRATED`.
    pub integrated: bool,
    /// Host memory can be mapped into the device's address space
    /// (`CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY`).
    pub can_map_host_memory: bool,
}

impl DeviceInfo {
    /// Whether the artifact's mapped pages can be registered and read in place, without a copy:
    /// an integrated GPU that maps host memory (how Jetson boards are detected).
    pub fn unified_memory(&self) -> bool {
        self.integrated && self.can_map_host_memory
    }
}

/// An opened GPU.
pub struct Device {
    info: DeviceInfo,
    #[cfg(feature = "cuda")]
    _ctx: std::sync::Arc<cudarc::driver::CudaContext>,
}

impl core::fmt::Debug for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device").field("info", &self.info).finish()
    }
}

/// Whether the CUDA driver library can be loaded here (always false without the `cuda` feature).
pub fn driver_present() -> bool {
    imp::driver_present()
}

impl Device {
    /// Opens GPU `ordinal` (0: the first).
    pub fn open(ordinal: usize) -> Result<Device> {
        imp::open(ordinal)
    }

    /// What the device is.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The driver context (for the kernels).
    #[cfg(feature = "cuda")]
    pub(crate) fn context(&self) -> &std::sync::Arc<cudarc::driver::CudaContext> {
        &self._ctx
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use super::*;

    pub(super) fn driver_present() -> bool {
        false
    }

    pub(super) fn open(_ordinal: usize) -> Result<Device> {
        Err(Error::NotAvailable("this build has no CUDA backend (cargo feature `cuda` of ferrite-cuda)".into()))
    }
}

#[cfg(feature = "cuda")]
mod imp {
    use super::*;
    use cudarc::driver::sys::{CUdevice_attribute as Attr, CUresult};
    use cudarc::driver::{CudaContext, DriverError};

    pub(super) fn driver_present() -> bool {
        // SAFETY: only tries to load the driver's library names (and unloads them); calls nothing.
        unsafe { cudarc::driver::sys::is_culib_present() }
    }

    pub(super) fn open(ordinal: usize) -> Result<Device> {
        // cudarc panics when it cannot load the library: ask first.
        if !driver_present() {
            return Err(Error::NotAvailable("no CUDA driver library (libcuda.so) on this machine".into()));
        }
        let ctx = std::panic::catch_unwind(|| CudaContext::new(ordinal))
            .map_err(|_| Error::NotAvailable("the CUDA driver library could not be loaded".into()))?
            .map_err(no_device)?;
        let attr = |a: Attr| ctx.attribute(a).map_err(driver);
        let info = DeviceInfo {
            ordinal,
            name: ctx.name().map_err(driver)?,
            compute_capability: ctx.compute_capability().map_err(driver)?,
            total_memory: ctx.total_mem().map_err(driver)?,
            integrated: attr(Attr::CU_DEVICE_ATTRIBUTE_INTEGRATED)? != 0,
            can_map_host_memory: attr(Attr::CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY)? != 0,
        };
        Ok(Device { info, _ctx: ctx })
    }

    /// A driver without a usable device is absence, not failure.
    fn no_device(e: DriverError) -> Error {
        match e.0 {
            CUresult::CUDA_ERROR_NO_DEVICE
            | CUresult::CUDA_ERROR_INVALID_DEVICE
            | CUresult::CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
            | CUresult::CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => Error::NotAvailable(format!("CUDA driver: {e}")),
            _ => driver(e),
        }
    }

    fn driver(e: DriverError) -> Error {
        Error::Driver(e.to_string())
    }
}
