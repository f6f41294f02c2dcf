#!/usr/bin/env bash
# Runs ON the device machine after earlier calls copied .bundle/* (scripts/device_bundle.sh with
# base.tar.zst split into base.part.*, plus av1080.mp4, av1080_rects.json and sanders.npy) into
# /root/bundle: serves the full fp16 test UNet on CUDA for a 523-frame 1920x1080 avatar and loads
# it with `lipsync client` at several concurrencies (batch 25), then times the model alone.
# Usage: scripts/device_serve.sh OUT_DIR [ONNX_KEYS]   (ONNX_KEYS: more `onnx:` keys of the
# server configuration, e.g. "cuda_graph: true"; the model-alone timings follow them too)
set -euo pipefail
out=${1:?usage: device_serve.sh OUT_DIR [ONNX_KEYS]}
onnx_keys=${2:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/device_env.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
m=/root/models
[[ -f $m/unet_tiny.onnx ]] ||
  python3 "$repo/tools/make_test_models.py" --out $m --only unet_fp16 encoder_fp16 unet_tiny
# CUDA against CPU, and the staged (upload / run / download) path against run(), first
# (CUDA_TEST=0 skips it).
if [[ ${CUDA_TEST:-1} != 0 ]]; then
  LIPSYNC_TEST_CUDA=1 LIPSYNC_TEST_MODELS_DIR=$m "$b/run/runtime_tests" --gtest_filter='SessionCuda*' \
    2>&1 | grep -E "OK|FAILED|PASSED|Failure|error|worst|staged" | tee "$out/cuda_test.txt" || true
fi
cat > /root/serve.yaml <<YAML
server: {port: ":50053", http_enabled: false, max_message_size_mb: 128}
onnx: {execution_provider: cuda, audio_encoder_path: $m/encoder_fp16.onnx${onnx_keys:+, $onnx_keys}}
pipeline: {max_batch: 25, max_queue_delay_ms: 5, max_queue_depth: 64}
output: {format: jpeg, jpeg_quality: 75}
models:
  bench: {model_path: $m/unet_fp16.onnx, source_video: $b/av1080.mp4,
          crop_rects_path: $b/av1080_rects.json, preload_model: true}
YAML
"$b/run/lipsync" serve --config /root/serve.yaml > "$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for level in 1 4 8 16; do
  "$b/run/lipsync" --log-level warn client --server 127.0.0.1:50053 --model bench \
    --audio "$b/sanders.npy" --batch 25 --concurrency $level --requests $((level * 8)) \
    --connect-timeout-ms 180000 --json > "$out/client_$level.json" || echo "client $level failed"
  python3 - "$out/client_$level.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for x in (r if isinstance(r, list) else r.get("runs", [r])):
    print(json.dumps(x)[:600])
PY
done
# The native API: the whole clip per request (audio only), unary and streamed.
for mode in "" "--stream"; do
  for level in 1 4; do
    "$b/run/lipsync" --log-level warn client --server 127.0.0.1:50053 --model bench --native $mode \
      --audio "$b/sanders.npy" --concurrency $level --requests $((level * 3)) --json \
      > "$out/native${mode:+_stream}_$level.json" || echo "native $mode $level failed"
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[1].split('/')[-1], json.dumps(r)[:500])" \
      "$out/native${mode:+_stream}_$level.json" || true
  done
done
kill $server; wait $server 2>/dev/null || true
grep -E "warm-up|ready|listening|error" "$out/serve.log" | head -8
# The model alone: run() per batch, and three threads writing / running / reading batches, with
# the copies before and after the run (default) or inside it (--no-upload-in-advance).
graph=$([[ $onnx_keys == *"cuda_graph: true"* ]] && echo --cuda-graph || true)
for variant in upload_in_advance no-upload-in-advance; do
  flag=$([[ $variant == no-* ]] && echo --no-upload-in-advance || true)
  [[ -n $graph && -n $flag ]] && continue  # graphs need the upload in advance
  "$b/run/lipsync" --log-level warn bench model --cuda --fp16 --batch 25,50 --iterations 60 \
    --pipelined $flag $graph --model $m/unet_fp16.onnx > "$out/model_$variant.json"
  python3 - "$out/model_$variant.json" "$variant" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for x in r["unet"]["results"]:
    print(f'model only ({sys.argv[2]}) batch {x["batch"]}: run() median {x["median_ms"]:.2f} ms '
          f'= {x["fps_median"]:.0f} fps; pipelined {x["pipelined_fps"]:.0f} fps, '
          f'execute median {x["pipelined_execute_median_ms"]:.2f} ms')
PY
done
