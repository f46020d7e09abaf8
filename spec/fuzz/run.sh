#!/usr/bin/env bash
# spec/fuzz/run.sh — what `make fuzz` calls after building: every libFuzzer target for FUZZ_SECONDS each.
#
#   spec/fuzz/run.sh build/fuzz/fuzz_bars build/fuzz/fuzz_body ...
#
# Target build/fuzz/fuzz_NAME starts from the committed seeds in spec/fuzz/corpus/NAME (read only) and keeps
# what it finds in build/fuzz/corpus/NAME (kept between runs, never committed). A crash, a leak, a sanitizer
# report, a timeout (> 10 s on one input) or an out-of-memory (> 2 GB) is a finding: the input is saved as
# build/fuzz/artifacts/NAME-crash-<sha1> (reproduce: build/fuzz/fuzz_NAME <that file>) and the run fails.
# Runs from the repository root (fuzz_body loads the repository's policy files).
#
# Environment: FUZZ_SECONDS (default 60), FUZZ_ARGS (extra libFuzzer flags, e.g. -jobs=2).
# Exit status: 0 when every target ran its time without a finding, else 1.
set -uo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$root" || exit 1
seconds=${FUZZ_SECONDS:-60}
read -r -a extra <<<"${FUZZ_ARGS:-}"
mkdir -p build/fuzz/artifacts
export GATEHOUSE_HOME="$root"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
printf '%-12s %8s %10s %8s %s\n' target seconds execs corpus result
for bin in "$@"; do
  name=$(basename "$bin")
  name=${name#fuzz_}
  seeds="spec/fuzz/corpus/$name"
  work="build/fuzz/corpus/$name"
  log="build/fuzz/$name.log"
  mkdir -p "$work"
  [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; failed+=("$name"); continue; }
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/artifacts/$name-" "${extra[@]}" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  corpus=$(find "$work" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FINDING (exit $rc; see $log and build/fuzz/artifacts/)"
    failed+=("$name")
    grep -m 5 -E 'ERROR:|SUMMARY:|runtime error|Test unit written' "$log" >&2
  fi
  printf '%-12s %8s %10s %8s %s\n' "$name" "$seconds" "${execs:-?}" "$corpus" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: $# targets, ${seconds} s each, no finding"
