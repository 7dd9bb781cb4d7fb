#!/usr/bin/env bash
# Data-parallel scaling on one machine: tokens/s of 1 process with one PoCL thread against 2
# ranks (mpirun) with one thread each, on the nanoGPT CPU settings (4 layers × 128, context 64,
# global batch 12), and the share of the 2-rank run spent in the gradients' all-reduce.
# Efficiency = (2-rank tokens/s ÷ 1-process tokens/s) ÷ 2. Writes bench-distributed.json.
#
#   Tools/bench_distributed.sh [FOUNDRY] [STEPS]      (default .build/release/foundry, 200)
set -euo pipefail
foundry=${1:-.build/release/foundry}; steps=${2:-200}
command -v mpirun >/dev/null || { echo "mpirun is not installed (Debian: apt-get install openmpi-bin)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 POCL_MAX_PTHREAD_COUNT=1 POCL_AFFINITY=0
args=(pretrain --steps "$steps" --eval-every 0 --save-every 0 --log-every 100000 --backend opencl)
rate() { sed -n 's/.*steps in [0-9.]* s, \([0-9]*\) tokens\/s.*/\1/p' "$1"; }
runs=()
for round in 1 2; do   # alternated, so a slow spell of the machine does not favour one side
    "$foundry" "${args[@]}" --out "$work/one$round" > "$work/one$round.log"
    mpirun --oversubscribe -np 2 "$foundry" "${args[@]}" --out "$work/two$round" > "$work/two$round.log"
    one=$(rate "$work/one$round.log"); two=$(rate "$work/two$round.log")
    share=$(sed -n 's/.*gradient all-reduce [0-9.]* s (\([0-9.]*\)% of the run).*/\1/p' "$work/two$round.log")
    echo "round $round: 1 process $one tokens/s, 2 ranks $two tokens/s, all-reduce $share% of the 2-rank run"
    runs+=("{\"one_rank_tokens_per_sec\": $one, \"two_ranks_tokens_per_sec\": $two, \"allreduce_percent\": $share}")
done
python3 - "$work" "${runs[@]}" <<'PY'
import json, sys
runs = [json.loads(r) for r in sys.argv[2:]]
for r in runs:
    r["speedup"] = r["two_ranks_tokens_per_sec"] / r["one_rank_tokens_per_sec"]
    r["efficiency"] = r["speedup"] / 2
out = {"settings": "nanoGPT CPU (4x128, context 64, global batch 12), PoCL one thread per rank", "runs": runs}
json.dump(out, open("bench-distributed.json", "w"), indent=2)
print("speedup %s, efficiency %s -> bench-distributed.json" % (
    " / ".join("%.2fx" % r["speedup"] for r in runs), " / ".join("%.0f%%" % (100 * r["efficiency"]) for r in runs)))
PY
