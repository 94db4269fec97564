//! The CUDA kernels' arithmetic, checked without a GPU: kernels/int8.cu is compiled as C with
//! kernels/emu.h (every thread run in turn on the host) and its bytes compared with the runtime's
//! scalar kernels on random shapes. What this cannot check (speed, memory access on the device,
//! NVRTC accepting the file) is the device script's.

use ferrite_e2e::Rng;
use ferrite_runtime::kernels::generic::qgemm::qgemm;
use ferrite_runtime::kernels::tier_checks::QCase;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds a harness from tests/emu/NAME.c with the host C compiler (`CC`, else `gcc`); `None`
/// (skipped) when there is none, except in CI, which has gcc.
fn harness(name: &str, dir: &Path) -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emu").join(format!("{name}.c"));
    let exe = dir.join(name);
    match Command::new(&cc)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-x", "c"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
    {
        Ok(o) => {
            assert!(o.status.success(), "{cc} {}: {}", src.display(), String::from_utf8_lossy(&o.stderr));
            Some(exe)
        }
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: no C compiler ({cc}: {e})");
            None
        }
        Err(e) => panic!("{cc}: {e}"),
    }
}

fn words(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn qgemm_dp4a_matches_the_scalar_kernel_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let Some(exe) = harness("qgemm", dir) else { return };
    let mut r = Rng::new(15);
    for case in 0..120 {
        // Ragged shapes (k not a multiple of 4, partial blocks), now and then a transformer's.
        let (m, k, n) = if case % 10 == 9 {
            (32, 384, 64)
        } else {
            (1 + r.below(6) as usize, 1 + r.below(300) as usize, 1 + r.below(80) as usize)
        };
        let c = QCase::random(m, k, n, r.next_u64());
        let mut want = vec![0i8; m * n];
        assert!(qgemm(&c.q(), &c.a, m, &mut want));

        let mut file = words(&[m as i32, k as i32, n as i32, c.za, c.zy, c.lo as i32, c.hi as i32]);
        file.extend(c.a.iter().map(|&v| v as u8));
        file.extend(&c.packed);
        file.extend(words(&c.bias));
        file.extend(words(&c.rq.iter().flat_map(|x| [x.multiplier, x.shift]).collect::<Vec<_>>()));
        let (case_path, out_path) = (dir.join("case.bin"), dir.join("out.bin"));
        std::fs::write(&case_path, &file).unwrap();
        let o = Command::new(&exe).arg(&case_path).arg(&out_path).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got: Vec<i8> = std::fs::read(&out_path).unwrap().into_iter().map(|b| b as i8).collect();
        assert_eq!(got, want, "case {case}: {m}x{k}x{n}, za {}, zy {}", c.za, c.zy);
    }
}
