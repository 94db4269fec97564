//! The kernels on a real device (feature `cuda`): NVRTC compiles `kernels/*.cu` for the device's
//! architecture once, and each kernel has a host entry that uploads, launches and downloads. The
//! entries are what the device tests compare with the scalar kernels; the executor's backend will
//! launch the same functions on its arena.

use crate::device::Device;
use crate::error::{Error, Result};
use cudarc::driver::{CudaFunction, CudaStream, LaunchConfig, PushKernelArg};
use ferrite_runtime::kernels::generic::qgemm::QGemm;
use std::sync::Arc;

/// Threads per block of the one-thread-per-output kernels.
const BLOCK: u32 = 128;

/// The int8 kernels, compiled for one device.
pub struct Int8Kernels {
    stream: Arc<CudaStream>,
    qgemm: CudaFunction,
}

fn driver(e: cudarc::driver::DriverError) -> Error {
    Error::Driver(e.to_string())
}

impl Int8Kernels {
    /// Compiles [`crate::kernels::INT8_CU`] for `device` (NVRTC, loaded at run time: without it,
    /// [`Error::NotAvailable`]; a compile error carries NVRTC's log).
    pub fn new(device: &Device) -> Result<Int8Kernels> {
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
        let opts = cudarc::nvrtc::CompileOptions {
            fmad: Some(false),
            options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
            ..Default::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(crate::kernels::INT8_CU, opts)
            .map_err(|e| Error::Driver(format!("NVRTC: {e:?}")))?;
        let ctx = device.context();
        let module = ctx.load_module(ptx).map_err(driver)?;
        let qgemm = module.load_function("ferrite_qgemm_dp4a").map_err(driver)?;
        Ok(Int8Kernels { stream: ctx.default_stream(), qgemm })
    }

    /// `ferrite_qgemm_dp4a` over `m` rows of `a`: the outputs [`ferrite_runtime`]'s scalar `qgemm`
    /// gives, computed on the device (full packed weights only).
    pub fn qgemm(&self, q: &QGemm<'_>, a: &[i8], m: usize) -> Result<Vec<i8>> {
        let (k, n) = (q.w.k, q.w.rows);
        let mut probe = vec![0i8; m * n];
        if q.w.is_lean() || !q.fits(a, m, &probe) {
            return Err(Error::Plan("qgemm: sizes do not fit, or lean weights".into()));
        }
        let s = &self.stream;
        let up = |e| driver(e);
        let (a_d, w_d, sums_d) =
            (s.clone_htod(a).map_err(up)?, s.clone_htod(q.w.data).map_err(up)?, s.clone_htod(q.w.sums).map_err(up)?);
        let bias_d = s.clone_htod(q.bias).map_err(up)?;
        let mult: Vec<i32> = q.requant.iter().map(|r| r.multiplier).collect();
        let shift: Vec<i32> = q.requant.iter().map(|r| r.shift).collect();
        let (mult_d, shift_d) = (s.clone_htod(&mult).map_err(up)?, s.clone_htod(&shift).map_err(up)?);
        let mut out_d = s.alloc_zeros::<i8>(m * n).map_err(up)?;
        let (mi, ki, ni) = (m as i32, k as i32, n as i32);
        let (za, zy, lo, hi) = (q.za, q.zy, q.lo as i32, q.hi as i32);
        let cfg = LaunchConfig {
            grid_dim: ((n as u32).div_ceil(BLOCK), m as u32, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = s.launch_builder(&self.qgemm);
        b.arg(&a_d).arg(&mi).arg(&ki).arg(&w_d).arg(&sums_d).arg(&ni);
        b.arg(&bias_d).arg(&mult_d).arg(&shift_d).arg(&za).arg(&zy).arg(&lo).arg(&hi).arg(&mut out_d);
        // SAFETY: the arguments match the kernel's signature in order and type (pointers to
        // device copies of a: m·k, w: Rp·Kp, sums: Rp, bias/mult/shift: n; ints; out: m·n), and
        // the grid covers n channels × m rows, each thread writing only its own output.
        unsafe { b.launch(cfg) }.map_err(up)?;
        probe = s.clone_dtoh(&out_d).map_err(up)?;
        Ok(probe)
    }
}
