#!/usr/bin/env bash
# fleet.sh — what `make fleet` runs: three gatehouse instances share 600 PAPER bots on shard leases; kill -9,
# SIGSTOP/SIGCONT and a join, then the hand-over table (bench/fleet.pl; FLEET_BOTS, FLEET_LEASE_S, FLEET_PAUSE_S
# to change). Same cluster handling as bench.sh; the table is written to $BENCH_DIR/fleet.md.
set -euo pipefail
BENCH_SCRIPT=fleet.pl exec "$(dirname -- "${BASH_SOURCE[0]}")/bench.sh"
