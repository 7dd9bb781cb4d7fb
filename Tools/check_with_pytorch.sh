#!/usr/bin/env bash
# The Tools checks that need PyTorch + transformers (+ peft, gguf), on a small chat model made
# here: transformers reads its tokenizer and chat template as Foundry does and generates
# Foundry's greedy reply; its GGUF export reads back equal; a stock-GPT-2-vocabulary model made
# by transformers goes through `foundry sft` (chat tokens added) and back with equal logits;
# LoRA adapters go both ways with peft.
#
#   Tools/check_with_pytorch.sh PYTHON FOUNDRY        (.ci/run: a venv's python, .build/debug/foundry)
set -euo pipefail
py=$1; foundry=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$foundry" data synth --task compare --out "$work/task" --sft 400 --prefs 16 --rl 16 --eval 16 --corpus-chars 60000 >/dev/null
"$foundry" pretrain --data "$work/task/pretrain.txt" --out "$work/base" --steps 60 --layers 2 --heads 2 --embd 32 --context 48 \
    --batch 8 --eval-every 0 --backend cpu >/dev/null
"$foundry" sft --model "$work/base" --data "$work/task/sft.jsonl" --out "$work/sft" --max-steps 30 --backend cpu >/dev/null
echo "== transformers reads the tokenizer and chat template (check_hf_tokenizer.py)"
"$py" "$here/check_hf_tokenizer.py" "$work/sft" "$foundry"
echo "== GGUF export read back (check_gguf.py)"
"$foundry" export --format gguf --model "$work/sft" --out "$work/sft.gguf" >/dev/null
"$py" "$here/check_gguf.py" "$work/sft.gguf" "$work/sft"
echo "== a stock-GPT-2-vocabulary model through foundry sft and back (check_stock_gpt2.py)"
status=0
"$py" "$here/check_stock_gpt2.py" --size small --foundry "$foundry" --data "$work/task/sft.jsonl" --backend cpu || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 2 ] || { echo "check_stock_gpt2.py failed ($status)"; exit "$status"; }   # 2: no vocabulary to fetch
echo "== LoRA adapters with peft (check_peft.py)"
"$py" "$here/check_peft.py" --foundry "$foundry"
