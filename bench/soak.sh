#!/usr/bin/env bash
# soak.sh — what `make soak` runs: 200 connections for 60 s mixing status reads, verifies and bot ticks
# (bench/soak.pl; SOAK_SECONDS, SOAK_CONNS, SOAK_WARMUP_S to change). Same cluster handling as bench.sh.
set -euo pipefail
BENCH_SCRIPT=soak.pl exec "$(dirname -- "${BASH_SOURCE[0]}")/bench.sh"
