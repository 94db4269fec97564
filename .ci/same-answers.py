#!/usr/bin/env python3
"""Runs `ferrite embed --json` (each text's first output: an intent model's logits) with two
ferrite commands on the same artifact and texts, and fails unless every text gets the same top
class. Prints how many texts had bit-identical outputs too.

usage: same-answers.py ARTIFACT REQUESTS.jsonl -- CMD_A... -- CMD_B...
"""
import json
import subprocess
import sys


def outputs(cmd, artifact, texts):
    args = cmd + ["embed", artifact, "--json"]
    for t in texts:
        args += ["--text", t]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [json.loads(line)["embedding"] for line in out.splitlines()]


def main():
    artifact, requests = sys.argv[1], sys.argv[2]
    rest = sys.argv[3:]
    assert rest[0] == "--" and rest.count("--") == 2, __doc__
    split = rest.index("--", 1)
    cmd_a, cmd_b = rest[1:split], rest[split + 1:]
    texts = [json.loads(line)["text"] for line in open(requests, encoding="utf-8") if line.strip()]
    a, b = outputs(cmd_a, artifact, texts), outputs(cmd_b, artifact, texts)
    assert len(a) == len(b) == len(texts), (len(a), len(b), len(texts))
    top = lambda v: max(range(len(v)), key=v.__getitem__)
    differ = [t for t, x, y in zip(texts, a, b) if top(x) != top(y)]
    identical = sum(x == y for x, y in zip(a, b))
    worst = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x, y))
    print(f"{len(texts)} texts: same top class on {len(texts) - len(differ)}; outputs bit-identical on "
          f"{identical}; largest difference {worst:g}")
    if differ:
        sys.exit(f"different answers: {differ}")


if __name__ == "__main__":
    main()
