#!/usr/bin/env python3
"""The MiniLM sentence encoder (models/minilm) side by side, in one run: sequence length 32, one
thread, batch 1, the same ids (a Snips sentence through the tokenizer) for every variant.

  Ferrite int8       `--activations dynamic` (int8 weights, activations per row at run time)
  Ferrite f32
  tract f32          `tract-bench` (in process, `into_optimized`)
  ORT f32            ONNX Runtime, CPU provider, all graph optimizations
  ORT f32 optimized  onnxruntime.transformers.optimizer (model_type bert: fused attention,
                     LayerNorm, GELU), as people serve BERT with ORT
  ORT dynamic int8   quantize_dynamic of the optimized graph (int8 weights per channel), the way
                     people quantize BERT for ORT

Latency: the best of `--rounds` medians (variants in turns), ORT timed through I/O binding with
the cost of one Python call subtracted (side_by_side.py's method). Peak resident memory: each
variant in a fresh process that loads the model (its file first dropped from the page cache, as
a model written long before would be) and runs it `--iterations` times, its `VmHWM` (Linux) at
the end; for ORT, the same Python process without a session is subtracted (the
interpreter, numpy and onnxruntime's import), to ORT's advantage.

    python3 models/minilm/prepare.py && python3 benches/encoder_side_by_side.py [--json OUT.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import side_by_side as sbs  # noqa: E402

ROOT = sbs.ROOT
SENTENCE = "book a table for four at a sushi restaurant near the station tonight at eight"

ORT_RSS = """
import sys, numpy as np, onnxruntime
sys.path.insert(0, sys.argv[4])
from side_by_side import ort_session
x = np.load(sys.argv[2])
if sys.argv[1] != "-":
    sess = ort_session(sys.argv[1])
    for _ in range(int(sys.argv[3])):
        sess.run(None, {"input_ids": x})
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print('{"peak_rss_kib": %s}' % hwm.split()[1])
"""


def drop_cached(path):
    """Writes `path` out and drops it from the page cache, as a model file written long before
    it is loaded would be: how much of a mapped file counts in a process depends on what the
    cache holds (a freshly written file's pages come in larger groups)."""
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def peak_rss_kib(cmd, model):
    """The `peak_rss_kib` the command prints (its last line, JSON): its own high-water mark, with
    the model file out of the page cache first. (wait4's ru_maxrss would count the forking
    parent's memory too.)"""
    drop_cached(model)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_kib"]


def ids_file(tmp):
    import numpy as np
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(ROOT, "models/minilm/tokenizer.json"))
    tok.enable_truncation(max_length=32)
    tok.enable_padding(length=32, pad_id=0, pad_token="[PAD]")
    ids = np.array([tok.encode(SENTENCE).ids], np.int64)
    path = os.path.join(tmp, "ids.npy")
    np.save(path, ids)
    np.save(os.path.join(tmp, "ids32.npy"), ids.astype(np.int32))
    return ids, path, os.path.join(tmp, "ids32.npy")


def ort_models(src, tmp):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    opt = os.path.join(tmp, "encoder-opt.onnx")
    # opt_level=0: the optimizer's own fusions only (attention, skip LayerNorm, GELU). Its
    # levels 1 and 2 first run ONNX Runtime's graph optimizer, which imports torch (for its
    # version) in onnxruntime 1.32.0; the session applies every level of that optimizer at load
    # anyway (side_by_side.ort_session).
    m = optimizer.optimize_model(src, model_type="bert", num_heads=12, hidden_size=384, opt_level=0)
    print(f"ORT transformer optimizer fused: {m.get_fused_operator_statistics()}", file=sys.stderr)
    m.save_model_to_file(opt)
    dq = os.path.join(tmp, "encoder-dq.onnx")
    quantize_dynamic(opt, dq, weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return opt, dq


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    sbs.ensure_tools()
    import logging
    logging.getLogger().setLevel(logging.ERROR)
    src = os.path.join(ROOT, "target/minilm/encoder.onnx")
    config = os.path.join(ROOT, "models/minilm/ferrite.toml")
    with tempfile.TemporaryDirectory() as tmp:
        x, x_path, x32_path = ids_file(tmp)
        fer = {}
        for p in ["int8", "f32"]:
            fer[p] = os.path.join(tmp, f"minilm.{p}.fer")
            cmd = [sbs.EXE, "quantize", src, "--config", config, "--precision", p, "-o", fer[p]]
            if p == "int8":
                cmd += ["--activations", "dynamic", "--calib", os.path.join(ROOT, "../shared/data/snips-intents"),
                        "--calib-samples", "40"]
            subprocess.run(cmd, check=True, capture_output=True)
        opt, dq = ort_models(src, tmp)
        overhead = sbs.python_overhead_ms(tmp, a.iterations)
        variants = {
            "Ferrite int8": lambda: sbs.ferrite_bench(fer["int8"], x32_path, a.iterations)["median_ms"],
            "Ferrite f32": lambda: sbs.ferrite_bench(fer["f32"], x32_path, a.iterations)["median_ms"],
            "tract f32": lambda: json.loads(subprocess.run([sbs.TRACT, src, x_path, str(a.iterations)], check=True,
                                                           capture_output=True, text=True).stdout)["median_ms"],
            "ORT f32": lambda: sbs.ort_time(src, x, a.iterations) - overhead,
            "ORT f32 optimized": lambda: sbs.ort_time(opt, x, a.iterations) - overhead,
            "ORT dynamic int8": lambda: sbs.ort_time(dq, x, a.iterations) - overhead,
        }
        best = {k: float("inf") for k in variants}
        for r in range(a.rounds):
            for k, f in variants.items():
                best[k] = min(best[k], f())
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
        n = str(a.iterations)
        base = peak_rss_kib([sys.executable, "-c", ORT_RSS, "-", x_path, n, HERE], x_path)
        rss = {
            "Ferrite int8": peak_rss_kib([sbs.EXE, "bench", fer["int8"], "--input", x32_path, "--iterations", n,
                                          "--json"], fer["int8"]),
            "Ferrite f32": peak_rss_kib([sbs.EXE, "bench", fer["f32"], "--input", x32_path, "--iterations", n,
                                         "--json"], fer["f32"]),
            "tract f32": peak_rss_kib([sbs.TRACT, src, x_path, n], src),
        }
        for k, m in [("ORT f32", src), ("ORT f32 optimized", opt), ("ORT dynamic int8", dq)]:
            rss[k] = peak_rss_kib([sys.executable, "-c", ORT_RSS, m, x_path, n, HERE], m) - base
    print(f"MiniLM-L6 encoder, sequence length 32, one thread, batch 1 (ORT call overhead {overhead:.3f} ms "
          f"subtracted; Python + onnxruntime import {base / 1024:.1f} MiB subtracted from ORT's memory)")
    print(f"{'variant':<20} {'median ms':>10} {'peak RSS MiB':>13}")
    for k in variants:
        print(f"{k:<20} {best[k]:>10.3f} {rss[k] / 1024:>13.1f}")
    q, f = best["Ferrite int8"], best["Ferrite f32"]
    ratios = {
        "Ferrite int8 / ORT dynamic int8": q / best["ORT dynamic int8"],
        "Ferrite int8 / ORT f32 optimized": q / best["ORT f32 optimized"],
        "Ferrite f32 / tract f32": f / best["tract f32"],
        "Ferrite int8 peak RSS / ORT dynamic int8": rss["Ferrite int8"] / rss["ORT dynamic int8"],
        "Ferrite int8 peak RSS / ORT f32 optimized": rss["Ferrite int8"] / rss["ORT f32 optimized"],
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}x")
    if a.json:
        with open(a.json, "w") as out:
            json.dump({"median_ms": best, "peak_rss_kib": rss, "ratios": ratios, "ort_overhead_ms": overhead}, out,
                      indent=1)


if __name__ == "__main__":
    main()
