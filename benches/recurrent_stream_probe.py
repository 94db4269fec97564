"""Probe (issue 11): can kws-crnn stream as a recurrent model, its GRU state carried from frame to
frame, instead of re-running its whole-clip model on a sliding window?

    FERRITE_STREAM_DUMP=1 cargo bench --bench stream_eval     # writes target/stream-eval/*-stream.wav
    python3 benches/recurrent_stream_probe.py test [RESET]     # RESET: zero the state every N frames
                                                            # FERRITE_STEP_MODEL=PATH: another step model

Runs models/kws-crnn/model-step.onnx (ONNX Runtime) on every 10 ms frame of stream_eval's stream
(features by the reference frontend, models/common/ferrite_audio.py), then applies the runtime
Detector's rule (every 5 frames, mean of the last `smooth` runs, threshold, one-second refractory,
background never fires) and scores as stream_eval does: false-reject rate / false accepts, per
threshold. With the model trained on one-second windows from a zero state, carrying the state
never resetting it is far worse than the window model (see docs/ARCHITECTURE.md, Limits).
"""
import json
import sys
import numpy as np
import onnxruntime as ort
import os
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "models", "common"))
import ferrite_audio as fa

tag = sys.argv[1] if len(sys.argv) > 1 else "test"
x, rate = fa.read_wav(os.path.join(ROOT, "target", "stream-eval", f"{tag}-stream.wav"))
spans = json.load(open(os.path.join(ROOT, "target", "stream-eval", f"{tag}-spans.json")))
fe = fa.Frontend(sample_rate=8000, clip_samples=8000, frame_len=240, hop=160, n_fft=256, n_mels=40,
                 fmin=20.0, fmax=4000.0, log_floor=1e-6, n_mfcc=0)
n = 1 + (len(x) - 240) // 160
feats = []
for lo in range(0, n, 4096):
    ks = np.arange(lo, min(n, lo + 4096))
    idx = ks[:, None] * 160 + np.arange(240)[None, :]
    fr = x[idx] * fe.window
    sp = np.fft.rfft(fr, n=256, axis=1)
    feats.append(np.log((sp.real ** 2 + sp.imag ** 2) @ fe.fb.T + 1e-6))
feats = np.concatenate(feats).astype(np.float32)
sess = ort.InferenceSession(os.environ.get("FERRITE_STEP_MODEL", os.path.join(ROOT, "models", "kws-crnn", "model-step.onnx")), providers=["CPUExecutionProvider"])
reset = int(sys.argv[2]) if len(sys.argv) > 2 else 0   # reset the state every N frames (0: never)
h = np.zeros((1, 1, 96), np.float32)
post = np.zeros((n, 11), np.float32)
for k in range(n):
    if reset and k % reset == 0:
        h[:] = 0
    lg, h = sess.run(None, {"frame": feats[k][None, None], "state": h})
    e = np.exp(lg[0] - lg[0].max())
    post[k] = e / e.sum()


def detect(post, smooth, thr, hop=5, rows=49, refractory=8000, bg=10):
    out, hist, last = [], [], None
    for k in range(rows - 1, len(post), hop):
        hist.append(post[k]); hist = hist[-smooth:]
        m = np.mean(hist, axis=0); m[bg] = -1
        c = int(m.argmax()); start = (k + 1 - rows) * 160; end = start + 8000
        if m[c] >= thr and (last is None or end >= last + refractory):
            last = end; out.append((c, start, end))
    return out


def score(found):
    used = [False] * len(found); missed = 0
    for d, s, e in spans:
        hit = next((i for i, (c, a, b) in enumerate(found) if not used[i] and c == d and a < e and b > s), None)
        if hit is None: missed += 1
        else: used[hit] = True
    return missed / len(spans), used.count(False)


for sm in (1, 3, 5):
    print(tag, "reset", reset, "smooth", sm, " ".join(f"{t}:{100*score(detect(post, sm, t))[0]:.0f}%/{score(detect(post, sm, t))[1]}" for t in (0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97)))
