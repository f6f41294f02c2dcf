#!/usr/bin/env bash
# Runs ON the device machine after earlier calls copied .bundle/* (scripts/device_bundle.sh, its
# base.tar.zst split into base.part.* when over a call's size, plus
# av1080.mp4, av1080_rects.json and sanders.npy) into /root/bundle: times `lipsync render --cuda`
# with the full fp16 test UNet on a 1920x1080 synthetic avatar, to MP4 and to JPEG frames.
# Usage: scripts/device_render.sh OUT_DIR
set -euo pipefail
out=${1:?usage: device_render.sh OUT_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/device_env.sh"
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
