"""Reference occlusion for `ferrite explain`, computed independently of Ferrite: this module's own
tokenizer (ferrite_text.py, the words-v1 specification in Python) and ONNX Runtime on each intent
model's model.onnx. For 24 Snips test sentences (every 29th of the test split, so every intent is
among them) it writes models/<name>/explain_reference.json: per sentence the predicted intent, its
probability, and for each word the drop of that probability when the word reads as unknown.
tests/explain.rs checks `ferrite explain` against these figures.

    python3 models/common/explain_reference.py      # needs numpy and onnxruntime (not run by CI)
"""
import json
import os
import sys

import tomllib

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from datasets import snips  # noqa: E402
from ferrite_text import UNK_ID, encode, load_vocab, words  # noqa: E402

MODELS = ["intent-lstm", "intent-transformer"]
EVERY = 29
COUNT = 24


def probabilities(session, ids):
    """Softmax of the logits in float64, one row per id sequence."""
    logits = session.run(None, {"tokens": np.asarray(ids, dtype=np.int64)})[0].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def occlusion(session, vocab, seq_len, pad_side, text):
    ids, n_words = encode(text, vocab, seq_len, pad_side)
    kept = min(n_words, seq_len)
    first = seq_len - kept if pad_side == "left" else 0
    rows = [list(ids)]
    for i in range(kept):
        masked = list(ids)
        masked[first + i] = UNK_ID
        rows.append(masked)
    p = probabilities(session, rows)
    label = int(np.argmax(p[0]))
    base = p[0, label]
    return {
        "text": text,
        "words": words(text)[:kept],
        "label": label,
        "score": float(base),
        "importance": [float(base - p[1 + i, label]) for i in range(kept)],
    }


def main():
    test = snips("test")
    sentences = [test[i * EVERY][0] for i in range(COUNT)]
    for name in MODELS:
        d = os.path.normpath(os.path.join(HERE, "..", name))
        session = ort.InferenceSession(os.path.join(d, "model.onnx"), providers=["CPUExecutionProvider"])
        with open(os.path.join(d, "ferrite.toml"), "rb") as f:
            text = tomllib.load(f)["text"]
        vocab = load_vocab(os.path.join(d, text["vocab"]))
        out = [occlusion(session, vocab, text["seq_len"], text["pad"], s) for s in sentences]
        path = os.path.join(d, "explain_reference.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"method": "occlusion, each word read as unknown (id 1); score = softmax probability",
                       "onnxruntime": ort.__version__, "sentences": out}, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{path}: {len(out)} sentences")


if __name__ == "__main__":
    main()
