#!/usr/bin/env bash
# Runs ON a device machine with two GPUs, after earlier calls copied .bundle/* (as for
# scripts/device_serve.sh) into /root/bundle: serves two models of the full fp16 test UNet with
# `gpus.count: 2` (round-robin: one model per GPU) for the 523-frame 1080p avatar, shows where
# they loaded, and loads them with `lipsync client` (compat, batch 25): model a alone, then a and
# b at once from two client processes.
# Usage: scripts/device_multi_gpu.sh OUT_DIR [CLIENTS]   (CLIENTS per model, default 16)
set -euo pipefail
out=${1:?usage: device_multi_gpu.sh OUT_DIR [CLIENTS]}
clients=${2:-16}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/device_env.sh"
nvidia-smi -L | tee "$out/gpus.txt"
m=/root/models
[[ -f $m/unet_fp16.onnx ]] ||
  python3 "$repo/tools/make_test_models.py" --out $m --only unet_fp16 encoder_fp16
model="{model_path: $m/unet_fp16.onnx, source_video: $b/av1080.mp4,
      crop_rects_path: $b/av1080_rects.json, preload_model: true}"
cat > /root/multi.yaml <<YAML
server: {port: ":50053", http_enabled: false, max_message_size_mb: 128}
gpus: {count: 2, assignment_strategy: round-robin}
onnx: {execution_provider: cuda, audio_encoder_path: $m/encoder_fp16.onnx}
pipeline: {max_batch: 25, max_queue_delay_ms: 5, max_queue_depth: 64}
output: {format: jpeg, jpeg_quality: 75}
models:
  a: $model
  b: $model
YAML
"$b/run/lipsync" serve --config /root/multi.yaml > "$out/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
load() {  # MODEL NAME: one client process, $clients workers, 8 requests each
  "$b/run/lipsync" --log-level warn client --server 127.0.0.1:50053 --model "$1" \
    --audio "$b/sanders.npy" --batch 25 --concurrency "$clients" --requests $((clients * 8)) \
    --connect-timeout-ms 180000 --json > "$out/$2.json" || echo "client $2 failed"
}
summary() {  # NAME...
  python3 - "$out" "$@" <<'PY'
import json, sys
total = 0
for name in sys.argv[2:]:
    r = json.load(open(f"{sys.argv[1]}/{name}.json"))
    x = r if "frames_per_s" in r else r.get("runs", [r])[0]
    total += x["frames_per_s"]
    print(f'{name}: {x["frames_per_s"]:.0f} frames/s, p50 {x["latency_ms"]["p50"]:.0f} ms, '
          f'failed {x["failed"]}, errors {x["errors"][:2]}')
print(f"together: {total:.0f} frames/s")
PY
}
load a alone_a
summary alone_a
load a both_a &
first=$!
load b both_b
wait $first  # (a bare `wait` would wait for the server too)
summary both_a both_b
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader | tee "$out/memory.txt"
kill $server; wait $server 2>/dev/null || true
grep -E "loading model|ready in|CUDA graph|error|Error|failed" "$out/serve.log" | head -12
