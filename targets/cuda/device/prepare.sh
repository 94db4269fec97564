#!/usr/bin/env bash
# Run HERE (x86_64, with the Rust toolchain and ../shared/data), before a device call. Builds what
# the GPU machine runs (it has no Rust toolchain, no data and no network) into .device-bin/ at the
# repository root (ignored by git; the device call carries it, 64 MiB at most, so as one gzip
# archive, bundle.tgz):
#   - ferrite (the CLI, feature `cuda`) and the CUDA backend's GPU test binaries (gpu, absence),
#     stripped;
#   - models/: every trained model as f32 and int8 artifacts at batch 1 and 64
#     (kws-dscnn-int8-b64.fer, ...), int8 calibrated on ../shared/data as the README does.
#   bash targets/cuda/device/prepare.sh
# then, with the device tool: run(command="bash targets/cuda/device/run.sh", carry=[".device-bin"])
set -euo pipefail
cd "$(dirname "$0")/../../.."
grep -qx '/.device-bin/' .git/info/exclude 2>/dev/null || echo '/.device-bin/' >> .git/info/exclude
rm -rf .device-bin && mkdir -p .device-bin/models
cargo build --release -q -p ferrite-quantizer --features cuda
cp target/release/ferrite .device-bin/ferrite
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
data=../shared/data
for m in kws-dscnn kws-crnn intent-lstm intent-transformer; do
    case $m in kws-*) calib=$data/fsdd ;; *) calib=$data/snips-intents ;; esac
    for b in 1 64; do
        (cd "models/$m" &&
            ../../.device-bin/ferrite quantize model.onnx --batch $b -o "../../.device-bin/models/$m-f32-b$b.fer" &&
            ../../.device-bin/ferrite quantize model.onnx --batch $b --precision int8 --calib "../../$calib" \
                -o "../../.device-bin/models/$m-int8-b$b.fer") 2>&1 | grep -E 'wrote|error' || true
    done
done
# The carry limit is 64 MiB: symbols off, and everything in one gzip archive (run.sh unpacks it).
strip .device-bin/ferrite .device-bin/gpu .device-bin/absence
ls -la .device-bin .device-bin/models
tar -C .device-bin -czf .device-bundle.tgz ferrite gpu absence models
rm -rf .device-bin && mkdir .device-bin && mv .device-bundle.tgz .device-bin/bundle.tgz
du -sh .device-bin
