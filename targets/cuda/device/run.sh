#!/usr/bin/env bash
# Run THERE (the GPU machine, through the device tool), after prepare.sh here. Every check of the
# CUDA backend that needs a GPU, in one command of a few minutes:
#   1. the device as the driver reports it (nvidia-smi, and Device::open through cudarc);
#   2. tests/gpu.rs: NVRTC compiles the kernels for this device, and every artifact of
#      .device-bin/models runs on it with the CPU session's bits (outputs and every intermediate),
#      per op and whole-graph, with CUDA Graphs and without, weights uploaded and mapped in place
#      (FERRITE_REQUIRE_GPU: a missing GPU fails, not skips); tests/absence.rs;
#   3. the table: `ferrite bench` on this machine's CPU (one thread) and with --device cuda, for
#      every artifact, and PyTorch eager and CUDA Graphs (torch_bench.py) at batch 1 and 64.
# Output goes to stdout and $OUT (device.log, bench.jsonl, torch.jsonl, table.md).
set -uo pipefail
cd "$(dirname "$0")/../../.."
out="${OUT:-/tmp}"
log="$out/device.log"
{
    echo "== device"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
    # cudarc looks for libcuda.so / libnvrtc.so (and .so.12, .so.11, ...): link whatever version
    # this machine has (CUDA 13's libnvrtc.so.13 included) under those names; NVRTC finds its
    # builtins library beside the real file.
    mkdir -p /tmp/ferrite-lib
    for lib in libcuda libnvrtc; do
        f=$(find /usr/local/nvidia /usr/local/cuda* /usr/lib /opt -name "$lib.so*" 2>/dev/null | sort | tail -1)
        if [ -n "$f" ]; then
            ln -sf "$f" "/tmp/ferrite-lib/$lib.so" && echo "$lib: $f"
            export LD_LIBRARY_PATH="$(dirname "$f"):${LD_LIBRARY_PATH:-}"
        fi
    done
    export LD_LIBRARY_PATH="/tmp/ferrite-lib:${LD_LIBRARY_PATH:-}"
    status=0
    # What prepare.sh built, unpacked beside the checkout's copy of the archive.
    bin=/tmp/ferrite-device-bin
    rm -rf "$bin" && mkdir -p "$bin" && tar -C "$bin" -xzf .device-bin/bundle.tgz || status=1
    for t in gpu absence; do
        [ -x "$bin/$t" ] || { echo "missing $t in .device-bin/bundle.tgz (run prepare.sh first)"; status=1; continue; }
        echo "== $t"
        FERRITE_REQUIRE_GPU=1 FERRITE_DEVICE_MODELS="$bin/models" "$bin/$t" --test-threads=1 --nocapture || status=1
    done
    echo "== bench"
    : > "$out/bench.jsonl"
    for f in "$bin"/models/*.fer; do
        base=$(basename "$f" .fer)            # MODEL-PRECISION-bBATCH
        model=${base%-*-b*}; rest=${base#"$model"-}; precision=${rest%-b*}; batch=${rest##*-b}
        for dev in cpu cuda; do
            iters=200; [ "$dev" = cpu ] && [ "$batch" -gt 1 ] && iters=50
            "$bin/ferrite" bench "$f" --device "$dev" --iterations $iters --json 2>&1 |
                python3 -c 'import json,sys
raw = sys.stdin.read()
try:
    d = json.loads(raw)
except ValueError:
    d = {"error": raw.strip()}
d.update(model=sys.argv[1], precision=sys.argv[2], batch=int(sys.argv[3]), device=sys.argv[4])
print(json.dumps(d))' "$model" "$precision" "$batch" "$dev" | tee -a "$out/bench.jsonl" | cut -c1-200
        done
    done
    echo "== torch"
    python3 targets/cuda/device/torch_bench.py --iterations 200 --batches 1,64 | tee "$out/torch.jsonl" || status=1
    echo "== table"
    python3 targets/cuda/device/table.py "$out/bench.jsonl" "$out/torch.jsonl" | tee "$out/table.md"
    echo "== exit $status"
    exit $status
} 2>&1 | tee "$log"
