#!/usr/bin/env bash
# Instructions of the keyword spotter's features and inference on the generic and dsp kernel
# tiers, on mps2-an386 (Cortex-M4F) under QEMU with -icount shift=0 (one instruction per virtual
# nanosecond, so SysTick counts instructions; QEMU models no pipeline: work done, not cycles).
# The firmware also fails if the two tiers' logits differ. It also counts the keyword model's
# load with its Ed25519 signature checked and without (the cost of the check at boot).
set -euo pipefail
cd "$(dirname "$0")"
cargo build -q --release --target thumbv7em-none-eabihf --no-default-features --features count,signed
qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -icount shift=0 \
    -semihosting-config enable=on,target=native -kernel target/thumbv7em-none-eabihf/release/ferrite-firmware
