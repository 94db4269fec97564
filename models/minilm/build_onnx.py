#!/usr/bin/env python3
"""Builds the MiniLM encoder as an ONNX graph from its safetensors weights, with the `onnx`
package and numpy only (no PyTorch: CI builds it this way).

The graph is BERT's forward pass in eval mode, as transformers' BertModel computes it, then
sentence-transformers' mean pooling and L2 normalization (all-MiniLM-L6-v2's modules):

    ids [1, S] int64 -> word + position + token-type-0 embeddings -> LayerNorm
    6 x (self-attention with the padding masked, 12 heads -> dense -> add & LayerNorm
         -> dense 1536 -> GELU (erf) -> dense 384 -> add & LayerNorm)
    -> mean over the non-padding tokens -> divide by the L2 norm -> embedding [1, 384]

One input (the ids): the attention mask is computed from them (id != [PAD] = 0) and the token
types are all 0 (one sentence), so the tokenizer's ids are all the model needs. With --head
(an .npz of `weight` [classes, 384] and `bias` [classes]) a linear layer on the embedding gives
`logits` instead. With --adapter (an .npz of low-rank updates `NAME.a` [r, in], `NAME.b` [out, r]
for linear layers NAME), each named weight becomes W + b·a before it is written.

Usage: build_onnx.py WEIGHTS_DIR OUT.onnx [--seq-len 32] [--head head.npz] [--adapter lora.npz]
"""
import argparse
import json
import struct
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, LAYERS, EPS = 384, 12, 6, 1e-12


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[t["dtype"]]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dtype).reshape(t["shape"]).copy()
    return out


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name, value):
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.n += 1
        out = f"{op_type.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, w, b, name):
        # HF Linear: y = x Wᵀ + b, W [out, in]; ONNX MatMul takes [in, out].
        y = self.op("MatMul", [x, self.const(f"{name}.weight", np.ascontiguousarray(w.T))])
        return self.op("Add", [y, self.const(f"{name}.bias", b)])

    def layer_norm(self, x, g, b, name):
        return self.op("LayerNormalization", [x, self.const(f"{name}.weight", g), self.const(f"{name}.bias", b)],
                       axis=-1, epsilon=EPS)


def build(w, seq_len, head=None):
    g = Graph()
    S, D, H = seq_len, HIDDEN, HEADS
    dh = D // H
    e = "embeddings."
    # Position and token-type-0 embeddings are the same for every input: one constant.
    pos = w[e + "position_embeddings.weight"][:S] + w[e + "token_type_embeddings.weight"][0]
    x = g.op("Gather", [g.const(e + "word_embeddings.weight", w[e + "word_embeddings.weight"]), "input_ids"], axis=0)
    x = g.op("Add", [x, g.const("embeddings.position_and_type", pos[None].astype(np.float32))])
    x = g.layer_norm(x, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], e + "LayerNorm")
    # Padding mask from the ids: 1 for tokens, 0 for [PAD]; -10000 added to masked scores (BERT's
    # value; exp of it is 0 in f32).
    keep = g.op("Cast", [g.op("Not", [g.op("Equal", ["input_ids", g.const("pad_id", np.array(0, np.int64))])])],
                to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [keep, g.const("one", np.float32(1))]), g.const("big", np.float32(10000))])
    bias = g.op("Reshape", [bias, g.const("mask_shape", np.array([1, 1, 1, S], np.int64))])
    heads = g.const("heads_shape", np.array([1, S, H, dh], np.int64))
    flat = g.const("hidden_shape", np.array([1, S, D], np.int64))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        lin = lambda x, n: g.linear(x, w[p + n + ".weight"], w[p + n + ".bias"], p + n)
        q = g.op("Transpose", [g.op("Reshape", [lin(x, "attention.self.query"), heads])], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [lin(x, "attention.self.key"), heads])], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [lin(x, "attention.self.value"), heads])], perm=[0, 2, 1, 3])
        scores = g.op("Mul", [g.op("MatMul", [q, k]), g.const(p + "scale", np.float32(1 / np.sqrt(dh)))])
        probs = g.op("Softmax", [g.op("Add", [scores, bias])], axis=-1)
        ctx = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]), flat])
        x = g.op("Add", [x, lin(ctx, "attention.output.dense")])
        x = g.layer_norm(x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                         p + "attention.output.LayerNorm")
        h = lin(x, "intermediate.dense")
        # GELU, erf form: x · ½(1 + erf(x / √2)).
        erf = g.op("Erf", [g.op("Mul", [h, g.const(p + "inv_sqrt2", np.float32(1 / np.sqrt(2)))])])
        h = g.op("Mul", [h, g.op("Mul", [g.op("Add", [erf, g.const(p + "gelu_one", np.float32(1))]),
                                         g.const(p + "gelu_half", np.float32(0.5))])])
        x = g.op("Add", [x, lin(h, "output.dense")])
        x = g.layer_norm(x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], p + "output.LayerNorm")
    # Mean over the tokens that are not padding, then L2 normalization.
    m = g.op("Reshape", [keep, g.const("pool_shape", np.array([1, S, 1], np.int64))])
    total = g.op("ReduceSum", [g.op("Mul", [x, m]), g.const("axis1", np.array([1], np.int64))], keepdims=0)
    count = g.op("ReduceSum", [m, g.const("axis1b", np.array([1], np.int64))], keepdims=0)
    mean = g.op("Div", [total, g.op("Max", [count, g.const("min_count", np.float32(1e-9))])])
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [mean, mean]), g.const("axis_last", np.array([-1], np.int64))],
                               keepdims=1)])
    emb = g.op("Div", [mean, g.op("Max", [norm, g.const("min_norm", np.float32(1e-12))])])
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, D])]
    if head is None:
        g.nodes.append(helper.make_node("Identity", [emb], ["embedding"], name="embedding"))
    else:
        y = g.op("MatMul", [emb, g.const("head.weight", np.ascontiguousarray(head["weight"].T.astype(np.float32)))])
        g.nodes.append(helper.make_node("Add", [y, g.const("head.bias", head["bias"].astype(np.float32))], ["logits"],
                                        name="logits"))
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, head["weight"].shape[0]])]
    graph = helper.make_graph(g.nodes, "minilm", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, S])],
                              outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ferrite build_onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def apply_adapter(w, path):
    lora = np.load(path)
    names = sorted({k.rsplit(".", 1)[0] for k in lora.files})
    for n in names:
        w[n + ".weight"] = (w[n + ".weight"] + lora[n + ".b"] @ lora[n + ".a"]).astype(np.float32)
    return len(names)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", type=Path, help="folder with model.safetensors (models/minilm/fetch.py)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--head", type=Path, help=".npz with weight [classes, 384] and bias [classes]")
    ap.add_argument("--adapter", type=Path, help=".npz of low-rank updates NAME.a, NAME.b")
    a = ap.parse_args()
    w = read_safetensors(a.weights / "model.safetensors")
    if a.adapter:
        print(f"{a.adapter}: {apply_adapter(w, a.adapter)} layers updated")
    head = dict(np.load(a.head)) if a.head else None
    model = build(w, a.seq_len, head)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, a.out)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB, sequence length {a.seq_len})")


if __name__ == "__main__":
    main()
