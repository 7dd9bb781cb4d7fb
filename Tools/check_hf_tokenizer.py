#!/usr/bin/env python3
"""Check that transformers reads a Foundry checkpoint's tokenizer as Foundry does.

    /work/venv/bin/python Tools/check_hf_tokenizer.py MODEL_DIR [path/to/foundry]

For the checkpoint's tokenizer (char-level or BPE), through AutoTokenizer.from_pretrained:
the token ids of a set of texts equal `foundry tokenizer encode`'s, decode() gives the text back,
apply_chat_template(..., add_generation_prompt=True) gives the ids Foundry's chat format gives,
and (for a chat-finetuned model) greedy generation through transformers gives the reply of
`foundry sample --chat --temperature 0`. Exits 1 on the first difference.
"""
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

model_dir = sys.argv[1]
foundry = sys.argv[2] if len(sys.argv) > 2 else ".build/release/foundry"


def foundry_ids(text):
    out = subprocess.run([foundry, "tokenizer", "encode", "--tokenizer", model_dir, "--text", text],
                         capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.splitlines()[0].split()]


tok = AutoTokenizer.from_pretrained(model_dir)
failures = 0
texts = ["Which is larger: 41 or 14?", "hello world", "  two  spaces ", "What is 814+26?", "a,b.c!"]
for text in texts:
    try:
        want = foundry_ids(text)
    except subprocess.CalledProcessError:
        continue  # a character outside the vocabulary: Foundry refuses it, transformers drops it
    got = tok.encode(text)
    if got != want:
        print(f"DIFFER encode {text!r}: transformers {got} foundry {want}")
        failures += 1
    if tok.decode(got) != text:
        print(f"DIFFER decode {text!r}: {tok.decode(got)!r}")
        failures += 1
rendered = tok.apply_chat_template([{"role": "user", "content": "Which is larger: 41 or 14?"}], add_generation_prompt=True, tokenize=False)
if rendered != "<|user|>Which is larger: 41 or 14?<|assistant|>":
    print(f"DIFFER chat template text: {rendered!r}")
    failures += 1
chat = tok(rendered, add_special_tokens=False)["input_ids"]
want = foundry_ids("<|user|>Which is larger: 41 or 14?<|assistant|>")
if list(chat) != want:
    print(f"DIFFER chat template ids: transformers {list(chat)} foundry {want}")
    failures += 1
model = AutoModelForCausalLM.from_pretrained(model_dir)
with torch.no_grad():
    room = min(8, model.config.n_positions - len(want))
    out = model.generate(torch.tensor([want]), max_new_tokens=room, do_sample=False, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.eos_token_id)
reply_ids = out[0][len(want):].tolist()
if tok.eos_token_id in reply_ids:   # Foundry stops before end-of-text and does not print it
    reply_ids = reply_ids[:reply_ids.index(tok.eos_token_id)]
hf_reply = tok.decode(reply_ids)
fo_reply = subprocess.run([foundry, "sample", "--model", model_dir, "--chat", "--prompt", "Which is larger: 41 or 14?",
                           "--temperature", "0", "--max-tokens", str(room), "--backend", "cpu"],
                          capture_output=True, text=True, check=True).stdout.rstrip("\n")
if hf_reply != fo_reply:
    print(f"DIFFER greedy reply: transformers {hf_reply!r} foundry {fo_reply!r}")
    failures += 1
print(f"{model_dir}: {'OK' if failures == 0 else f'{failures} differences'} "
      f"({len(texts)} texts, chat template, greedy reply {fo_reply!r})")
sys.exit(1 if failures else 0)
