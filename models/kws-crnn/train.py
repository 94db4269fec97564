#!/usr/bin/env python3
"""Trains and exports kws-crnn: per-frame convolutions + GRU on 49x40 log-mel of FSDD digits.

    /path/to/venv/bin/python models/kws-crnn/train.py   # venv: pip install -r models/requirements.txt

Streaming by construction: the convolutions see one frame at a time (kernels 1 wide in time) and the GRU
is unidirectional, so the logits after frame t depend only on frames 0..t. Running the network frame by
frame with the GRU state carried gives the same logits as running it on the whole clip; this script
checks that in PyTorch before exporting, and also exports `model-step.onnx`, the same weights as one
step (inputs `frame` [B, 1, 40] and `state` [1, B, 96]; outputs `logits` and `state_out`), which
tests/trained_models.rs runs frame by frame in Ferrite's runtime against the whole-clip artifact.
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import audio_task  # noqa: E402
import ferrite_audio as fa  # noqa: E402

FRONTEND = fa.Frontend(sample_rate=8000, clip_samples=8000, frame_len=240, hop=160, n_fft=256, n_mels=40,
                       fmin=20.0, fmax=4000.0, log_floor=1e-6, n_mfcc=0)


class Crnn(nn.Module):
    def __init__(self, mean, std, hidden=96):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, 1, -1))
        self.register_buffer("inv_std", torch.as_tensor(1.0 / std, dtype=torch.float32).reshape(1, 1, -1))
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, (1, 5), stride=(1, 2), padding=(0, 2)), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, (1, 3), stride=(1, 2), padding=(0, 1)), nn.BatchNorm2d(32), nn.ReLU())
        self.gru = nn.GRU(32 * 10, hidden, batch_first=True)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(hidden, len(audio_task.LABELS))

    def frames(self, x):
        """[B, T, 40] -> per-frame conv features [B, T, 320]."""
        x = ((x - self.mean) * self.inv_std)[:, None]
        y = self.conv(x)                                   # [B, 32, T, 10]
        return y.permute(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)

    def forward(self, x):
        y, _ = self.gru(self.frames(x))
        return self.fc(self.drop(y[:, -1]))


def make_model(train_feats):
    return Crnn(train_feats.mean(axis=(0, 1)), train_feats.std(axis=(0, 1)) + 1e-3)


class CrnnStep(nn.Module):
    """One frame in, logits and the new GRU state out: the streaming form of Crnn."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, frame, state):
        y, h = self.m.gru(self.m.frames(frame), state)
        return self.m.fc(y[:, -1]), h


def export_step(model, path):
    import onnx
    step = CrnnStep(model).eval()
    frame = torch.zeros(1, 1, 40)
    state = torch.zeros(1, 1, model.gru.hidden_size)
    torch.onnx.export(step, (frame, state), path, input_names=["frame", "state"],
                      output_names=["logits", "state_out"], opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(path))


def check_streaming(model, x):
    model.eval()
    with torch.no_grad():
        full = model(x)
        h = None
        for t in range(x.shape[1]):
            y, h = model.gru(model.frames(x[:, t:t + 1]), h)
        step = model.fc(y[:, -1])
    err = float((full - step).abs().max())
    assert err < 1e-4, f"frame-by-frame run differs from the whole-clip run by {err}"
    print(f"streaming check: frame-by-frame vs whole clip, max |diff| = {err:.2e}")


if __name__ == "__main__":
    import numpy as np
    orig_export = audio_task.tl.export_onnx

    def export_checked(model, example, path, name):
        check_streaming(model, torch.as_tensor(np.asarray(example)))
        export_step(model, os.path.join(os.path.dirname(path), "model-step.onnx"))
        return orig_export(model, example, path, name)

    audio_task.tl.export_onnx = export_checked
    args = audio_task.cli_args()
    audio_task.run(args.out or HERE, make_model, FRONTEND, input_shape=(FRONTEND.n_frames, 40),
                   epochs=args.epochs or 30, lr=3e-3, fold=args.fold,
                   # stream_eval's validation choice: no false accept on its validation stream, then the
                   # fewest false rejects.
                   stream={"smooth": 2, "threshold": 0.93},
                   batch=64, seed=5,
                   task_line="Streaming spoken-digit keyword spotter (0-9 and a background class): per-frame convolutions and a GRU.",
                   architecture="per-mel normalisation -> Conv 1x5/2 (16) + BN + ReLU -> Conv 1x3/2 (32) + BN + "
                                "ReLU (per frame) -> GRU(320 -> 96) -> last step -> Dropout -> Linear(96, 11)",
                   streaming_note="\n  Causal: the logits after frame t depend only on frames 0..t, so it runs "
                                  "frame by frame with the GRU\n  state carried (train.py checks that this equals "
                                  "the whole-clip run before export).\n  `model-step.onnx` is the same network as one step (inputs `frame` [1, 1, 40] and `state` [1, 1, 96], "
                                  "outputs\n  `logits` and `state_out`); Ferrite runs it frame by frame and ends on the whole clip's logits\n"
                                  "  (tests/trained_models.rs). Quantize it with `--no-config` (ferrite.toml describes the whole-clip input).")
