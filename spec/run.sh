#!/usr/bin/env bash
# spec/run.sh — what `make test` calls after building: the whole suite in one prove run.
#
#   spec/e2e/**/*.t        end-to-end specs (Perl, real binary, real Postgres)
#   spec/faults/quick/*.t  the quick fault specs (docs/faults.md); `make faults` runs all of spec/faults
#   $GH_UNIT_DIR/test_*    compiled C unit tests (executables printing TAP, built by the
#                          Makefile from spec/unit/*.c; default bin/spec)
#   spec/policy/**/*.lua   policy specs, run as `bin/gatehouse spec FILE`
#                          (spec/support/TAP/Parser/SourceHandler/GatehouseLua.pm)
#
# One throwaway Postgres cluster serves the whole run: it is started here on a free
# loopback port, its maintenance URL is exported as GH_TEST_PG_URL (each e2e spec
# creates its own databases in it), and it is stopped and deleted on exit.
#
# Environment:
#   PROVE_ARGS  extra prove arguments, e.g. PROVE_ARGS="-v --timer"
#   GH_SPEC_JOBS  specs run at once (default 3; 1 runs them one after another). Each spec has its own
#               databases, ports and server processes, so they may overlap; most of a spec's time is
#               waiting for an outcome (a server start, a timer, a deadline), not CPU: on 2 cores three at
#               once take the suite from ~980 s to ~460 s. `make faults` runs its specs one at a time.
#   GH_SPEC     run only these files/directories (space-separated), e.g.
#               GH_SPEC=spec/e2e/01_health.t make test
#   GATEHOUSE_BIN  the binary under test (default bin/gatehouse; make asan sets another)
#
# spec/run.sh --exec CMD [ARGS...] runs CMD instead of prove, with the same cluster and environment
# (make acceptance: spec/acceptance/acceptance.pl); the exit status is CMD's.
#   GH_UNIT_DIR    where the compiled unit tests are (default bin/spec)
# Exit status: prove's.
set -uo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root" || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-spec.XXXXXX") || exit 1
chmod 0711 "$tmp" # the cluster owner (postgres when we are root) must enter it

cleanup() {
  "$root/runtime/tools/pg-embedded.sh" destroy "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  perl -MIO::Socket::INET -e \
    'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die "$!\n"; print $s->sockport, "\n"'
}

port=$(free_port) || { echo "spec/run.sh: no free port" >&2; exit 1; }
url=$(GATEHOUSE_PG_FAST=1 "$root/runtime/tools/pg-embedded.sh" start "$tmp/pg" --port "$port") || {
  echo "spec/run.sh: could not start the test Postgres cluster" >&2
  exit 1
}
# the maintenance database of the same cluster, admin user gatehouse
GH_TEST_PG_URL=${url/:\/\/\/gatehouse\?/:\/\/\/postgres\?}
export GH_TEST_PG_URL
echo "# test Postgres: $GH_TEST_PG_URL"
# the machine's clock for this run (make test-at moves it): every spec must pass whatever it says
echo "# clock: $(date -u '+%A %Y-%m-%dT%H:%M:%SZ')${FAKETIME:+ (faketime $FAKETIME)}"

if [ "${1:-}" = "--exec" ]; then
  shift
  export PERL5LIB="$root/spec/support${PERL5LIB:+:$PERL5LIB}"
  "$@"
  exit $?
fi

tests=()
if [ -n "${GH_SPEC:-}" ]; then
  read -r -a tests <<<"$GH_SPEC"
else
  [ -d spec/e2e ] && tests+=(spec/e2e)
  [ -d spec/faults/quick ] && tests+=(spec/faults/quick) # the quick fault specs; `make faults` runs all of spec/faults
  for f in "${GH_UNIT_DIR:-bin/spec}"/test_*; do
    [ -f "$f" ] && [ -x "$f" ] && tests+=("$f")
  done
  [ -d spec/policy ] && tests+=(spec/policy)
fi
if [ ${#tests[@]} -eq 0 ]; then
  echo "spec/run.sh: no specs found" >&2
  exit 1
fi

export PERL5LIB="$root/spec/support${PERL5LIB:+:$PERL5LIB}"
read -r -a extra <<<"${PROVE_ARGS:-}"
jobs=${GH_SPEC_JOBS:-3}
case $jobs in
  '' | *[!0-9]* | 0) echo "spec/run.sh: GH_SPEC_JOBS must be a positive integer (got '$jobs')" >&2; exit 1 ;;
esac

prove -r --ext .t --ext .lua -j"$jobs" \
  --source GatehouseLua --source Perl --source Executable \
  "${extra[@]}" "${tests[@]}"
