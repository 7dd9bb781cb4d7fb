#!/usr/bin/env bash
# Packs what a GPU machine without a Swift toolchain (or internet) needs to run Foundry into one
# archive, gpu-bundle/foundry-kit.tar.gz:
#   foundry            the release binary, Swift runtime and Foundation linked in, stripped
#   lib/               the OpenCL ICD loader and CLBlast it loads
#   fallback/          libstdc++, used there only when the machine has none (a newer system
#                      copy must win: NVIDIA's libraries may need it)
# Then, on the GPU machine, from the repository root: bash Tools/gpu-check.sh
# With the `device` tool: carry ["gpu-bundle"] and run `bash Tools/gpu-check.sh` (docs/gpu.md).
# The archive and the working tree must travel together in 64 MiB; this script checks that.
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT_MIB=64
swift build -c release --static-swift-stdlib
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/kit/lib" "$stage/kit/fallback"
cp .build/release/foundry "$stage/kit/foundry"
strip "$stage/kit/foundry"
# Every shared library the binary needs beyond the C runtime every Linux has.
ldd .build/release/foundry | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*) ;;
        libstdc++.so*) cp -L "$lib" "$stage/kit/fallback/" ;;
        *) cp -L "$lib" "$stage/kit/lib/" ;;
    esac
done
for need in libOpenCL.so.1 libclblast.so.1; do
    [ -e "$stage/kit/lib/$need" ] || { echo "error: $need is not linked by the binary (is libclblast-dev installed?)" >&2; exit 1; }
done
git rev-parse --short HEAD > "$stage/kit/COMMIT" 2>/dev/null || echo unknown > "$stage/kit/COMMIT"
rm -rf gpu-bundle && mkdir -p gpu-bundle
tar -C "$stage" -czf gpu-bundle/foundry-kit.tar.gz kit
kit=$(stat -c %s gpu-bundle/foundry-kit.tar.gz)
# What else travels with a `device` call: tracked files and untracked files git does not ignore.
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((kit + tree))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "kit: gpu-bundle/foundry-kit.tar.gz $(mib "$kit") MiB (binary $(mib "$(stat -c %s "$stage/kit/foundry")") MiB unpacked);" \
     "working tree $(mib "$tree") MiB; together $(mib "$total") of the $LIMIT_MIB MiB a device call carries"
if [ "$total" -gt $((LIMIT_MIB * 1048576 * 3 / 4)) ]; then
    echo "error: kit and working tree take more than three quarters of the $LIMIT_MIB MiB a device call carries" >&2
    exit 1
fi
echo "ready; on the GPU machine: bash Tools/gpu-check.sh   (device tool: carry [\"gpu-bundle\"])"
