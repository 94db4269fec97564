"""Loaders for ../shared/data (read in place, never copied): Snips intents and FSDD spoken digits.

The rules here are the ones `ferrite eval` applies (quantizer/src/eval/data.rs): same file order,
same split, same text decoding, so the numbers the training scripts record can be compared exactly.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))
SNIPS = os.path.join(DATA, "snips-intents")
FSDD = os.path.join(DATA, "fsdd")


def decode_text(raw):
    """UTF-8, or Latin-1 where the file is not valid UTF-8 (some Snips files are not)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def snips(split):
    """[(utterance, intent)] of split 'train' (train_*_full.json) or 'test' (validate_*.json),
    intents in sorted order, utterances in file order."""
    out = []
    for intent in sorted(os.listdir(SNIPS)):
        d = os.path.join(SNIPS, intent)
        if not os.path.isdir(d):
            continue
        name = f"train_{intent}_full.json" if split == "train" else f"validate_{intent}.json"
        with open(os.path.join(d, name), "rb") as f:
            doc = json.loads(decode_text(f.read()))
        for q in doc[intent]:
            out.append(("".join(chunk["text"] for chunk in q["data"]), intent))
    return out


def snips_intents():
    return sorted(i for i in os.listdir(SNIPS) if os.path.isdir(os.path.join(SNIPS, i)))


def fsdd(split):
    """[(path, digit, speaker)] sorted by file name; split 'test' = indices 0-4, 'train' = 5-49."""
    rec = os.path.join(FSDD, "recordings")
    out = []
    for name in sorted(os.listdir(rec)):
        if not name.endswith(".wav"):
            continue
        digit, speaker, idx = name[:-4].split("_")
        if (int(idx) < 5) == (split == "test"):
            out.append((os.path.join(rec, name), digit, speaker))
    return out


def fsdd_speakers():
    with open(os.path.join(FSDD, "speakers.json")) as f:
        return json.load(f)


def calibration_items(split_items, n):
    """A fixed calibration subset of the *training* split (never the test split): items
    `i * len // n` for i < n, in the loaders' order. Language-neutral on purpose: Ferrite's int8
    calibration (quantizer/src/calibrate.rs `spread`) picks the same items."""
    n = min(n, len(split_items))
    return [split_items[i * len(split_items) // n] for i in range(n)]


def model_inputs(model_dir, n_calib):
    """(calibration inputs, [(test input, label)], labels) for a trained model folder, built with the
    reference preprocessing and the parameters in its ferrite.toml (numpy needed)."""
    import tomllib
    import numpy as np
    import ferrite_audio as fa
    import ferrite_text as ft
    with open(os.path.join(model_dir, "ferrite.toml"), "rb") as f:
        cfg = tomllib.load(f)
    labels = cfg["model"]["labels"]
    if "text" in cfg:
        t = cfg["text"]
        vocab = ft.load_vocab(os.path.join(model_dir, t["vocab"]))

        def enc(s):
            return np.array(ft.encode(s, vocab, t.get("seq_len", 32), t.get("pad", "left"))[0], dtype=np.int64)
        calib = [enc(s) for s, _ in calibration_items(snips("train"), n_calib)]
        test = [(enc(s), l) for s, l in snips("test")]
        return calib, test, labels
    a = {k: v for k, v in cfg["audio"].items() if k != "frontend"}
    fe = fa.Frontend(**a)
    whole = os.path.basename(model_dir) == "kws-dscnn"

    def feat(path):
        x = fe.features(*fa.read_wav(path)).astype(np.float32)
        return x[None] if whole else x
    calib = [feat(p) for p, _, _ in calibration_items(fsdd("train"), n_calib)]
    test = [(feat(p), d) for p, d, _ in fsdd("test")]
    return calib, test, labels
