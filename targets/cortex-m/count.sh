#!/usr/bin/env bash
# Instructions of the keyword spotter's features and inference on the generic and dsp kernel
# tiers, on mps2-an386 (Cortex-M4F) under QEMU with -icount shift=0 (one instruction per virtual
# nanosecond, so SysTick counts instructions; QEMU models no pipeline: work done, not cycles).
# The firmware also fails if the two tiers' logits differ.
set -euo pipefail
cd "$(dirname "$0")"
cargo build -q --release --target thumbv7em-none-eabihf --no-default-features --features count
qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -icount shift=0 \
    -semihosting-config enable=on,target=native -kernel target/thumbv7em-none-eabihf/release/ferrite-firmware
