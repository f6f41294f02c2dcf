#!/usr/bin/env bash
# run_fuzzer.sh FUZZ_BUILD_DIR NAME SECONDS WORK_DIR
# Runs fuzz target NAME of the fuzz build for SECONDS, starting from its seed corpus
# (fuzz/corpus/NAME) and the corpus grown by earlier runs (WORK_DIR/corpus/NAME). A finding is
# saved as WORK_DIR/artifacts/NAME-* and fails the run. Exit 77 (skipped) when the fuzz preset
# was never configured; failure when it was but NAME did not build.
set -euo pipefail
build=$1 name=$2 seconds=$3 work=$4
root=$(cd "$(dirname "$0")/.." && pwd)
binary="$build/fuzz/fuzz_$name"

if [[ ! -x "$binary" ]]; then
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    echo "SKIPPED: the fuzz preset is not built ($build): 'make test' builds it, or run" \
         "'cmake --preset fuzz && cmake --build --preset fuzz' (needs clang)"
    exit 77
  fi
  echo "FAILED: $binary is missing: the fuzz build in $build did not build fuzz_$name" >&2
  exit 1
fi

corpus="$work/corpus/$name"
artifacts="$work/artifacts"
mkdir -p "$corpus" "$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# One input at most 64 KiB; 10 s per input, 2 GiB in all and no single allocation over 512 MiB:
# more than any parser may spend on one small input.
exec "$binary" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
  "$corpus" "$root/fuzz/corpus/$name"
