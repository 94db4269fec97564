//! The emulated device's kernels: tests/emu/launch.c, with kernels/emu.h and the module NVRTC
//! would compile (`kernels::module_source`), built into a shared library and loaded in the test
//! process. Each kernel has an entry `emu_NAME(params, grid, block)` taking its arguments as
//! cuLaunchKernel does (one pointer to each argument's value).

use std::ffi::c_void;
use std::path::Path;
use std::process::Command;

/// The library, and the folder it lives in (removed when dropped).
pub struct Emulator {
    lib: libloading::Library,
    _dir: tempfile::TempDir,
}

type Entry = unsafe extern "C" fn(*mut *mut c_void, i32, i32);

impl Emulator {
    /// Builds and loads the library (`CC`, else `gcc`); `None` (skipped, said on stderr) when
    /// there is no C compiler, except in CI, which has gcc.
    pub fn build() -> Option<Emulator> {
        let dir = tempfile::tempdir().unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(here.join("kernels/emu.h"), dir.path().join("emu.h")).unwrap();
        std::fs::write(dir.path().join("module.cu"), ferrite_cuda::kernels::module_source()).unwrap();
        let src = dir.path().join("launch.c");
        std::fs::copy(here.join("tests/emu/launch.c"), &src).unwrap();
        let path = dir.path().join("libferrite_emu.so");
        // -ffp-contract=off: no fused multiply-adds, as NVRTC is told (fmad off).
        let flags =
            ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-shared", "-fPIC", "-x", "c"];
        match Command::new(&cc).args(flags).arg(&src).arg("-o").arg(&path).arg("-lm").output() {
            Ok(o) => assert!(o.status.success(), "{cc} {}: {}", src.display(), String::from_utf8_lossy(&o.stderr)),
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: no C compiler ({cc}: {e})");
                return None;
            }
            Err(e) => panic!("{cc}: {e}"),
        }
        // SAFETY: loading runs no initialisers beyond the C runtime's (launch.c defines none).
        let lib = unsafe { libloading::Library::new(&path) }.unwrap();
        Some(Emulator { lib, _dir: dir })
    }

    /// Runs `kernel` on `grid` blocks of `block` threads, every thread in turn.
    ///
    /// # Safety
    /// `params` holds one pointer per argument of the kernel, to values of the types its entry
    /// reads, in its order; the pointer arguments address memory that covers every index the
    /// kernel's threads touch.
    pub unsafe fn launch(&self, kernel: &str, grid: u32, block: u32, params: &mut [*mut c_void]) -> Result<(), String> {
        let name = format!("emu_{kernel}");
        // SAFETY: every `emu_*` entry of launch.c has the signature `Entry`.
        let f = unsafe { self.lib.get::<Entry>(name.as_bytes()) }.map_err(|e| format!("{name}: {e}"))?;
        // SAFETY: the caller's contract.
        unsafe { f(params.as_mut_ptr(), grid as i32, block as i32) };
        Ok(())
    }
}
