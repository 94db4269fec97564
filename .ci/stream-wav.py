#!/usr/bin/env python3
"""Writes OUT.wav: FSDD clips (8 kHz, 16-bit mono) each after 0.6 s of silence, and 1 s of silence
at the end: a small stream for `ferrite stream` and the C example's --stream mode.

usage: stream-wav.py OUT.wav FSDD_RECORDINGS_DIR CLIP.wav [CLIP.wav ...]
"""
import os
import sys
import wave

out, recordings, clips = sys.argv[1], sys.argv[2], sys.argv[3:]
frames = b""
for name in clips:
    with wave.open(os.path.join(recordings, name)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1), name
        frames += b"\0\0" * 4800 + w.readframes(w.getnframes())
frames += b"\0\0" * 8000
with wave.open(out, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(frames)
