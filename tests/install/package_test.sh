#!/usr/bin/env bash
# usage: package_test.sh BUILD_DIR SOURCE_DIR
# Builds the .deb with CPack, checks its control data (Depends from dpkg-shlibdeps) and files,
# unpacks it with dpkg-deb -x into a temporary folder and runs the binary from there.
set -euo pipefail
build=$1 source=$2
. "$(dirname "$0")/relocatable_checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" > "$tmp/cpack.log" ||
  { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/pkg/lipsync_*.deb)
dpkg-deb --info "$deb" | tee "$tmp/info"
for dependency in libc6 libgrpc++ libavcodec libyaml-cpp libopencv-imgproc; do
  grep -q "^ Depends:.*$dependency" "$tmp/info" ||
    { echo "FAIL: Depends does not name $dependency"; exit 1; }
done
dpkg-deb --contents "$deb" > "$tmp/contents"
for file in ./usr/bin/lipsync ./usr/lib/lipsync/libonnxruntime.so.1 \
            ./usr/share/doc/lipsync/copyright ./usr/share/lipsync/demo/avatar.mp4; do
  grep -q " $file\$" "$tmp/contents" || { echo "FAIL: the package has no $file"; exit 1; }
done
# The CUDA plugins (CUDA 13, cuDNN 9: no Debian packages) stay out, even when the build has them.
if grep -q "providers_cuda" "$tmp/contents"; then
  echo "FAIL: the package holds the CUDA execution provider"; exit 1
fi
dpkg-deb -x "$deb" "$tmp/root"
check_binary "$tmp/root/usr/bin/lipsync" "$build" "$source"
check_render "$tmp/root/usr/bin/lipsync" "$tmp/work"
echo "package: ok"
