#!/usr/bin/env bash
# Runs the kernel parity suite at tiny shapes under oclgrind (a simulator that checks every
# memory access): out-of-bounds and invalid accesses always, plus data races and reads of
# uninitialised memory. Exits non-zero if oclgrind reports anything or a kernel fails parity.
#   apt-get install oclgrind      (Debian package)
#   Tools/oclgrind-kernels.sh [path/to/foundry]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/foundry}"
[ -x "$bin" ] || { echo "no foundry binary at $bin: run 'swift build -c release' first" >&2; exit 2; }
command -v oclgrind >/dev/null || { echo "oclgrind is not installed: apt-get install oclgrind" >&2; exit 2; }
log=$(mktemp)
# A private kernel cache: oclgrind compiles its own way, and must not reuse PoCL's binaries.
export FOUNDRY_CACHE_DIR=$(mktemp -d)
# The suite with the device's defaults, then again as a GPU runs it: fixed work-groups of 64
# (LayerNorm a work-group per row, norm_rows.cl), the local-memory tiled GEMM (GT=1) and the
# smallest row work-group (RG=32).
for params in "" "GT=1,RG=32"; do
    status=0
    FOUNDRY_KERNEL_PARAMS="$params" FOUNDRY_WORKGROUP="${params:+64}" \
        oclgrind --data-races --uninitialized --check-api "$bin" kernels test --small --backend opencl 2>"$log" || status=$?
    if [ -s "$log" ]; then
        echo "oclgrind reported (${params:-default parameters}):"; cat "$log"
        exit 1
    fi
    [ "$status" -eq 0 ] || { echo "kernel suite failed under oclgrind (${params:-default parameters}; exit $status)"; exit "$status"; }
done
echo "oclgrind: no errors"
