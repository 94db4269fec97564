"""Writes each trained model's int8 results into its MODEL_CARD.md (the section between the
`<!-- int8 -->` markers, replaced on every run; appended when missing).

The int8 artifact is made as the README's main job makes it (calibrated on models/data-sample) and
audited against the f32 ONNX model on the full test split in ../shared/data with
`ferrite eval --reference` (per class and per slice). Run after training (train.py rewrites the
card without this section) or after a change to the quantizer:

    cargo build --release -p ferrite-quantizer && python3 models/int8_cards.py
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FERRITE = os.path.join(ROOT, "target", "release", "ferrite")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
BEGIN, END = "<!-- int8 -->", "<!-- /int8 -->"
MODELS = {
    "kws-dscnn": ("fsdd", "fsdd"),
    "kws-crnn": ("fsdd", "fsdd"),
    "intent-lstm": ("snips-calib.jsonl", "snips-intents"),
    "intent-transformer": ("snips-calib.jsonl", "snips-intents"),
}


def ferrite(*args):
    out = subprocess.run([FERRITE, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ferrite {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def section(name, calib, data, tmp):
    onnx = os.path.join(HERE, name, "model.onnx")
    fer = os.path.join(tmp, name + ".int8.fer")
    f32 = os.path.join(tmp, name + ".f32.fer")
    ferrite("quantize", onnx, "--precision", "int8", "--calib", os.path.join(HERE, "data-sample", calib), "-o", fer)
    ferrite("quantize", onnx, "-o", f32)
    a = json.loads(ferrite("eval", fer, "--reference", onnx, "--data", os.path.join(SHARED, data), "--json"))
    size, size32 = os.path.getsize(fer), os.path.getsize(f32)
    lines = [
        BEGIN,
        "## int8 (Ferrite)",
        "",
        f"`ferrite quantize models/{name}/model.onnx --precision int8 --calib models/data-sample/{calib}` "
        f"(as the README's main job), audited against the f32 ONNX model on the {a['split']} split of "
        f"`{data}` with `ferrite eval --reference` (written by `models/int8_cards.py`).",
        "",
        f"- artifact: {size:,} bytes, {100 * size / size32:.1f}% of the f32 artifact ({size32:,} bytes)",
        f"- accuracy: f32 **{a['reference']['accuracy_pct']:.2f}%**, int8 **{a['quantized']['accuracy_pct']:.2f}%** "
        f"({a['accuracy_change_pts']:+.2f} points); macro F1 {a['macro_f1_change_pts']:+.2f} points; the two "
        f"agree on {a['agreement_pct']:.2f}% of the {a['n']} examples",
        f"- flagged classes or slices (a drop of more than {a['flag_threshold_pts']:g} points): {a['flagged']}",
        "",
        "| class | n | f32 | int8 | change |",
        "|---|---:|---:|---:|---:|",
    ]
    for d in a["classes"]:
        lines.append(f"| {d['value']} | {d['n']} | {d['reference_pct']:.2f}% | {d['quantized_pct']:.2f}% | "
                     f"{d['change_pts']:+.2f} |")
    lines += ["", "| slice | value | n | f32 | int8 | change |", "|---|---|---:|---:|---:|---:|"]
    for d in a["slices"]:
        lines.append(f"| {d['group']} | {d['value']} | {d['n']} | {d['reference_pct']:.2f}% | "
                     f"{d['quantized_pct']:.2f}% | {d['change_pts']:+.2f} |")
    lines += ["", "The same summary goes into an artifact's model card with `ferrite eval ... --record` "
              "(`ferrite inspect` shows it).", END]
    return "\n".join(lines) + "\n"


def main():
    if not os.path.exists(FERRITE):
        sys.exit("build first: cargo build --release -p ferrite-quantizer")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (calib, data) in MODELS.items():
            path = os.path.join(HERE, name, "MODEL_CARD.md")
            with open(path, encoding="utf-8") as f:
                card = f.read()
            new = section(name, calib, data, tmp)
            if BEGIN in card and END in card:
                head, rest = card.split(BEGIN, 1)
                card = head + new + rest.split(END, 1)[1].lstrip("\n")
            else:
                card = card.rstrip("\n") + "\n\n" + new
            with open(path, "w", encoding="utf-8") as f:
                f.write(card)
            print(f"{path}: int8 section written")


if __name__ == "__main__":
    main()
