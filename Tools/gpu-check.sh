#!/usr/bin/env bash
# The first run on a GPU machine, with the kit from Tools/gpu-prepare.sh (no Swift toolchain
# needed there). From the repository root:
#   bash Tools/gpu-check.sh [kit.tar.gz]        (default gpu-bundle/foundry-kit.tar.gz)
# In this order, so the most valuable figures exist even if the run is cut off:
#   1. what OpenCL sees: nvidia-smi, NVIDIA's OpenCL library and ICD files, `foundry devices`
#   2. foundry kernels test        every kernel against the Swift reference
#   3. foundry kernels tune --quick GEMM tile candidates, GPU-shaped on a GPU
#   4. foundry bench               matmul vs CLBlast up to 4096³, attention, training (nanoGPT
#                                  settings and GPT-2 124M), generation
#   5. foundry kernels bench       each kernel's time at the training shapes
#   6. PyTorch on the same device  Tools/bench_pytorch.py (when python3 has torch)
# Everything ends within $BUDGET seconds (default 360: under 7 minutes, and short enough that a
# 15-minute device lease holds a machine start, this run and one rerun): each step's limit is
# cut to what is left. Under $OUT (default gpu-results/), at most 5 files, all
# written as the run goes: summary.txt (the tables), log.txt (everything), bench.json,
# results.tar.gz (every step's output, the tuned parameters, the environment) and, if it
# fails, nothing else. On a machine whose OpenCL device is a CPU (the rehearsal,
# Tools/gpu-rehearse.sh) the measurements are sized down so the tables stay complete.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
KIT=${1:-gpu-bundle/foundry-kit.tar.gz}
OUT=${OUT:-gpu-results}
BUDGET=${BUDGET:-360}
START=$(date +%s)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/foundry-gpu-check.XXXXXX)
SUMMARY="$OUT/summary.txt" LOG="$OUT/log.txt"
: > "$SUMMARY"; : > "$LOG"

say() { echo "$*" | tee -a "$SUMMARY" >> "$LOG"; echo "$*"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
# step NAME LIMIT CMD...: runs CMD with at most LIMIT seconds (less if the budget is short),
# its output to $WORK/NAME.txt and log.txt; returns its exit status.
step() {
    local name=$1 limit=$2; shift 2
    local rest; rest=$(( $(left) - 15 ))        # keep time to pack the archive
    [ "$limit" -gt "$rest" ] && limit=$rest
    if [ "$limit" -lt 5 ]; then say "== $name: skipped, the ${BUDGET} s budget is spent"; return 124; fi
    echo "== $name ($*; limit ${limit} s)" | tee -a "$LOG"
    local t0; t0=$(date +%s)
    timeout -k 5 "$limit" "$@" > "$WORK/$name.txt" 2>&1
    local rc=$?
    cat "$WORK/$name.txt" >> "$LOG"
    local note="exit $rc"; [ $rc -eq 124 ] && note="stopped at its ${limit} s limit"
    echo "== $name: $note after $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
    echo "$name: $note after $(( $(date +%s) - t0 )) s" >> "$WORK/steps.txt"
    return $rc
}
pack() {
    cp "$SUMMARY" "$LOG" "$WORK/" 2>/dev/null
    # Not the kit (it came from here) nor the compiled-kernel cache (device binaries, megabytes).
    tar -C "$WORK" --exclude=./kit --exclude=./cache -czf "$OUT/results.tar.gz.tmp" . && mv "$OUT/results.tar.gz.tmp" "$OUT/results.tar.gz"
}
trap 'pack; rm -rf "$WORK"' EXIT

say "# Foundry GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# The kit, unpacked outside the working tree.
if [ ! -f "$KIT" ]; then
    say "error: no kit at $KIT: run Tools/gpu-prepare.sh on a machine with Swift, then carry gpu-bundle/"
    exit 1
fi
tar -C "$WORK" -xzf "$KIT" || { say "error: $KIT is not a readable kit archive"; exit 1; }
F="$WORK/kit/foundry"
say "kit: built at commit $(cat "$WORK/kit/COMMIT" 2>/dev/null) ($(du -h "$KIT" | cut -f1) packed)"

# 1. The environment: where NVIDIA's OpenCL library is, and what the ICD loader will read.
{
    echo "## machine"
    uname -a; nproc; grep -m1 'model name' /proc/cpuinfo
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
    echo "## OpenCL ICD files (/etc/OpenCL/vendors)"; ls -l /etc/OpenCL/vendors/ 2>&1; cat /etc/OpenCL/vendors/*.icd 2>/dev/null
    echo "## OpenCL/CUDA libraries in the loader cache"; ldconfig -p 2>/dev/null | grep -i -E 'opencl|libcuda|ptxjit|nvidia' || echo "(none)"
    echo "## the driver's folder"; ls -l /usr/local/nvidia/lib64 2>&1 | head -100
} > "$WORK/environment.txt" 2>&1
ICD=""
for c in /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib64/libnvidia-opencl.so.1; do
    [ -e "$c" ] && { ICD=$c; break; }
done
[ -z "$ICD" ] && ICD=$(timeout 20 find /usr/local/nvidia /usr/lib /usr/lib64 /usr/local /opt -name 'libnvidia-opencl.so*' 2>/dev/null | head -1)
LIBS="$WORK/kit/lib"
if [ -n "$ICD" ]; then
    # NVIDIA's library loads libcuda and its JIT from its own folder.
    export OCL_ICD_FILENAMES="$ICD"
    LIBS="$LIBS:$(dirname "$ICD")"
    echo "## NVIDIA OpenCL library: $ICD (OCL_ICD_FILENAMES)" >> "$WORK/environment.txt"
    ls -l "$(dirname "$ICD")" >> "$WORK/environment.txt" 2>&1
else
    echo "## no libnvidia-opencl: the ICD loader's own files decide" >> "$WORK/environment.txt"
fi
export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The kit's libstdc++ only where the machine has none (a newer system copy must win).
if command -v ldd >/dev/null && ldd "$F" 2>/dev/null | grep -q 'not found'; then
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$WORK/kit/fallback"
elif ! command -v ldd >/dev/null; then
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$WORK/kit/fallback"
fi
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$WORK/environment.txt"
command -v ldd >/dev/null && ldd "$F" >> "$WORK/environment.txt" 2>&1
cat "$WORK/environment.txt" >> "$LOG"
say "$(grep -A1 '^## machine' "$WORK/environment.txt" | tail -1)"
say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo none)"
if [ -n "$ICD" ]; then say "OpenCL ICD: $ICD"; else say "OpenCL ICD: the loader default (/etc/OpenCL/vendors)"; fi
export FOUNDRY_CACHE_DIR="$WORK/cache"

step devices 30 "$F" devices
say "$(cat "$WORK/devices.txt")"
if grep -qE '^[0-9]+\*? +GPU ' "$WORK/devices.txt"; then PROFILE=gpu; else PROFILE=cpu; fi
say "profile: $PROFILE (the default device is $( [ $PROFILE = gpu ] && echo 'a GPU' || echo 'not a GPU: sizes cut down' ))"

# 2. Kernel parity.
step kernels-test 60 "$F" kernels test
say ""; say "## kernels test"
say "$(grep -E 'FAIL|passed, ' "$WORK/kernels-test.txt" || tail -3 "$WORK/kernels-test.txt")"

# 3. A quick tune (the winner is saved in the cache folder and used by the bench below).
step kernels-tune 60 "$F" kernels tune --quick
say ""; say "## kernels tune --quick"; say "$(cat "$WORK/kernels-tune.txt")"

# 4. The benchmark.
if [ $PROFILE = gpu ]; then
    GEN=256; BENCH=(--sizes 256,512,1024,2048,4096 --gpt2 --train-steps 60 --generate-tokens $GEN)
else
    GEN=16; BENCH=(--sizes 256,512 --attention-t 64,256 --gpt2 --train-steps 20 --generate-tokens $GEN)
fi
(cd "$WORK" && step bench 120 "$F" bench --out "$WORK/bench.json" "${BENCH[@]}")
say ""; say "$(cat "$WORK/bench.txt")"
[ -f "$WORK/bench.json" ] && cp "$WORK/bench.json" "$OUT/bench.json"

# 5. Each kernel's time at the training shapes (where a GPU step goes).
if [ $PROFILE = gpu ]; then KB=(--sizes 1024,4096); else KB=(--sizes 256 --reps 3); fi
step kernels-bench 30 "$F" kernels bench "${KB[@]}"
say ""; say "## kernels bench"; say "$(cat "$WORK/kernels-bench.txt")"

# 6. PyTorch beside it on the same device.
PY=${PYTHON:-python3}
if [ ! -f "$WORK/bench.json" ]; then
    say "pytorch: skipped (no bench.json)"
elif ! command -v "$PY" >/dev/null || ! "$PY" -c 'import torch, transformers' 2>/dev/null; then
    say ""; say "pytorch: skipped ($PY cannot import torch and transformers)"
else
    TD=cpu; "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && TD=cuda
    step pytorch 60 env PYTHONUNBUFFERED=1 "$PY" "$REPO/Tools/bench_pytorch.py" --bench "$WORK/bench.json" --device $TD --generate-tokens $GEN
    say "$(cat "$WORK/pytorch.txt")"
    cp "$WORK/bench.json" "$OUT/bench.json"
fi
say ""; say "steps:"; say "$(cat "$WORK/steps.txt")"
say "total: $(( $(date +%s) - START )) s of the ${BUDGET} s budget"
