#!/usr/bin/env python3
"""Writes the reference-frontend goldens that tests/preprocessing.rs compares the runtime against.

    /path/to/venv/bin/python models/common/make_goldens.py      # needs numpy only

For a fixed set of real FSDD clips (test split, every speaker) it writes, under tests/golden/frontend/:
  <clip>.mfcc10.npy, <clip>.logmel40.npy   MFCC and log-mel features (models/kws-crnn's frontend)
  <clip>.mfcc10-wmean.npy                  MFCC with each coefficient's window mean subtracted
                                           (`normalize = "window-mean"`: models/kws-dscnn's frontend)
  7_theo_3_16k.wav                         the clip resampled to 16 kHz by the reference resampler, as PCM 16
  7_theo_3_16k.mfcc10[-wmean].npy          its features (resampled back to 8 kHz by the reference)
Features are float32 [frames, features], computed in float64 by models/common/ferrite_audio.py.
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import datasets  # noqa: E402
import ferrite_audio as fa  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "tests", "golden", "frontend")
CLIPS = ["0_jackson_0", "3_george_1", "5_lucas_2", "7_theo_3", "8_yweweler_4", "9_theo_0"]
COMMON = dict(sample_rate=8000, clip_samples=8000, frame_len=240, hop=160, n_fft=256, n_mels=40, fmin=20.0,
              fmax=4000.0, log_floor=1e-6)
MFCC10 = fa.Frontend(n_mfcc=10, **COMMON)
LOGMEL40 = fa.Frontend(n_mfcc=0, **COMMON)
MFCC10_WMEAN = fa.Frontend(n_mfcc=10, normalize="window-mean", **COMMON)


def write_wav(path, x, rate):
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2").tobytes()
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt ")
        f.write(struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16))
        f.write(b"data" + struct.pack("<I", len(pcm)) + pcm)


def main():
    os.makedirs(OUT, exist_ok=True)
    rec = os.path.join(datasets.FSDD, "recordings")
    for c in CLIPS:
        x, rate = fa.read_wav(os.path.join(rec, c + ".wav"))
        np.save(os.path.join(OUT, c + ".mfcc10.npy"), MFCC10.features(x, rate).astype(np.float32))
        np.save(os.path.join(OUT, c + ".logmel40.npy"), LOGMEL40.features(x, rate).astype(np.float32))
        np.save(os.path.join(OUT, c + ".mfcc10-wmean.npy"), MFCC10_WMEAN.features(x, rate).astype(np.float32))
    x, rate = fa.read_wav(os.path.join(rec, "7_theo_3.wav"))
    up = fa.resample(x, rate, 16000)
    wav16 = os.path.join(OUT, "7_theo_3_16k.wav")
    write_wav(wav16, up, 16000)
    y, r16 = fa.read_wav(wav16)
    np.save(os.path.join(OUT, "7_theo_3_16k.mfcc10.npy"), MFCC10.features(y, r16).astype(np.float32))
    np.save(os.path.join(OUT, "7_theo_3_16k.mfcc10-wmean.npy"), MFCC10_WMEAN.features(y, r16).astype(np.float32))
    print(f"wrote goldens for {len(CLIPS)} clips and one 16 kHz clip to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
