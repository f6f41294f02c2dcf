#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...]
# Builds the fuzz preset (clang, ASan+UBSan) and runs every fuzz target (or the named ones) for
# SECONDS each (default 600), one after the other, growing build/fuzz/work/corpus/TARGET from
# the seeds in fuzz/corpus/TARGET. A finding is saved as build/fuzz/work/artifacts/TARGET-*;
# reproduce it with `build/fuzz/fuzz/fuzz_TARGET FILE`. Exits non-zero if any target failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
shift || true
cd "$root"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${JOBS:-$(nproc)}"

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^lipsync_fuzzer(\([a-z0-9_]*\) .*/\1/p' fuzz/targets.cmake)
fi
failed=()
for target in "${targets[@]}"; do
  echo "== fuzz_$target for ${seconds} s"
  bash fuzz/run_fuzzer.sh build/fuzz "$target" "$seconds" build/fuzz/work || failed+=("$target")
done
if ((${#failed[@]})); then
  echo "fuzz.sh: findings or failures in: ${failed[*]} (see build/fuzz/work/artifacts)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets ran ${seconds} s each without a finding"
