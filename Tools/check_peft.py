#!/usr/bin/env python3
"""Foundry's LoRA adapters and the `peft` package, both ways.

    python Tools/check_peft.py --foundry .build/debug/foundry [--backend cpu]

1. Foundry → peft: a small model (`foundry pretrain`, a few steps on the built-in corpus) is
   finetuned with `foundry sft --lora-rank 4`; `PeftModel.from_pretrained(base, out/adapter)`
   must give the logits of the merged model Foundry saved in `out` (loaded by transformers), and
   `merge_and_unload()` the same weights.
2. peft → Foundry: peft makes a rank-4 adapter on the same base (B randomised, so it is not a
   no-op) and saves it; `foundry sft --init-from that --lr 0 --max-steps 1` must save a merged
   model with peft's merged logits, and write the adapter back unchanged.

Exit status 0 when all hold, 1 otherwise.
"""
import argparse, json, os, subprocess, sys, tempfile

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import GPT2LMHeadModel
from transformers.utils import logging as hf_logging

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--foundry", default=".build/debug/foundry")
    ap.add_argument("--backend", default="cpu")
    args = ap.parse_args()
    f, b = args.foundry, ["--backend", args.backend]
    work = tempfile.mkdtemp(prefix="foundry-peft-")
    base = os.path.join(work, "base")
    run([f, "pretrain", "--out", base, "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "64",
         "--batch", "4", "--eval-every", "0"] + b)
    data = os.path.join(work, "sft.jsonl")
    with open(data, "w") as out:
        for i in range(24):
            out.write(json.dumps({"prompt": f"the king {i % 7}", "completion": f" is {'good' if i % 2 else 'old'}."}) + "\n")
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    torch.manual_seed(0)

    # 1. Foundry's adapter in peft.
    tuned = os.path.join(work, "lora")
    run([f, "sft", "--model", base, "--data", data, "--out", tuned, "--lora-rank", "4", "--lora-alpha", "8", "--lr", "3e-2",
         "--max-steps", "12", "--batch", "8"] + b)
    config = json.load(open(os.path.join(tuned, "adapter", "adapter_config.json")))
    check(config["r"] == 4 and config["lora_alpha"] == 8 and config["fan_in_fan_out"], f"adapter_config.json: r {config['r']}, alpha {config['lora_alpha']}")
    merged = GPT2LMHeadModel.from_pretrained(tuned).eval()
    plain = GPT2LMHeadModel.from_pretrained(base).eval()
    with_adapter = PeftModel.from_pretrained(GPT2LMHeadModel.from_pretrained(base), os.path.join(tuned, "adapter")).eval()
    moved = (logits(merged, ids) - logits(plain, ids)).abs().max().item()
    err = (logits(with_adapter, ids) - logits(merged, ids)).abs().max().item()
    check(moved > 1e-3, f"the LoRA SFT changed the model (logits moved by up to {moved:.3g})")
    check(err < 1e-4, f"peft's base + Foundry's adapter = Foundry's merged model (max logit difference {err:.2e})")
    unloaded = with_adapter.merge_and_unload()
    werr = max((unloaded.state_dict()[k] - v).abs().max().item() for k, v in merged.state_dict().items() if k in unloaded.state_dict())
    check(werr < 1e-5, f"merge_and_unload() gives Foundry's merged weights (max difference {werr:.2e})")

    # 2. peft's adapter in Foundry.
    fresh = get_peft_model(GPT2LMHeadModel.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True, lora_dropout=0.0))
    with torch.no_grad():
        for name, p in fresh.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.05)
    peft_dir = os.path.join(work, "peft_adapter")
    fresh.save_pretrained(peft_dir)
    fresh.eval()
    want = logits(fresh, ids)
    carried = os.path.join(work, "carried")
    run([f, "sft", "--model", base, "--data", data, "--out", carried, "--lora-rank", "4", "--lora-alpha", "8",
         "--init-from", peft_dir, "--lr", "0", "--max-steps", "1", "--batch", "8"] + b)
    got = logits(GPT2LMHeadModel.from_pretrained(carried).eval(), ids)
    err = (got - want).abs().max().item()
    check(err < 1e-4, f"Foundry's merged model from peft's adapter = peft's model (max logit difference {err:.2e})")
    again = PeftModel.from_pretrained(GPT2LMHeadModel.from_pretrained(base), os.path.join(carried, "adapter")).eval()
    err = (logits(again, ids) - want).abs().max().item()
    check(err < 1e-4, f"the adapter Foundry wrote back loads in peft with the same logits ({err:.2e})")

    print("OK" if not failures else f"{len(failures)} FAILED")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
