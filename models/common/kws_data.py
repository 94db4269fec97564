"""Training data for keyword spotters that know silence and strangers (issue 11).

Generated offline, reproducibly, into target/kws-data/ (never committed) by
`python3 models/common/kws_data.py` (the training scripts call `ensure()` too):

- `digits/`: the ten digit words spoken by 80 synthetic speakers, each an espeak-ng voice, variant,
  pitch and speed (seeded), converted to 8 kHz 16-bit mono by sox:

      espeak-ng -v en-gb-x-rp+m4 -p 41 -s 152 -w /tmp/x.wav "seven"
      sox /tmp/x.wav -r 8000 -b 16 -c 1 digits/s017_7.wav

- `sentences/`: 400 sentences of the Snips *training* split (any with a digit or a number word left
  out) spoken by those synthetic speakers: the non-digit speech of the background class. The
  streaming benchmark (benches/stream_eval.rs) speaks sentences of the Snips *test* split, with
  voices none of these speakers use, so its negatives are never trained on.
- `fsdd-pitch/`: every FSDD clip shifted by a seeded -300..-100 or +100..+300 cents
  (`sox IN.wav OUT.wav pitch CENTS`): pitch perturbation.
- `tts-digits/`, `tts-sentences/`: the digits (800 clips) and 160 more training sentences spoken by
  80 speakers made from eight voices of two other engines, Flite (kal, kal16, awb, rms, slt) and
  Festival (kal_diphone, ked_diphone, cmu_us_slt_arctic_hts), each voice at ten seeded pitch shifts
  and tempos:

      flite -voice awb -t "seven" -o /tmp/x.wav
      festival -b say.scm    # (voice_ked_diphone) (utt.save.wave (utt.synth (Utterance Text "seven")) ...)
      sox /tmp/x.wav -r 8000 -b 16 -c 1 tts-digits/t017_7.wav pitch -140 tempo 1.07

- `accent-digits/`: 16 more espeak-ng speakers say every digit five ways as non-native speakers
  often do (`ACCENTED`, espeak-ng phoneme input: `espeak-ng -v en-029+m2 "[[s'iks]]"`), 800 clips.

Noise (white, pink, brown, babble of overlapped sentences) and the rest of the augmentation (speed,
gain, placement, additive noise at 5-30 dB SNR, a random microphone and room response, SpecAugment)
are drawn per epoch from numpy's seeded generator (`Composer`). Needs Debian's espeak-ng, sox,
flite, festival and three Festival voices:

    apt install espeak-ng sox flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import datasets  # noqa: E402
import ferrite_audio as fa  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "target", "kws-data")
RATE = 8000
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NUMBER_WORDS = set(WORDS) | {"oh", "ten", "eleven", "twelve", "twenty", "thirty", "hundred", "thousand"}
# espeak-ng's English voices and variants; the plain en-us / en-gb / en-gb-scotland voices and the
# f3, m3 and f5 variants are the streaming benchmark's and are left out here.
VOICES = ["en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc", "en-us", "en-gb",
          "en-gb-scotland"]
VARIANTS = ["m1", "m2", "m4", "m5", "m6", "m7", "f1", "f2", "f4", "klatt", "klatt2", "klatt4", "croak",
            "Andy", "Annie", "Belinda", "Michael", "Steph", "david", "grandma", "Alex", "Alicia", "john",
            "Mike", "Paul", "Robert", "Lee", "Linda", "max", "Denis"]
N_SPEAKERS = 80
N_SENTENCES = 400
SEED = 11
# Voices of two other engines, closer to human speech than espeak-ng's formant synthesis: Flite's
# built-in voices and Festival's (Debian: flite, festival, festvox-kallpc16k, festvox-kdlpc16k,
# festvox-us-slt-hts). Each speaks every digit once; sox then makes TTS_VARIANTS speakers of each
# by a seeded pitch shift (-400..+400 cents, formants move with it) and tempo (0.85-1.2).
TTS_VOICES = [("flite", v) for v in ("kal", "kal16", "awb", "rms", "slt")] + \
             [("festival", v) for v in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")]
TTS_VARIANTS = 10
TTS_SENTENCES = 160
# Each digit as non-native speakers often say it (espeak-ng's phoneme input, `[[...]]`): tense or
# monophthong vowels (s'iks, 'Et), th as t, s, f or d, a full vowel for schwa (s'EvEn), a sounded r.
# FSDD's held-out speakers include Greek- and German-accented English; the synthetic speakers above
# say every digit the textbook way.
ACCENTED = [
    ["z'iro", "z'ero", "z'Ero", "s'iroU", "z'i:roU"],
    ["w'an", "w'On", "w'0n", "v'an", "w'Vn@"],
    ["t'u", "t'u:", "tS'u:", "t'U", "th'u:"],
    ["tr'i", "t'ri:", "s'ri:", "f'ri:", "dr'i:"],
    ["f'o:r", "f'O:r", "f'oU@", "f'or", "f'o:"],
    ["f'aiv", "f'aIf", "f'a:Iv", "v'aIf", "f'aIv@"],
    ["s'iks", "s'i:ks", "s'Eks", "z'Iks", "s'iks@"],
    ["s'EvEn", "s'even", "s'Ev@n", "z'EvEn", "s'E:v@n"],
    ["'Et", "'eit", "'ejt", "'eIt@", "'E:t"],
    ["n'ain", "n'aIn@", "n'a:In", "n'aIn", "n'ajn"],
]
ACCENT_SPEAKERS = 16


def speakers():
    """The synthetic speakers: (voice+variant, pitch, speed), seeded."""
    rng = np.random.default_rng(SEED)
    out = []
    for i in range(N_SPEAKERS):
        voice = VOICES[i % len(VOICES)]
        variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
        out.append((f"{voice}+{variant}", int(rng.integers(20, 81)), int(rng.integers(115, 191))))
    return out


def _speak(text, voice, pitch, speed, path):
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", tmp.name, text],
                       check=True, capture_output=True)
        subprocess.run(["sox", tmp.name, "-r", str(RATE), "-b", "16", "-c", "1", path], check=True,
                       capture_output=True)


def _tts(engine, voice, text, path):
    """`text` spoken by a Flite or Festival voice into `path` (the engine's own rate)."""
    if engine == "flite":
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", path], check=True, capture_output=True)
        return
    quoted = text.replace("\\", " ").replace('"', " ")
    script = f'(voice_{voice}) (utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{path}" (quote riff))'
    with tempfile.NamedTemporaryFile("w", suffix=".scm") as f:
        f.write(script)
        f.flush()
        subprocess.run(["festival", "-b", f.name], check=True, capture_output=True)


def tts_speakers():
    """The Flite and Festival speakers: (engine, voice, cents, tempo), seeded."""
    rng = np.random.default_rng(SEED + 2)
    return [(e, v, int(rng.integers(-400, 401)), round(float(rng.uniform(0.85, 1.2)), 3))
            for e, v in TTS_VOICES for _ in range(TTS_VARIANTS)]


def _tts_variant(src, cents, tempo, path):
    subprocess.run(["sox", src, "-r", str(RATE), "-b", "16", "-c", "1", path, "pitch", str(cents), "tempo", str(tempo)],
                   check=True, capture_output=True)


def _ensure_tts(sentences):
    """target/kws-data/tts-digits/ and tts-sentences/: the Flite and Festival speakers."""
    spk = tts_speakers()
    manifest = os.path.join(OUT, "tts-manifest.json")
    want = json.dumps({"speakers": spk, "sentences": sentences[:TTS_SENTENCES]})
    if os.path.exists(manifest) and open(manifest).read() == want:
        return
    for sub in ("tts-digits", "tts-sentences"):
        shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)
        os.makedirs(os.path.join(OUT, sub))
    with tempfile.TemporaryDirectory() as tmp:
        for d, word in enumerate(WORDS):
            for e, v in TTS_VOICES:
                _tts(e, v, word, os.path.join(tmp, f"{v}_{d}.wav"))
        for s, (e, v, cents, tempo) in enumerate(spk):
            for d in range(len(WORDS)):
                _tts_variant(os.path.join(tmp, f"{v}_{d}.wav"), cents, tempo,
                             os.path.join(OUT, "tts-digits", f"t{s:03d}_{d}.wav"))
        for i, text in enumerate(sentences[:TTS_SENTENCES]):
            e, v, cents, tempo = spk[(i * 7) % len(spk)]
            raw = os.path.join(tmp, "sentence.wav")
            _tts(e, v, text, raw)
            _tts_variant(raw, cents, tempo, os.path.join(OUT, "tts-sentences", f"{i:03d}.wav"))
    with open(manifest, "w") as f:
        f.write(want)


def accent_speakers():
    """The accented speakers: (voice+variant, pitch, speed), seeded apart from `speakers()`."""
    rng = np.random.default_rng(SEED + 3)
    return [(f"{VOICES[i % len(VOICES)]}+{VARIANTS[int(rng.integers(len(VARIANTS)))]}",
             int(rng.integers(20, 81)), int(rng.integers(115, 191))) for i in range(ACCENT_SPEAKERS)]


def _ensure_accented():
    """target/kws-data/accent-digits/: every accented pronunciation of every digit by every
    accented speaker."""
    spk = accent_speakers()
    manifest = os.path.join(OUT, "accent-manifest.json")
    want = json.dumps({"speakers": spk, "words": ACCENTED})
    if os.path.exists(manifest) and open(manifest).read() == want:
        return
    d = os.path.join(OUT, "accent-digits")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for s, (voice, pitch, speed) in enumerate(spk):
        for digit, variants in enumerate(ACCENTED):
            for k, phonemes in enumerate(variants):
                _speak(f"[[{phonemes}]]", voice, pitch, speed, os.path.join(d, f"a{s:03d}_{k}_{digit}.wav"))
    with open(manifest, "w") as f:
        f.write(want)


def training_sentences():
    """Snips training-split sentences without digits or number words, every 20th."""
    out = []
    for text, _ in datasets.snips("train"):
        words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
        if not any(c.isdigit() for c in text) and not NUMBER_WORDS & set(words):
            out.append(text)
    return out[::20][:N_SENTENCES]


def ensure():
    """Generates what is missing under target/kws-data/ (about two minutes the first time)."""
    spk = speakers()
    # What the speakers and sentences were generated from: a change regenerates them.
    manifest = os.path.join(OUT, "manifest.json")
    want = json.dumps({"speakers": spk, "sentences": training_sentences()})
    if not os.path.exists(manifest) or open(manifest).read() != want:
        for sub in ("digits", "sentences"):
            shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)
    for sub in ("digits", "sentences", "fsdd-pitch"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
    for s, (voice, pitch, speed) in enumerate(spk):
        for d, word in enumerate(WORDS):
            path = os.path.join(OUT, "digits", f"s{s:03d}_{d}.wav")
            if not os.path.exists(path):
                _speak(word, voice, pitch, speed, path)
    for i, text in enumerate(training_sentences()):
        path = os.path.join(OUT, "sentences", f"{i:03d}.wav")
        if not os.path.exists(path):
            voice, pitch, speed = spk[(i * 7) % len(spk)]
            _speak(text, voice, pitch, speed, path)
    rng = np.random.default_rng(SEED + 1)
    rec = os.path.join(datasets.FSDD, "recordings")
    for name in sorted(os.listdir(rec)):
        cents = int(rng.integers(100, 301)) * (1 if rng.random() < 0.5 else -1)
        path = os.path.join(OUT, "fsdd-pitch", name)
        if name.endswith(".wav") and not os.path.exists(path):
            subprocess.run(["sox", os.path.join(rec, name), path, "pitch", str(cents)], check=True,
                           capture_output=True)
    with open(manifest, "w") as f:
        f.write(want)
    # The Flite and Festival voices read the sentences from the other end of the list.
    _ensure_tts(training_sentences()[::-1])
    _ensure_accented()


def read(path):
    x, rate = fa.read_wav(path)
    assert rate == RATE, path
    return x


def active(x, frame=80, floor_db=-35.0):
    """The span of `x` from the first to the last 10 ms frame within `floor_db` of its loudest."""
    n = len(x) // frame
    if n == 0:
        return x
    e = np.sqrt(np.mean(x[:n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    on = np.nonzero(20 * np.log10(e / e.max()) > floor_db)[0]
    return x[on[0] * frame:(on[-1] + 1) * frame]


def synthetic_digits():
    """[(samples, digit)] of the synthetic speakers: espeak-ng's, Flite's and Festival's, then the
    accented ones (active span only)."""
    out = []
    for sub in ("digits", "tts-digits", "accent-digits"):
        d = os.path.join(OUT, sub)
        out += [(active(read(os.path.join(d, n))), int(n[-5])) for n in sorted(os.listdir(d))]
    return out


def sentences():
    out = []
    for sub in ("sentences", "tts-sentences"):
        d = os.path.join(OUT, sub)
        out += [read(os.path.join(d, n)) for n in sorted(os.listdir(d))]
    return out


def pitched(path):
    """The pitch-shifted twin of an FSDD clip."""
    return read(os.path.join(OUT, "fsdd-pitch", os.path.basename(path)))


def speed(x, factor):
    """`x` played `factor` times faster (band-limited FFT resampling: tempo and pitch together)."""
    n = max(16, int(round(len(x) / factor)))
    spec = np.fft.rfft(x)
    out = np.zeros(n // 2 + 1, dtype=complex)
    k = min(len(out), len(spec))
    out[:k] = spec[:k]
    return np.fft.irfft(out, n) * (n / len(x))


def rms(x):
    return float(np.sqrt(np.mean(x ** 2) + 1e-12))


class Composer:
    """Draws one-second training windows (8000 samples): digits placed anywhere, speed- and
    pitch-perturbed, over silence or noise; and background windows (silence, noise, babble,
    non-digit speech, digits cut off at the window's edge)."""

    def __init__(self, rng, speech):
        self.rng = rng
        self.speech = speech

    def noise(self, n):
        r = self.rng
        kind = r.integers(4)
        w = r.standard_normal(n)
        if kind == 1:  # pink: 1/f power, shaped in the frequency domain
            f = np.fft.rfft(w)
            f[1:] /= np.sqrt(np.arange(1, len(f)))
            w = np.fft.irfft(f, n)
        elif kind == 2:  # brown: integrated white noise, high-passed a little
            w = np.cumsum(w)
            w -= np.convolve(w, np.ones(400) / 400, mode="same")
        elif kind == 3 and self.speech:  # babble: three sentences overlapped
            w = np.zeros(n)
            for _ in range(3):
                s = self.speech[r.integers(len(self.speech))]
                at = r.integers(max(1, len(s) - n))
                part = s[at:at + n]
                w[:len(part)] += part
        return w / rms(w)

    def background_bed(self, n, level_db):
        """Silence (a trace of noise) or noise at `level_db` dBFS RMS."""
        return self.noise(n) * 10 ** (level_db / 20)

    def place(self, x, n, cut=False):
        """`x` in a window of `n` samples: wholly inside (random offset) or, with `cut`, with at most
        a third of it inside (at either edge)."""
        out = np.zeros(n)
        if len(x) >= n and not cut:
            at = self.rng.integers(len(x) - n + 1)
            return x[at:at + n].copy()
        if cut:
            keep = int(len(x) * self.rng.uniform(0.05, 0.33))
            if self.rng.random() < 0.5:
                out[:keep] = x[len(x) - keep:]
            else:
                out[n - keep:] = x[:keep]
            return out
        at = self.rng.integers(n - len(x) + 1)
        out[at:at + len(x)] = x
        self.last_at = at
        return out

    def neighbour(self, w, x_len, n):
        """Noise or speech, up to -12 dBFS, in the part of the window before or after the digit (a
        gap of 0-200 ms apart): what a stream puts beside a quiet word."""
        r = self.rng
        at = getattr(self, "last_at", 0)
        gap = int(r.integers(0, 1600))
        lo, hi = (0, max(0, at - gap)) if r.random() < 0.5 else (min(n, at + x_len + gap), n)
        if hi - lo < 400:
            return w
        if r.random() < 0.5 and self.speech:
            s = self.speech[r.integers(len(self.speech))]
            k = r.integers(max(1, len(s) - (hi - lo)))
            seg = s[k:k + hi - lo]
        else:
            seg = self.noise(hi - lo)
        seg = seg / rms(seg) * 10 ** (r.uniform(-50, -12) / 20)
        w[lo:lo + len(seg)] += seg
        return w

    def channel(self, w):
        """`w` through a random microphone and room: a spectral tilt of -6..+6 dB per octave about
        1 kHz, and in half the windows a high-pass (50-400 Hz), in a quarter a low-pass (2.5-3.8
        kHz), each a Butterworth magnitude, applied in the frequency domain. FSDD's speakers differ
        most in their lowest bands (George's recordings are high-passed)."""
        r = self.rng
        if r.random() < 0.2:
            return w
        f = np.maximum(np.fft.rfftfreq(len(w), 1.0 / RATE), 1.0)
        gain_db = np.clip(r.uniform(-6, 6) * np.log2(np.maximum(f, 60.0) / 1000.0), -15, 15)
        gain = 10 ** (gain_db / 20)
        if r.random() < 0.5:
            gain /= np.sqrt(1 + (r.uniform(50, 400) / f) ** 4)
        if r.random() < 0.25:
            gain /= np.sqrt(1 + (f / r.uniform(2500, 3800)) ** 8)
        out = np.fft.irfft(np.fft.rfft(w) * gain, len(w))
        return out * (rms(w) / rms(out))

    def digit_window(self, x, n=RATE):
        r = self.rng
        x = speed(x, r.uniform(0.85, 1.15))
        # FSDD's speakers sit between -48 and -17 dBFS: levels from -52 to -12.
        x = x / rms(x) * 10 ** (r.uniform(-52, -12) / 20)
        self.last_at = 0
        w = self.place(x, n)
        if len(x) < n and r.random() < 0.35:
            w = self.neighbour(w, len(x), n)
        u = r.random()
        if u < 0.35:
            w += self.background_bed(n, r.uniform(-95, -70))
        else:
            snr = r.choice([5.0, 10.0, 15.0, 20.0, 30.0])
            w += self.noise(n) * rms(x) * 10 ** (-snr / 20)
        return np.clip(self.channel(w), -1, 1)

    def background_window(self, digits, n=RATE):
        r = self.rng
        u = r.random()
        if u < 0.15:
            w = self.background_bed(n, r.uniform(-95, -60))
        elif u < 0.40:
            w = self.noise(n) * 10 ** (r.uniform(-60, -15) / 20)
        elif u < 0.85 and self.speech:
            s = self.speech[r.integers(len(self.speech))]
            at = r.integers(max(1, len(s) - 12000))
            s = speed(s[at:at + 12000], r.uniform(0.9, 1.1))
            w = self.place(s, n) / rms(s) * 10 ** (r.uniform(-52, -12) / 20)
            w += self.noise(n) * 10 ** (r.uniform(-90, -40) / 20)
        else:
            x = digits[r.integers(len(digits))]
            x = x / rms(x) * 10 ** (r.uniform(-52, -12) / 20)
            w = self.place(x, n, cut=True) + self.background_bed(n, r.uniform(-95, -65))
        return np.clip(self.channel(w), -1, 1)


def features_batch(frontend, windows):
    """`Frontend.features` of many equal-length windows at the frontend's rate, vectorised: the same
    arithmetic (float64), [N, n_frames, n_features]."""
    f = frontend
    x = np.zeros((len(windows), f.clip_samples))
    for i, w in enumerate(windows):
        k = min(len(w), f.clip_samples)
        x[i, :k] = w[:k]
    idx = np.arange(f.frame_len)[None, :] + f.hop * np.arange(f.n_frames)[:, None]
    out = []
    for lo in range(0, len(x), 512):
        frames = x[lo:lo + 512][:, idx] * f.window
        spec = np.fft.rfft(frames, n=f.n_fft, axis=2)
        mel = np.log((spec.real ** 2 + spec.imag ** 2) @ f.fb.T + f.log_floor)
        out.append(f.normalized(mel @ f.dct.T if f.dct is not None else mel))
    return np.concatenate(out) if out else np.zeros((0, f.n_frames, f.n_features))


def spec_augment(rng, feats, time_width=6, freq_width=2):
    """One time mask and one feature mask per example (each with probability 1/2), set to the
    example's mean: SpecAugment (Park et al., 2019) on whatever features the model takes."""
    out = feats.copy()
    n, t, f = out.shape
    for i in range(n):
        m = out[i].mean()
        if rng.random() < 0.5:
            w = rng.integers(1, time_width + 1)
            at = rng.integers(t - w + 1)
            out[i, at:at + w] = m
        if rng.random() < 0.5:
            w = rng.integers(1, freq_width + 1)
            at = rng.integers(f - w + 1)
            out[i, :, at:at + w] = m
    return out


if __name__ == "__main__":
    ensure()
    for sub in ("digits", "sentences", "fsdd-pitch", "tts-digits", "tts-sentences", "accent-digits"):
        print(sub, len(os.listdir(os.path.join(OUT, sub))), "files in", os.path.join(OUT, sub))
