"""Reference implementation of Ferrite's text tokenizer, `words-v1` (docs/PREPROCESSING.md).

Pure Python, no dependencies: the runtime's Rust tokenizer (runtime/src/preprocess/text.rs) must give
the same ids for every input, and tests/preprocessing.rs runs this file to prove it on every Snips
utterance. Change the specification in both places, and in the document, or in none.

    python3 models/common/ferrite_text.py VOCAB.txt SEQ_LEN PAD_SIDE < texts.jsonl   # ids per line
"""
import json
import sys

PAD_ID = 0
UNK_ID = 1
FIRST_WORD_ID = 2
# Lower-cased words longer than this (in UTF-8 bytes) are never in a vocabulary: they map to UNK.
MAX_WORD_BYTES = 64


def is_separator(c):
    """Separators split words and are dropped. Everything else is part of a word."""
    o = ord(c)
    if o < 0x80:
        return not (("0" <= c <= "9") or ("a" <= c <= "z") or ("A" <= c <= "Z"))
    return (0x80 <= o <= 0xBF or o in (0xD7, 0xF7) or 0x2000 <= o <= 0x206F or 0x3000 <= o <= 0x303F
            or o == 0xFEFF)


def words(text):
    """Splits on separators; lower-cases every word character on its own (full Unicode mapping)."""
    out, cur = [], []
    for c in text:
        if is_separator(c):
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(c.lower())
    if cur:
        out.append("".join(cur))
    return out


def encode(text, vocab, seq_len, pad_side="left"):
    """Token ids of `text`, truncated to the first `seq_len` words and padded with PAD on `pad_side`.

    `vocab` maps a word to its id (ids >= FIRST_WORD_ID). Returns (ids, n_words) where n_words is the
    number of words before truncation. Raises ValueError when the text has no word at all.
    """
    ws = words(text)
    if not ws:
        raise ValueError("text has no words")
    ids = [vocab.get(w, UNK_ID) if len(w.encode("utf-8")) <= MAX_WORD_BYTES else UNK_ID for w in ws]
    ids = ids[:seq_len]
    pad = [PAD_ID] * (seq_len - len(ids))
    return (pad + ids if pad_side == "left" else ids + pad), len(ws)


def build_vocab(texts, max_size, min_count=1):
    """Words of `texts` by descending count, then by UTF-8 bytes; ids from FIRST_WORD_ID."""
    counts = {}
    for t in texts:
        for w in words(t):
            if len(w.encode("utf-8")) <= MAX_WORD_BYTES:
                counts[w] = counts.get(w, 0) + 1
    ranked = sorted((w for w, n in counts.items() if n >= min_count),
                    key=lambda w: (-counts[w], w.encode("utf-8")))
    return ranked[: max_size - FIRST_WORD_ID]


def load_vocab(path):
    """One word per line, in id order from FIRST_WORD_ID (the format of ferrite.toml's `vocab` file)."""
    with open(path, encoding="utf-8") as f:
        ws = [line.rstrip("\n") for line in f]
    return {w: i + FIRST_WORD_ID for i, w in enumerate(ws)}


def main():
    vocab = load_vocab(sys.argv[1])
    seq_len = int(sys.argv[2])
    side = sys.argv[3]
    data = sys.stdin.buffer.read().decode("utf-8")
    for line in data.split("\n"):
        if not line:
            continue
        try:
            ids, _ = encode(json.loads(line), vocab, seq_len, side)
            print(" ".join(map(str, ids)))
        except ValueError:
            print("empty")


if __name__ == "__main__":
    main()
