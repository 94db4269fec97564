"""Training pipeline of the spoken-digit models: FSDD, frontend `logmel-v1` (ferrite_audio.py)."""
import os

import numpy as np
import torch

import datasets
import ferrite_audio as fa
import train_lib as tl

LABELS = [str(d) for d in range(10)]
# Fixed clips for samples.json: every digit, every speaker, all from the test split.
SAMPLE_CLIPS = ["0_jackson_0", "1_theo_1", "2_yweweler_2", "3_lucas_3", "4_george_4", "5_jackson_1",
                "6_theo_2", "7_theo_3", "8_lucas_0", "9_george_2"]


def load(split):
    items = datasets.fsdd(split)
    waves = []
    for path, _, _ in items:
        x, rate = fa.read_wav(path)
        assert rate == 8000
        waves.append(x)
    return items, waves


def run(out_dir, make_model, frontend, *, input_shape, epochs, lr, batch, seed, task_line, architecture,
        streaming_note=""):
    tl.seed_everything(seed)
    train_items, train_waves = load("train")
    test_items, test_waves = load("test")
    rng = np.random.default_rng(seed)
    spk = datasets.fsdd_speakers()

    def feats(waves):
        return np.stack([frontend.features(w, 8000) for w in waves]).astype(np.float32)

    def shaped(f):
        return f.reshape((len(f),) + tuple(input_shape))

    # Hold out every 9th training clip of each speaker and digit (indices 5..49 -> 5 per class and
    # speaker) for model selection; the test split (indices 0..4) is never looked at.
    val_mask = np.array([int(os.path.basename(p)[:-4].split("_")[2]) % 9 == 0 for p, _, _ in train_items])
    fit_waves = [w for w, v in zip(train_waves, val_mask) if not v]
    val_waves = [w for w, v in zip(train_waves, val_mask) if v]
    y_all = np.array([int(d) for _, d, _ in train_items])
    y_fit, y_val = y_all[~val_mask], y_all[val_mask]

    def augment_waves(waves):
        # Random start delay (0-150 ms) and gain (-6..+6 dB): the clips are trimmed and short, and the
        # frontend keeps the first second, so position and level are what varies on a real device.
        out = []
        for w in waves:
            delay = rng.integers(0, 1200)
            gain = 10 ** (rng.uniform(-6, 6) / 20)
            out.append(np.concatenate([np.zeros(delay), np.clip(w * gain, -1, 1)]))
        return out

    model = make_model(feats(fit_waves))
    x_val = shaped(feats(val_waves))
    val_acc = tl.train_classifier(model, shaped(feats(fit_waves)), y_fit, x_val, y_val, epochs=epochs,
                                  lr=lr, batch=batch,
                                  augment=lambda _: shaped(feats(augment_waves(fit_waves))))

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

# Defaults of `ferrite stream` (docs/PREPROCESSING.md, "Streaming"): a run every 100 ms, the
# posteriors of 3 runs averaged, a detection at 0.8, then quiet for one second.
[stream]
hop_frames = 5
smooth = 3
threshold = 0.8
refractory_ms = 1000
''')
    n_params = sum(p.numel() for p in model.parameters())
    feat_kind = f"{f.n_mfcc} MFCC" if f.n_mfcc else f"{f.n_mels} log-mel energies"
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as fh:
        fh.write(f"""# {name}

{task_line}

- **Architecture**: {architecture}; {n_params:,} parameters; ONNX opset 17, dynamic batch.{streaming_note}
- **Input**: `features`, float32 [batch, {", ".join(map(str, input_shape))}]: {f.n_frames} frames x {feat_kind}
  from frontend `logmel-v1` (docs/PREPROCESSING.md): {f.sample_rate} Hz, first {f.clip_samples} samples
  (zero-padded), {f.frame_len}-sample periodic-Hann frames every {f.hop} samples, {f.n_fft}-point FFT, {f.n_mels}
  HTK mel filters {f.fmin:g}-{f.fmax:g} Hz, ln(energy + {f.log_floor:g}){", orthonormal DCT-II" if f.n_mfcc else ""}.
  Feature normalisation (training-set mean and deviation) is inside the graph. **Output**: `logits` [batch, 10], digits 0-9.
- **Data**: Free Spoken Digit Dataset (../shared/data/fsdd; Zohar Jackson et al., DOI 10.5281/zenodo.1342401;
  CC BY-SA 4.0): 5 speakers, 8 kHz. Official split: recordings with index 0-4 are the test set ({len(test_items)}
  clips), 5-49 training ({len(train_items)} clips; those with index divisible by 9 held out for model selection).
  Training and test share speakers: these figures say nothing about unseen voices.
- **Training**: `models/{name}/train.py` (seed {seed}, {epochs} epochs, AdamW, one-cycle LR {lr}, batch {batch},
  label smoothing 0.05; augmentation: random 0-150 ms delay and +-6 dB gain). Best validation accuracy
  {100 * val_acc:.2f}%.
- **Intended use**: isolated spoken-digit recognition on device, and a reference model for Ferrite's audio
  path. Five male adult speakers only: expect lower accuracy for other voices (women, children, other accents).
- **License**: CC BY-SA 4.0, as the FSDD data it is derived from (credit: Free Spoken Digit Dataset).

## Test-split results (f32 ONNX model, ONNX Runtime, reference frontend)

{tl.metrics_markdown(m)}

`ferrite eval` on the f32 artifact reproduces these figures (tests/trained_models.rs).
""")
    print(f"{name}: test accuracy {100 * m['accuracy']:.2f}%, macro F1 {m['macro_f1']:.4f}, "
          f"onnx {os.path.getsize(onnx_path)} bytes")
