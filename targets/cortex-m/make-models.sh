#!/usr/bin/env bash
# Makes the two int8 artifacts the Cortex-M firmware embeds, stripped (the firmware profile), into
# DIR (default target/fw-models):
# the trained keyword spotter (kws-dscnn) and intent classifier (intent-lstm), calibrated on their
# training data in ../shared/data, with the host's `ferrite`: $FERRITE if set, else the release
# build, else the debug one (what `cargo test` leaves), else a release build made here.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-target/fw-models}
mkdir -p "$DIR"
F=${FERRITE:-}
for c in ./target/release/ferrite ./target/debug/ferrite; do
    [ -n "$F" ] || { [ -x "$c" ] && F=$c; }
done
if [ -z "$F" ]; then
    cargo build --release -q -p ferrite-quantizer
    F=./target/release/ferrite
fi
$F quantize models/kws-dscnn/model.onnx --precision int8 --calib ../shared/data/fsdd --strip -o "$DIR/kws.fer" >/dev/null
$F quantize models/intent-lstm/model.onnx --precision int8 --calib ../shared/data/snips-intents --strip -o "$DIR/intent.fer" >/dev/null
echo "$DIR: kws.fer $(stat -c %s "$DIR/kws.fer") bytes, intent.fer $(stat -c %s "$DIR/intent.fer") bytes"
