#!/usr/bin/env python3
"""Leave-one-speaker-out evaluation of a keyword model (issue 11): for each of FSDD's five speakers,
train the model on the other four (and the synthetic data, models/common/kws_data.py), then measure
it on every clip of the held-out speaker, f32 and int8, with Ferrite itself.

    python3 models/loso.py kws-dscnn [--epochs N] [--speakers theo,george]   # offline: PyTorch

Each fold trains into target/loso/NAME/SPEAKER/ (models/NAME/train.py --fold SPEAKER), then:

    ferrite quantize model.onnx --precision f32 -o f32.fer
    ferrite quantize model.onnx --precision int8 --calib CALIB -o int8.fer    # CALIB: the four's clips
    ferrite eval f32.fer  --data HELD_OUT --split all --json                  # HELD_OUT: the fifth's
    ferrite eval int8.fer --data HELD_OUT --split all --json

(CALIB and HELD_OUT are folders of links to FSDD's clips; the binary is $FERRITE, else the release
build). The figures go to models/NAME/loso.json and into the model card's leave-one-speaker-out table.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "common"))
import audio_task  # noqa: E402
import datasets  # noqa: E402

EPOCHS = {"kws-dscnn": 40, "kws-crnn": 30}


def ferrite():
    exe = os.environ.get("FERRITE") or os.path.join(REPO, "target", "release", "ferrite")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "ferrite-quantizer"], cwd=REPO, check=True)
    return exe


def link_clips(folder, items):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for path, _, _ in items:
        os.symlink(path, os.path.join(folder, os.path.basename(path)))


def accuracy(exe, artifact, data):
    out = subprocess.run([exe, "eval", artifact, "--data", data, "--split", "all", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["accuracy"]


def fold(name, speaker, epochs, exe):
    out = os.path.join(REPO, "target", "loso", name, speaker)
    subprocess.run([sys.executable, os.path.join(HERE, name, "train.py"), "--fold", speaker, "--out", out,
                    "--epochs", str(epochs)], check=True)
    # The model's ferrite.toml (frontend, labels, stream defaults) without its model card.
    with open(os.path.join(HERE, name, "ferrite.toml")) as f:
        toml = "".join(line for line in f if not line.startswith("card ="))
    with open(os.path.join(out, "ferrite.toml"), "w") as f:
        f.write(toml)
    train, test = audio_task.fold_items(speaker)
    link_clips(os.path.join(out, "calib"), train)
    link_clips(os.path.join(out, "held-out"), test)
    onnx = os.path.join(out, "model.onnx")
    f32, int8 = os.path.join(out, "f32.fer"), os.path.join(out, "int8.fer")
    subprocess.run([exe, "quantize", onnx, "--precision", "f32", "-o", f32], check=True, capture_output=True)
    subprocess.run([exe, "quantize", onnx, "--precision", "int8", "--calib", os.path.join(out, "calib"), "-o", int8],
                   check=True, capture_output=True)
    held = os.path.join(out, "held-out")
    row = {"speaker": speaker, "accent": datasets.fsdd_speakers()[speaker]["accent"], "clips": len(test),
           "f32": accuracy(exe, f32, held), "int8": accuracy(exe, int8, held)}
    with open(os.path.join(out, "fold.json")) as f:
        row["f32_onnx_runtime"] = json.load(f)["accuracy"]
    print(f"{name} without {speaker}: f32 {100 * row['f32']:.2f}%, int8 {100 * row['int8']:.2f}% "
          f"(ONNX Runtime {100 * row['f32_onnx_runtime']:.2f}%)", flush=True)
    return row


def update_card(name):
    card = os.path.join(HERE, name, "MODEL_CARD.md")
    with open(card) as f:
        text = f.read()
    text = re.sub(r"\n## Leave-one-speaker-out.*", "", text, flags=re.S).rstrip("\n") + "\n"
    with open(card, "w") as f:
        f.write(text + audio_task.loso_markdown(os.path.join(HERE, name)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(EPOCHS))
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--speakers", help="comma-separated subset (default: all five)")
    args = ap.parse_args()
    epochs = args.epochs or EPOCHS[args.name]
    speakers = sorted(datasets.fsdd_speakers())
    if args.speakers:
        speakers = [s for s in speakers if s in args.speakers.split(",")]
    exe = ferrite()
    rows = [fold(args.name, s, epochs, exe) for s in speakers]
    mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    doc = {"model": args.name, "epochs": epochs, "folds": rows, "mean_f32": mean("f32"), "mean_int8": mean("int8"),
           "min_f32": min(r["f32"] for r in rows), "min_int8": min(r["int8"] for r in rows)}
    with open(os.path.join(HERE, args.name, "loso.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    update_card(args.name)
    print(f"{args.name}: mean f32 {100 * doc['mean_f32']:.2f}% (worst {100 * doc['min_f32']:.2f}%), "
          f"int8 {100 * doc['mean_int8']:.2f}% (worst {100 * doc['min_int8']:.2f}%)")


if __name__ == "__main__":
    main()
