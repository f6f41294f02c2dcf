#!/usr/bin/env bash
# Runs ON the device machine (see scripts/device_bundle.sh). Earlier calls of the same warm
# machine copy .bundle/* into /root/bundle; this one unpacks it, makes the full test models, and
# times the UNets through `lipsync bench model --cuda` (run(), execute() alone, pipelined; and CUDA
# EP option variants) plus the PyTorch anchors (pipeline.md §8).
# Usage: scripts/device_bench.sh OUT_DIR [ITERATIONS]
set -euo pipefail
out=${1:?usage: device_bench.sh OUT_DIR [ITERATIONS]}
iterations=${2:-50}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/device_env.sh"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.used --format=csv | tee "$out/gpu.txt"
[[ -f /root/models/unet_fp16.onnx ]] ||
  python3 "$repo/tools/make_test_models.py" --out /root/models --only unet unet_fp16 encoder encoder_fp16 unet_tiny unet_tiny_other_weights
# CUDA against CPU through runtime::Session (staging, float16 conversion) before timing anything.
LIPSYNC_TEST_CUDA=1 LIPSYNC_TEST_MODELS_DIR=/root/models "$b/run/runtime_tests" --gtest_filter='SessionCuda*:SharedSessionCuda*' \
  2>&1 | grep -E "OK|FAILED|PASSED|Failure|error|worst" | tee "$out/cuda_test.txt" || true
bench() {  # NAME ARGS...   (prints one line per model part and batch)
  local name=$1; shift
  "$b/run/lipsync" --log-level warn bench model --cuda --iterations "$iterations" "$@" \
    > "$out/$name.json" 2> "$out/$name.err" || { echo "$name: failed: $(tail -c 400 "$out/$name.err")"; return 0; }
  python3 - "$out/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
name = sys.argv[1].split("/")[-1][:-5]
for part in ("unet", "encoder"):
    for x in r.get(part, {}).get("results", []):
        line = (f'{name:24s} {part:7s} {r[part]["precision"]:7s} batch {x["batch"]:3d}: '
                f'median {x["median_ms"]:7.2f} ms (p10 {x["p10_ms"]:.2f}, p90 {x["p90_ms"]:.2f}) '
                f'{x["fps_median"]:7.1f} fps')
        if "execute_only_median_ms" in x:
            line += f' | execute alone {x["execute_only_median_ms"]:.2f} ms {x["execute_only_fps"]:.0f} fps'
        if "pipelined_fps" in x:
            line += (f' | pipelined {x["pipelined_fps"]:.0f} fps, {x["pipelined_ms_per_batch"]:.2f} ms/batch'
                     f' (write {x["pipelined_write_median_ms"]:.2f} upload {x["pipelined_upload_median_ms"]:.2f}'
                     f' wait {x["pipelined_wait_median_ms"]:.2f} execute {x["pipelined_execute_median_ms"]:.2f}'
                     f' read {x["pipelined_read_median_ms"]:.2f} ms)')
        print(line)
PY
}
m=/root/models
# run() (host float32 in and out), execute() alone (I/O on the device: the anchors' way) and the
# pipelined loop (three threads, as the server runs), per batch size.
bench ort_fp32 --model $m/unet.onnx --encoder $m/encoder.onnx --batch 1,8,25,64 --pipelined
bench ort_fp16 --model $m/unet_fp16.onnx --encoder $m/encoder_fp16.onnx --fp16 --batch 1,8,25,64 --pipelined
# NCHW convolutions (--no-nhwc) against the default NHWC, and CUDA graphs, at batch 25 and 50.
bench fp32_nchw --model $m/unet.onnx --batch 25 --pipelined --no-nhwc
bench fp16_nchw --model $m/unet_fp16.onnx --batch 25,50 --pipelined --no-nhwc
bench fp16_graph --model $m/unet_fp16.onnx --batch 25,50 --pipelined --cuda-graph
bench fp32_graph --model $m/unet.onnx --batch 25 --pipelined --cuda-graph
python3 "$repo/tools/torch_unet_anchor.py" --iterations "$iterations" > "$out/torch.json"
python3 - "$out/torch.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["device"], "torch", r["torch"], "params", r["parameters"])
for k in ("eager_fp32", "eager_fp16_channels_last"):
    for x in r[k]:
        print(f'torch {k:26s} batch {x["batch"]:3d}: median {x["median_ms"]:8.2f} ms  {x["fps_median"]:8.1f} fps')
PY
