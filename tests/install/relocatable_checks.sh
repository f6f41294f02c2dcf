# Checks shared by install_test.sh and package_test.sh (sourced). Each prints what failed and
# exits non-zero.

# check_binary BIN BUILD_DIR SOURCE_DIR: the RUNPATH is relative to the binary, ONNX Runtime
# resolves beside it, and no build-tree or source-tree path is left in what the binary loads.
check_binary() {
  local bin=$1 build=$2 source=$3
  local runpath
  runpath=$(readelf -d "$bin" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
  if [[ "$runpath" != '$ORIGIN/../lib/lipsync' ]]; then
    echo "FAIL: $bin has RUNPATH '$runpath', expected '\$ORIGIN/../lib/lipsync'"
    exit 1
  fi
  local ort
  ort=$(env -u LD_LIBRARY_PATH ldd "$bin" | awk '/libonnxruntime/ {print $3}')
  if [[ "$(realpath "$(dirname "$ort")")" != "$(realpath "$(dirname "$bin")/../lib/lipsync")" ]]; then
    echo "FAIL: $bin loads ONNX Runtime from '$ort', not from beside itself"
    exit 1
  fi
  # Debug info names the sources by design; what the program itself holds must not.
  local stripped
  stripped=$(mktemp)
  objcopy --strip-debug "$bin" "$stripped"
  for tree in "$(realpath "$build")" "$(realpath "$source")"; do
    if strings "$stripped" | grep -F "$tree"; then
      echo "FAIL: $bin holds the path '$tree' (above)"
      rm -f "$stripped"
      exit 1
    fi
  done
  rm -f "$stripped"
}

# check_render BIN WORK_DIR: `lipsync render` with no arguments, from WORK_DIR, renders the
# installed demo to WORK_DIR/out/demo.mp4; then the installed example configuration checks.
check_render() {
  local bin=$1 work=$2
  mkdir -p "$work"
  (cd "$work" && env -u LD_LIBRARY_PATH "$bin" render) | tee "$work/render.log"
  if ! grep -Eq "^out/demo.mp4: [0-9]+ frames" "$work/render.log"; then
    echo "FAIL: render did not report the demo's frames"
    exit 1
  fi
  if [[ ! -s "$work/out/demo.mp4" ]]; then
    echo "FAIL: no $work/out/demo.mp4"
    exit 1
  fi
  local example
  example="$(dirname "$bin")/../share/lipsync/examples/server.yaml"
  (cd "$work" && "$bin" config check "$example")
}
