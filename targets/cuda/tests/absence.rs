//! Without a GPU (or without the `cuda` feature) the backend says so with a typed error; with
//! one, it describes it. Run with and without `--features cuda`.

use ferrite_cuda::{Device, Error};

#[test]
fn a_missing_gpu_is_a_typed_error_never_a_panic() {
    match Device::open(0) {
        Ok(d) => {
            assert!(ferrite_cuda::device::driver_present(), "a device without a driver");
            let info = d.info();
            assert!(!info.name.is_empty() && info.compute_capability.0 >= 5 && info.total_memory > 0, "{info:?}");
        }
        Err(Error::NotAvailable(why)) => {
            assert!(!why.is_empty());
            if !cfg!(feature = "cuda") {
                assert!(why.contains("feature"), "{why}");
            } else if !ferrite_cuda::device::driver_present() {
                assert!(why.contains("libcuda"), "{why}");
            }
        }
        Err(e) => panic!("expected NotAvailable or a device, got {e}"),
    }
    // Asking twice (and for a device that cannot exist) is just as calm.
    assert!(matches!(Device::open(4096), Err(Error::NotAvailable(_)) | Err(Error::Driver(_))));
}
