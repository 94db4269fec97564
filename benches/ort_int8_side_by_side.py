#!/usr/bin/env python3
"""int8 accuracy side by side: Ferrite's int8 and ONNX Runtime's static quantization, same models, same data.

    python3 benches/ort_int8_side_by_side.py [--calib-samples 200] [--models kws-dscnn,...]

Installs what it needs with pip when it is missing (onnxruntime, onnx, numpy; pinned as in
models/requirements.txt). For each trained model it quantizes model.onnx with
`onnxruntime.quantization.quantize_static` (QDQ format, per-channel int8 weights, int8 activations,
MinMax calibration) on a fixed calibration subset of the *training* split (`calibration_items` in
models/common/datasets.py: evenly spread items, the same ones Ferrite's int8 calibration picks), then
evaluates the f32 and the int8 model on the held-out test split with the reference preprocessing and
prints accuracy, the drop, and top-1 agreement.

Ferrite's columns come from `ferrite quantize --precision int8 --calib DATA --calib-samples N` (MinMax,
the same evenly spread training examples) and `ferrite eval --reference model.onnx --json` on the same
test split (the binary is built with cargo when target/release/ferrite is missing).

Measured 2026-11-28 (onnxruntime 1.32.0, 200 samples), accuracy f32 -> int8 (agreement, int8/f32 size):
  intent-lstm         ORT 98.00 -> 98.00 (100%, 37.4%)      Ferrite 98.00 -> 98.00 (100%, 32.9%)
  intent-transformer  ORT 97.71 -> 92.14 (92.71%, 27.2%)    Ferrite 97.71 -> 97.71 (100%, 29.7%)
  kws-dscnn           ORT 100 -> 100 (100%, 54.4%)          Ferrite 100 -> 100 (100%, 45.9%)
  kws-crnn            ORT 99.60 -> 99.60 (100%, 100.2%)     Ferrite 99.60 -> 99.60 (100%, 28.2%)
(ORT's static QDQ leaves the GRU in float; Ferrite's sizes include the vocabulary, labels and model card.)
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["intent-lstm", "intent-transformer", "kws-dscnn", "kws-crnn"]
PINS = ["onnxruntime==1.32.0", "onnx==1.23.2", "numpy==2.4.6"]


def ensure_packages():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        print(f"installing {' '.join(PINS)} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *PINS], check=True)


def ferrite_int8(name, samples, tmp):
    """Ferrite's int8 artifact of `name` and its audit against the ONNX model: (f32 acc, int8 acc, agreement, size)."""
    import json
    exe = os.path.join(ROOT, "target", "release", "ferrite")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "-p", "ferrite-quantizer"], cwd=ROOT, check=True)
    data = os.path.join(ROOT, "..", "shared", "data", "snips-intents" if name.startswith("intent") else "fsdd")
    onnx_path = os.path.join(ROOT, "models", name, "model.onnx")
    fer = os.path.join(tmp, f"{name}.int8.fer")
    subprocess.run([exe, "quantize", onnx_path, "--precision", "int8", "--calib", data, "--calib-samples",
                    str(samples), "-o", fer], check=True, stderr=subprocess.DEVNULL)
    out = subprocess.run([exe, "eval", fer, "--reference", onnx_path, "--data", data, "--json"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    a = json.loads(out)
    return (a["reference"]["accuracy_pct"], a["quantized"]["accuracy_pct"], a["agreement_pct"],
            os.path.getsize(fer) / os.path.getsize(onnx_path))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calib-samples", type=int, default=200)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    ensure_packages()
    import logging
    logging.getLogger().setLevel(logging.ERROR)  # ORT's "consider pre-processing" advice, once per model
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    sys.path.insert(0, os.path.join(ROOT, "models", "common"))
    import datasets

    class Reader(CalibrationDataReader):
        def __init__(self, name, xs):
            self.name, self.it = name, iter(xs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {self.name: x[None]}

    def run(path, xs):
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return np.array([int(sess.run(None, {name: x[None]})[0].argmax()) for x in xs])

    print(f"onnxruntime {ort.__version__}: quantize_static, QDQ, per-channel int8 weights, int8 activations, "
          f"MinMax, {args.calib_samples} calibration samples from the training split")
    print(f"{'model':<20} {'runtime':<8} {'n':>4} {'f32 acc':>8} {'int8 acc':>9} {'drop':>7} {'agree':>7} "
          f"{'int8/f32 size':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            d = os.path.join(ROOT, "models", name)
            onnx_path = os.path.join(d, "model.onnx")
            calib, test, labels = datasets.model_inputs(d, args.calib_samples)
            input_name = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).get_inputs()[0].name
            q_path = os.path.join(tmp, f"{name}.int8.onnx")
            quantize_static(onnx_path, q_path, Reader(input_name, calib), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            xs = [x for x, _ in test]
            y = np.array([labels.index(l) for _, l in test])
            p32, p8 = run(onnx_path, xs), run(q_path, xs)
            a32, a8 = float(np.mean(p32 == y)), float(np.mean(p8 == y))
            size = os.path.getsize(q_path) / os.path.getsize(onnx_path)
            print(f"{name:<20} {'ORT':<8} {len(y):>4} {100 * a32:>7.2f}% {100 * a8:>8.2f}% {100 * (a32 - a8):>6.2f}p "
                  f"{100 * float(np.mean(p32 == p8)):>6.2f}% {100 * size:>13.1f}%")
            f32, i8, agree, fsize = ferrite_int8(name, args.calib_samples, tmp)
            print(f"{name:<20} {'Ferrite':<8} {len(y):>4} {f32:>7.2f}% {i8:>8.2f}% {f32 - i8:>6.2f}p "
                  f"{agree:>6.2f}% {100 * fsize:>13.1f}%")


if __name__ == "__main__":
    main()
