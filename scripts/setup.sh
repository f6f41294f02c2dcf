#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine:
#   1. the Debian packages the build, tests and demo need;
#   2. ONNX Runtime 1.29.0 (headers + CPU library) from its npm package, integrity-checked,
#      unpacked into third_party/onnxruntime/{include,lib};
#   3. the Kubernetes schema validator for deploy/ (npm, from deploy/validate's lockfile) into
#      third_party/k8s-validate, and puppeteer-core for the browser tests (npm, from
#      tests/browser's lockfile) into third_party/browser-test;
#   4. with --cuda, also the CUDA execution-provider libraries (CUDA 13 + cuDNN 9 build).
# Re-running it does nothing that is already done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
want_cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) want_cuda=1 ;;
    -h|--help) echo "usage: scripts/setup.sh [--cuda]"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- Debian packages
apt_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libswscale-dev libx264-dev
  libjpeg62-turbo-dev libopencv-core-dev libopencv-imgproc-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libboost-dev
  python3 python3-onnx python3-numpy python3-torch espeak-ng nodejs npm
  haproxy  # the cluster's proxy (deploy/haproxy, tests/cluster)
  python3-grpcio python3-websockets  # the Python examples (docs/api.md), run by ctest docs_commands
  chromium  # the web page's tests (tests/browser), headless
  # WebRTC output of live sessions (src/webrtc): webrtcbin, libnice ICE, x264, Opus, RTP
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-nice
  coturn  # a real TURN relay for the WebRTC tests (tests/webrtc), started by them
  clang-14 libclang-rt-14-dev  # the fuzzers (fuzz/, scripts/fuzz.sh)
)

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# node/npm may come from outside Debian's packages; only the commands matter.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for pkg in "${missing[@]}"; do [[ "$pkg" == nodejs || "$pkg" == npm ]] || filtered+=("$pkg"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -eq 0 ]] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- ONNX Runtime from npm
ort_version=1.29.0
npm_version=0.4.9
cpu_pkg=com.github.asus4.onnxruntime
cpu_integrity='sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg=='
gpu_pkg=com.github.asus4.onnxruntime.linux-x64-gpu
gpu_integrity='sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w=='

ort_dir="$root/third_party/onnxruntime"
cache_dir="$root/third_party/.cache"
mkdir -p "$cache_dir"

# fetch_npm PACKAGE INTEGRITY -> prints the path of the verified tarball
fetch_npm() {
  local pkg=$1 integrity=$2
  local tgz="$cache_dir/$pkg-$npm_version.tgz"
  if [[ ! -f "$tgz" ]] || ! check_integrity "$tgz" "$integrity"; then
    rm -f "$tgz"
    echo "setup: fetching $pkg@$npm_version from the npm registry" >&2
    (cd "$cache_dir" && npm pack --silent "$pkg@$npm_version" >/dev/null)
    check_integrity "$tgz" "$integrity" || {
      echo "setup: integrity check failed for $tgz" >&2; rm -f "$tgz"; exit 1; }
  fi
  echo "$tgz"
}

check_integrity() {
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
  [[ "$actual" == "$2" ]]
}

stamp="$ort_dir/.installed-$ort_version"
if [[ ! -f "$stamp" ]]; then
  tgz=$(fetch_npm "$cpu_pkg" "$cpu_integrity")
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  headers='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers'
  tar -xzf "$tgz" -C "$tmp" "$headers" package/Plugins/Linux/x64/libonnxruntime.so
  rm -rf "$ort_dir"
  mkdir -p "$ort_dir/include" "$ort_dir/lib"
  cp "$tmp/$headers"/*.h "$ort_dir/include/"
  cp "$tmp/package/Plugins/Linux/x64/libonnxruntime.so" "$ort_dir/lib/"
  # The library's SONAME is libonnxruntime.so.1; binaries look for that name at run time.
  soname=$(objdump -p "$ort_dir/lib/libonnxruntime.so" | awk '/SONAME/ {print $2}')
  [[ -z "$soname" || "$soname" == libonnxruntime.so ]] || ln -sf libonnxruntime.so "$ort_dir/lib/$soname"
  touch "$stamp"
  echo "setup: ONNX Runtime $ort_version (CPU) in $ort_dir"
fi
# Its license and third-party notices go into the installed program and the .deb.
if [[ ! -f "$ort_dir/LICENSE" || ! -f "$ort_dir/ThirdPartyNotices.txt" ]]; then
  tgz=$(fetch_npm "$cpu_pkg" "$cpu_integrity")
  tar -xzf "$tgz" -C "$ort_dir" --strip-components=1 package/LICENSE package/ThirdPartyNotices.txt
fi

if ((want_cuda)) && [[ ! -f "$ort_dir/.installed-cuda-$ort_version" ]]; then
  tgz=$(fetch_npm "$gpu_pkg" "$gpu_integrity")
  tar -xzf "$tgz" -C "$ort_dir/lib" --strip-components=4 \
    package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
    package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
  touch "$ort_dir/.installed-cuda-$ort_version"
  echo "setup: ONNX Runtime $ort_version CUDA EP in $ort_dir/lib"
fi

# ---------------------------------------------------------------- npm tools for the tests
# npm_tool LOCKFILE_DIR DEST NAME: exact versions from LOCKFILE_DIR/package-lock.json
# (integrity-checked by npm ci) into DEST, again only when the lockfile changed.
npm_tool() {
  local from=$1 dest=$2 name=$3
  if ! cmp -s "$from/package-lock.json" "$dest/package-lock.json" ||
     [[ ! -d "$dest/node_modules" ]]; then
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$from/package.json" "$from/package-lock.json" "$dest/"
    (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --silent)
    echo "setup: $name in $dest"
  fi
}
npm_tool "$root/deploy/validate" "$root/third_party/k8s-validate" "Kubernetes schema validator"
# puppeteer-core drives Debian's chromium (no browser download: --ignore-scripts, and -core).
npm_tool "$root/tests/browser" "$root/third_party/browser-test" "puppeteer-core for the browser tests"
