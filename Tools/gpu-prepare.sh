#!/usr/bin/env bash
# Builds what the lent GPU machine needs (it has no Swift toolchain and no internet) into
# gpu-bundle/: a foundry binary with the Swift runtime linked in, and the OpenCL ICD loader and
# CLBlast libraries it loads. Then, on the GPU machine, from the repository root:
#   bash Tools/gpu-check.sh            (finds NVIDIA's OpenCL library itself)
# With the `run` tool: carry ["gpu-bundle"] and run `bash Tools/gpu-check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib
rm -rf gpu-bundle && mkdir -p gpu-bundle
cp .build/release/foundry gpu-bundle/
# Every shared library the binary needs that is not part of the C runtime every Linux has.
ldd gpu-bundle/foundry | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*) ;;
        *) cp -L "$lib" gpu-bundle/ ;;
    esac
done
ls -la gpu-bundle
echo "gpu-bundle/ ready ($(du -sh gpu-bundle | cut -f1)); on the GPU machine: bash Tools/gpu-check.sh"
