#!/usr/bin/env python3
"""Export Ferrite's two random-weight reference models to ONNX, with a fixed input and golden outputs.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -r models/requirements.txt
    /tmp/venv/bin/python models/export_reference.py

Writes, for each model, models/<name>/{model.onnx, input.npy, output.npy}. output.npy is what
ONNX Runtime computes for input.npy (checked against PyTorch here, to 1e-5). Weights are random
(fixed seed): these models test the import path and kernels, not accuracy. Trained models live in
their own folders (issue 3).
"""
import os
import numpy as np
import torch
import torch.nn as nn
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))


class TextLstm(nn.Module):
    """Embedding(10000, 128) -> LSTM(128 -> 256, batch-first) -> last time step -> Linear(256, 2)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10000, 128)
        self.rnn = nn.LSTM(128, 256, batch_first=True)
        self.fc = nn.Linear(256, 2)

    def forward(self, tokens):
        x = self.emb(tokens)
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def ds_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    )


class DsCnn(nn.Module):
    """DS-CNN in the MLPerf Tiny KWS shape: input 1x1x49x10, 10x4 conv (64 ch, stride 2),
    4 depthwise-separable blocks with BatchNorm and ReLU, average pool, Linear to 12."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1), bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU())
        self.blocks = nn.Sequential(*[ds_block(64, 64) for _ in range(4)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 12)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


def randomize_bn(model, gen):
    # Fresh BatchNorm layers are identities; give them real statistics so folding is exercised.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(name, model, example, dynamic_axes, input_name, output_name):
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    model.eval()
    torch.onnx.export(model, (example,), path, input_names=[input_name], output_names=[output_name],
                      opset_version=17, dynamic_axes=dynamic_axes, do_constant_folding=False,
                      dynamo=False)
    onnx.checker.check_model(onnx.load(path))
    x = example.numpy()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {input_name: x})
    with torch.no_grad():
        y_torch = model(example).numpy()
    assert np.max(np.abs(y - y_torch)) < 1e-5, "ONNX Runtime and PyTorch disagree"
    np.save(os.path.join(out_dir, "input.npy"), x)
    np.save(os.path.join(out_dir, "output.npy"), y.astype(np.float32))
    print(f"{name}: {os.path.getsize(path)} bytes, output {y.ravel()[:4]}")


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    text = TextLstm()
    tokens = torch.randint(1, 10000, (1, 64), generator=gen, dtype=torch.int64)
    export("ref-text-lstm", text, tokens, None, "tokens", "logits")

    kws = DsCnn()
    with torch.no_grad():
        randomize_bn(kws, gen)
    feats = torch.randn(1, 1, 49, 10, generator=gen)
    export("ref-kws-dscnn", kws, feats, {"features": {0: "batch"}, "logits": {0: "batch"}},
           "features", "logits")


if __name__ == "__main__":
    main()
