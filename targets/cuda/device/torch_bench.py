#!/usr/bin/env python3
"""PyTorch on the GPU, for the device script's table: each trained model as its own train.py
defines it (random weights: the time does not depend on their values), eager and with CUDA
Graphs, at the given batch sizes, timed as `ferrite bench --device cuda` times Ferrite: from an
input in (pageable) host memory to the output in host memory, median of the runs after a
warm-up. Prints one JSON object per line.

    python3 targets/cuda/device/torch_bench.py [--iterations N] [--batches 1,64]
"""
import argparse
import importlib.util
import json
import os
import sys
import time
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models", "common"))
# train_lib imports these to export and check ONNX files, which this script does not do; the GPU
# machine need not have them.
for missing in ("onnx", "onnxruntime"):
    try:
        __import__(missing)
    except ImportError:
        sys.modules[missing] = types.ModuleType(missing)

import numpy as np  # noqa: E402
import torch  # noqa: E402


def train_module(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), os.path.join(ROOT, "models", name, "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def models():
    """(name, module, input maker) for each trained model, built as its train.py builds it."""
    d = train_module("kws-dscnn")
    yield "kws-dscnn", d.DsCnn(np.zeros(10, "f4"), np.ones(10, "f4")), lambda b: torch.randn(b, 1, 49, 10)
    c = train_module("kws-crnn")
    yield "kws-crnn", c.Crnn(np.zeros(40, "f4"), np.ones(40, "f4")), lambda b: torch.randn(b, 49, 40)
    lstm = train_module("intent-lstm")
    yield "intent-lstm", lstm.IntentLstm(8000, 7), lambda b: torch.randint(1, 8000, (b, 32))
    t = train_module("intent-transformer")
    yield "intent-transformer", t.IntentTransformer(6000, 7), lambda b: torch.randint(1, 6000, (b, 32))


def median_ms(step, iterations):
    for _ in range(10):
        step()
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--batches", default="1,64")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = False
    gpu = torch.cuda.get_device_name(0)
    for name, model, make in models():
        model = model.cuda().eval()
        for b in [int(v) for v in args.batches.split(",")]:
            x_host = make(b)
            with torch.inference_mode():
                eager = median_ms(lambda: model(x_host.cuda()).cpu(), args.iterations)
            # CUDA Graphs: warm up on a side stream, capture once, then copy in, replay, copy out.
            static_x = x_host.cuda()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.inference_mode(), torch.cuda.stream(side):
                for _ in range(3):
                    model(static_x)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(graph):
                static_y = model(static_x)

            def replay():
                static_x.copy_(x_host)
                graph.replay()
                return static_y.cpu()

            graphs = median_ms(replay, args.iterations)
            print(json.dumps({"model": name, "batch": b, "torch_eager_ms": eager, "torch_graphs_ms": graphs,
                              "torch": torch.__version__, "gpu": gpu}), flush=True)


if __name__ == "__main__":
    main()
