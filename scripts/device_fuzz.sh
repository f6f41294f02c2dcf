#!/usr/bin/env bash
# Runs every fuzz target for longer than this machine's cores allow, on the device machine's
# CPUs (issue 19: "fuzzers run >= 10 min each"), in two modes:
#
#   here:  scripts/device_fuzz.sh pack [FUZZ_BUILD_DIR [NAME...]]   (default build/fuzz and every
#          target; build it first: cmake --preset fuzz && cmake --build --preset fuzz)
#     packs into .fuzz_bundle/ (git-ignored; name it in the device call's `carry`):
#       fuzz.tar.zst  the fuzz binaries (debug info stripped, symbols kept), every shared library
#                     they load that a bare Ubuntu 24.04 lacks (FFmpeg, yaml-cpp, libjpeg-turbo,
#                     gRPC, ONNX Runtime, ...; not glibc, libstdc++ or libgcc, which it has in
#                     newer versions), fuzz/run_fuzzer.sh and the seed corpora
#       zstd          the unpacker (the device image has none)
#       commit        the commit the binaries were built from
#   there: scripts/device_fuzz.sh run SECONDS [OUT_DIR]     (default $OUT, else build/device-fuzz)
#     unpacks the bundle, runs every target at once for SECONDS (one process each, through the
#     bundle's run_fuzzer.sh: its limits, its seeds), then prints a table (target, seconds of this
#     run and in all, runs, corpus units, new units, findings) and writes to OUT_DIR:
#       summary.txt      the table, the commit and the machine's CPU count
#       stats.txt        each target's final stats and the last lines of its log
#       corpus.tar.zst   the corpora grown so far and each target's seconds in all
#       findings.tar.gz  only if a target found something: the inputs and whole logs
#     (few files: a device call brings back at most eight). Exits non-zero on any finding.
#     One device command runs at most 600 s, so 10 minutes a target take two runs: copy the
#     first run's corpus.tar.zst into .fuzz_bundle/ here and run again; a run starts from the
#     bundle's corpus.tar.zst when there is one, and its table adds up the seconds.
# Replay a finding here: build/fuzz/fuzz/fuzz_NAME FILE (same commit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$root/.fuzz_bundle
usage="usage: $0 pack [FUZZ_BUILD_DIR] | run SECONDS [OUT_DIR]"

# Libraries every Ubuntu 24.04 has in a newer version than this build's: glibc's, libstdc++,
# libgcc_s. Everything else a target loads travels.
system_library() {
  case $(basename "$1") in
    libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | libresolv.so* | libutil.so* | \
      libmvec.so* | ld-linux* | libstdc++.so* | libgcc_s.so*) return 0 ;;
  esac
  return 1
}

pack() {
  local build=${1:-$root/build/fuzz}
  local binaries=("$build"/fuzz/fuzz_*)
  if (($# > 1)); then  # only the named targets (fewer libraries)
    binaries=()
    for name in "${@:2}"; do binaries+=("$build/fuzz/fuzz_$name"); done
  fi
  [[ -x "${binaries[0]}" ]] || {
    echo "device_fuzz: no fuzz binaries in $build/fuzz: cmake --preset fuzz &&" \
      "cmake --build --preset fuzz" >&2
    exit 1
  }
  stage=$(mktemp -d)  # global: the trap runs after pack returns
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/build/fuzz" "$stage/lib" "$stage/fuzz"
  for binary in "${binaries[@]}"; do
    strip --strip-debug -o "$stage/build/fuzz/$(basename "$binary")" "$binary"
  done
  ldd "${binaries[@]}" | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
    system_library "$lib" || cp -L "$lib" "$stage/lib/"
  done
  cp "$root/fuzz/run_fuzzer.sh" "$stage/fuzz/"
  cp -r "$root/fuzz/corpus" "$stage/fuzz/"
  mkdir -p "$bundle"
  tar -C "$stage" -cf - . | zstd -q -19 -T2 -f -o "$bundle/fuzz.tar.zst"
  cp /usr/bin/zstd "$bundle/zstd"
  git -C "$root" rev-parse HEAD >"$bundle/commit"
  echo "device_fuzz: ${#binaries[@]} targets, $(ls "$stage/lib" | wc -l) libraries," \
    "$(du -sh "$bundle" | cut -f1) in $bundle"
  # A device call carries at most 64 MiB, the repository included.
  local bytes
  bytes=$(du -cb "$bundle"/fuzz.tar.zst "$bundle"/zstd | tail -n 1 | cut -f1)
  if ((bytes > 60 * 1024 * 1024)); then
    echo "device_fuzz: the bundle is $((bytes >> 20)) MiB, over the 60 MiB a device call can" \
      "carry beside the repository" >&2
    exit 1
  fi
}

# The value of libFuzzer's final "stat::NAME: N" line in a log, or "?".
stat_of() {
  local value
  value=$(sed -n "s/^stat::$2: *\([0-9]*\).*/\1/p" "$1" | tail -n 1)
  echo "${value:-?}"
}

run() {
  local seconds=$1 out=${2:-${OUT:-$root/build/device-fuzz}}
  [[ "$seconds" =~ ^[0-9]+$ ]] || { echo "$usage" >&2; exit 2; }
  [[ -f "$bundle/fuzz.tar.zst" ]] || {
    echo "device_fuzz: no $bundle/fuzz.tar.zst: run '$0 pack' here and carry .fuzz_bundle" >&2
    exit 1
  }
  local work zstd=$bundle/zstd
  work=$(mktemp -d)
  mkdir -p "$out" "$work/logs" "$work/run/seconds"
  chmod +x "$zstd"
  "$zstd" -q -d -c "$bundle/fuzz.tar.zst" | tar -C "$work" -xf -
  if [[ -f "$bundle/corpus.tar.zst" ]]; then  # an earlier run's corpora and seconds
    "$zstd" -q -d -c "$bundle/corpus.tar.zst" | tar -C "$work" -xf -
  fi
  export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local targets=() pids=()
  for binary in "$work"/build/fuzz/fuzz_*; do targets+=("${binary##*/fuzz_}"); done
  echo "device_fuzz: ${#targets[@]} targets for $seconds s each on $(nproc) CPUs," \
    "commit $(cat "$bundle/commit")"
  for name in "${targets[@]}"; do
    bash "$work/fuzz/run_fuzzer.sh" "$work/build" "$name" "$seconds" "$work/run" \
      >"$work/logs/$name.log" 2>&1 &
    pids+=($!)
  done
  local failed=0 i
  {
    printf '| %-16s | %5s | %5s | %12s | %6s | %5s | %-22s |\n' target s "s all" runs corpus \
      new findings
    printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------------------ ------- ------- -------------- \
      -------- ------- ------------------------
  } >"$out/summary.txt"
  : >"$out/stats.txt"
  for i in "${!targets[@]}"; do
    local name=${targets[$i]} code=0
    wait "${pids[$i]}" || code=$?
    local log=$work/logs/$name.log
    local artifacts
    artifacts=$(find "$work/run/artifacts" -name "$name-*" 2>/dev/null | wc -l)
    local findings=none
    if ((code != 0 || artifacts > 0)); then
      findings="exit $code, $artifacts input(s)"
      failed=1
    fi
    # The time from "Done N runs in S second(s)"; the corpus from the last "corp: U/" status.
    local took corpus total
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
    total=$(($(cat "$work/run/seconds/$name" 2>/dev/null || echo 0) + ${took:-0}))
    echo "$total" >"$work/run/seconds/$name"
    printf '| %-16s | %5s | %5s | %12s | %6s | %5s | %-22s |\n' "$name" "${took:-?}" "$total" \
      "$(stat_of "$log" number_of_executed_units)" "${corpus:-?}" \
      "$(stat_of "$log" new_units_added)" "$findings" >>"$out/summary.txt"
    {
      echo "== $name (exit $code)"
      grep '^stat::' "$log" || true
      tail -n 15 "$log"
    } >>"$out/stats.txt"
  done
  echo "commit $(cat "$bundle/commit"), $(nproc) CPUs, $(date -u +%FT%TZ)" >>"$out/summary.txt"
  tar -C "$work" -cf - run/corpus run/seconds | "$zstd" -q -19 -T0 -f -o "$out/corpus.tar.zst"
  if ((failed)); then
    tar -C "$work" -czf "$out/findings.tar.gz" logs run/artifacts
  fi
  cat "$out/summary.txt"
  rm -rf "$work"
  return "$failed"
}

case ${1:-} in
  pack) pack "${@:2}" ;;
  run) [[ $# -ge 2 ]] || { echo "$usage" >&2; exit 2; }; run "${@:2}" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
