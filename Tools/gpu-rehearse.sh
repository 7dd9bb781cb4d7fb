#!/usr/bin/env bash
# A rehearsal of the GPU run on this machine: proves the kit from Tools/gpu-prepare.sh needs
# nothing of this machine's. It makes a bare Debian root with debootstrap holding only the
# OpenCL ICD loader and PoCL (no Swift, no Python, no compiler), copies the working tree into
# it as the `device` tool would (tracked and untracked-unignored files, plus gpu-bundle/), runs
# Tools/gpu-check.sh there against PoCL, and checks the result against the tool's limits:
# at most 8 files back, 16 MiB each, 64 MiB in all, two folders deep, plain names; the run
# within 7 minutes; and the results archive holding every table.
#   sudo Tools/gpu-rehearse.sh [--no-prepare]
# Needs root (chroot, mounts) and Debian's debootstrap (apt-get install debootstrap). The root
# is kept in $REHEARSAL_ROOT (default /var/tmp/foundry-rehearsal-root) for the next run;
# delete it to start afresh. The results land in gpu-results-rehearsal/.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ROOT=${REHEARSAL_ROOT:-/var/tmp/foundry-rehearsal-root}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${DEBIAN_SUITE:-bookworm}
LIMIT_S=420
[ "$(id -u)" -eq 0 ] || { echo "error: the rehearsal needs root (chroot and mounts): run it with sudo" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed: apt-get install debootstrap" >&2; exit 2; }

if [ "${1:-}" != "--no-prepare" ]; then Tools/gpu-prepare.sh; fi
[ -f gpu-bundle/foundry-kit.tar.gz ] || { echo "error: no gpu-bundle/foundry-kit.tar.gz: run Tools/gpu-prepare.sh" >&2; exit 2; }

if [ ! -f "$ROOT/.foundry-rehearsal-ready" ]; then
    echo "making a bare $SUITE root in $ROOT (minbase + ocl-icd-libopencl1 + pocl-opencl-icd; a few minutes)"
    rm -rf "$ROOT"
    debootstrap --variant=minbase --include=ocl-icd-libopencl1,pocl-opencl-icd "$SUITE" "$ROOT" "$MIRROR" > /tmp/foundry-debootstrap.log 2>&1 \
        || { echo "error: debootstrap failed (log: /tmp/foundry-debootstrap.log)" >&2; exit 1; }
    touch "$ROOT/.foundry-rehearsal-ready"
fi
for absent in usr/bin/swift usr/bin/swiftc usr/bin/python3 usr/bin/clang usr/bin/gcc; do
    [ ! -e "$ROOT/$absent" ] || { echo "error: $ROOT has /$absent: not a bare root" >&2; exit 1; }
done

# The working tree as the device tool sends it.
rm -rf "$ROOT/repo" "$ROOT/out"
mkdir -p "$ROOT/repo" "$ROOT/out"
{ git ls-files -z --cached; git ls-files -z --others --exclude-standard; } | tar --null -T - -cf - | tar -C "$ROOT/repo" -xf -
cp -r gpu-bundle "$ROOT/repo/"

cleanup() { for m in dev sys proc; do umount -l "$ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"

echo "running Tools/gpu-check.sh in the bare root (a clean environment, PoCL as the device)"
t0=$(date +%s)
set +e
timeout 600 chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root OUT=/out \
    bash /repo/Tools/gpu-check.sh
rc=$?
set -e
elapsed=$(( $(date +%s) - t0 ))
rm -rf gpu-results-rehearsal && cp -r "$ROOT/out" gpu-results-rehearsal

# The checks.
fails=0
check() { if eval "$2"; then echo "  ok    $1"; else echo "  FAIL  $1"; fails=$((fails + 1)); fi; }
out=gpu-results-rehearsal
files=$(find "$out" -type f | wc -l)
bytes=$(find "$out" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
biggest=$(find "$out" -type f -printf '%s\n' | sort -n | tail -1)
deepest=$(find "$out" -type f -printf '%d\n' | sort -n | tail -1)
x=$(mktemp -d); trap 'cleanup; rm -rf "$x"' EXIT
tar -C "$x" -xzf "$out/results.tar.gz" 2>/dev/null || true
echo "rehearsal: exit $rc after $elapsed s; $files files, $((bytes / 1024)) KiB back"
check "gpu-check.sh exits 0" "[ $rc -eq 0 ]"
check "within $LIMIT_S s ($elapsed s)" "[ $elapsed -le $LIMIT_S ]"
check "at most 8 files ($files)" "[ $files -le 8 ]"
check "each at most 16 MiB (largest $((${biggest:-0} / 1024)) KiB)" "[ ${biggest:-0} -le $((16 << 20)) ]"
check "at most 64 MiB together" "[ $bytes -le $((64 << 20)) ]"
check "at most two folders down" "[ ${deepest:-1} -le 3 ]"
check "plain file names" "! find $out -mindepth 1 | sed 's|^$out/||' | grep -q '[^A-Za-z0-9._/-]'"
check "summary.txt and results.tar.gz" "[ -s $out/summary.txt ] && [ -s $out/results.tar.gz ]"
check "OpenCL devices listed" "grep -q 'index  type' $x/devices.txt"
check "kernel suite: all passed" "grep -qE '^[0-9]+ passed, 0 failed' $x/kernels-test.txt"
check "tune: a winner saved" "grep -q '^best: ' $x/kernels-tune.txt && ls $x/tuned/*.json >/dev/null 2>&1"
check "bench: matmul vs CLBlast" "grep -q '## matmul' $x/bench.txt && grep -qE '^square +512x512x512 .*x$' $x/bench.txt"
check "bench: attention" "grep -qE '^ +256 ' $x/bench.txt"
check "bench: training, nanoGPT settings" "grep -qE '^[0-9]+ tokens/s, .* val loss [0-9.]+$' $x/bench.txt"
check "bench: training, GPT-2 124M" "grep -A1 'GPT-2 124M' $x/bench.txt | grep -qE '^[0-9]+ tokens/s'"
check "bench: generation (8 rows)" "[ \$(grep -cE '^(4L-128|6L-288|stories15M|gpt2-124M) .* tokens/s .*first token' $x/bench.txt) -eq 8 ]"
check "bench.json back" "grep -q foundry_tokens_per_sec $out/bench.json"
check "no Swift or Python was used" "grep -q 'pytorch: skipped' $out/summary.txt"
if [ $fails -gt 0 ]; then echo "rehearsal FAILED ($fails checks); see $out/log.txt"; exit 1; fi
echo "rehearsal passed: the kit runs in a bare root within the device tool's limits (results in $out/)"
