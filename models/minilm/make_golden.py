#!/usr/bin/env python3
"""Writes the ONNX Runtime reference outputs the tests compare Ferrite's f32 artifacts with:
models/minilm/golden.json (the encoder's embeddings) and models/intent-minilm/samples.json (the
intent model's logits), for 24 Snips test utterances (every 29th) and a few requests of our own,
with their token ids from Hugging Face `tokenizers`. Run after prepare.py (offline; needs
onnxruntime and tokenizers).

    python3 models/minilm/make_golden.py [TARGET_DIR]
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "models/common"))
import datasets  # noqa: E402

EXTRA = ["will it rain in paris tomorrow", "do i need an umbrella in seattle today",
         "blast some synthwave while i'm vacuuming", "", "Héllo, 北京! 👍🏽"]


def main():
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target"
    tok = Tokenizer.from_file(str(HERE / "tokenizer.json"))
    tok.enable_truncation(max_length=32)
    tok.enable_padding(length=32, pad_id=0, pad_token="[PAD]")
    tok.encode_special_tokens = True
    texts = [t for t, _ in datasets.snips("test")[::29]] + EXTRA
    labels = datasets.snips_intents()
    for onnx_path, out, key in [(target / "minilm/encoder.onnx", HERE / "golden.json", "embedding"),
                                (target / "intent-minilm/model.onnx", ROOT / "models/intent-minilm/samples.json",
                                 "logits")]:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        rows = []
        for t in texts:
            ids = tok.encode(t).ids
            y = sess.run(None, {"input_ids": np.array([ids], np.int64)})[0][0]
            row = {"text": t, "tokens": ids, key: [float(v) for v in y]}
            if key == "logits":
                row["top"] = labels[int(np.argmax(y))]
            rows.append(row)
        out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {out}: {len(rows)} texts")


if __name__ == "__main__":
    main()
