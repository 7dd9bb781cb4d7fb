#!/usr/bin/env python3
"""Make the small GPT-2 fixtures that Foundry's tests check against.

Run from anywhere (needs the packages in Tools/requirements.txt):

    /work/venv/bin/python Tools/make_fixtures.py            # gpt2-tiny with the defaults
    /work/venv/bin/python Tools/make_fixtures.py --embd 48 --heads 4 --name gpt2-other

It writes into <out>/<name>/ (default Tests/FoundryTests/Fixtures/gpt2-tiny/):

  config.json, model.safetensors  GPT2LMHeadModel.save_pretrained(safe_serialization=True), float32.
  tokens.json                     [batch][seq] token ids in [0, vocab).
  expected.safetensors            float64 reference (the saved float32 weights converted to float64),
                                  stored as float32:
                                    logits        [batch, seq, vocab]
                                    loss          [1]  mean next-token cross-entropy over
                                                       batch x (seq-1) positions (labels = input ids)
                                    grad.<name>   d loss / d tensor, for every tensor in model.safetensors
                                                  (the tied embedding's gradient, both uses summed, is
                                                  stored under the embedding's name in the file).
  trajectory.json                 {"lr", "weight_decay", "betas", "eps", "losses": [10]}: torch.optim.AdamW
                                  on that one batch in float64, the loss before each step's update.
  trajectory_final.safetensors    the weights after those 10 steps (float64, stored as float32), under
                                  model.safetensors' names: the weight decay (0.5, so that lr x wd moves
                                  a LayerNorm weight of 1 by 5e-4 a step) is visible in them, where the
                                  losses alone barely feel it.

Tensor names that model.safetensors ends up with (transformers 5.x, tie_word_embeddings=True; lm_head.weight
is not stored because it is tied to transformer.wte.weight), for n_layer = 2:

    transformer.wte.weight                 [vocab, embd]
    transformer.wpe.weight                 [positions, embd]
    transformer.h.{i}.ln_1.weight          [embd]
    transformer.h.{i}.ln_1.bias            [embd]
    transformer.h.{i}.attn.c_attn.weight   [embd, 3*embd]   (Conv1D: stored as [in, out])
    transformer.h.{i}.attn.c_attn.bias     [3*embd]
    transformer.h.{i}.attn.c_proj.weight   [embd, embd]
    transformer.h.{i}.attn.c_proj.bias     [embd]
    transformer.h.{i}.ln_2.weight          [embd]
    transformer.h.{i}.ln_2.bias            [embd]
    transformer.h.{i}.mlp.c_fc.weight      [embd, 4*embd]
    transformer.h.{i}.mlp.c_fc.bias        [4*embd]
    transformer.h.{i}.mlp.c_proj.weight    [4*embd, embd]
    transformer.h.{i}.mlp.c_proj.bias      [embd]
    transformer.ln_f.weight                [embd]
    transformer.ln_f.bias                  [embd]

The script prints the names it actually found, with shapes, so a change in transformers shows up.
"""

import argparse
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

LR = 1e-3
WEIGHT_DECAY = 0.5
BETAS = (0.9, 0.999)
EPS = 1e-8
STEPS = 10


def next_token_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of predicting ids[:, t+1] from position t, in the logits' own precision.

    (transformers' built-in loss upcasts/downcasts logits to float32, so it is computed here directly.)
    """
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1, :].reshape(-1, vocab), ids[:, 1:].reshape(-1))


def main() -> None:
    repo_root = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=53)
    p.add_argument("--positions", type=int, default=19)
    p.add_argument("--embd", type=int, default=36)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--seq", type=int, default=11)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out", type=Path, default=repo_root / "Tests" / "FoundryTests" / "Fixtures",
                   help="folder that receives <name>/ (default: Tests/FoundryTests/Fixtures)")
    p.add_argument("--name", default="gpt2-tiny", help="subfolder name (default: gpt2-tiny)")
    args = p.parse_args()

    if args.embd % args.heads != 0:
        p.error(f"--embd {args.embd} must be divisible by --heads {args.heads}")
    if args.seq > args.positions:
        p.error(f"--seq {args.seq} must be at most --positions {args.positions}")
    if args.seq < 2:
        p.error("--seq must be at least 2 (the loss needs a next token)")

    out_dir = args.out / args.name
    out_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    # ---- model: default init, then LayerNorm weights and all biases randomised so every path matters.
    config = GPT2Config(
        vocab_size=args.vocab, n_positions=args.positions, n_embd=args.embd, n_layer=args.layers,
        n_head=args.heads, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        # GPT2Config defaults these to 50256, outside a small vocabulary; use the last id instead.
        bos_token_id=args.vocab - 1, eos_token_id=args.vocab - 1,
    )
    model = GPT2LMHeadModel(config).float()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1.0 + 0.1 * torch.randn_like(module.weight))
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                param.copy_(0.05 * torch.randn_like(param))
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr(), "embedding not tied"

    model.save_pretrained(out_dir, safe_serialization=True)

    # ---- what the file holds
    model_file = out_dir / "model.safetensors"
    with safe_open(str(model_file), framework="pt") as f:
        file_names = list(f.keys())
        file_meta = f.metadata()
        file_tensors = {n: f.get_tensor(n) for n in file_names}
    print(f"{model_file}: metadata {file_meta}")
    print(f"tensors in model.safetensors ({len(file_names)}):")
    for n in file_names:
        print(f"  {n:40s} {list(file_tensors[n].shape)} {file_tensors[n].dtype}")

    # ---- reload check: nothing missing or unexpected, identical weights
    reloaded, info = GPT2LMHeadModel.from_pretrained(out_dir, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"reload reported problems: {problems}")
    ref_state = model.state_dict()
    for n, t in reloaded.state_dict().items():
        if n in ref_state and not torch.equal(t, ref_state[n]):
            raise SystemExit(f"reloaded tensor {n} differs from the saved one")
    print(f"reload check: ok ({info})")

    # ---- tokens
    gen = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    (out_dir / "tokens.json").write_text(json.dumps(ids.tolist()) + "\n")

    # ---- float64 reference: the saved float32 weights, converted exactly
    model = model.double()
    model.eval()  # all dropouts are 0 anyway
    name_of_param = {}
    params = dict(model.named_parameters())
    for n in file_names:
        if n not in params:
            raise SystemExit(f"tensor {n} in model.safetensors is not a parameter of the model")
        name_of_param[n] = params[n]

    model.zero_grad(set_to_none=True)
    logits = model(ids).logits
    loss = next_token_loss(logits, ids)
    hf_loss = model(ids, labels=ids).loss  # float32 inside transformers: only a sanity check
    assert abs(hf_loss.item() - loss.item()) < 1e-4, (hf_loss.item(), loss.item())
    loss.backward()

    expected = {
        "logits": logits.detach().float().contiguous(),
        "loss": loss.detach().float().reshape(1).contiguous(),
    }
    for n in file_names:
        g = name_of_param[n].grad
        if g is None:
            raise SystemExit(f"no gradient for {n}")
        expected[f"grad.{n}"] = g.detach().float().contiguous()
    save_file(expected, str(out_dir / "expected.safetensors"), metadata={"format": "pt"})
    print(f"loss (float64) = {loss.item():.10f}")

    # ---- AdamW trajectory, float64, from the same weights, same batch
    model.zero_grad(set_to_none=True)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        step_loss = next_token_loss(model(ids).logits, ids)
        losses.append(step_loss.item())
        step_loss.backward()
        opt.step()
    trajectory = {"lr": LR, "weight_decay": WEIGHT_DECAY, "betas": list(BETAS), "eps": EPS, "losses": losses}
    (out_dir / "trajectory.json").write_text(json.dumps(trajectory, indent=1) + "\n")
    final = {n: name_of_param[n].detach().float().contiguous() for n in file_names}
    save_file(final, str(out_dir / "trajectory_final.safetensors"), metadata={"format": "pt"})
    print(f"trajectory losses: {losses}")

    total = 0
    for fpath in sorted(out_dir.iterdir()):
        size = fpath.stat().st_size
        total += size
        print(f"  {fpath.name:24s} {size:8d} bytes")
    print(f"  total {total} bytes in {out_dir}")


if __name__ == "__main__":
    main()
