#!/usr/bin/env python3
"""PyTorch beside `foundry bench`: the same training and generation settings, then the ratios.

Reads the bench.json that `foundry bench` wrote, measures PyTorch on the same settings
(nanoGPT's CPU settings for training: 4 layers, 4 heads, 128 wide, context 64, batch 12,
character vocabulary, AdamW lr 1e-3; the GPT-2 124M step when bench.json has one; square fp32
matmuls at the sizes foundry measured; generation with transformers' GPT2LMHeadModel and its KV
cache, batch 1, greedy and top-p 0.9), fills the "pytorch_*" fields in place and prints a
table of Foundry / PyTorch. CPU: 2 threads (the CI machine's cores) unless --threads. GPU
(--device cuda): TF32 off, so both sides compute in fp32.

Usage: python Tools/bench_pytorch.py --bench bench.json [--data FILE] [--device cpu|cuda]
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc, self.fc_proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    """nanoGPT's model: GPT-2 blocks, tied embedding and LM head."""
    def __init__(self, vocab, ctx, c, layers, heads):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(ctx, c)
        self.blocks = nn.ModuleList(Block(c, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(c)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx, targets=None):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in self.blocks:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def train(text, device, steps, layers=4, heads=4, c=128, ctx=64, batch=12, warmup=3, eval_tokens=32768):
    chars = sorted(set(text))
    lut = {ch: i for i, ch in enumerate(chars)}
    ids = torch.tensor([lut[ch] for ch in text], dtype=torch.long)
    split = len(ids) * 9 // 10
    tr, va = ids[:split], ids[split:]
    torch.manual_seed(1337)
    model = GPT(len(chars), ctx, c, layers, heads).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)

    def step():
        ix = torch.randint(len(tr) - ctx - 1, (batch,), generator=g)
        x = torch.stack([tr[i:i + ctx] for i in ix]).to(device)
        y = torch.stack([tr[i + 1:i + ctx + 1] for i in ix]).to(device)
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync(device)
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        losses, at = [], 0
        while at + ctx + 1 <= len(va) and len(losses) * ctx < eval_tokens:
            x, y = va[at:at + ctx][None].to(device), va[at + 1:at + ctx + 1][None].to(device)
            losses.append(model(x, y).item())
            at += ctx
    return {"tokens_per_sec": steps * batch * ctx / seconds, "ms_per_step": 1000 * seconds / steps,
            "loss": loss.item(), "val_loss": sum(losses) / max(1, len(losses))}


def train_random(device, steps, layers, heads, c, ctx, batch, vocab, warmup=1):
    """Speed only, on random tokens: the GPT-2 124M step `foundry bench --gpt2` times."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(1337)
    model = GPT(vocab, ctx, c, layers, heads).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.1)
    g = torch.Generator().manual_seed(5)
    x = torch.randint(vocab, (batch, ctx), generator=g).to(device)
    y = torch.randint(vocab, (batch, ctx), generator=g).to(device)

    def step():
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"tokens_per_sec": steps * batch * ctx / seconds, "ms_per_step": 1000 * seconds / steps, "peak_bytes": peak}


def matmul_gflops(device, n, reps=5):
    """fp32 square product (TF32 off on CUDA): the median of `reps` after a warm-up."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(n, n, generator=g).to(device)
    b = torch.randn(n, n, generator=g).to(device)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2.0 * n ** 3 / times[len(times) // 2] / 1e9


def generate(device, layers, heads, c, vocab, tokens, top_p, prompt_tokens=32, runs=3):
    """Tokens/s and time to first token, each the best of `runs` (as foundry bench and
    Tools/bench_llama2c.sh take theirs)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(7)
    cfg = GPT2Config(vocab_size=vocab, n_positions=max(tokens, prompt_tokens) + 1, n_embd=c, n_layer=layers, n_head=heads,
                     bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).to(device).eval()
    kw = dict(max_new_tokens=tokens, min_new_tokens=tokens, use_cache=True, pad_token_id=0)
    kw.update(dict(do_sample=True, top_p=0.9, temperature=1.0) if top_p else dict(do_sample=False))
    prompt = torch.zeros((1, 1), dtype=torch.long, device=device)
    with torch.no_grad():
        model.generate(prompt, **kw)                 # warm-up
        tps = 0.0
        for _ in range(runs):
            sync(device)
            t0 = time.perf_counter()
            out = model.generate(prompt, **kw)
            sync(device)
            tps = max(tps, (out.shape[1] - 1) / (time.perf_counter() - t0))
        # Time to the first token after a prompt of prompt_tokens tokens (prefill + one pick).
        long_prompt = (torch.arange(prompt_tokens, device=device) % vocab)[None]
        first = dict(kw, max_new_tokens=1, min_new_tokens=1)
        model.generate(long_prompt, **first)
        ttft = float("inf")
        for _ in range(runs):
            sync(device)
            t0 = time.perf_counter()
            model.generate(long_prompt, **first)
            sync(device)
            ttft = min(ttft, 1000 * (time.perf_counter() - t0))
    return tps, ttft


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="bench.json", help="bench.json from `foundry bench` (updated in place)")
    ap.add_argument("--data", default=None, help="training text (default: the one foundry bench used when it is a file)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--generate-tokens", type=int, default=256)
    args = ap.parse_args()
    with open(args.bench) as f:
        bench = json.load(f)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    data = args.data or bench["train"].get("data")
    if not data or not os.path.exists(data):
        raise SystemExit(f"error: no training text (pass --data FILE; bench.json names {data!r})")
    with open(data, encoding="utf-8") as f:
        text = f.read()
    tr = bench["train"]
    p = train(text, args.device, tr["steps"])
    tr["pytorch_tokens_per_sec"], tr["pytorch_ms_per_step"], tr["pytorch_val_loss"] = p["tokens_per_sec"], p["ms_per_step"], p["val_loss"]
    tr["pytorch_threads"] = args.threads if args.device == "cpu" else None
    squares = [r for r in bench.get("matmul", []) if r.get("label") == "square"]
    for r in squares:
        r["pytorch_gflops"] = matmul_gflops(args.device, r["m"])
    bb = bench.get("train_baby")
    if bb:
        b = train(text, args.device, bb["steps"], layers=6, heads=6, c=384, ctx=256, batch=16, warmup=2, eval_tokens=0)
        bb["pytorch_tokens_per_sec"], bb["pytorch_ms_per_step"] = b["tokens_per_sec"], b["ms_per_step"]
    g2 = bench.get("train_gpt2_124m")
    if g2 and "foundry_tokens_per_sec" in g2:
        q = train_random(args.device, 2, 12, 12, 768, 1024, 1, 50257)
        g2["pytorch_tokens_per_sec"], g2["pytorch_ms_per_step"] = q["tokens_per_sec"], q["ms_per_step"]
        g2["pytorch_peak_device_bytes"] = q["peak_bytes"]
    runs = bench["generate"]["runs"]
    measured = {}   # PyTorch generates in float32 once per shape and mode; Foundry's f16 rows share it
    for r in runs:
        key = (r["layers"], r["heads"], r["embd"], r["vocab"], r["mode"])
        if key not in measured:
            measured[key] = generate(args.device, r["layers"], r["heads"], r["embd"], r["vocab"], args.generate_tokens,
                                     r["mode"] == "top_p", r.get("prompt_tokens", 32))
        r["pytorch_tokens_per_sec"], r["pytorch_first_token_ms"] = measured[key]
    bench["generate"]["pytorch_tokens_per_sec"] = runs[0]["pytorch_tokens_per_sec"]
    bench["peer"] = f"torch {torch.__version__} on {args.device}" + (f", {args.threads} threads" if args.device == "cpu" else ", TF32 off")
    tmp = args.bench + ".tmp"
    with open(tmp, "w") as f:
        json.dump(bench, f, indent=2, sort_keys=True)
    os.replace(tmp, args.bench)

    print(f"\n## Foundry vs {bench['peer']} (same settings, same run)")
    print(f"training (nanoGPT CPU settings, {tr['steps']} steps): foundry {tr['foundry_tokens_per_sec']:.0f} tok/s, "
          f"pytorch {p['tokens_per_sec']:.0f} tok/s, ratio {tr['foundry_tokens_per_sec'] / p['tokens_per_sec']:.2f}x; "
          f"val loss foundry {tr['val_loss']:.4f}, pytorch {p['val_loss']:.4f}")
    if bb:
        print(f"training (baby GPT, 6 x 384, context 256, batch 16, {bb['steps']} steps): foundry {bb['foundry_tokens_per_sec']:.0f} tok/s, "
              f"pytorch {bb['pytorch_tokens_per_sec']:.0f} tok/s, ratio {bb['foundry_tokens_per_sec'] / bb['pytorch_tokens_per_sec']:.2f}x")
    if g2 and "pytorch_tokens_per_sec" in g2:
        peak = g2.get("peak_device_bytes")
        print(f"training GPT-2 124M (batch 1, context 1024): foundry {g2['foundry_tokens_per_sec']:.0f} tok/s, "
              f"pytorch {g2['pytorch_tokens_per_sec']:.0f} tok/s, ratio {g2['foundry_tokens_per_sec'] / g2['pytorch_tokens_per_sec']:.2f}x"
              + (f"; foundry peak device memory {peak / 2**30:.2f} GiB" if peak else "")
              + (f", pytorch {q['peak_bytes'] / 2**30:.2f} GiB" if q.get("peak_bytes") else ""))
    for r in squares:
        print(f"matmul {r['m']}^3 fp32: foundry {r['foundry_gflops']:.0f} GFLOP/s, pytorch {r['pytorch_gflops']:.0f} GFLOP/s, "
              f"ratio {r['foundry_gflops'] / r['pytorch_gflops']:.2f}x")
    for r in runs:
        print(f"generation {r['model']:10s} {r['mode']:6s} {r.get('weights', 'f32')}: foundry {r['foundry_tokens_per_sec']:.0f} tok/s, "
              f"pytorch {r['pytorch_tokens_per_sec']:.0f} tok/s, ratio {r['foundry_tokens_per_sec'] / r['pytorch_tokens_per_sec']:.2f}x; "
              f"first token {r.get('first_token_ms', float('nan')):.1f} / {r['pytorch_first_token_ms']:.1f} ms")
    print(f"updated {args.bench}")


if __name__ == "__main__":
    main()
