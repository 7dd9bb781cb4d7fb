#!/usr/bin/env python3
"""Read a GGUF file Foundry wrote back with the `gguf` package and compare it with the model.

    /work/venv/bin/python Tools/check_gguf.py model.gguf MODEL_DIR

Every tensor must equal the checkpoint's (Conv1D matrices transposed to [out, in], as llama.cpp
expects; F16 files within F16 rounding), the GPT-2 metadata must be complete and match
config.json, and the token list must hold the tokenizer's vocabulary. Exits 1 on a difference.
"""
import json, sys

import numpy as np
from gguf import GGUFReader
from safetensors.numpy import load_file

path, model_dir = sys.argv[1], sys.argv[2]
r = GGUFReader(path)
cfg = json.load(open(f"{model_dir}/config.json"))
st = {k.removeprefix("transformer."): v for k, v in load_file(f"{model_dir}/model.safetensors").items()}
failures = []


def field(name):
    f = r.fields.get(name)
    if f is None:
        failures.append(f"missing metadata {name}")
        return None
    if f.types and f.types[0].name == "STRING":
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    if f.types and f.types[0].name == "ARRAY":
        return len(f.data)
    return f.parts[f.data[0]][0]


C, L, V, T = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]
for key, want in [("general.architecture", "gpt2"), ("gpt2.embedding_length", C), ("gpt2.block_count", L), ("gpt2.context_length", T),
                  ("gpt2.feed_forward_length", 4 * C), ("gpt2.attention.head_count", cfg["n_head"]), ("tokenizer.ggml.model", "gpt2"),
                  ("tokenizer.ggml.tokens", V), ("tokenizer.ggml.token_type", V)]:
    got = field(key)
    if got is not None and got != want:
        failures.append(f"{key}: {got} (want {want})")
for key in ["gpt2.attention.layer_norm_epsilon", "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.pre"]:
    field(key)

want = {"token_embd.weight": st["wte.weight"], "position_embd.weight": st["wpe.weight"], "output.weight": st["wte.weight"],
        "output_norm.weight": st["ln_f.weight"], "output_norm.bias": st["ln_f.bias"]}
names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
for l in range(L):
    for hf, gg in names.items():
        w, b = st[f"h.{l}.{hf}.weight"], st[f"h.{l}.{hf}.bias"]
        want[f"blk.{l}.{gg}.weight"] = w if hf.startswith("ln") else w.T
        want[f"blk.{l}.{gg}.bias"] = b
seen = set()
for t in r.tensors:
    seen.add(t.name)
    if t.name not in want:
        failures.append(f"unexpected tensor {t.name}")
        continue
    expected = want[t.name].astype(np.float32)
    if list(t.shape) != list(reversed(expected.shape)):   # ggml lists dimensions innermost first
        failures.append(f"{t.name}: shape {list(t.shape)} (want {list(reversed(expected.shape))})")
    got = np.asarray(t.data, dtype=np.float32).reshape(expected.shape)
    tol = 1e-3 * max(1.0, float(np.abs(expected).max())) if t.tensor_type.name == "F16" else 0.0
    err = float(np.abs(got - expected).max()) if expected.size else 0.0
    if err > tol:
        failures.append(f"{t.name}: max difference {err} ({t.tensor_type.name})")
missing = set(want) - seen
if missing:
    failures.append(f"missing tensors {sorted(missing)[:5]}")
for f in failures:
    print("DIFFER", f)
print(f"{path}: {'OK' if not failures else f'{len(failures)} differences'} ({len(r.tensors)} tensors, {len(r.fields)} metadata fields)")
sys.exit(1 if failures else 0)
