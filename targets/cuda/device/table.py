#!/usr/bin/env python3
"""The device script's table: Ferrite CUDA (CUDA Graphs) against Ferrite CPU (one thread) and
PyTorch on the GPU (eager, CUDA Graphs), per trained model, precision and batch, from the JSON
lines `ferrite bench --json` and torch_bench.py printed. Ratios are Ferrite CUDA's time over the
other's (below 1: Ferrite CUDA is faster).

    python3 targets/cuda/device/table.py BENCH.jsonl TORCH.jsonl > table.md
"""
import json
import sys


def main(bench_path, torch_path):
    bench = [json.loads(line) for line in open(bench_path) if line.strip().startswith("{")]
    torch = {(t["model"], t["batch"]): t for t in (json.loads(line) for line in open(torch_path) if line.strip().startswith("{"))}
    rows = {}
    for b in bench:
        key = (b["model"], b["precision"], b["batch"])
        rows.setdefault(key, {})["cuda" if b.get("device") == "cuda" else "cpu"] = b
    gpu = next((t["gpu"] for t in torch.values()), "?")
    print(f"GPU: {gpu}; times in ms (median, host input to host output)\n")
    print("| model | precision | batch | Ferrite CUDA | no CUDA Graphs | Ferrite CPU (1 thread) | PyTorch eager | PyTorch CUDA Graphs | / eager | / CUDA Graphs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (model, precision, batch), r in sorted(rows.items()):
        cuda, cpu, t = r.get("cuda", {}), r.get("cpu", {}), torch.get((model, batch), {})
        c = cuda.get("median_ms")
        fmt = lambda v: f"{v:.3f}" if isinstance(v, (int, float)) else "—"  # noqa: E731
        ratio = lambda o: f"{c / o:.2f}" if c and o else "—"  # noqa: E731
        print(f"| {model} | {precision} | {batch} | {fmt(c)} | {fmt(cuda.get('median_ms_without_cuda_graphs'))} | "
              f"{fmt(cpu.get('median_ms'))} | {fmt(t.get('torch_eager_ms'))} | {fmt(t.get('torch_graphs_ms'))} | "
              f"{ratio(t.get('torch_eager_ms'))} | {ratio(t.get('torch_graphs_ms'))} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
