#!/usr/bin/env python3
"""Ferrite against its peers, in one run, on the same inputs, one thread, batch 1.

For each trained model (models/kws-dscnn, kws-crnn, intent-lstm, intent-transformer) and each
random-weight reference model (models/ref-kws-dscnn, ref-text-lstm):

  Ferrite int8, fp16 and f32   `ferrite quantize` then `ferrite bench --json` (Rust, in process)
  tract f32                    `tract-bench` (tract-onnx as pinned, `into_optimized`, in process)
  ONNX Runtime f32             CPU provider, intra/inter-op threads 1, sequential
  ONNX Runtime static int8     quantize_static: QDQ, per-channel int8 weights, int8 activations, MinMax
  ONNX Runtime dynamic int8    quantize_dynamic: int8 weights (per channel), activations at run time

The input is real: a FSDD clip through the model's frontend, or a Snips sentence through its
tokenizer (the reference models use their committed input.npy). Calibration (Ferrite int8, ORT
static) uses the same evenly spread training examples (`models/common/datasets.py`); the reference
models calibrate on noise around their input.

ONNX Runtime is timed through its Python package with I/O binding; the cost of one Python call
into ORT is measured on a one-element Identity model and subtracted from every ORT median (so the
ratios are against ORT's own time, to its advantage). Every variant is measured once per round,
in turns, for `--rounds` rounds (default 3), and its best median is kept, so that a burst of
noise from the machine's neighbours hits a round rather than one variant. Ratios: Ferrite int8 over the fastest peer
variant, Ferrite f32 over tract f32, and cold start (load + first result, in process: Ferrite's
mmap + validation + prepare + first run against ORT's session creation + first run; the median of
five cold starts each, every one the first of a fresh process).

    python3 benches/side_by_side.py [--iterations 300] [--rounds 3] [--models kws-dscnn,...] [--json OUT.json]

It installs what it needs with pip when it is missing (onnxruntime, onnx, numpy as pinned in
models/requirements.txt) and builds `ferrite` and `tract-bench` with cargo when they are missing.
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
MODELS = ["kws-dscnn", "kws-crnn", "intent-lstm", "intent-transformer", "ref-kws-dscnn", "ref-text-lstm"]
PINS = ["onnxruntime==1.32.0", "onnx==1.23.2", "numpy==2.4.6"]
EXE = os.path.join(ROOT, "target", "release", "ferrite")
TRACT = os.path.join(ROOT, "target", "release", "tract-bench")


def ensure_tools():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        print(f"installing {' '.join(PINS)} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *PINS], check=True)
    if not (os.path.exists(EXE) and os.path.exists(TRACT)):
        print("building ferrite and tract-bench (release) ...", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-p", "ferrite-quantizer", "-p", "ferrite-e2e",
                        "--bin", "ferrite", "--bin", "tract-bench"], cwd=ROOT, check=True)


def real_input(name):
    """The model's input: its committed input.npy, a clip through its frontend, or a sentence."""
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
        fe = fa.Frontend(**{k: v for k, v in cfg["audio"].items() if k != "frontend"})
        wav = os.path.join(ROOT, "..", "shared", "data", "fsdd", "recordings", "7_theo_3.wav")
        x = fe.features(*fa.read_wav(wav)).astype(np.float32)
        return x.reshape((1, 1) + x.shape) if name == "kws-dscnn" else x[None]
    import ferrite_text as ft
    t = cfg["text"]
    vocab = ft.load_vocab(os.path.join(d, t["vocab"]))
    ids, _ = ft.encode("will it rain in paris tomorrow", vocab, 32, t.get("pad", "left"))
    return np.array([ids], dtype=np.int64)


def calibration(name, x, samples):
    """(list of calibration arrays, Ferrite --calib argument, data-set folder or None)."""
    import numpy as np
    if name.startswith("ref-"):
        rng = np.random.default_rng(7)
        if x.dtype == np.int64:
            xs = [rng.integers(0, int(x.max()) + 1, size=x.shape).astype(np.int64) for _ in range(samples)]
        else:
            xs = [(x + rng.normal(0, 0.5, size=x.shape)).astype(np.float32) for _ in range(samples)]
        return xs, None
    sys.path.insert(0, os.path.join(ROOT, "models", "common"))
    import datasets
    calib, _, _ = datasets.model_inputs(os.path.join(ROOT, "models", name), samples)
    return [c[None] for c in calib], os.path.join(ROOT, "..", "shared", "data",
                                                     "snips-intents" if name.startswith("intent") else "fsdd")


def ort_session(path):
    """An ORT CPU session on one thread, sequential."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_time(path, x, iterations):
    """Median ms of ORT on one thread, through I/O binding."""
    sess = ort_session(path)
    io = sess.io_binding()
    io.bind_cpu_input(sess.get_inputs()[0].name, x)
    for o in sess.get_outputs():
        io.bind_output(o.name)
    for _ in range(6):
        sess.run_with_iobinding(io)
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        sess.run_with_iobinding(io)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


ORT_COLD = """
import sys, time, numpy as np, onnxruntime
sys.path.insert(0, sys.argv[3])
from side_by_side import ort_session
x = np.load(sys.argv[2])
t0 = time.perf_counter()
sess = ort_session(sys.argv[1])
sess.run(None, {sess.get_inputs()[0].name: x})
print((time.perf_counter() - t0) * 1e3)
"""


def ort_cold_ms(path, x_path, repeats=5):
    """Median of `repeats` ORT cold starts (session creation + first run), each the first session
    of a fresh Python process that has already imported onnxruntime (as Ferrite's are the first
    load of a fresh process)."""
    here = os.path.dirname(os.path.abspath(__file__))
    runs = [float(subprocess.run([sys.executable, "-c", ORT_COLD, path, x_path, here], check=True,
                                 capture_output=True, text=True).stdout) for _ in range(repeats)]
    return statistics.median(runs)


def ferrite_cold_ms(fer, x_path, repeats=5):
    """Median of `repeats` Ferrite cold starts (load + prepare + first run), each a fresh process."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([EXE, "bench", fer, "--input", x_path, "--iterations", "1", "--json"],
                             check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out)["cold_start_ms"])
    return statistics.median(runs)


def python_overhead_ms(tmp, iterations):
    """ORT's median on a one-element Identity model: the fixed cost of a call from Python."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = os.path.join(tmp, "identity.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return ort_time(path, np.zeros(1, np.float32), iterations)


def ferrite_quantize(onnx_path, precision, calib_arg, samples, tmp, name):
    fer = os.path.join(tmp, f"{name}.{precision}.fer")
    cmd = [EXE, "quantize", onnx_path, "--precision", precision, "-o", fer]
    if precision == "int8":
        cmd += ["--calib", calib_arg, "--calib-samples", str(samples)]
    subprocess.run(cmd, check=True, capture_output=True)
    return fer


def ferrite_bench(fer, x_path, iterations):
    out = subprocess.run([EXE, "bench", fer, "--input", x_path, "--iterations", str(iterations), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--calib-samples", type=int, default=100)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=3,
                    help="measure every variant this many times, in turns, and keep each one's best median")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    ensure_tools()
    import logging
    logging.getLogger().setLevel(logging.ERROR)
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self, name, xs):
            self.name, self.it = name, iter(xs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {self.name: x}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        overhead = python_overhead_ms(tmp, 2000)
        for name in args.models.split(","):
            onnx_path = os.path.join(ROOT, "models", name, "model.onnx")
            x = real_input(name)
            x_path = os.path.join(tmp, f"{name}.input.npy")
            np.save(x_path, x)
            calib, calib_dir = calibration(name, x, args.calib_samples)
            if calib_dir is None:
                calib_dir = os.path.join(tmp, f"{name}.calib")
                os.makedirs(calib_dir, exist_ok=True)
                for i, c in enumerate(calib):
                    np.save(os.path.join(calib_dir, f"{i}.npy"), c)
            print(f"{name}: quantizing ...", file=sys.stderr)
            fers = {p: ferrite_quantize(onnx_path, p, calib_dir, args.calib_samples, tmp, name)
                    for p in ["int8", "fp16", "f32"]}
            input_name = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).get_inputs()[0].name
            s8 = os.path.join(tmp, f"{name}.qdq.onnx")
            quantize_static(onnx_path, s8, Reader(input_name, calib), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            d8 = os.path.join(tmp, f"{name}.dyn.onnx")
            quantize_dynamic(onnx_path, d8, weight_type=QuantType.QInt8, per_channel=True)
            # Every variant once per round, in turns, keeping each one's best median: a burst of
            # noise from the machine's neighbours then hits one round, not one variant.
            medians = {}

            def keep(key, v):
                medians[key] = min(medians.get(key, float("inf")), v)
            for rnd in range(args.rounds):
                print(f"{name}: round {rnd + 1}/{args.rounds} (ferrite, tract, onnxruntime) ...", file=sys.stderr)
                for p in ["int8", "fp16", "f32"]:
                    r = ferrite_bench(fers[p], x_path, args.iterations)
                    keep(f"ferrite_{p}", r["median_ms"])
                    tier = r["tier"]
                tract = json.loads(subprocess.run([TRACT, onnx_path, x_path, str(args.iterations)], check=True,
                                                  capture_output=True, text=True).stdout)
                keep("tract", tract["median_ms"])
                keep("ort_f32", ort_time(onnx_path, x, args.iterations))
                keep("ort_s8", ort_time(s8, x, args.iterations))
                keep("ort_d8", ort_time(d8, x, args.iterations))
            print(f"{name}: cold starts ...", file=sys.stderr)
            fer = {"int8": {"median_ms": medians["ferrite_int8"], "tier": tier,
                            "cold_start_ms": ferrite_cold_ms(fers["int8"], x_path)},
                   "fp16": {"median_ms": medians["ferrite_fp16"]}, "f32": {"median_ms": medians["ferrite_f32"]}}
            tract = {"median_ms": medians["tract"]}
            ort_f32, ort_s8, ort_d8 = medians["ort_f32"], medians["ort_s8"], medians["ort_d8"]
            ort_cold = ort_cold_ms(onnx_path, x_path)
            row = {
                "model": name,
                "ferrite_int8_ms": fer["int8"]["median_ms"],
                "ferrite_fp16_ms": fer["fp16"]["median_ms"],
                "ferrite_f32_ms": fer["f32"]["median_ms"],
                "tract_f32_ms": tract["median_ms"],
                "ort_f32_ms": ort_f32 - overhead,
                "ort_static_int8_ms": ort_s8 - overhead,
                "ort_dynamic_int8_ms": ort_d8 - overhead,
                "ferrite_cold_start_ms": fer["int8"]["cold_start_ms"],
                "ort_cold_start_ms": ort_cold,
                "tier": fer["int8"]["tier"],
            }
            peers = {k: row[k] for k in ["tract_f32_ms", "ort_f32_ms", "ort_static_int8_ms", "ort_dynamic_int8_ms"]}
            best = min(peers, key=peers.get)
            row["fastest_peer"] = best.removesuffix("_ms")
            row["int8_vs_fastest_peer"] = row["ferrite_int8_ms"] / peers[best]
            row["f32_vs_tract"] = row["ferrite_f32_ms"] / row["tract_f32_ms"]
            row["cold_start_vs_ort"] = row["ferrite_cold_start_ms"] / row["ort_cold_start_ms"]
            rows.append(row)
    print(f"\nmedian ms, one thread, batch 1 (ORT minus {overhead * 1e3:.1f} us of Python call overhead); "
          f"onnxruntime {ort.__version__}, Ferrite kernels {rows[0]['tier'] if rows else '?'}\n")
    print("| model | Ferrite int8 | fp16 | f32 | tract f32 | ORT f32 | ORT static int8 | ORT dynamic int8 | "
          "int8 / fastest peer | f32 / tract | cold start Ferrite / ORT |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['ferrite_int8_ms']:.3f} | {r['ferrite_fp16_ms']:.3f} | {r['ferrite_f32_ms']:.3f} | "
              f"{r['tract_f32_ms']:.3f} | {r['ort_f32_ms']:.3f} | {r['ort_static_int8_ms']:.3f} | "
              f"{r['ort_dynamic_int8_ms']:.3f} | {r['int8_vs_fastest_peer']:.2f}x ({r['fastest_peer']}) | "
              f"{r['f32_vs_tract']:.2f}x | {r['ferrite_cold_start_ms']:.2f} / {r['ort_cold_start_ms']:.1f} ms "
              f"= {r['cold_start_vs_ort']:.3f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python_overhead_ms": overhead, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
