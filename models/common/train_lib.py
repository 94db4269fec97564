"""Shared training, export and reporting code for the trained reference models in models/<name>/.

Each models/<name>/train.py defines its network and its preprocessing and calls into here. Training
runs offline (PyTorch CPU, pinned in models/requirements.txt), never in CI. What it writes:
  model.onnx     exported with a dynamic batch axis, checked against PyTorch with ONNX Runtime;
  ferrite.toml   preprocessing, labels and card, read by `ferrite quantize`;
  vocab.txt      (text models) one word per line in id order from 2;
  metrics.json   test-split figures computed by ONNX Runtime on the reference preprocessing;
  samples.json   fixed inputs and the logits ONNX Runtime gives for them (tests/trained_models.rs);
  MODEL_CARD.md  data, split, metrics, license, intended use.
"""
import json
import os
import random
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets  # noqa: E402


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # FERRITE_TRAIN_THREADS=1 lets two trainings share a 2-core machine (models/loso.py runs).
    torch.set_num_threads(int(os.environ.get("FERRITE_TRAIN_THREADS", 0)) or max(1, os.cpu_count() or 1))


def train_classifier(model, x_train, y_train, x_val, y_val, epochs, lr, batch, augment=None,
                     weight_decay=1e-4, log=print):
    """Adam with cosine decay; keeps the weights of the epoch with the best validation accuracy
    (the validation set is carved out of the training split: the test split is never looked at)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x_train) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    best, best_state = -1.0, None
    y_train_t = torch.as_tensor(y_train)
    for epoch in range(epochs):
        model.train()
        xs = augment(x_train) if augment else x_train
        xs = torch.as_tensor(xs)
        perm = torch.randperm(len(xs))
        total = 0.0
        for i in range(0, len(xs), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xs[idx]), y_train_t[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, x_val, y_val)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(xs):.4f}, validation accuracy {acc:.4f}")
        if acc >= best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    return best


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(x)).argmax(1).numpy()
    return float(np.mean(pred == np.asarray(y)))


def export_onnx(model, example, path, input_name):
    """Exports with a dynamic batch axis (opset 17) and checks ONNX Runtime against PyTorch."""
    model.eval()
    torch.onnx.export(model, (torch.as_tensor(example),), path, input_names=[input_name],
                      output_names=["logits"], opset_version=17, do_constant_folding=True,
                      dynamic_axes={input_name: {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    onnx.checker.check_model(onnx.load(path))
    got = ort_logits(path, example)
    with torch.no_grad():
        want = model(torch.as_tensor(example)).numpy()
    err = float(np.max(np.abs(got - want)))
    assert err < 1e-4, f"ONNX Runtime and PyTorch disagree by {err}"
    return err


def ort_logits(path, x, batch=256):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sess_opts = sess.get_inputs()[0].name
    outs = [sess.run(None, {sess_opts: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def metrics(y_true, y_pred, labels, slices):
    """The figures `ferrite eval --json` reports, by the same rules (docs/EVAL.md)."""
    k = len(labels)
    conf = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        conf[t, p] += 1
    per_class = []
    for c in range(k):
        tp = int(conf[c, c])
        fp = int(conf[:, c].sum()) - tp
        fn = int(conf[c, :].sum()) - tp
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class.append({"label": labels[c], "support": int(conf[c].sum()), "precision": prec,
                          "recall": rec, "f1": f1})
    correct = np.asarray(y_true) == np.asarray(y_pred)
    per_slice = {}
    for name, values in slices.items():
        groups = {}
        for v, ok in zip(values, correct):
            g = groups.setdefault(v, [0, 0])
            g[0] += 1
            g[1] += int(ok)
        per_slice[name] = [{"value": v, "n": n, "correct": c, "accuracy": c / n}
                           for v, (n, c) in sorted(groups.items())]
    return {"n": len(y_true), "correct": int(correct.sum()), "accuracy": float(correct.mean()),
            "macro_f1": float(np.mean([c["f1"] for c in per_class])), "per_class": per_class,
            "per_slice": per_slice, "confusion": conf.tolist(), "labels": labels}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def metrics_markdown(m):
    lines = [f"- test examples: {m['n']}, correct: {m['correct']}",
             f"- accuracy: **{100 * m['accuracy']:.2f}%**, macro F1: {m['macro_f1']:.4f}", "",
             "| class | support | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
    for c in m["per_class"]:
        lines.append(f"| {c['label']} | {c['support']} | {c['precision']:.3f} | {c['recall']:.3f} | "
                     f"{c['f1']:.3f} |")
    for name, groups in m["per_slice"].items():
        lines += ["", f"| {name} | n | accuracy |", "|---|---:|---:|"]
        for g in groups:
            lines.append(f"| {g['value']} | {g['n']} | {100 * g['accuracy']:.2f}% |")
    return "\n".join(lines)
