#!/usr/bin/env python3
"""Foundry's GPT-2 encoding against tiktoken's, for both forms of the vocabulary.

    /work/venv/bin/python Tools/check_gpt2_vocab.py [--tiktoken gpt2.tiktoken] [--foundry .build/release/foundry] [--corpus FILE]

The rank file comes from the openai-whisper package on PyPI (`pip download --no-deps`, unpacked
in a temporary directory, not committed) unless --tiktoken names one. A vocab.json + merges.txt
pair is derived from it here, independently of Foundry's own derivation. The corpus (default:
../shared/data/tinyshakespeare.txt, else a generated text of 1 MB) plus adversarial strings
(emoji, CJK, combining marks, CRLF, whitespace runs, contractions, <|endoftext|>) is encoded by
tiktoken and by `foundry tokenizer encode --file` with each form; every id must agree.
Exit status: 0 all equal, 1 a difference, 2 the rank file could not be fetched (skipped).
"""
import argparse, base64, glob, json, os, subprocess, sys, tarfile, tempfile

import tiktoken

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ADVERSARIAL = [
    "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵", "CJK 中文字符 日本語のテキスト 한국어", "combining e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937",
    "CRLF line\r\nnext\r\n\r\n", "tabs\t\tand   runs      of     spaces   \n\n\n  ", "contractions: it's we're they've I'm you'll he'd don't",
    "numbers 1234567890 3.14159 -42 1e10", "<|endoftext|>after the end<|endoftext|>", "", " ", "\n", "'''s '''re",
    "mixed Ωmega µicro ß straße ﬁ ligature", "zero\u200bwidth\u200djoiner", "\x00\x01 control \x7f",
]


def byte_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe(ranks, token, max_rank):
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[1]):
                best = (i, r)
        if best is None:
            return parts
        i = best[0]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]


def fetch_rank_file(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "openai-whisper"], check=True)
    archive = glob.glob(os.path.join(tmp, "openai_whisper-*"))[0]
    with tarfile.open(archive) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("assets/gpt2.tiktoken"))
        t.extract(member, tmp)
        return os.path.join(tmp, member.name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiktoken"); ap.add_argument("--foundry", default=".build/release/foundry"); ap.add_argument("--corpus")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    try:
        rank_file = a.tiktoken or fetch_rank_file(tmp)
    except Exception as e:   # no network, or PyPI changed: say so, and let CI go on
        print(f"skipped: could not fetch GPT-2's rank file from the openai-whisper package ({e})")
        sys.exit(2)
    ranks = {}
    for line in open(rank_file, "rb").read().splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    enc = tiktoken.Encoding("gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
    # vocab.json + merges.txt, derived here.
    bu = byte_unicode()
    as_text = lambda b: "".join(bu[x] for x in b)
    vocab = {as_text(t): r for t, r in ranks.items()}
    vocab["<|endoftext|>"] = 50256
    merges = []
    for t, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(t) > 1:
            p = bpe(ranks, t, r)
            assert len(p) == 2, t
            merges.append(f"{as_text(p[0])} {as_text(p[1])}")
    hf_dir = os.path.join(tmp, "gpt2-hf")
    os.makedirs(hf_dir)
    json.dump(vocab, open(os.path.join(hf_dir, "vocab.json"), "w"), ensure_ascii=False)
    open(os.path.join(hf_dir, "merges.txt"), "w").write("#version: 0.2\n" + "\n".join(merges) + "\n")

    corpus_path = a.corpus or "../shared/data/tinyshakespeare.txt"
    if os.path.exists(corpus_path):
        corpus = open(corpus_path, encoding="utf-8").read()
    else:   # this repository's own text (prose with symbols, code), repeated up to 1 MB
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "..", "docs", "*.md")) + glob.glob(os.path.join(here, "..", "Sources", "*", "*.swift")))
        corpus = "".join(open(f, encoding="utf-8").read() for f in files)
        corpus = (corpus * (1 + 1_000_000 // max(1, len(corpus))))[:max(1_000_000, len(corpus))]
    texts = [corpus] + ADVERSARIAL
    failures = 0
    for form, tok in [("tiktoken file", rank_file), ("vocab.json + merges.txt", hf_dir)]:
        for i, text in enumerate(texts):
            path = os.path.join(tmp, "text.txt")
            open(path, "w", encoding="utf-8", newline="").write(text)
            want = enc.encode(text, allowed_special="all")
            r = subprocess.run([a.foundry, "tokenizer", "encode", "--tokenizer", tok, "--file", path], capture_output=True, text=True)
            if r.returncode != 0:
                if text == "":
                    continue   # Foundry refuses an empty file to encode
                print(f"{form}: text {i} failed: {r.stderr.strip()}"); failures += 1; continue
            got = [int(x) for x in r.stdout.splitlines()[0].split()] if r.stdout.splitlines()[0].strip() else []
            if got != want:
                first = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
                print(f"{form}: text {i} differs at id {first}: foundry {got[first:first+8]} tiktoken {want[first:first+8]}")
                failures += 1
        print(f"{form}: {len(texts)} texts ({len(corpus)} characters of corpus, {len(enc.encode(corpus, allowed_special='all'))} tokens) checked")
    print("OK" if failures == 0 else f"{failures} differences")
    sys.exit(1 if failures else 0)


main()
