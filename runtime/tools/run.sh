#!/usr/bin/env bash
# run.sh — what `make run` calls after building: serve gatehouse from this checkout.
#
# Without DATABASE_URL it starts (or reuses) the embedded Postgres cluster under
# ${GATEHOUSE_VAR:-$PWD/var} and points the server at it. The server migrates at
# start and listens on GATEHOUSE_LISTEN (default 127.0.0.1:8080).
#
# The embedded cluster keeps running after the server stops, and its data stays in
# var/ between runs. Stop it with:
#     runtime/tools/pg-embedded.sh stop var
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$root"

if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL=$("$root/runtime/tools/pg-embedded.sh" start "${GATEHOUSE_VAR:-$PWD/var}")
  export DATABASE_URL
  echo "run.sh: embedded Postgres: $DATABASE_URL (stop it with: runtime/tools/pg-embedded.sh stop ${GATEHOUSE_VAR:-var})" >&2
fi

exec "${GATEHOUSE_BIN:-$root/bin/gatehouse}" serve "$@"
