"""Compares the explanation the firmware printed (`explain: WORD ±MILLIONTHS` lines in its log)
with `ferrite explain` on the host, same artifact and sentence: the same words, and importances
within 2 millionths (each side rounds to millionths; the firmware's generic or dsp kernels and the
host's vector ones give the same int8 products, and the LSTM's f32 gates agree to far below that).

    python3 targets/cortex-m/check-explain.py FERRITE ARTIFACT LOG
"""
import json
import subprocess
import sys

SENTENCE = "will it rain in paris tomorrow"  # SENTENCES[0] in src/main.rs


def main():
    ferrite, artifact, log = sys.argv[1:4]
    device = []
    for line in open(log, encoding="utf-8", errors="replace"):
        parts = line.split()
        if len(parts) == 3 and parts[0] == "explain:":
            device.append((parts[1], int(parts[2])))
    host = json.loads(subprocess.run([ferrite, "explain", artifact, "--text", SENTENCE, "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    want = [(p["name"], round(p["importance"] * 1e6)) for p in host["words"]["parts"]]
    if not device or [w for w, _ in device] != [w for w, _ in want]:
        sys.exit(f"firmware explained {device}, the host {want}")
    worst = max(abs(d - h) for (_, d), (_, h) in zip(device, want))
    if worst > 2:
        sys.exit(f"firmware and host importances differ by {worst} millionths: {device} vs {want}")
    print(f"explanation on the device = host's ({len(device)} words, largest difference {worst} millionths)")


if __name__ == "__main__":
    main()
