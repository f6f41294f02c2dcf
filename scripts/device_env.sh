# Sourced ON the device machine by the device_*.sh scripts: copies .bundle/* (made by
# scripts/device_bundle.sh and carried over several calls) into /root/bundle, unpacks the binary,
# its libraries and the CUDA EP, and sets PATH and LD_LIBRARY_PATH. Sets $b to the bundle folder.
b=/root/bundle
mkdir -p "$b/run"
cp -n "$repo"/.bundle/* "$b"/ 2>/dev/null || true
export PATH=$b:$b/run:$PATH  # run/: lipsync, eu-stack
ln -sf zstd "$b/unzstd"
[[ -f "$b/base.tar.zst" ]] || cat "$b"/base.part.* > "$b/base.tar.zst"
[[ -x "$b/run/lipsync" ]] || tar -C "$b/run" -xf "$b/base.tar.zst" --use-compress-program=unzstd
[[ -f "$b/run/lib/libonnxruntime_providers_cuda.so" ]] ||
  cat "$b"/cuda_ep.part.* | zstd -q -d --long=27 -o "$b/run/lib/libonnxruntime_providers_cuda.so"
nv=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
export LD_LIBRARY_PATH=$b/run/lib:$nv/cu13/lib:$nv/cudnn/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LIPSYNC_COMMIT=$(cat "$b/commit" 2>/dev/null || echo unknown)
