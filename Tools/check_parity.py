#!/usr/bin/env python3
"""Cross-check Foundry against PyTorch + transformers on GPT-2s of sizes the tests never use,
on both backends, and check that transformers loads a Foundry checkpoint and computes the same
logits.

    python3 -m venv ~/venv && ~/venv/bin/pip install -r Tools/requirements.txt
    ~/venv/bin/python Tools/check_parity.py [--foundry .build/release/foundry] [--checkpoint runs/shakespeare]

Tolerances are the test suite's: logits 1e-4, loss 1e-5, gradients 1e-3 relative to each tensor's
scale, the 10-step AdamW trajectory 1e-3.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import GPT2LMHeadModel

HERE = Path(__file__).resolve().parent
SIZES = [  # vocab, positions, embd, layers, heads, batch, seq
    (97, 37, 48, 3, 4, 2, 29),
    (211, 23, 60, 1, 5, 4, 23),
    (31, 70, 40, 4, 8, 1, 64),
]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stderr}")
    return r.stdout


def check_size(foundry, size, work, failures):
    vocab, positions, embd, layers, heads, batch, seq = size
    name = f"gpt2-v{vocab}-p{positions}-e{embd}-l{layers}-h{heads}"
    run([sys.executable, HERE / "make_fixtures.py", "--vocab", str(vocab), "--positions", str(positions), "--embd", str(embd),
         "--layers", str(layers), "--heads", str(heads), "--batch", str(batch), "--seq", str(seq), "--out", work, "--name", name])
    model = work / name
    want = load_file(model / "expected.safetensors")
    traj = json.loads((model / "trajectory.json").read_text())
    for backend in ["cpu", "opencl"]:
        out = work / f"{name}-{backend}.safetensors"
        run([foundry, "forward", "--model", model, "--tokens", model / "tokens.json", "--out", out, "--grads", "--backend", backend])
        got = load_file(out)
        logit_err = float(np.abs(got["logits"] - want["logits"]).max())
        loss_err = float(abs(got["loss"][0] - want["loss"][0]))
        grad_err = max(float(np.abs(got[k] - want[k]).max() / max(np.abs(want[k]).max(), 1e-8))
                       for k in want if k.startswith("grad."))
        lines = run([foundry, "overfit", "--model", model, "--tokens", model / "tokens.json", "--steps", "10",
                     "--lr", str(traj["lr"]), "--weight-decay", str(traj["weight_decay"]), "--backend", backend]).split("\n")
        losses = [json.loads(l)["loss"] for l in lines if l.strip()]
        traj_err = max(abs(a - b) for a, b in zip(losses, traj["losses"]))
        ok = logit_err < 1e-4 and loss_err < 1e-5 and grad_err < 1e-3 and traj_err < 1e-3 and len(losses) == 10
        print(f"{name:34} {backend:6} logits {logit_err:.1e}  loss {loss_err:.1e}  grads {grad_err:.1e}  "
              f"10-step {traj_err:.1e}  {'pass' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{name} {backend}")


def check_checkpoint(foundry, ckpt, work, failures):
    """transformers loads what Foundry saved and computes the same logits."""
    hf = GPT2LMHeadModel.from_pretrained(ckpt).eval()
    cfg = hf.config
    torch.manual_seed(0)
    tokens = torch.randint(0, cfg.vocab_size, (2, min(cfg.n_positions, 32)))
    (work / "ckpt_tokens.json").write_text(json.dumps(tokens.tolist()))
    with torch.no_grad():
        ref = hf(tokens).logits.numpy()
    for backend in ["cpu", "opencl"]:
        out = work / f"ckpt-{backend}.safetensors"
        run([foundry, "forward", "--model", ckpt, "--tokens", work / "ckpt_tokens.json", "--out", out, "--backend", backend])
        err = float(np.abs(load_file(out)["logits"] - ref).max())
        ok = err < 1e-3
        print(f"transformers loads {ckpt} ({backend}): max logit difference {err:.1e}  {'pass' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"checkpoint {backend}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--foundry", default=str(HERE.parent / ".build" / "release" / "foundry"))
    ap.add_argument("--checkpoint", help="a Foundry checkpoint directory to load in transformers")
    args = ap.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for size in SIZES:
            check_size(args.foundry, size, work, failures)
        if args.checkpoint:
            check_checkpoint(args.foundry, args.checkpoint, work, failures)
    print(f"{'all checks pass' if not failures else 'FAILED: ' + ', '.join(failures)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
