#!/usr/bin/env bash
# deps.sh — install the Debian packages gatehouse needs to build, run and test.
#
#   deps.sh           what `make run` and `make test` need
#   deps.sh fuzz      plus clang and libFuzzer (`make fuzz`)
#   deps.sh valgrind  plus valgrind (`make valgrind`)
#   deps.sh faketime  plus libfaketime (`make test-at`)
#
# Idempotent: asks dpkg which packages are missing and installs only those.
# When everything is present it is a fast no-op (one dpkg-query call).
# As root it installs directly; otherwise through sudo when available; else it
# prints the exact apt-get command to run and exits 1.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config
  liblua5.4-dev lua-cjson-dev
  libevent-dev libcurl4-openssl-dev libpq-dev libsodium-dev libssl-dev libjansson-dev zlib1g-dev
  postgresql postgresql-client
  perl
  oathtool
  clang-format # make check and spec/e2e/78_structure.t hold runtime/ to .clang-format
  wrk # HTTP load generator: make bench, make soak, spec/e2e/70_soak_short.t
)
# The provider simulator of the test suite runs on Node.js; use the machine's node when there is one
# (any version >= 18), else Debian's nodejs package.
if ! command -v node >/dev/null 2>&1; then
  PACKAGES+=(nodejs)
fi
# The web Observatory is bundled with npm (make web) and its browser specs drive Debian's chromium
# through playwright-core (never a downloaded browser).
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(npm)
fi
PACKAGES+=(chromium)

case "${1:-}" in
  fuzz) PACKAGES+=(clang libclang-rt-14-dev) ;; # libclang-rt-14-dev holds libclang_rt.fuzzer for clang 14
  valgrind) PACKAGES+=(valgrind) ;;
  faketime) PACKAGES+=(faketime) ;;
esac

missing=()
# dpkg-query prints "name<TAB>install ok installed" for installed packages and
# nothing (plus a message on stderr) for unknown ones.
installed=$(dpkg-query -W -f='${Package}\t${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
  if ! grep -qx "${p}	install ok installed" <<<"$installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
elif command -v sudo >/dev/null 2>&1 && [ -t 0 ]; then
  echo "deps: installing ${missing[*]} with sudo" >&2
  as_root=(sudo)
else
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

# Only refresh the package lists when apt cannot find a candidate for one of
# the missing packages (a fresh container has empty lists).
need_update=0
for p in "${missing[@]}"; do
  if ! apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
    need_update=1
    break
  fi
done
if [ $need_update -eq 1 ]; then
  "${as_root[@]}" apt-get update -qq >&2
fi

install() {
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
if ! install; then
  # stale package lists (a version no longer on the mirror): refresh once and retry
  [ $need_update -eq 1 ] && exit 1
  "${as_root[@]}" apt-get update -qq >&2
  install
fi
echo "deps: installed ${missing[*]}"
