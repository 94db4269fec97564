"""Training pipeline of the intent models: Snips-7, tokenizer `words-v1` (ferrite_text.py)."""
import json
import os

import numpy as np
import torch

import datasets
import ferrite_text as ft
import train_lib as tl

SAMPLE_SENTENCES = [
    "will it rain in paris tomorrow",
    "play some jazz",
    "add this song to my road trip playlist",
    "book a table for two at an italian restaurant tonight",
    "rate this book five stars",
    "find the movie schedule at the nearest cinema",
    "show me the tv series the office",
    "Wie wird das Wetter morgen in München?",
]


def encode_all(texts, vocab, seq_len, pad_side):
    return np.array([ft.encode(t, vocab, seq_len, pad_side)[0] for t in texts], dtype=np.int64)


def length_bucket(n):
    return "01-05" if n <= 5 else "06-10" if n <= 10 else "11-20" if n <= 20 else "21+"


def test_metrics(onnx_path, vocab, seq_len, pad_side):
    """Test-split figures with the slices `ferrite eval` reports for text: sentence length in words
    and whether any word the model reads is unknown."""
    test = datasets.snips("test")
    labels = datasets.snips_intents()
    encoded = [ft.encode(t, vocab, seq_len, pad_side) for t, _ in test]
    x_test = np.array([ids for ids, _ in encoded], dtype=np.int64)
    y_test = [labels.index(i) for _, i in test]
    pred = tl.ort_logits(onnx_path, x_test).argmax(1)
    slices = {"words": [length_bucket(n) for _, n in encoded],
              "unknown_words": ["some" if ft.UNK_ID in ids else "none" for ids, _ in encoded]}
    return tl.metrics(y_test, pred.tolist(), labels, slices)


def refresh_metrics(out_dir, seq_len, pad_side):
    """Recomputes metrics.json and the card's results from the committed model (no training)."""
    path = os.path.join(out_dir, "metrics.json")
    old = json.load(open(path))
    vocab = ft.load_vocab(os.path.join(out_dir, "vocab.txt"))
    m = test_metrics(os.path.join(out_dir, "model.onnx"), vocab, seq_len, pad_side)
    m["validation_accuracy"] = old.get("validation_accuracy")
    tl.write_json(path, m)
    card = os.path.join(out_dir, "MODEL_CARD.md")
    text = open(card).read()
    head, sep, rest = text.partition("## Test-split results")
    tail = rest[rest.index("`ferrite eval`"):]
    first = rest.split("\n", 1)[0]
    open(card, "w").write(head + sep + first + "\n\n" + tl.metrics_markdown(m) + "\n\n" + tail)
    print(f"{os.path.basename(out_dir)}: test accuracy {100 * m['accuracy']:.2f}%")


def run(out_dir, make_model, *, seq_len, pad_side, vocab_size, epochs, lr, batch, seed, task_line,
        architecture):
    tl.seed_everything(seed)
    train = datasets.snips("train")
    test = datasets.snips("test")
    labels = datasets.snips_intents()
    label_id = {l: i for i, l in enumerate(labels)}

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    n_val = len(train) // 10
    val_idx, fit_idx = order[:n_val], order[n_val:]
    fit_texts = [train[i][0] for i in fit_idx]
    words = ft.build_vocab(fit_texts, vocab_size, min_count=1)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in words))
    vocab = ft.load_vocab(os.path.join(out_dir, "vocab.txt"))

    x_fit = encode_all(fit_texts, vocab, seq_len, pad_side)
    y_fit = np.array([label_id[train[i][1]] for i in fit_idx])
    x_val = encode_all([train[i][0] for i in val_idx], vocab, seq_len, pad_side)
    y_val = np.array([label_id[train[i][1]] for i in val_idx])

    def word_dropout(x):
        # Teach the model what an unknown word looks like: 5% of real tokens become UNK.
        x = x.copy()
        drop = (rng.random(x.shape) < 0.05) & (x >= ft.FIRST_WORD_ID)
        x[drop] = ft.UNK_ID
        return x

    model = make_model(len(words) + ft.FIRST_WORD_ID, len(labels))
    val_acc = tl.train_classifier(model, x_fit, y_fit, x_val, y_val, epochs=epochs, lr=lr, batch=batch,
                                  augment=word_dropout)

    onnx_path = os.path.join(out_dir, "model.onnx")
    tl.export_onnx(model, x_val[:4], onnx_path, "tokens")

    m = test_metrics(onnx_path, vocab, seq_len, pad_side)
    m["validation_accuracy"] = val_acc
    tl.write_json(os.path.join(out_dir, "metrics.json"), m)

    x_s = encode_all(SAMPLE_SENTENCES, vocab, seq_len, pad_side)
    logits = tl.ort_logits(onnx_path, x_s)
    tl.write_json(os.path.join(out_dir, "samples.json"), [
        {"text": t, "tokens": x.tolist(), "logits": l.tolist(), "top": labels[int(l.argmax())]}
        for t, x, l in zip(SAMPLE_SENTENCES, x_s, logits)])

    name = os.path.basename(out_dir)
    with open(os.path.join(out_dir, "ferrite.toml"), "w") as f:
        f.write(f'''# Read by `ferrite quantize models/{name}/model.onnx` (keys: docs/PREPROCESSING.md).
# Written by train.py; edit the script, not this file.
[model]
name = "{name}"
task = "intent-classification"
labels = [{", ".join(f'"{l}"' for l in labels)}]
card = "MODEL_CARD.md"
license = "Apache-2.0"
intended_use = "Intent classification of short English voice-assistant requests into the seven Snips intents, on a device. A reference model for Ferrite's tests and benchmarks: it always answers one of the seven intents, so it is not for open-ended text, nor for decisions about people."

[text]
tokenizer = "words-v1"
vocab = "vocab.txt"
seq_len = {seq_len}
pad = "{pad_side}"
''')
    n_params = sum(p.numel() for p in model.parameters())
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as f:
        f.write(f"""# {name}

{task_line}

- **Architecture**: {architecture}; {n_params:,} parameters; ONNX opset 17, dynamic batch.
- **Input**: `tokens`, int64 [batch, {seq_len}], tokenizer `words-v1` (docs/PREPROCESSING.md) with the
  {len(words) + 2:,}-entry vocabulary in vocab.txt (0 = padding, 1 = unknown word), padded on the {pad_side},
  truncated to the first {seq_len} words. **Output**: `logits` [batch, {len(labels)}] over {", ".join(labels)}.
- **Data**: Snips NLU benchmark, 2017-06 custom intents (../shared/data/snips-intents; Coucke et al. 2018,
  arXiv:1805.10190; CC0 1.0). Trained on `train_<Intent>_full.json` ({len(train):,} queries; 10% of them,
  chosen with seed {seed}, held out for model selection), tested on `validate_<Intent>.json`
  ({len(test)} queries, never used in training or selection).
- **Training**: `models/{name}/train.py` (seed {seed}, {epochs} epochs, AdamW, one-cycle LR {lr},
  batch {batch}, label smoothing 0.05, 5% word dropout to UNK). Best validation accuracy {100 * val_acc:.2f}%.
- **Intended use**: on-device intent classification of short English voice-assistant queries in these
  7 domains; a reference model for Ferrite's text path. Not for other languages or open-domain text: an
  utterance outside the 7 intents is still assigned one of them (there is no reject class).
- **License**: the weights are derived from CC0 data and released under Ferrite's license.

## Test-split results (f32 ONNX model, ONNX Runtime, reference tokenizer)

{tl.metrics_markdown(m)}

`ferrite eval` on the f32 artifact reproduces these figures (tests/trained_models.rs).
""")
    print(f"{name}: test accuracy {100 * m['accuracy']:.2f}%, macro F1 {m['macro_f1']:.4f}, "
          f"onnx {os.path.getsize(onnx_path)} bytes")
