#!/usr/bin/env bash
# Runs ON the device machine (see scripts/device_bundle.sh; issue #20 items 1-2): where the fp16
# UNet's time goes and what ONNX Runtime's own settings give, in one warm session.
#   1. the copy bandwidth (PyTorch, 1 GiB device to device, bytes read + written);
#   2. ORT's per-node profile of the full fp16 test UNet at batch 25, 8 and 1, with
#      CUDA_LAUNCH_BLOCKING=1 so that each node's time is its GPU time, turned into tables by op
#      type and by block against the memory-traffic bound (tools/ort_profile_table.py);
#   3. each CUDA EP / session setting alone against the default (execute alone, I/O on the
#      device), its outputs compared with the default's and with the fp32 model's (TF32 off) on
#      the same seeded inputs;
#   4. the PyTorch anchors (tools/torch_unet_anchor.py) in the same session.
# Writes OUT/summary.txt (also printed) and OUT/results.tgz (profiles, tables, every JSON).
# Usage: scripts/device_profile.sh OUT_DIR [ITERATIONS]
# Env: VARIANTS  the settings to run (names below, space-separated; default all)
#      PROFILE=0 no per-node profile (step 2)
set -uo pipefail
out=${1:?usage: device_profile.sh OUT_DIR [ITERATIONS]}
iterations=${2:-50}
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/device_env.sh"
work=/root/profile_work
rm -rf "$work" && mkdir -p "$work/outputs"
m=/root/models
summary=$work/summary.txt
say() { echo "$@" | tee -a "$summary"; }
say "commit $LIPSYNC_COMMIT; $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv,noheader)"
[[ -f $m/unet_fp16.onnx && -f $m/unet.onnx ]] ||
  python3 "$repo/tools/make_test_models.py" --out $m --only unet unet_fp16 >/dev/null

bandwidth=$(python3 - <<'PY'
import torch
n = 1 << 30
a = torch.randint(0, 255, (n,), dtype=torch.uint8, device="cuda")
b = torch.empty_like(a)
for _ in range(3):
    b.copy_(a)
times = []
for _ in range(20):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); b.copy_(a); e.record(); e.synchronize()
    times.append(s.elapsed_time(e))
print(f"{2 * n / sorted(times)[10] / 1e6:.0f}")
PY
)
say "copy bandwidth (1 GiB device to device, read + write, median of 20): $bandwidth GB/s"

# ---- 1. the profile
[[ ${PROFILE:-1} == 0 ]] || CUDA_LAUNCH_BLOCKING=1 "$b/run/lipsync" --log-level warn bench model --cuda --fp16 \
  --model $m/unet_fp16.onnx --batch 25,8,1 --execute-only --iterations 12 --warmup 3 \
  --profile "$work/profile" > "$work/profile_run.json" 2> "$work/profile_run.err" ||
  say "profile run failed: $(tail -c 600 "$work/profile_run.err")"
profile=$(ls "$work"/profile_unet_*.json 2>/dev/null | head -1)
if [[ -n $profile ]]; then
  grep -q '"cat" *: *"Kernel"' "$profile" && say "(the profile has CUPTI kernel events)"
  python3 "$repo/tools/ort_profile_table.py" "$profile" --bandwidth-gbs "$bandwidth" \
    --model $m/unet_fp16.onnx --json "$work/profile_table.json" > "$work/profile_table.md" 2>&1 ||
    say "profile table failed: $(tail -c 600 "$work/profile_table.md")"
  grep '^## batch' "$work/profile_table.md" | tee -a "$summary"
fi

# ---- 2. the settings, each alone
variant() {  # NAME MODEL BATCHES [ARGS...]: execute alone, outputs saved per batch
  local name=$1 model=$2 batches=$3; shift 3
  local start=$SECONDS
  "$b/run/lipsync" --log-level warn bench model --cuda --model "$model" --batch "$batches" \
    --execute-only --iterations "$iterations" --warmup 5 --save-outputs "$work/outputs/$name" "$@" \
    > "$work/v_$name.json" 2> "$work/v_$name.err" ||
    { say "$name: failed: $(tail -c 400 "$work/v_$name.err")"; return 0; }
  python3 - "$work/v_$name.json" "$name" $((SECONDS - start)) <<'PY' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1]))["unet"]
for x in r["results"]:
    print(f'{sys.argv[2]:16s} batch {x["batch"]:3d}: {x["median_ms"]:7.2f} ms (p10 {x["p10_ms"]:.2f}, '
          f'p90 {x["p90_ms"]:.2f}) {x["fps_median"]:7.0f} frames/s   [{sys.argv[3]} s with load and warm-up]')
PY
}
f16=$m/unet_fp16.onnx
# VARIANTS picks a subset by name (default: all); fp32_no_tf32 is the exactness reference.
want() { [[ -z ${VARIANTS:-} ]] || [[ " $VARIANTS " == *" $1 "* ]]; }
want default && variant default $f16 25,8,1
want unfused && variant unfused $f16 25,8,1 --cuda-option fuse_conv_bias=0  # the default before #20
want nchw && variant nchw $f16 25,8,1 --no-nhwc
want cuda_graph && variant cuda_graph $f16 25,8,1 --cuda-graph
want heuristic && variant heuristic $f16 25,8,1 --cuda-option cudnn_conv_algo_search=HEURISTIC
want algo_default && variant algo_default $f16 25 --cuda-option cudnn_conv_algo_search=DEFAULT
want no_max_workspace && variant no_max_workspace $f16 25,8,1 --cuda-option cudnn_conv_use_max_workspace=0
want same_as_requested && variant same_as_requested $f16 25,8,1 \
  --cuda-option arena_extend_strategy=kSameAsRequested
want tunable && variant tunable $f16 25 --cuda-option "tunable_op_enable=1;tunable_op_tuning_enable=1"
want opt_extended && variant opt_extended $f16 25 --graph-optimization extended
want opt_basic && variant opt_basic $f16 25 --graph-optimization basic
want opt_disable && variant opt_disable $f16 25 --graph-optimization disable
# fp16 inside, float32 I/O (a model exported with its I/O kept in float32): Casts at both ends.
python3 - $f16 $m/unet_fp16_f32io.onnx <<'PY'
import sys, onnx
from onnx import TensorProto, helper
m = onnx.load(sys.argv[1])
g = m.graph
rename = {vi.name: vi.name + "_fp16" for vi in list(g.input) + list(g.output)}
for n in g.node:
    n.input[:] = [rename.get(x, x) for x in n.input]
    n.output[:] = [rename.get(x, x) for x in n.output]
first = [helper.make_node("Cast", [vi.name], [rename[vi.name]], to=TensorProto.FLOAT16,
                          name=f"/io/cast_{vi.name}") for vi in g.input]
last = [helper.make_node("Cast", [rename[vi.name]], [vi.name], to=TensorProto.FLOAT,
                         name=f"/io/cast_{vi.name}") for vi in g.output]
nodes = first + list(g.node) + last
del g.node[:]
g.node.extend(nodes)
for vi in list(g.input) + list(g.output):
    vi.type.tensor_type.elem_type = TensorProto.FLOAT
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
PY
# Every Conv's weights and bias as overridable initializers (also graph inputs): ORT treats them
# as run-time inputs, as one session serving several models' weights would (issue #14 item 4).
python3 - $f16 $m/unet_fp16_weights_in.onnx <<'PY'
import sys, onnx
from onnx import helper
m = onnx.load(sys.argv[1])
g = m.graph
inits = {t.name: t for t in g.initializer}
names = sorted({x for n in g.node if n.op_type == "Conv" for x in n.input[1:3] if x in inits})
g.input.extend(helper.make_tensor_value_info(x, inits[x].data_type, list(inits[x].dims)) for x in names)
onnx.save(m, sys.argv[2])
print(f"weights_in: {len(names)} Conv initializers made overridable")
PY
want weights_in && variant weights_in $m/unet_fp16_weights_in.onnx 25,8,1
# The same, each Conv kernel stored transposed (OHWI, kernel_shape given) and its bias left a
# constant: ORT's CUDA NHWC convolution reads a run-time kernel as NHWC when another input of the
# node is a constant (docs/gpu.md), so this shows whether that path runs, and at what speed.
python3 - $f16 $m/unet_fp16_weights_in_ohwi.onnx <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
g = m.graph
inits = {t.name: t for t in g.initializer}
moved = set()
for n in g.node:
    if n.op_type != "Conv" or n.input[1] not in inits or len(n.input) < 3:
        continue
    w = inits[n.input[1]]
    if w.name not in moved:
        oihw = numpy_helper.to_array(w)
        if oihw.ndim != 4:
            continue
        w.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(oihw.transpose(0, 2, 3, 1)), w.name))
        g.input.append(helper.make_tensor_value_info(w.name, w.data_type, list(w.dims)))
        moved.add(w.name)
    if not any(a.name == "kernel_shape" for a in n.attribute):
        n.attribute.append(helper.make_attribute("kernel_shape", [int(w.dims[1]), int(w.dims[2])]))
onnx.save(m, sys.argv[2])
print(f"weights_in_ohwi: {len(moved)} Conv kernels stored OHWI and made overridable")
PY
want weights_in_ohwi && variant weights_in_ohwi $m/unet_fp16_weights_in_ohwi.onnx 25,8,1
# Shared sessions at full speed would need every model's bias as an input too: each Conv keeps a
# constant zero bias (so its OHWI kernel input is read as NHWC) and an Add of the bias, an
# overridable [1,C,1,1] initializer, follows it. What the extra pass over each output costs.
python3 - $m/unet_fp16_weights_in_ohwi.onnx $m/unet_fp16_weights_in_ohwi_add.onnx <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
g = m.graph
inits = {t.name: t for t in g.initializer}
nodes, added = [], 0
for n in g.node:
    nodes.append(n)
    if n.op_type != "Conv" or len(n.input) < 3 or n.input[2] not in inits:
        continue
    bias = numpy_helper.to_array(inits[n.input[2]])
    tag = f"{n.output[0]}_split{added}"
    zero, add = f"{tag}_zero_bias", f"{tag}_bias"
    g.initializer.append(numpy_helper.from_array(np.zeros_like(bias), zero))
    g.initializer.append(numpy_helper.from_array(bias.reshape(1, -1, 1, 1), add))
    g.input.append(helper.make_tensor_value_info(add, inits[n.input[2]].data_type, [1, len(bias), 1, 1]))
    out = n.output[0]
    n.input[2] = zero
    n.output[0] = f"{tag}_conv"
    nodes.append(helper.make_node("Add", [n.output[0], add], [out], name=f"{tag}_add"))
    added += 1
del g.node[:]
g.node.extend(nodes)
used = {x for n in g.node for x in n.input}
kept = [t for t in g.initializer if t.name in used]
del g.initializer[:]
g.initializer.extend(kept)
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
print(f"weights_in_ohwi_add: {added} Conv biases moved to an Add of an overridable input")
PY
want weights_in_ohwi_add && variant weights_in_ohwi_add $m/unet_fp16_weights_in_ohwi_add.onnx 25,8,1
want weights_in_nchw && variant weights_in_nchw $m/unet_fp16_weights_in.onnx 25,8,1 --no-nhwc
want fp16_f32_io && variant fp16_f32_io $m/unet_fp16_f32io.onnx 25
want fp32_no_tf32 && variant fp32_no_tf32 $m/unet.onnx 25 --cuda-option use_tf32=0
want fp32 && variant fp32 $m/unet.onnx 25

# ---- exactness: every variant's batch-25 output against the default's and the fp32 reference
python3 - "$work/outputs" <<'PY' | tee -a "$summary"
import os, sys
import numpy as np
root = sys.argv[1]
load = lambda name: np.load(os.path.join(root, name, "unet_b25.npy")).astype(np.float64)
ref, base = load("fp32_no_tf32"), load("default")
print("\nbatch-25 outputs (sigmoid, 0..1) against the fp32 model with TF32 off / the fp16 default:")
print(f'{"variant":16s} {"max|d| fp32":>12s} {"relL2 fp32":>11s} {"max|d| default":>15s} {"relL2 default":>14s}')
for name in sorted(os.listdir(root)):
    if not os.path.exists(os.path.join(root, name, "unet_b25.npy")):
        continue
    out = load(name)
    if not np.isfinite(out).all():
        print(f"{name:16s} NON-FINITE OUTPUT"); continue
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)
    print(f"{name:16s} {np.abs(out - ref).max():12.2e} {rel(out, ref):11.2e} "
          f"{np.abs(out - base).max():15.2e} {rel(out, base):14.2e}")
PY

# ---- 3. PyTorch in the same session
python3 "$repo/tools/torch_unet_anchor.py" --batch 1,8,25 --iterations "$iterations" > "$work/torch.json" \
  2> "$work/torch.err" || say "torch anchor failed: $(tail -c 400 "$work/torch.err")"
python3 - "$work/torch.json" <<'PY' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1]))
print(r["device"], "torch", r["torch"])
for k in ("eager_fp32", "eager_fp16_channels_last"):
    for x in r[k]:
        print(f'torch {k:26s} batch {x["batch"]:3d}: {x["median_ms"]:7.2f} ms  {x["fps_median"]:7.0f} frames/s')
PY
mkdir -p "$out"
cp "$summary" "$out/summary.txt"
tar -C "$work" -czf "$out/results.tgz" --exclude=outputs .
ls -la "$out"
