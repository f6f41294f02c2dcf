#!/usr/bin/env bash
# Runs ON the device machine (see scripts/device_bundle.sh). Earlier calls of the same warm
# machine copy .bundle/* into /root/bundle; this one unpacks it, makes the full test models, and
# times the UNets through `lipsync bench model --cuda` plus the PyTorch anchors (pipeline.md §8).
# Usage: scripts/device_bench.sh OUT_DIR [ITERATIONS]
set -euo pipefail
out=${1:?usage: device_bench.sh OUT_DIR [ITERATIONS]}
iterations=${2:-50}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/device_env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.used --format=csv | tee "$out/gpu.txt"
[[ -f /root/models/unet_fp16.onnx ]] ||
  python3 "$repo/tools/make_test_models.py" --out /root/models --only unet unet_fp16 encoder encoder_fp16 unet_tiny
# CUDA against CPU through runtime::Session (staging, float16 conversion) before timing anything.
LIPSYNC_TEST_CUDA=1 LIPSYNC_TEST_MODELS_DIR=/root/models "$b/run/runtime_tests" --gtest_filter='SessionCuda*' \
  2>&1 | grep -E "OK|FAILED|PASSED|Failure|error|worst" | tee "$out/cuda_test.txt" || true
bench() {  # NAME ARGS...
  local name=$1; shift
  "$b/run/lipsync" --log-level warn bench model --cuda --batch 1,8,25,64 --iterations "$iterations" "$@" \
    > "$out/$name.json" || { echo "$name: failed"; return 0; }
  python3 - "$out/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for part in ("unet", "encoder"):
    if part in r:
        for x in r[part]["results"]:
            extra = f'  concurrency {x["concurrency"]}: {x["concurrent_fps"]:.1f} fps' if "concurrency" in x else ""
            print(f'{sys.argv[1].split("/")[-1]:22s} {part:7s} {r[part]["precision"]:7s} batch {x["batch"]:3d}: '
                  f'median {x["median_ms"]:7.2f} ms (p10 {x["p10_ms"]:.2f}, p90 {x["p90_ms"]:.2f}) '
                  f'{x["fps_median"]:8.1f} fps{extra}')
PY
}
m=/root/models
bench ort_fp32 --model $m/unet.onnx --encoder $m/encoder.onnx
bench ort_fp16 --model $m/unet_fp16.onnx --encoder $m/encoder_fp16.onnx --fp16
# Two batches in flight, copies on their own stream (how a scheduler with two batches would run).
bench ort_fp32_c2 --model $m/unet.onnx --cuda-option do_copy_in_default_stream=0 --concurrency 2
bench ort_fp16_c2 --model $m/unet_fp16.onnx --fp16 --cuda-option do_copy_in_default_stream=0 --concurrency 2
python3 "$repo/tools/torch_unet_anchor.py" --iterations "$iterations" > "$out/torch.json"
python3 - "$out/torch.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["device"], "torch", r["torch"], "params", r["parameters"])
for k in ("eager_fp32", "eager_fp16_channels_last"):
    for x in r[k]:
        print(f'torch {k:26s} batch {x["batch"]:3d}: median {x["median_ms"]:8.2f} ms  {x["fps_median"]:8.1f} fps')
PY
