#!/usr/bin/env bash
# Runs ON the device machine after earlier calls copied .bundle/* (scripts/device_bundle.sh, its
# base.tar.zst split into base.part.* when over a call's size, plus
# av1080.mp4, av1080_rects.json and sanders.npy) into /root/bundle: times `lipsync render --cuda`
# with the full fp16 test UNet on a 1920x1080 synthetic avatar, to MP4 and to JPEG frames.
# Usage: scripts/device_render.sh OUT_DIR
set -euo pipefail
out=${1:?usage: device_render.sh OUT_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
b=/root/bundle
mkdir -p "$b/run"
cp -n "$repo"/.bundle/* "$b"/ 2>/dev/null || true
export PATH=$b:$PATH
ln -sf zstd "$b/unzstd"
[[ -f "$b/base.tar.zst" ]] || cat "$b"/base.part.* > "$b/base.tar.zst"
[[ -x "$b/run/lipsync" ]] || tar -C "$b/run" -xf "$b/base.tar.zst" --use-compress-program=unzstd
[[ -f "$b/run/lib/libonnxruntime_providers_cuda.so" ]] ||
  cat "$b"/cuda_ep.part.* | zstd -q -d --long=27 -o "$b/run/lib/libonnxruntime_providers_cuda.so"
nv=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
export LD_LIBRARY_PATH=$b/run/lib:$nv/cu13/lib:$nv/cudnn/lib:/usr/local/cuda/lib64
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
nproc | tee -a "$out/gpu.txt"
m=/root/models
[[ -f $m/unet_fp16.onnx ]] || python3 "$repo/tools/make_test_models.py" --out $m --only unet_fp16 encoder_fp16
render() {  # OUTPUT EXTRA_ARGS...
  local target=$1; shift
  "$b/run/lipsync" --log-level info render --cuda --audio "$b/sanders.npy" --video "$b/av1080.mp4" \
    --rects "$b/av1080_rects.json" --unet $m/unet_fp16.onnx --encoder $m/encoder_fp16.onnx \
    -o "$target" "$@" 2>&1 | grep -vE "^\s*$" | tail -4
}
render /tmp/r1.mp4 --batch 25
render /tmp/r2.mp4 --batch 25 --background-store raw
render /tmp/frames/ --batch 25 --background-store raw
