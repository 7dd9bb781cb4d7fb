#!/usr/bin/env python3
"""A stock-GPT-2-vocabulary model through Foundry and back into transformers.

    /work/venv/bin/python Tools/check_stock_gpt2.py [--size small|124m] [--dtype f32|f16|bf16] [--lora-rank R]
        [--backend opencl|cpu] [--foundry .build/release/foundry] --data task/sft.jsonl

Makes a GPT-2 with transformers (random weights; `small`: 2 layers × 64, `124m`: GPT-2's own
shapes; saved in F32, F16 or BF16) and OpenAI's GPT-2 tokenizer (built from the tiktoken rank file of the openai-whisper
package, as Tools/check_gpt2_vocab.py fetches it), saves it with save_pretrained, runs
`foundry sft` on it (Foundry adds its chat tokens and grows the embedding; all parameters, or LoRA
adapters), samples a chat reply from the result with `foundry sample --chat`, then loads the result
in transformers and compares its logits with `foundry forward`'s on the same tokens. Prints the
SFT's time per step. Exits 1 when the logits differ by more than 1e-4 (relative to their scale).
"""
import argparse, importlib.util, json, os, subprocess, sys, tempfile, time

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import GPT2Config, GPT2LMHeadModel

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("vocab", os.path.join(here, "check_gpt2_vocab.py"))

ap = argparse.ArgumentParser()
ap.add_argument("--size", default="small", choices=["small", "124m"])
ap.add_argument("--foundry", default=".build/release/foundry")
ap.add_argument("--data", required=True, help="SFT rows (e.g. a pipeline run's task/sft.jsonl)")
ap.add_argument("--tiktoken")
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--backend", default="opencl")
ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"], help="the dtype transformers saves the base model in")
ap.add_argument("--lora-rank", type=int, default=0, help="finetune LoRA adapters of this rank instead of every parameter")
a = ap.parse_args()
tmp = tempfile.mkdtemp()

# GPT-2's tokenizer files, derived from the rank file (the helpers of check_gpt2_vocab.py).
src = open(os.path.join(here, "check_gpt2_vocab.py")).read().replace("\nmain()\n", "\n")
ns = {"__file__": os.path.join(here, "check_gpt2_vocab.py")}
exec(compile(src, "check_gpt2_vocab.py", "exec"), ns)
import base64
try:
    rank_file = a.tiktoken or ns["fetch_rank_file"](tmp)
except Exception as e:   # no network, or PyPI changed: say so (status 2 = skipped)
    print(f"skipped: could not fetch GPT-2's rank file from the openai-whisper package ({e})")
    sys.exit(2)
ranks = {}
for line in open(rank_file, "rb").read().splitlines():
    if line:
        t, r = line.split(); ranks[base64.b64decode(t)] = int(r)
bu = ns["byte_unicode"](); text = lambda b: "".join(bu[x] for x in b)
vocab = {text(t): r for t, r in ranks.items()}; vocab["<|endoftext|>"] = 50256
merges = [" ".join(text(p) for p in ns["bpe"](ranks, t, r)) for t, r in sorted(ranks.items(), key=lambda kv: kv[1]) if len(t) > 1]
tokdir = os.path.join(tmp, "tok"); os.makedirs(tokdir)
json.dump(vocab, open(os.path.join(tokdir, "vocab.json"), "w"), ensure_ascii=False)
open(os.path.join(tokdir, "merges.txt"), "w").write("#version: 0.2\n" + "\n".join(merges) + "\n")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
core = Tokenizer(models.BPE(vocab, [tuple(m.split(" ")) for m in merges]))
core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
core.decoder = decoders.ByteLevel()
core.add_special_tokens(["<|endoftext|>"])
tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
assert tok.encode("Hello world") == [15496, 995], tok.encode("Hello world")   # GPT-2's ids

shapes = dict(n_layer=2, n_head=2, n_embd=64, n_positions=128) if a.size == "small" else dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024)
torch.manual_seed(0)
model = GPT2LMHeadModel(GPT2Config(vocab_size=50257, **shapes))
base = os.path.join(tmp, "base")
model = model.to({"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype])
model.save_pretrained(base, safe_serialization=True); tok.save_pretrained(base)

out = os.path.join(tmp, "sft")
t0 = time.time()
r = subprocess.run([a.foundry, "sft", "--model", base, "--data", a.data, "--out", out, "--max-steps", str(a.steps), "--batch", "8",
                    "--backend", a.backend, "--lora-rank", str(a.lora_rank)], capture_output=True, text=True)
print(r.stdout[-600:]); print(r.stderr[-600:], file=sys.stderr)
if r.returncode != 0:
    sys.exit(1)
print(f"foundry sft{' (LoRA rank %d)' % a.lora_rank if a.lora_rank else ''}, {a.size}: {a.steps} steps in {time.time() - t0:.1f} s (load, chat tokens, steps, save)")

# Sampling from the finetuned model (its answers are noise: the weights are random).
t0 = time.time()
r = subprocess.run([a.foundry, "sample", "--model", out, "--chat", "--prompt", "Which is larger: 41 or 14?", "--max-tokens", "16",
                    "--temperature", "0", "--backend", a.backend], capture_output=True, text=True)
if r.returncode != 0:
    print(r.stderr[-600:], file=sys.stderr); sys.exit(1)
print(f"foundry sample --chat, 16 tokens greedy: {time.time() - t0:.1f} s with loading; {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")

# The finetuned model in transformers against foundry forward, on a chat prompt.
hf = GPT2LMHeadModel.from_pretrained(out).eval()
ids = subprocess.run([a.foundry, "tokenizer", "encode", "--tokenizer", out, "--text", "<|user|>Which is larger: 41 or 14?<|assistant|>41"],
                     capture_output=True, text=True, check=True).stdout.splitlines()[0].split()
ids = [int(x) for x in ids]
tokens = os.path.join(tmp, "tokens.json"); json.dump([ids], open(tokens, "w"))
fwd = os.path.join(tmp, "forward.safetensors")
subprocess.run([a.foundry, "forward", "--model", out, "--tokens", tokens, "--out", fwd, "--backend", "cpu"], check=True, capture_output=True)
foundry_logits = load_file(fwd)["logits"][0]
with torch.no_grad():
    hf_logits = hf(torch.tensor([ids])).logits[0].numpy()
err = float(np.abs(foundry_logits - hf_logits).max()) / max(1.0, float(np.abs(hf_logits).max()))
cfg = json.load(open(os.path.join(out, "config.json")))
print(f"vocabulary {cfg['vocab_size']} (50257 + chat tokens); {len(ids)} tokens; logits max relative difference {err:.2e}")
sys.exit(0 if err < 1e-4 and cfg["vocab_size"] == 50259 else 1)
