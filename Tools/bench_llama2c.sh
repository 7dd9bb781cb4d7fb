#!/usr/bin/env bash
# llama2.c's run.c beside `foundry bench`'s stories15M generation rows, on this machine:
#   Tools/bench_llama2c.sh LLAMA2C_DIR [bench.json]
# LLAMA2C_DIR is a checkout of github.com/karpathy/llama2.c (only its run.c is read). run.c is
# built in a temporary directory outside this repository with -Ofast -fopenmp -march=native,
# fed a random-weight model at the stories15M shapes (Tools/llama2c_model.py: speed does not
# depend on the values), and timed generating 256 tokens on $THREADS threads (default 2),
# greedy (-t 0) and top-p 0.9 at temperature 1, the best of $RUNS runs (default 3). With
# bench.json, the figures join its stories15M rows as llama2c_tokens_per_sec.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:?usage: Tools/bench_llama2c.sh LLAMA2C_DIR [bench.json]}
bench=${2:-}
[ -f "$src/run.c" ] || { echo "error: $src/run.c not found: pass a checkout of github.com/karpathy/llama2.c" >&2; exit 1; }
command -v cc >/dev/null || { echo "error: no C compiler (cc): apt-get install -y gcc" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/foundry-llama2c.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -Ofast -fopenmp -march=native "$src/run.c" -lm -o "$work/run"
python3 "$here/llama2c_model.py" "$work" >/dev/null
threads=${THREADS:-2}; runs=${RUNS:-3}
best() {  # best tok/s of $runs runs of run.c with the given sampling flags
    local b=0
    for _ in $(seq "$runs"); do
        local t
        t=$(OMP_NUM_THREADS=$threads "$work/run" "$work/model.bin" -z "$work/tokenizer.bin" -n 256 -s 7 "$@" 2>&1 >/dev/null \
            | sed -n 's/^achieved tok\/s: //p')
        [ -n "$t" ] || { echo "error: run.c printed no tok/s" >&2; exit 1; }
        b=$(python3 -c "print(max($b, $t))")
    done
    echo "$b"
}
greedy=$(best -t 0)
topp=$(best -t 1 -p 0.9)
printf 'llama2.c run.c (stories15M shapes, random weights, %s threads, best of %s): greedy %.0f tok/s, top-p 0.9 %.0f tok/s\n' \
    "$threads" "$runs" "$greedy" "$topp"
if [ -n "$bench" ]; then
    python3 - "$bench" "$greedy" "$topp" "$threads" <<'PY'
import json, os, sys
path, greedy, topp, threads = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
with open(path) as f:
    b = json.load(f)
for r in b.get("generate", {}).get("runs", []):
    if r.get("model") == "stories15M":
        r["llama2c_tokens_per_sec"] = greedy if r["mode"] == "greedy" else topp
        r["llama2c_threads"] = threads
        print(f"stories15M {r['mode']:6s} {r.get('weights', 'f32')}: foundry {r['foundry_tokens_per_sec']:.0f} tok/s, llama2.c {r['llama2c_tokens_per_sec']:.0f}, "
              f"ratio {r['foundry_tokens_per_sec'] / r['llama2c_tokens_per_sec']:.2f}x")
with open(path + ".tmp", "w") as f:
    json.dump(b, f, indent=2, sort_keys=True)
os.replace(path + ".tmp", path)
PY
fi
