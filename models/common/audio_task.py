"""Training pipeline of the spoken-digit models: FSDD, frontend `logmel-v1` (ferrite_audio.py)."""
import os

import numpy as np
import torch

import datasets
import ferrite_audio as fa
import train_lib as tl

BACKGROUND = "_background_"
# Ten digits and a background class: silence, noise and speech that is not a digit (issue 11).
LABELS = [str(d) for d in range(10)] + [BACKGROUND]
# Fixed clips for samples.json: every digit, every speaker, all from the test split.
SAMPLE_CLIPS = ["0_jackson_0", "1_theo_1", "2_yweweler_2", "3_lucas_3", "4_george_4", "5_jackson_1",
                "6_theo_2", "7_theo_3", "8_lucas_0", "9_george_2"]
# `ferrite stream` defaults written to ferrite.toml; each model passes its own threshold, chosen on
# benches/stream_eval.rs's validation stream (never on its test stream).
STREAM = {"smooth": 3, "threshold": 0.8}
# Background windows per digit window in an epoch, and in the validation set.
BACKGROUND_SHARE = 0.4
VAL_BACKGROUND = 300


def load(split):
    items = datasets.fsdd(split)
    waves = []
    for path, _, _ in items:
        x, rate = fa.read_wav(path)
        assert rate == 8000
        waves.append(x)
    return items, waves


def cli_args():
    """The training scripts' options: `--fold SPEAKER --out DIR` for a leave-one-speaker-out fold
    (models/loso.py), `--epochs N` to override the script's count."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--fold", help="leave this FSDD speaker out (test on every clip of it)")
    ap.add_argument("--out", help="output folder (default: the model's folder)")
    ap.add_argument("--epochs", type=int)
    return ap.parse_args()


def fold_items(fold):
    """(training items, test items): FSDD's own split (test: indices 0-4) when `fold` is None, else
    leave-one-speaker-out (test: every clip of speaker `fold`; training: every clip of the others)."""
    if fold is None:
        return datasets.fsdd("train"), datasets.fsdd("test")
    every = datasets.fsdd("train") + datasets.fsdd("test")
    every.sort(key=lambda it: os.path.basename(it[0]))
    return [it for it in every if it[2] != fold], [it for it in every if it[2] == fold]


def read_all(items):
    return [fa.read_wav(p)[0] for p, _, _ in items]


def loso_markdown(out_dir):
    """The leave-one-speaker-out section of the model card, from loso.json (models/loso.py)."""
    path = os.path.join(out_dir, "loso.json")
    if not os.path.exists(path):
        return ""
    import json
    with open(path) as f:
        doc = json.load(f)
    rows = "\n".join(f"| {r['speaker']} | {r['accent']} | {r['clips']} | {100 * r['f32']:.2f}% | {100 * r['int8']:.2f}% |"
                     for r in doc["folds"])
    return f"""
## Leave-one-speaker-out (unseen voices)

Each fold trains on four FSDD speakers (and the synthetic data) and tests on every clip of the fifth, whole
clips as `ferrite eval` reads them; int8 is `ferrite quantize` calibrated on the four. Reproduce with
`python3 models/loso.py {os.path.basename(out_dir)}` ({doc["epochs"]} epochs a fold, fewer than the model above to fit a
2-core machine). Issue 11 asks for a 95% mean with no fold under 90%: not met yet.

| held-out speaker | accent | clips | f32 | int8 |
|---|---|---:|---:|---:|
{rows}
| **mean** | | | **{100 * doc["mean_f32"]:.2f}%** | **{100 * doc["mean_int8"]:.2f}%** |
"""


def run(out_dir, make_model, frontend, *, input_shape, epochs, lr, batch, seed, task_line, architecture,
        streaming_note="", fold=None, stream=None):
    """Trains, exports and documents one keyword model in `out_dir`; with `fold` (a speaker), trains
    the leave-one-speaker-out model without that speaker and writes only its ONNX file and its
    accuracy on that speaker (fold.json)."""
    import kws_data
    kws_data.ensure()
    stream = dict(STREAM, **(stream or {}))
    tl.seed_everything(seed)
    train_items, test_items = fold_items(fold)
    train_waves, test_waves = read_all(train_items), read_all(test_items)
    rng = np.random.default_rng(seed)
    spk = datasets.fsdd_speakers()

    def feats(waves):
        return kws_data.features_batch(frontend, waves).astype(np.float32)

    def shaped(f):
        return f.reshape((len(f),) + tuple(input_shape))

    # Hold out every 9th clip of each speaker and digit (indices 0, 9, 18, ...: model selection);
    # the test clips are never looked at.
    val_mask = np.array([int(os.path.basename(p)[:-4].split("_")[2]) % 9 == 0 for p, _, _ in train_items])
    fit_items = [it for it, v in zip(train_items, val_mask) if not v]
    fit_waves = [kws_data.active(w) for w, v in zip(train_waves, val_mask) if not v]
    val_waves = [w for w, v in zip(train_waves, val_mask) if v]
    fit_pitched = [kws_data.active(kws_data.pitched(p)) for p, _, _ in fit_items]
    synth = kws_data.synthetic_digits()
    speech = kws_data.sentences()
    composer = kws_data.Composer(rng, speech)
    positives = [int(d) for _, d, _ in fit_items] + [d for _, d in synth]
    n_background = int(len(positives) * BACKGROUND_SHARE)
    y_fit = np.array(positives + [len(LABELS) - 1] * n_background)
    digit_sounds = fit_waves + [x for x, _ in synth]

    def epoch_windows():
        # Each training clip once (its pitch-shifted twin 3 times in 10), each synthetic digit once,
        # every one placed, sped up or slowed down, leveled and noised afresh; then background.
        ws = [composer.digit_window(p if rng.random() < 0.3 else w) for w, p in zip(fit_waves, fit_pitched)]
        ws += [composer.digit_window(x) for x, _ in synth]
        ws += [composer.background_window(digit_sounds) for _ in range(n_background)]
        return shaped(kws_data.spec_augment(rng, feats(ws)))

    # Validation: the held-out clips as `ferrite eval` reads them, and fixed background windows.
    val_composer = kws_data.Composer(np.random.default_rng(seed + 100), speech)
    val_bg = [val_composer.background_window(digit_sounds) for _ in range(VAL_BACKGROUND)]
    x_val = shaped(feats(val_waves + val_bg))
    y_val = np.array([int(d) for (_, d, _), v in zip(train_items, val_mask) if v] + [len(LABELS) - 1] * len(val_bg))

    first = epoch_windows()
    model = make_model(first.reshape(len(first), -1, first.shape[-1]))
    pending = [first]

    def augment(_):
        return pending.pop() if pending else epoch_windows()

    val_acc = tl.train_classifier(model, first, y_fit, x_val, y_val, epochs=epochs, lr=lr, batch=batch,
                                  augment=augment)

    if fold is not None:
        os.makedirs(out_dir, exist_ok=True)
        onnx_path = os.path.join(out_dir, "model.onnx")
        tl.export_onnx(model, x_val[:4], onnx_path, "features")
        x_test = shaped(feats(test_waves))
        pred = tl.ort_logits(onnx_path, x_test).argmax(1)
        acc = float(np.mean(pred == np.array([int(d) for _, d, _ in test_items])))
        tl.write_json(os.path.join(out_dir, "fold.json"), {
            "speaker": fold, "clips": len(test_items), "accuracy": acc, "validation_accuracy": val_acc})
        print(f"fold {fold}: accuracy {100 * acc:.2f}% on {len(test_items)} clips")
        return acc

    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, "model.onnx")
    tl.export_onnx(model, x_val[:4], onnx_path, "features")

    x_test = shaped(feats(test_waves))
    y_test = [int(d) for _, d, _ in test_items]
    pred = tl.ort_logits(onnx_path, x_test).argmax(1)
    m = tl.metrics(y_test, pred.tolist(), LABELS, {
        "speaker": [s for _, _, s in test_items], "accent": [spk[s]["accent"] for _, _, s in test_items]})
    m["validation_accuracy"] = val_acc
    tl.write_json(os.path.join(out_dir, "metrics.json"), m)

    rec = os.path.join(datasets.FSDD, "recordings")
    xs = shaped(np.stack([frontend.features(fa.read_wav(os.path.join(rec, c + ".wav"))[0], 8000)
                          for c in SAMPLE_CLIPS]).astype(np.float32))
    logits = tl.ort_logits(onnx_path, xs)
    tl.write_json(os.path.join(out_dir, "samples.json"), [
        {"wav": c + ".wav", "logits": l.tolist(), "top": LABELS[int(l.argmax())]}
        for c, l in zip(SAMPLE_CLIPS, logits)])

    f = frontend
    name = os.path.basename(out_dir)
    with open(os.path.join(out_dir, "ferrite.toml"), "w") as fh:
        fh.write(f'''# Read by `ferrite quantize models/{name}/model.onnx` (keys: docs/PREPROCESSING.md).
# Written by train.py; edit the script, not this file.
[model]
name = "{name}"
task = "keyword-spotting"
labels = [{", ".join(f'"{l}"' for l in LABELS)}]
card = "MODEL_CARD.md"
license = "CC-BY-SA-4.0"
intended_use = "Spotting the spoken digits 0-9 (and background) in 8 kHz English speech, on a device. A reference model for Ferrite's tests and benchmarks: trained on five speakers, so not for production use or for voices unlike theirs."

[audio]
frontend = "logmel-v1"
sample_rate = {f.sample_rate}
clip_samples = {f.clip_samples}
frame_len = {f.frame_len}
hop = {f.hop}
n_fft = {f.n_fft}
n_mels = {f.n_mels}
fmin = {f.fmin:.1f}
fmax = {f.fmax:.1f}
log_floor = {f.log_floor:g}
n_mfcc = {f.n_mfcc}
normalize = "{f.normalize}"

# Defaults of `ferrite stream` (docs/PREPROCESSING.md, "Streaming"): a run every 100 ms, the
# posteriors of {stream["smooth"]} runs averaged, a detection at {stream["threshold"]}, then quiet for one second; the
# background class never fires.
[stream]
hop_frames = 5
smooth = {stream["smooth"]}
threshold = {stream["threshold"]}
refractory_ms = 1000
background = "{BACKGROUND}"
''')
    n_params = sum(p.numel() for p in model.parameters())
    wmean_note = (", each feature's mean over the window subtracted (`normalize = \"window-mean\"`: cepstral mean "
                  "normalisation, which takes out the microphone's and the voice's average spectrum)"
                  if f.normalize == "window-mean" else "")
    feat_kind = f"{f.n_mfcc} MFCC" if f.n_mfcc else f"{f.n_mels} log-mel energies"
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as fh:
        fh.write(f"""# {name}

{task_line}

- **Architecture**: {architecture}; {n_params:,} parameters; ONNX opset 17, dynamic batch.{streaming_note}
- **Input**: `features`, float32 [batch, {", ".join(map(str, input_shape))}]: {f.n_frames} frames x {feat_kind}
  from frontend `logmel-v1` (docs/PREPROCESSING.md): {f.sample_rate} Hz, first {f.clip_samples} samples
  (zero-padded), {f.frame_len}-sample periodic-Hann frames every {f.hop} samples, {f.n_fft}-point FFT, {f.n_mels}
  HTK mel filters {f.fmin:g}-{f.fmax:g} Hz, ln(energy + {f.log_floor:g}){", orthonormal DCT-II" if f.n_mfcc else ""}{wmean_note}.
  Feature normalisation (training-set mean and deviation) is inside the graph. **Output**: `logits` [batch, 11], digits 0-9 and `_background_`.
- **Data**: Free Spoken Digit Dataset (../shared/data/fsdd; Zohar Jackson et al., DOI 10.5281/zenodo.1342401;
  CC BY-SA 4.0): 5 speakers, 8 kHz. Official split: recordings with index 0-4 are the test set ({len(test_items)}
  clips), 5-49 training ({len(train_items)} clips; those with index divisible by 9 held out for model selection).
  Training and test share speakers: the leave-one-speaker-out figures below are the ones about unseen voices.
  Besides FSDD (models/common/kws_data.py, generated offline, reproducible; models/README.md): the ten digits
  spoken by 176 synthetic speakers, 2,400 clips (80 espeak-ng voices and variants at seeded pitch and speed;
  80 made from eight Flite and Festival voices at seeded pitch shifts and tempos; 16 espeak-ng speakers saying
  each digit five ways as non-native speakers often do); for the background class, 560 Snips training-split
  sentences without number words spoken by those voices, white, pink, brown and babble noise, near-silence,
  and digits cut off at the window's edge.
- **Training**: `models/{name}/train.py` (seed {seed}, {epochs} epochs, AdamW, one-cycle LR {lr}, batch {batch},
  label smoothing 0.05). Every epoch draws its one-second windows afresh: each digit placed anywhere in the
  window, speed 0.85-1.15x, FSDD clips pitch-shifted by 1-3 semitones (3 in 10, sox), level -52 to -12 dBFS,
  over near-silence or noise at 5-30 dB SNR, with loud noise or speech beside it in 35 of 100; background windows {int(100 * BACKGROUND_SHARE)}% as many as
  digit windows; in four windows of five a random microphone and room (spectral tilt, high- and low-pass);
  SpecAugment (one time and one feature mask). Best validation accuracy {100 * val_acc:.2f}%
  (held-out FSDD clips and {VAL_BACKGROUND} background windows).
- **Intended use**: spoken-digit keyword spotting on device, whole clips or a stream (`ferrite stream`), and a
  reference model for Ferrite's audio path. Five male adult speakers and synthetic voices: expect lower
  accuracy for other voices (women, children, other accents).
- **License**: CC BY-SA 4.0, as the FSDD data it is derived from (credit: Free Spoken Digit Dataset).

## Test-split results (f32 ONNX model, ONNX Runtime, reference frontend)

{tl.metrics_markdown(m)}

`ferrite eval` on the f32 artifact reproduces these figures (tests/trained_models.rs).
{loso_markdown(out_dir)}""")
    print(f"{name}: test accuracy {100 * m['accuracy']:.2f}%, macro F1 {m['macro_f1']:.4f}, "
          f"onnx {os.path.getsize(onnx_path)} bytes")
