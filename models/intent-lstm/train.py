#!/usr/bin/env python3
"""Trains and exports intent-lstm: Embedding -> LSTM -> last step -> Linear on Snips-7.

    /path/to/venv/bin/python models/intent-lstm/train.py [--metrics-only]     # venv: pip install -r models/requirements.txt
"""
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
import text_task  # noqa: E402


class IntentLstm(nn.Module):
    def __init__(self, vocab, classes, dim=64, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.rnn = nn.LSTM(dim, hidden, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        y, _ = self.rnn(self.emb(tokens))
        return self.fc(self.drop(y[:, -1]))


if __name__ == "__main__" and "--metrics-only" in sys.argv:
    # Recompute metrics.json and the card's results from the committed model.onnx (no training).
    text_task.refresh_metrics(HERE, 32, "left")
elif __name__ == "__main__":
    text_task.run(HERE, IntentLstm, seq_len=32, pad_side="left", vocab_size=8000, epochs=12, lr=3e-3,
                  batch=64, seed=7,
                  task_line="Intent classifier for a voice assistant: the text model of Ferrite's source design.",
                  architecture="Embedding(V, 64) -> LSTM(64 -> 128) -> last time step -> Dropout -> Linear(128, 7)")
