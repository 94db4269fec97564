#!/usr/bin/env python3
"""Checks models/intent-minilm/requests.jsonl, the project's own assistant requests (written for
Ferrite, outside Snips), and measures intent models on it.

    python3 models/intent-minilm/check_requests.py                       # the set itself
    python3 models/intent-minilm/check_requests.py --ferrite target/release/ferrite A.fer B.fer ...

The set must hold at least 50 requests, every intent of Snips-7 at least 7 times, and each
request at least one word that Snips' training split never uses (words as tokenizer `words-v1`
splits them: the vocabulary a model trained from scratch on Snips could know): it measures what
a model does with words it never saw. With --ferrite, each artifact is run on every request
(`ferrite eval --data requests.jsonl --json`) and its accuracy printed; `--min PCT` makes the
script fail when an artifact scores lower.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import datasets  # noqa: E402
import ferrite_text as ft  # noqa: E402

SET = os.path.join(HERE, "requests.jsonl")


def check_set():
    reqs = [json.loads(line) for line in open(SET, encoding="utf-8") if line.strip()]
    known = {w for t, _ in datasets.snips("train") for w in ft.words(t)}
    intents = collections.Counter(r["intent"] for r in reqs)
    problems = []
    if len(reqs) < 50:
        problems.append(f"{len(reqs)} requests (at least 50)")
    for i in datasets.snips_intents():
        if intents[i] < 7:
            problems.append(f"{i}: {intents[i]} requests (at least 7)")
    unseen_words = total_words = 0
    for r in reqs:
        words = ft.words(r["text"])
        unseen = [w for w in words if w not in known]
        unseen_words += len(unseen)
        total_words += len(words)
        if not unseen:
            problems.append(f"{r['text']!r}: every word is in Snips' training split")
    if problems:
        sys.exit("requests.jsonl: " + "; ".join(problems))
    print(f"{len(reqs)} requests, {len(intents)} intents; every request has a word Snips' training split never "
          f"uses ({unseen_words} of {total_words} words, {100 * unseen_words / total_words:.1f}%)")


def measure(ferrite, artifacts, minimum):
    failed = []
    for a in artifacts:
        out = subprocess.run([ferrite, "eval", a, "--data", SET, "--json"], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout)
        acc = 100 * r["accuracy"]
        print(f"{os.path.basename(a)}: {r['correct']}/{r['n']} = {acc:.1f}%")
        if minimum is not None and acc < minimum:
            failed.append(f"{a}: {acc:.1f}% < {minimum}%")
    if failed:
        sys.exit("; ".join(failed))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ferrite", help="the ferrite binary")
    ap.add_argument("--min", type=float, help="fail below this accuracy (percent)")
    ap.add_argument("artifacts", nargs="*")
    a = ap.parse_args()
    check_set()
    if a.ferrite:
        measure(a.ferrite, a.artifacts, a.min)


if __name__ == "__main__":
    main()
