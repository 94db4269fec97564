#!/usr/bin/env python3
"""Fetch the ONNX backend node tests (tests/onnx_node.rs reads them) into target/onnx-node/.

    python3 tests/onnx_node/fetch.py

The cases ship inside the `onnx` wheel (1.23 stopped shipping them; 1.22.0 has 1,765): this
downloads that one wheel from the Python package registry (`pip download`, nothing installed),
checks its SHA-256 and unpacks `onnx/backend/test/data/node/`. Idempotent: a second run with the
cases in place does nothing. Standard library only.
"""
import hashlib
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "target", "onnx-node")
WHEEL = "onnx-1.22.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
SHA256 = "1d0a2bdb15eb2b3cb65c438f3423d9620d14fdce32f92380e6bb1b2e09568ef5"
PREFIX = "onnx/backend/test/data/node/"


def main():
    stamp = os.path.join(OUT, "FETCHED")
    if os.path.exists(stamp) and open(stamp).read().strip() == SHA256:
        return
    wheels = os.path.join(ROOT, "target", "onnx-node-wheel")
    wheel = os.path.join(wheels, WHEEL)
    if not os.path.exists(wheel):
        os.makedirs(wheels, exist_ok=True)
        # The wheel is only unpacked, never installed: ask for this exact file whatever Python runs us.
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels,
                        "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                        "onnx==1.22.0"], check=True)
    h = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
    if h != SHA256:
        raise SystemExit(f"{wheel}: SHA-256 {h} is not the pinned {SHA256}")
    n = 0
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith(PREFIX) and not name.endswith("/"):
                dest = os.path.join(OUT, name[len(PREFIX):])
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest, "wb") as f:
                    f.write(z.read(name))
                n += 1
    open(stamp, "w").write(SHA256 + "\n")
    print(f"onnx node tests: {n} files in {OUT}")


if __name__ == "__main__":
    main()
