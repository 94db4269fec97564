#!/usr/bin/env python3
"""Trains and exports intent-transformer: a 2-layer transformer encoder (d_model 128, 4 heads,
LayerNorm, GELU, masked mean pooling) on Snips-7.

    /path/to/venv/bin/python models/intent-transformer/train.py [--metrics-only]   # venv: pip install -r models/requirements.txt

Attention is written out (Linear, MatMul, Softmax) rather than taken from nn.TransformerEncoderLayer so
that the exported graph is plain ONNX (no fused attention). Padding is masked in-graph from the ids
themselves (pad id 0): mask = min(float(ids), 1), so the model needs no second input.
"""
import math
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import text_task  # noqa: E402

SEQ_LEN = 32


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x, bias):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh)) + bias
        y = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads, ff, drop):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(drop)

    def forward(self, x, bias):
        x = x + self.drop(self.attn(self.ln1(x), bias))
        return x + self.drop(self.ff(self.ln2(x)))


class IntentTransformer(nn.Module):
    def __init__(self, vocab, classes, d=128, heads=4, ff=256, layers=2, drop=0.1):
        super().__init__()
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, SEQ_LEN, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ff, drop) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, classes)

    def forward(self, tokens):
        mask = torch.clamp(tokens.to(torch.float32), max=1.0)          # 1 for words, 0 for padding
        bias = ((mask - 1.0) * 1e4)[:, None, None, :]                   # large negative on padded keys
        x = self.emb(tokens) + self.pos
        for blk in self.blocks:
            x = blk(x, bias)
        x = self.ln(x)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.fc(pooled)


if __name__ == "__main__" and "--metrics-only" in sys.argv:
    # Recompute metrics.json and the card's results from the committed model.onnx (no training).
    text_task.refresh_metrics(HERE, SEQ_LEN, "right")
elif __name__ == "__main__":
    text_task.run(HERE, IntentTransformer, seq_len=SEQ_LEN, pad_side="right", vocab_size=6000, epochs=15,
                  lr=1e-3, batch=64, seed=11,
                  task_line="Intent classifier for a voice assistant: the transformer (attention, LayerNorm, GELU) path.",
                  architecture="Embedding(V, 128) + learned positions -> 2 pre-LN encoder layers (4 heads, "
                               "FF 256, GELU) -> LayerNorm -> masked mean pooling -> Linear(128, 7)")
