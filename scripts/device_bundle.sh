#!/usr/bin/env bash
# Packs what `lipsync bench model --cuda` needs on the device machine into .bundle/ (git-ignored):
#   base.tar.zst       stripped lipsync and runtime_tests + every non-glibc library they load + ORT
#   zstd               the unpacker (the device image has none)
#   cuda_ep.part.*     libonnxruntime_providers_cuda.so, zstd --long, split under 50 MB (one per call)
#   commit             the commit the binary was built from
# Usage: scripts/device_bundle.sh [BUILD_DIR]   (default build/runtime; build `lipsync runtime_tests` first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/runtime}
out=$root/.bundle
ort_lib=$root/third_party/onnxruntime/lib
[[ -x "$build/src/cli/lipsync" ]] || { echo "device_bundle: no $build/src/cli/lipsync" >&2; exit 1; }
[[ -f "$ort_lib/libonnxruntime_providers_cuda.so" ]] || {
  echo "device_bundle: run scripts/setup.sh --cuda first" >&2; exit 1; }

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"
strip -o "$stage/lipsync" "$build/src/cli/lipsync"
strip -o "$stage/runtime_tests" "$build/tests/runtime/runtime_tests"
# glibc's own libraries come from the device's system; everything else travels.
ldd "$build/src/cli/lipsync" "$build/tests/runtime/runtime_tests" | awk '/=> \// {print $3}' | sort -u |
  while read -r lib; do
  case $(basename "$lib") in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
  done
cp "$ort_lib/libonnxruntime_providers_shared.so" "$stage/lib/"
tar -C "$stage" -cf - . | zstd -q -19 -T2 -f -o "$out/base.tar.zst"

if [[ ! -f "$out/cuda_ep.so.zst" || "$ort_lib/libonnxruntime_providers_cuda.so" -nt "$out/cuda_ep.so.zst" ]]; then
  zstd -q -9 --long=27 -T2 -f "$ort_lib/libonnxruntime_providers_cuda.so" -o "$out/cuda_ep.so.zst"
fi
rm -f "$out"/cuda_ep.part.*
split -b 50M -d "$out/cuda_ep.so.zst" "$out/cuda_ep.part."
cp /usr/bin/zstd "$out/zstd"
git -C "$root" rev-parse HEAD > "$out/commit"
ls -la "$out"
