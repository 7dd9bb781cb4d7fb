#!/usr/bin/env python3
"""Writes a random-weight model and tokenizer in llama2.c's `run.c` formats at the
"stories15M" shapes (dim 288, hidden 768, 6 layers, 6 heads, vocabulary 32000, 256
positions), so `run.c` can be timed beside `foundry bench` without downloading anything.

Speed does not depend on the weights' values: `run.c` does the same arithmetic for any
numbers. The tokenizer's pieces are plain ASCII ("t123 "), so the printed text is harmless.

    python3 Tools/llama2c_model.py OUTDIR      # writes OUTDIR/model.bin, OUTDIR/tokenizer.bin
Standard library only (struct + random), so it runs without the Tools venv.
"""
import os
import random
import struct
import sys
from array import array

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ = 288, 768, 6, 6, 6, 32000, 256


def floats(n, rng, scale=0.02):
    a = array("f", (rng.gauss(0.0, scale) for _ in range(n)))
    return a.tobytes()


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: llama2c_model.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    head = DIM // HEADS
    # Header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (positive: the
    # classifier shares the embedding, as GPT-2 ties its LM head), seq_len.
    parts = [struct.pack("7i", DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ)]
    # Token embedding (also the classifier). Token 1 (BOS) ends `run.c`'s loop when picked:
    # a zero row gives it logit 0, below the largest of 32000 random logits, so greedy runs
    # never stop early.
    emb = array("f", (rng.gauss(0.0, 0.02) for _ in range(VOCAB * DIM)))
    emb[DIM:2 * DIM] = array("f", [0.0] * DIM)
    parts.append(emb.tobytes())
    parts.append(array("f", [1.0] * (LAYERS * DIM)).tobytes())  # attention RMSNorm weights
    for n in (DIM * DIM, DIM * DIM, DIM * DIM, DIM * DIM):      # wq, wk, wv, wo
        parts.append(floats(LAYERS * n, rng))
    parts.append(array("f", [1.0] * (LAYERS * DIM)).tobytes())  # FFN RMSNorm weights
    for n in (DIM * HIDDEN, HIDDEN * DIM, DIM * HIDDEN):         # w1, w2, w3
        parts.append(floats(LAYERS * n, rng))
    parts.append(array("f", [1.0] * DIM).tobytes())             # final RMSNorm
    parts.append(bytes(4 * SEQ * head))                         # the two unused RoPE tables
    tmp = os.path.join(out, "model.bin.tmp")
    with open(tmp, "wb") as f:
        for p in parts:
            f.write(p)
    os.replace(tmp, os.path.join(out, "model.bin"))

    pieces = [f"t{i} ".encode() for i in range(VOCAB)]
    tmp = os.path.join(out, "tokenizer.bin.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("i", max(len(p) for p in pieces)))
        for i, p in enumerate(pieces):
            f.write(struct.pack("fi", -float(i), len(p)))
            f.write(p)
    os.replace(tmp, os.path.join(out, "tokenizer.bin"))
    print(f"wrote {out}/model.bin and {out}/tokenizer.bin")


if __name__ == "__main__":
    main()
