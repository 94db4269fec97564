#!/usr/bin/env python3
"""Picks the small sample of the shared data sets that a fresh clone carries, so that the README's
main job runs without ../shared/data beside the repository (training and full evaluation still read
../shared/data). Deterministic: run it again and nothing changes.

    python3 models/data-sample/make.py      # from the repository root; reads ../shared/data

- fsdd/recordings/: 150 FSDD clips (CC BY-SA 4.0): for each digit and speaker, training clips 5
  and 27 (index >= 5: what `--calib` reads) and test clip 0 (index < 5: what `eval` reads), with
  speakers.json for the per-speaker and per-accent slices.
- snips-calib.jsonl: 210 Snips training utterances (CC0 1.0), 30 per intent, as {"text", "intent"}
  lines: what `--calib` reads for the intent classifier.
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data")
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from datasets import snips  # noqa: E402  (models/common: the loader the training scripts use)

src = os.path.join(SHARED, "fsdd")
dst = os.path.join(HERE, "fsdd")
if os.path.isdir(dst):
    shutil.rmtree(dst)
os.makedirs(os.path.join(dst, "recordings"))
speakers = sorted({f.split("_")[1] for f in os.listdir(os.path.join(src, "recordings")) if f.endswith(".wav")})
for digit in range(10):
    for sp in speakers:
        for idx in (0, 5, 27):
            name = f"{digit}_{sp}_{idx}.wav"
            shutil.copyfile(os.path.join(src, "recordings", name), os.path.join(dst, "recordings", name))
shutil.copyfile(os.path.join(src, "speakers.json"), os.path.join(dst, "speakers.json"))

by_intent = {}
for text, intent in snips("train"):
    by_intent.setdefault(intent, []).append(text)
with open(os.path.join(HERE, "snips-calib.jsonl"), "w", encoding="utf-8") as f:
    for intent in sorted(by_intent):
        texts = by_intent[intent]
        for t in texts[:: max(1, len(texts) // 30)][:30]:
            f.write(json.dumps({"text": t, "intent": intent}, ensure_ascii=False) + "\n")
print(f"fsdd: {10 * len(speakers) * 3} clips; snips-calib.jsonl: {sum(min(30, len(v)) for v in by_intent.values())} lines")
