#!/usr/bin/env bash
# Builds the C firmware (arm-none-eabi-gcc, against the thumbv7em libferrite.a) and runs it under
# qemu-system-arm on mps2-an386 (Cortex-M4F). Artifacts from FERRITE_FW_MODELS (default
# target/fw-models: `bash targets/cortex-m/make-models.sh`), clips from ../shared/data/fsdd
# (FERRITE_FSDD overrides). Output in target/c-firmware; exits non-zero on a wrong label.
set -euo pipefail
cd "$(dirname "$0")/../../.."
MODELS=${FERRITE_FW_MODELS:-target/fw-models}
FSDD=${FERRITE_FSDD:-../shared/data/fsdd/recordings}
OUT=target/c-firmware
mkdir -p "$OUT"
# The staticlib only (a cdylib makes no sense without an OS), every op.
cargo rustc -q -p ferrite-c --release --target thumbv7em-none-eabihf --no-default-features --features all-ops \
    --crate-type staticlib
CFLAGS="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -std=c11 -Wall -Wextra -Werror
    -ffunction-sections -fdata-sections -ffreestanding"
D=targets/c-api/firmware
# shellcheck disable=SC2086
arm-none-eabi-gcc $CFLAGS -Itargets/c-api/include -Wa,-I"$MODELS" -Wa,-I"$FSDD" \
    "$D/startup.c" "$D/main.c" "$D/blobs.S" target/thumbv7em-none-eabihf/release/libferrite.a \
    -nostdlib -nostartfiles -T "$D/link.ld" -Wl,--gc-sections,-z,noexecstack -lgcc -o "$OUT/firmware.elf"
arm-none-eabi-size "$OUT/firmware.elf"
qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -semihosting-config enable=on,target=native \
    -kernel "$OUT/firmware.elf"
