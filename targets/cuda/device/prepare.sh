#!/usr/bin/env bash
# Run HERE (x86_64, with the Rust toolchain), before a device call: builds the CUDA backend's test
# binaries with the `cuda` feature and copies the two that need a GPU and no files of the
# checkout (tests/gpu.rs, tests/absence.rs), stripped, to .device-bin/ at the repository root (ignored
# by git; the device call carries it: the GPU machine has no Rust toolchain and no network).
#   bash targets/cuda/device/prepare.sh
# then, with the device tool: run(command="bash targets/cuda/device/run.sh", carry=[".device-bin"])
set -euo pipefail
cd "$(dirname "$0")/../../.."
grep -qx '/.device-bin/' .git/info/exclude 2>/dev/null || echo '/.device-bin/' >> .git/info/exclude
rm -rf .device-bin && mkdir -p .device-bin
cargo test --release -p ferrite-cuda --features cuda --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    name = m.get("target", {}).get("name")
    if m.get("reason") == "compiler-artifact" and m.get("executable") and name in ("gpu", "absence"):
        shutil.copy(m["executable"], ".device-bin/" + name)
        print("carried:", name)
'
# The carry limit is 64 MiB: symbols off.
strip .device-bin/*
ls -la .device-bin
