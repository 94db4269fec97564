#!/usr/bin/env python3
"""Writes runtime/src/preprocess/wordpiece/tables.rs: the character tables of tokenizer
`wordpiece-v1` (docs/PREPROCESSING.md), taken from the Hugging Face `tokenizers` package itself.

BERT's normalizer and pre-tokenizer are defined by code, not by one Unicode version: `tokenizers`
classifies "other" (controls, formats, private use: removed) and "punctuation" with tables of an
older Unicode version than today's, and its accent stripping and lower-casing follow its own
normalization and Rust standard library. Parity is the goal, so every code point is put through
the package's `BertNormalizer` (lowercase, strip accents, clean text, CJK) and `BertPreTokenizer`,
and the tables record what they do. Each step is per code point (clean-up, CJK padding, NFD then
dropping non-spacing marks, lower-casing), so a table per code point reproduces them exactly; the
script checks that, and checks the runtime's reading of the tables against the package on every
code point in context.

Usage: pip install tokenizers==0.23.3 && python3 runtime/tools/wordpiece_tables.py
"""
import sys
from pathlib import Path

import tokenizers
from tokenizers import normalizers, pre_tokenizers

VERSION = "0.23.3"
OUT = Path(__file__).resolve().parents[1] / "src/preprocess/wordpiece/tables.rs"
# tokenizers' BertNormalizer::is_chinese_char (its ranges, verbatim).
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
HANGUL = (0xAC00, 0xD7A3)


def hangul(cp):
    s = cp - 0xAC00
    out = [0x1100 + s // 588, 0x1161 + (s % 588) // 28]
    if s % 28:
        out.append(0x11A7 + s % 28)
    return "".join(map(chr, out))


def ranges(cps):
    out = []
    for x in sorted(cps):
        if out and out[-1][1] == x - 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return out


def in_cjk(cp):
    return any(a <= cp <= b for a, b in CJK)


def main():
    if tokenizers.__version__ != VERSION:
        sys.exit(f"tokenizers {VERSION} is the reference (found {tokenizers.__version__})")
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    removed, isolated, mapped = [], [], {}
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for cp in cps:
        c = chr(cp)
        out = norm.normalize_str(c)
        words = [w for w, _ in pre.pre_tokenize_str("a" + c + "a")]
        if words == ["a", c, "a"]:
            isolated.append(cp)
        elif words not in (["a", "a"], ["a" + c + "a"]):
            sys.exit(f"U+{cp:04X}: unexpected pre-tokenization {words}")
        if out == "":
            removed.append(cp)
        elif in_cjk(cp):
            assert out[0] == out[-1] == " " and len(out) == 3, f"U+{cp:04X}"
            if out[1] != c:
                mapped[cp] = out[1]
        elif HANGUL[0] <= cp <= HANGUL[1]:
            assert out == hangul(cp), f"U+{cp:04X}"
        else:
            assert not (out.startswith(" ") and len(out) > 1), f"U+{cp:04X}: padded outside CJK"
            if out != c:
                mapped[cp] = out
    # What the runtime relies on: a form is 1 to 3 code points, none of them removed or mapped again.
    iso = set(isolated)
    for cp, out in mapped.items():
        assert 1 <= len(out) <= 3 and all(ord(x) not in mapped and x not in removed for x in out), hex(cp)
    assert not any(in_cjk(cp) for cp in isolated)
    check(norm, pre, cps, set(removed), iso, mapped)
    write(ranges(removed), ranges(isolated), mapped)


def check(norm, pre, cps, removed, iso, mapped):
    """The runtime's reading of the tables (mod.rs) against the package, each code point between
    two letters: same words after normalization and pre-tokenization."""

    def ours(text):
        words, cur = [], ""
        for ch in text:
            cp = ord(ch)
            if cp in removed:
                continue
            if in_cjk(cp) or cp in iso:
                words += [cur] if cur else []
                words.append(mapped.get(cp, ch))
                cur = ""
                continue
            for d in hangul(cp) if HANGUL[0] <= cp <= HANGUL[1] else mapped.get(cp, ch):
                if d.isspace() or ord(d) in iso:
                    words += [cur] if cur else []
                    words += [] if d.isspace() else [d]
                    cur = ""
                else:
                    cur += d
        return words + ([cur] if cur else [])

    bad = 0
    for cp in cps:
        text = "Xa" + chr(cp) + "Ab"
        theirs = [w for w, _ in pre.pre_tokenize_str(norm.normalize_str(text))]
        if ours(text) != theirs:
            bad += 1
            if bad < 10:
                print(f"U+{cp:04X}: ours {ours(text)} theirs {theirs}")
    if bad:
        sys.exit(f"{bad} code points differ")


def write(removed, isolated, mapped):
    keys = sorted(mapped)
    vals, pool = [], []
    for k in keys:
        out = [ord(x) for x in mapped[k]]
        if len(out) == 1:
            vals.append(out[0])
        else:
            vals.append(0x8000_0000 | (len(out) << 24) | len(pool))
            pool += out

    def rows(items, per, fmt):
        lines = []
        for i in range(0, len(items), per):
            lines.append("    " + " ".join(fmt(x) for x in items[i:i + per]))
        return "\n".join(lines)

    rng = lambda r: f"(0x{r[0]:X}, 0x{r[1]:X}),"
    hx = lambda v: f"0x{v:X},"
    text = f"""//! Character tables of tokenizer `wordpiece-v1`, generated by runtime/tools/wordpiece_tables.py
//! from Hugging Face `tokenizers` {VERSION} (its BertNormalizer with lowercase, strip_accents,
//! clean_text and CJK on, and its BertPreTokenizer). Do not edit: run the script.

/// Code points the normalizer drops (controls, formats, private use, non-spacing marks, U+FFFD),
/// as inclusive ranges, sorted.
pub(super) static REMOVED: [(u32, u32); {len(removed)}] = [
{rows(removed, 4, rng)}
];

/// Code points the pre-tokenizer splits off as one-character words (punctuation), as inclusive
/// ranges, sorted.
pub(super) static ISOLATED: [(u32, u32); {len(isolated)}] = [
{rows(isolated, 4, rng)}
];

/// CJK ideographs (the normalizer's `is_chinese_char`): one-character words.
pub(super) static CJK: [(u32, u32); {len(CJK)}] = [
{rows(sorted(CJK), 4, rng)}
];

/// Code points (outside precomposed Hangul) whose normalized form is other code points,
/// sorted; `MAP_VALUES[i]` is `MAP_KEYS[i]`'s form.
pub(super) static MAP_KEYS: [u32; {len(keys)}] = [
{rows(keys, 8, hx)}
];

/// One code point, or (top bit set) `len << 24 | offset` into [`MAP_POOL`] for 2 or 3 of them.
pub(super) static MAP_VALUES: [u32; {len(vals)}] = [
{rows(vals, 8, hx)}
];

/// The code points of the multi-character forms.
pub(super) static MAP_POOL: [u32; {len(pool)}] = [
{rows(pool, 8, hx)}
];
"""
    OUT.write_text(text)
    print(f"wrote {OUT}: {len(removed)} removed ranges, {len(isolated)} isolated ranges, "
          f"{len(keys)} mappings ({len(pool)} pooled code points)")


if __name__ == "__main__":
    main()
