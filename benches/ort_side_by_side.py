#!/usr/bin/env python3
"""Ferrite vs ONNX Runtime on the reference models: same input, one thread each, same run.

The trained models get a real input: the features of FSDD clip 7_theo_3 (reference frontend, with the
model's ferrite.toml parameters) or the ids of "will it rain in paris tomorrow". The model alone is
timed (preprocessing is in `cargo bench --bench preprocess`).

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
MODELS = ["ref-kws-dscnn", "ref-text-lstm", "kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer"]


def model_input(name):
    """The input array for `name` (see the module docstring)."""
    import numpy as np
    import tomllib
    d = os.path.join(ROOT, "models", name)
    if name.startswith("ref-"):
        return np.load(os.path.join(d, "input.npy"))
    sys.path.insert(0, os.path.join(ROOT, "models", "common"))
    with open(os.path.join(d, "ferrite.toml"), "rb") as f:
        cfg = tomllib.load(f)
    if "audio" in cfg:
        import ferrite_audio as fa
        a = {k: v for k, v in cfg["audio"].items() if k != "frontend"}
        fe = fa.Frontend(**a)
        wav = os.path.join(ROOT, "..", "shared", "data", "fsdd", "recordings", "7_theo_3.wav")
        x = fe.features(*fa.read_wav(wav)).astype(np.float32)
        return x.reshape((1, 1) + x.shape) if name == "kws-dscnn" else x[None]
    import ferrite_text as ft
    t = cfg["text"]
    vocab = ft.load_vocab(os.path.join(d, t["vocab"]))
    ids, _ = ft.encode("will it rain in paris tomorrow", vocab, 32, t.get("pad", "left"))
    return np.array([ids], dtype=np.int64)


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
    print(f"{'model':<20} {'ORT ms':>8} {'ferrite f32':>12} {'ratio':>6} {'ferrite fp16':>13} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            onnx = os.path.join(ROOT, "models", name, "model.onnx")
            x = model_input(name)
            inp = os.path.join(tmp, f"{name}.input.npy")
            np.save(inp, x)
            ort_ms = ort_median_ms(onnx, x, args.iterations)
            row = [f"{name:<20}", f"{ort_ms:>8.3f}"]
            for precision in ["f32", "fp16"]:
                fer = os.path.join(tmp, f"{name}.{precision}.fer")
                subprocess.run([args.ferrite, "quantize", onnx, "--precision", precision, "-o", fer], check=True, capture_output=True)
                out = subprocess.run([args.ferrite, "bench", fer, "--input", inp, "--iterations", str(args.iterations), "--json"], check=True, capture_output=True, text=True)
                ms = json.loads(out.stdout)["median_ms"]
                row += [f"{ms:>12.3f}", f"{ms / ort_ms:>6.2f}"]
            print(" ".join(row))


if __name__ == "__main__":
    main()
