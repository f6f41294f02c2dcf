#!/usr/bin/env bash
# usage: install_test.sh BUILD_DIR SOURCE_DIR
# `cmake --install` into a temporary prefix, moved elsewhere afterwards (relocatable), then
# `lipsync render` and `lipsync config check` run from another folder.
set -euo pipefail
build=$1 source=$2
. "$(dirname "$0")/relocatable_checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
mv "$tmp/prefix" "$tmp/moved"
for file in bin/lipsync lib/lipsync/libonnxruntime.so.1 share/lipsync/demo/demo_unet.onnx \
            share/lipsync/examples/server.yaml share/doc/lipsync/LICENSE \
            share/lipsync/proto/lipsync_v1.proto share/lipsync/examples/python/native_client.py; do
  [[ -f "$tmp/moved/$file" ]] || { echo "FAIL: $file not installed"; exit 1; }
done
check_binary "$tmp/moved/bin/lipsync" "$build" "$source"
check_render "$tmp/moved/bin/lipsync" "$tmp/work"
echo "install: ok"
