#!/usr/bin/env python3
"""Write ONNX Runtime outputs for the test graphs whose reference is not tract.

tests/ops.rs builds each graph in Rust; with FERRITE_KEEP_CASES set it also saves the graph and its
inputs. This script runs ONNX Runtime on every saved graph and writes <name>.ort<i>.npy beside it.

    FERRITE_KEEP_CASES=$PWD/tests/golden cargo test --test ops
    python3 tests/golden/ort_reference.py tests/golden      # needs onnxruntime, numpy
"""
import glob
import os
import sys

import numpy as np
import onnxruntime as ort

folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
for model in sorted(glob.glob(os.path.join(folder, "*.onnx"))):
    name = model[: -len(".onnx")]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = {inp.name: np.load(f"{name}.in{i}.npy") for i, inp in enumerate(sess.get_inputs())}
    for i, out in enumerate(sess.run(None, feeds)):
        np.save(f"{name}.ort{i}.npy", out.astype(np.float32))
    print(os.path.basename(name), "ok")
