#!/usr/bin/env python3
"""Ferrite vs ONNX Runtime on the reference models: same input, one thread each, same run.

    cargo build --release -p ferrite-quantizer
    python3 -m pip install onnxruntime numpy      # or use a virtual environment
    python3 benches/ort_side_by_side.py [--iterations 200]

Prints median latency of ONNX Runtime (CPU provider, intra/inter-op threads = 1, sequential) and of
`ferrite bench` (f32 and fp16 artifacts, one thread), and the ratio ferrite / ORT.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["ref-kws-dscnn", "ref-text-lstm"]


def ort_median_ms(model, x, iterations):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(3):
        sess.run(None, feed)
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--ferrite", default=os.path.join(ROOT, "target", "release", "ferrite"))
    args = ap.parse_args()
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        sys.exit(f"error: {e}; install with: python3 -m pip install onnxruntime numpy")
    if not os.path.exists(args.ferrite):
        sys.exit(f"error: {args.ferrite} not found; run: cargo build --release -p ferrite-quantizer")
    print(f"onnxruntime {ort.__version__}, {args.iterations} iterations, one thread each")
    print(f"{'model':<16} {'ORT ms':>8} {'ferrite f32':>12} {'ratio':>6} {'ferrite fp16':>13} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            onnx = os.path.join(ROOT, "models", name, "model.onnx")
            inp = os.path.join(ROOT, "models", name, "input.npy")
            ort_ms = ort_median_ms(onnx, np.load(inp), args.iterations)
            row = [f"{name:<16}", f"{ort_ms:>8.3f}"]
            for precision in ["f32", "fp16"]:
                fer = os.path.join(tmp, f"{name}.{precision}.fer")
                subprocess.run([args.ferrite, "quantize", onnx, "--precision", precision, "-o", fer], check=True, capture_output=True)
                out = subprocess.run([args.ferrite, "bench", fer, "--input", inp, "--iterations", str(args.iterations), "--json"], check=True, capture_output=True, text=True)
                ms = json.loads(out.stdout)["median_ms"]
                row += [f"{ms:>12.3f}", f"{ms / ort_ms:>6.2f}"]
            print(" ".join(row))


if __name__ == "__main__":
    main()
