#!/usr/bin/env bash
# Packs what the device scripts need on the GPU machine into .bundle/ (git-ignored):
#   base.part.*        stripped lipsync, runtime_tests and make_demo_avatar + every non-glibc
#                      library they load + ORT, a zstd tarball split into 60 MB parts
#   zstd               the unpacker (the device image has none)
#   cuda_ep.part.*     libonnxruntime_providers_cuda.so, zstd --long, split into 62 MB parts
#   speech.npy         16 kHz mono speech for the clients (the reference clip; no espeak-ng there)
#   commit             the commit the binary was built from
# A device call carries at most 64 MiB: carry the parts over several calls (scripts/device_env.sh
# gathers them in /root/bundle on the warm machine).
# Usage: scripts/device_bundle.sh [BUILD_DIR]   (default build/release; build `lipsync
#        runtime_tests make_demo_avatar` first, and run scripts/setup.sh --cuda once)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
out=$root/.bundle
ort_lib=$root/third_party/onnxruntime/lib
[[ -x "$build/src/cli/lipsync" ]] || { echo "device_bundle: no $build/src/cli/lipsync" >&2; exit 1; }
[[ -f "$ort_lib/libonnxruntime_providers_cuda.so" ]] || {
  echo "device_bundle: run scripts/setup.sh --cuda first" >&2; exit 1; }

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"
# Symbols kept (debug info dropped): eu-stack's thread stacks of a stuck server name functions.
strip --strip-debug -o "$stage/lipsync" "$build/src/cli/lipsync"
strip -o "$stage/runtime_tests" "$build/tests/runtime/runtime_tests"
strip -o "$stage/make_demo_avatar" "$build/tools/make_demo_avatar"
# glibc's own libraries come from the device's system; everything else travels.
# eu-stack (Debian's elfutils, when installed here): every thread's stack of a running process.
tools=("$build/src/cli/lipsync" "$build/tests/runtime/runtime_tests" "$build/tools/make_demo_avatar")
if command -v eu-stack >/dev/null; then
  cp "$(command -v eu-stack)" "$stage/eu-stack"
  tools+=("$(command -v eu-stack)")
fi
ldd "${tools[@]}" |
  awk '/=> \// {print $3}' | sort -u |
  while read -r lib; do
  case $(basename "$lib") in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
  done
cp "$ort_lib/libonnxruntime_providers_shared.so" "$stage/lib/"
tar -C "$stage" -cf - . | zstd -q -19 -T2 -f -o "$out/base.tar.zst"
rm -f "$out"/base.part.*
split -b 60000000 -d "$out/base.tar.zst" "$out/base.part."
rm "$out/base.tar.zst"
cp "${LIPSYNC_REFERENCE_DIR:-$root/../shared/reference}/audio/sanders_audio_16k.npy" "$out/speech.npy"

if [[ ! -f "$out/cuda_ep.so.zst" || "$ort_lib/libonnxruntime_providers_cuda.so" -nt "$out/cuda_ep.so.zst" ]]; then
  zstd -q -9 --long=27 -T2 -f "$ort_lib/libonnxruntime_providers_cuda.so" -o "$out/cuda_ep.so.zst"
fi
rm -f "$out"/cuda_ep.part.*
split -b 62000000 -d "$out/cuda_ep.so.zst" "$out/cuda_ep.part."
cp /usr/bin/zstd "$out/zstd"
git -C "$root" rev-parse HEAD > "$out/commit"
ls -la "$out"
