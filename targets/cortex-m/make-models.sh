#!/usr/bin/env bash
# Makes the two int8 artifacts the Cortex-M firmware embeds, stripped (the firmware profile) and
# signed, into DIR (default target/fw-models), with the public key the firmware trusts:
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
# Signed with a key made here (the firmware's `signed` feature bakes in its public half, as raw
# 32 bytes, and checks both artifacts at boot). A product keeps its signing key off the build box.
$F keygen -o "$DIR/fw.key" --force 2>/dev/null
$F sign "$DIR/kws.fer" --key "$DIR/fw.key" 2>/dev/null
$F sign "$DIR/intent.fer" --key "$DIR/fw.key" 2>/dev/null
python3 - "$DIR/fw.key.pub" "$DIR/trusted.raw" <<'PY'
import base64, sys
der = base64.b64decode("".join(l for l in open(sys.argv[1]) if not l.startswith("-----")))
open(sys.argv[2], "wb").write(der[-32:])  # SubjectPublicKeyInfo: a fixed 12-byte prefix, the key
PY
echo "$DIR: kws.fer $(stat -c %s "$DIR/kws.fer") bytes, intent.fer $(stat -c %s "$DIR/intent.fer") bytes (signed)"
