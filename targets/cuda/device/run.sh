#!/usr/bin/env bash
# Run THERE (the GPU machine, through the device tool), after prepare.sh here. Every check of the
# CUDA backend that needs a GPU, in one short command (well under a minute of GPU time):
#   1. the device as the driver reports it (nvidia-smi, and Device::open through cudarc);
#   2. the kernels compiled by NVRTC for that device, bit for bit against the scalar kernels
#      (tests/gpu.rs; FERRITE_REQUIRE_GPU makes a missing GPU a failure, not a skip);
#   3. absence: Device::open answers with the device, not NotAvailable.
# Output goes to stdout and $OUT/device.log. Not yet here: the benchmark table against PyTorch
# (eager and CUDA Graphs, batch 1 and 64), which waits for the executor's GPU backend.
set -uo pipefail
cd "$(dirname "$0")/../../.."
log="${OUT:-/tmp}/device.log"
{
    echo "== device"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
    ls /usr/local/nvidia/lib64 2>/dev/null | grep -E 'libcuda|libnvrtc' | head || true
    # cudarc looks for libcuda.so / libnvrtc.so (and .so.12, .so.11, ...): link whatever version
    # this machine has (CUDA 13's libnvrtc.so.13 included) under those names.
    mkdir -p /tmp/ferrite-lib
    for lib in libcuda libnvrtc; do
        f=$(find /usr/local/nvidia /usr/local/cuda* /usr/lib /opt -name "$lib.so*" 2>/dev/null | sort | tail -1)
        [ -n "$f" ] && ln -sf "$f" "/tmp/ferrite-lib/$lib.so" && echo "$lib: $f"
    done
    export LD_LIBRARY_PATH="/tmp/ferrite-lib:${LD_LIBRARY_PATH:-}"
    status=0
    # The tests that read files of this checkout (models, ../shared) ran here, on the x86_64
    # machine; their binaries hold this machine's paths. These two need none.
    for t in gpu absence; do
        [ -x ".device-bin/$t" ] || { echo "missing .device-bin/$t (run prepare.sh first)"; status=1; continue; }
        echo "== $t"
        FERRITE_REQUIRE_GPU=1 ".device-bin/$t" --test-threads=1 --nocapture || status=1
    done
    echo "== exit $status"
    exit $status
} 2>&1 | tee "$log"
