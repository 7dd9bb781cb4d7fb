#!/usr/bin/env bash
# On a GPU machine without a Swift toolchain: the kernel suite, a quick tune and the benchmark
# with the binary from Tools/gpu-prepare.sh. Results go to $OUT (default gpu-results/).
#   bash Tools/gpu-check.sh [bundle dir]
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-gpu-bundle}
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FOUNDRY_CACHE_DIR="$OUT/cache"
ICD=$(ls /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 \
         /usr/lib64/libnvidia-opencl.so.1 2>/dev/null | head -1)
if [ -z "$ICD" ]; then
    ICD=$(find / -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)
fi
if [ -z "$ICD" ]; then
    echo "error: NVIDIA's OpenCL library (libnvidia-opencl.so.1) is not on this machine" >&2
    exit 1
fi
export OCL_ICD_FILENAMES="$ICD"
echo "OpenCL ICD: $ICD"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null | tee "$OUT/nvidia-smi.txt"
F="$B/foundry"
step() { echo; echo "== $*"; timeout "${LIMIT:-180}" "$@" 2>&1; echo "(exit $?)"; }
step "$F" devices                                                       | tee "$OUT/devices.txt"
step "$F" kernels test                                                  | tee "$OUT/kernels-test.txt"
step "$F" kernels tune --quick                                          | tee "$OUT/kernels-tune.txt"
LIMIT=300 step "$F" bench --sizes 256,512,1024,2048,4096 --gpt2 --out "$OUT/bench.json" | tee "$OUT/bench.txt"
