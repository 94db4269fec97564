"""Reference implementation of Ferrite's audio frontend, `logmel-v1` (docs/PREPROCESSING.md).

numpy, float64. The runtime (runtime/src/preprocess/audio.rs, float32) must match it to a relative
L2 error of 1e-4 on real clips; tests/preprocessing.rs checks that against features this module wrote
(models/common/make_goldens.py). Training scripts compute their features with `features()` so that
the model sees in training exactly what the runtime gives it on the device.
"""
import struct
import numpy as np


class WavError(ValueError):
    pass


def read_wav(path_or_bytes):
    """PCM 16-bit mono RIFF/WAVE -> (float64 samples in [-1, 1), sample rate)."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        b = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            b = f.read()
    if len(b) < 12 or b[0:4] != b"RIFF" or b[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        body = b[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            data = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise WavError("missing fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag not in (1, 0xFFFE) or bits != 16 or channels != 1:
        raise WavError("only PCM 16-bit mono is supported")
    n = len(data) // 2
    x = np.frombuffer(data[:2 * n], dtype="<i2").astype(np.float64) / 32768.0
    return x, rate


def resample(x, in_rate, out_rate, half_width=16):
    """Windowed-sinc resampling (Hann window, `half_width` zero crossings of the narrower band)."""
    if in_rate == out_rate:
        return x.copy()
    n_out = (len(x) * out_rate + in_rate - 1) // in_rate
    fc = 0.5 * min(1.0, out_rate / in_rate)          # cut-off, cycles per input sample
    # Half-width in input samples: half_width zero crossings of the narrower band.
    w = half_width * (-(-in_rate // out_rate)) if in_rate > out_rate else half_width
    y = np.zeros(n_out)
    for m in range(n_out):
        num = m * in_rate
        base, frac = num // out_rate, (num % out_rate) / out_rate
        ks = np.arange(base - w + 1, base + w + 1)
        d = (base - ks) + frac                       # t - k, with t = base + frac
        h = 2 * fc * np.sinc(2 * fc * d) * 0.5 * (1 + np.cos(np.pi * d / w))
        valid = (ks >= 0) & (ks < len(x))
        y[m] = np.sum(x[ks[valid]] * h[valid])
    return y


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax):
    """HTK triangular filters, peak 1, on the power spectrum bins k * sample_rate / n_fft."""
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    fb = np.zeros((n_mels, n_fft // 2 + 1))
    for j in range(n_mels):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[j] = np.maximum(0.0, np.minimum(up, down))
    return fb


def dct_matrix(n_mfcc, n_mels):
    """Orthonormal DCT-II, first n_mfcc rows."""
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    m = np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels)) * np.sqrt(2.0 / n_mels)
    m[0] /= np.sqrt(2.0)
    return m


class Frontend:
    """The parameters of `logmel-v1`, as stored in the artifact (see ferrite.toml's [audio] table)."""

    def __init__(self, sample_rate, clip_samples, frame_len, hop, n_fft, n_mels, fmin, fmax,
                 log_floor, n_mfcc, normalize="none"):
        self.__dict__.update(locals())
        del self.__dict__["self"]
        self.n_frames = 1 + (clip_samples - frame_len) // hop
        self.window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_len) / frame_len)  # periodic Hann
        self.fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
        self.dct = dct_matrix(n_mfcc, n_mels) if n_mfcc else None
        assert normalize in ("none", "window-mean"), normalize

    @property
    def n_features(self):
        return self.n_mfcc or self.n_mels

    def fit(self, x):
        """Keeps the first clip_samples samples, zero-padding at the end."""
        y = np.zeros(self.clip_samples)
        n = min(len(x), self.clip_samples)
        y[:n] = x[:n]
        return y

    def features(self, x, rate):
        """Samples at `rate` -> [n_frames, n_features] (float64)."""
        if rate != self.sample_rate:
            x = resample(x, rate, self.sample_rate)
        x = self.fit(x)
        idx = np.arange(self.frame_len)[None, :] + self.hop * np.arange(self.n_frames)[:, None]
        frames = x[idx] * self.window
        spec = np.fft.rfft(frames, n=self.n_fft, axis=1)
        power = spec.real ** 2 + spec.imag ** 2
        mel = np.log(power @ self.fb.T + self.log_floor)
        return self.normalized(mel @ self.dct.T if self.dct is not None else mel)

    def normalized(self, feats):
        """`normalize = "window-mean"`: each feature's mean over the window's frames (the second
        to last axis) subtracted; otherwise `feats` as they are."""
        if self.normalize == "window-mean":
            return feats - feats.mean(axis=-2, keepdims=True)
        return feats
