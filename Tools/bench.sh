#!/usr/bin/env bash
# Foundry's benchmark with PyTorch beside it, in one run:
#   Tools/bench.sh [foundry bench options...]
# Environment: FOUNDRY (the binary; default .build/release/foundry), PYTHON (an interpreter with
# torch and transformers; default python3), OUT (default bench.json), TORCH_DEVICE (cpu|cuda).
# Without PyTorch it says so and reports Foundry alone.
set -euo pipefail
cd "$(dirname "$0")/.."
FOUNDRY=${FOUNDRY:-.build/release/foundry}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-bench.json}
if [ ! -x "$FOUNDRY" ]; then
    echo "error: $FOUNDRY not found: build it with 'swift build -c release' (or set FOUNDRY=path)" >&2
    exit 1
fi
"$FOUNDRY" bench --out "$OUT" "$@"
if "$PYTHON" -c "import torch, transformers" 2>/dev/null; then
    "$PYTHON" Tools/bench_pytorch.py --bench "$OUT" --device "${TORCH_DEVICE:-cpu}"
else
    echo "PyTorch/transformers not importable by $PYTHON: skipping the peer (python3 -m venv venv && venv/bin/pip install -r Tools/requirements.txt, then PYTHON=venv/bin/python)"
fi
