#!/usr/bin/env bash
# Reward model on real human comparisons: Anthropic HH (harmless-base test split, 2,312 pairs).
# Pretrains a small byte-level-BPE GPT on the transcripts' text, then trains a Bradley–Terry
# reward model on 90% of the pairs and reports pairwise accuracy on the held-out 10%.
#   Tools/hh-reward.sh [path/to/hh-rlhf-harmless-base-test.jsonl.gz] [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/hh-rlhf-harmless-base-test.jsonl.gz}"
out="${2:-runs/hh}"
bin=".build/release/foundry"
[ -f "$data" ] || { echo "no HH data at $data" >&2; exit 2; }
[ -x "$bin" ] || swift build -c release
mkdir -p "$out"
gzip -dc "$data" > "$out/hh-text.txt"        # the raw transcripts are the pretraining text
"$bin" pretrain --data "$out/hh-text.txt" --tokenizer bpe --vocab-size 1024 --out "$out/pretrained" \
    --layers 4 --heads 4 --embd 128 --context 256 --batch 8 --steps 300 --warmup 30 --eval-every 150 --log-every 50
"$bin" reward --model "$out/pretrained" --data "$data" --out "$out/reward" --epochs 1 --batch 16 --eval-fraction 0.1
