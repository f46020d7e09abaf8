#!/usr/bin/env bash
# bench.sh — what `make bench` runs after building: every PRODUCT.md §8 figure, one table, unattended.
#
# Starts (or reuses) a private Postgres cluster under $BENCH_DIR/pg (default bench/var; durable settings:
# fsync and synchronous_commit on, as `make run` uses), then bench/bench.pl provisions a fresh database,
# seeds it with COPY, starts the provider simulator and gatehouse, and measures. The cluster is stopped
# afterwards (its data is kept; BENCH_CLEAN=1 deletes it). Results: $BENCH_DIR/results.md and .json.
# Tuning knobs (environment): BENCH_SECONDS, BENCH_EVENTS, BENCH_BOTS, BENCH_BOT_SECONDS, BENCH_PORTFOLIO_BOTS,
# BENCH_PORTFOLIO_DAYS, BENCH_SKIP, BENCH_STRICT=1 (exit 1 when a target fails) — see bench/bench.pl.
# bench/soak.sh runs bench/soak.pl the same way.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
: "${GATEHOUSE_BIN:=$root/bin/gatehouse}"
: "${BENCH_TOOLS:=$root/build/release/bench}"
: "${BENCH_DIR:=$root/bench/var}"
export GATEHOUSE_BIN BENCH_TOOLS BENCH_DIR
for t in gen_events static_evhttp loadgen gates_bench; do
  [ -x "$BENCH_TOOLS/$t" ] || { echo "bench.sh: $BENCH_TOOLS/$t missing (run make bench)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench.sh: wrk is not installed (runtime/tools/deps.sh installs it)" >&2; exit 1; }
mkdir -p "$BENCH_DIR"
chmod 0711 "$BENCH_DIR"
url=$(runtime/tools/pg-embedded.sh start "$BENCH_DIR/pg")
cleanup() {
  if [ "${BENCH_CLEAN:-0}" = 1 ]; then
    runtime/tools/pg-embedded.sh destroy "$BENCH_DIR/pg" >/dev/null 2>&1 || true
  else
    runtime/tools/pg-embedded.sh stop "$BENCH_DIR/pg" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
export DATABASE_URL=${url/:\/\/\/gatehouse\?/:\/\/\/postgres\?}
start=$(date +%s)
perl "bench/${BENCH_SCRIPT:-bench.pl}"
echo "bench.sh: done in $(( $(date +%s) - start )) s"
