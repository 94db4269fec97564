#!/usr/bin/env python3
"""Token ids from Hugging Face `tokenizers` (the reference of tokenizer `wordpiece-v1`).

Usage: hf_tokenize.py TOKENIZER_JSON SEQ_LEN < texts.jsonl > ids.txt

Each input line is a JSON string; each output line the ids of that text, space-separated: BERT's
`[CLS] ... [SEP]`, truncated and padded to SEQ_LEN as the runtime does. Special-token names typed
in the text (`[CLS]`, `[MASK]`) are read as text, never as control tokens (`encode_special_tokens`):
a user's words must not be able to forge them, and Ferrite's tokenizer never matches them.
"""
import json
import sys

from tokenizers import Tokenizer


def main():
    path, seq_len = sys.argv[1], int(sys.argv[2])
    tok = Tokenizer.from_file(path)
    tok.enable_truncation(max_length=seq_len)
    tok.enable_padding(length=seq_len, pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    tok.encode_special_tokens = True
    texts = [json.loads(line) for line in sys.stdin]
    out = sys.stdout
    for enc in tok.encode_batch(texts):
        out.write(" ".join(map(str, enc.ids)) + "\n")


if __name__ == "__main__":
    main()
