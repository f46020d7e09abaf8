#!/usr/bin/env bash
# pg-embedded.sh — a private Postgres cluster for `make run` and the test suite.
#
#   pg-embedded.sh start   DIR [--port N]   ensure + start; print the DATABASE_URL (one line)
#   pg-embedded.sh stop    DIR              pg_ctl stop -m fast (no error if not running)
#   pg-embedded.sh status  DIR              exit 0 if running, 3 if not
#   pg-embedded.sh url     DIR              print the DATABASE_URL
#   pg-embedded.sh destroy DIR              stop and delete the cluster's data (tests)
#
# Layout: the cluster lives in BASE/pgdata, its unix socket in BASE/pgsock (mode 0700:
# trust auth is reachable only by the socket owner and root), its log in BASE/pg.log.
# BASE is DIR itself, unless DIR is not reachable by the user that runs the server
# (as root, initdb/pg_ctl run as `postgres`, which cannot enter e.g. /root/...) or the
# socket path would be too long for a unix socket; then BASE is
# /var/tmp/gatehouse-pg-<sha of DIR>, recorded in DIR/pg.location so later runs find it.
#
# Without --port the server does not listen on TCP at all; with --port N it also
# listens on 127.0.0.1:N (the URL still connects through the socket).
# Environment: GATEHOUSE_PG_FAST=1 turns off fsync (throwaway test clusters only).
set -euo pipefail

prog=pg-embedded.sh
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir_arg=$2
shift 2
port=""
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || usage; port=$2; shift 2 ;;
    --port=*) port=${1#--port=}; shift ;;
    *) usage ;;
  esac
done
if [ -n "$port" ] && ! [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]]; then
  die "bad port: $port"
fi

pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ ! -x "$pg_bin/pg_ctl" ]; then
  die "no Postgres server binaries under /usr/lib/postgresql/*/bin (run runtime/tools/deps.sh)"
fi

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

# as_owner CMD...: run a server-side binary as the cluster owner, from a directory
# that user can enter (pg_ctl and initdb complain when they cannot).
as_owner() {
  if [ $is_root -eq 1 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

can_owner_reach() { # can the cluster owner traverse into $1?
  if [ $is_root -eq 1 ]; then
    runuser -u postgres -- test -x "$1" 2>/dev/null
  else
    test -x "$1" -a -w "$1"
  fi
}

if [ "$cmd" = start ]; then
  mkdir -p -- "$dir_arg"
fi
if [ ! -d "$dir_arg" ]; then
  case "$cmd" in
    stop | destroy) exit 0 ;;
    status) echo "not running: no directory $dir_arg"; exit 3 ;;
    *) die "no such directory: $dir_arg" ;;
  esac
fi
dir=$(cd -- "$dir_arg" && pwd -P)

# ---- locate BASE -------------------------------------------------------------
pointer="$dir/pg.location"
fallback_base() {
  local sha
  sha=$(printf '%s' "$dir" | sha256sum | cut -c1-12)
  echo "/var/tmp/gatehouse-pg-$sha"
}
base=""
if [ -f "$pointer" ]; then
  base=$(head -n 1 "$pointer")
  case "$base" in /var/tmp/gatehouse-pg-*|"$dir") ;; *) die "unexpected location in $pointer: $base" ;; esac
elif [ -e "$dir/pgdata" ]; then
  base=$dir
elif [ "$cmd" = start ]; then
  reason=""
  if [ ${#dir} -gt 80 ]; then
    reason="socket path under $dir would be too long"
  elif ! can_owner_reach "$dir"; then
    if [ $is_root -eq 1 ]; then
      reason="user postgres cannot reach $dir"
    else
      reason="$dir is not writable"
    fi
  fi
  if [ -n "$reason" ]; then
    base=$(fallback_base)
    say "$reason; cluster placed in $base (recorded in $pointer)"
  else
    base=$dir
  fi
else
  base=$dir
fi

pgdata="$base/pgdata"
pgsock="$base/pgsock"
pglog="$base/pg.log"

running() { [ -f "$pgdata/PG_VERSION" ] && as_owner "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; }

# The port a running cluster uses (line 4 of postmaster.pid), else the one last saved.
current_port() {
  local p=""
  if [ -f "$pgdata/postmaster.pid" ]; then
    p=$(sed -n 4p "$pgdata/postmaster.pid" 2>/dev/null || true)
  fi
  [ -n "$p" ] || p=$(cat "$base/pg.port" 2>/dev/null || true)
  echo "$p"
}

# Postgres listens on TCP only when a port was asked for; the socket file is always
# .s.PGSQL.<port>, 5432 when none was given (it is a private directory).
print_url() {
  local p tcp
  p=$(current_port)
  tcp=$(cat "$base/pg.tcp" 2>/dev/null || echo 0)
  if [ "$tcp" = 1 ] && [ -n "$p" ]; then
    echo "postgresql:///gatehouse?host=$pgsock&user=gatehouse&port=$p"
  elif [ -n "$p" ] && [ "$p" != 5432 ]; then
    echo "postgresql:///gatehouse?host=$pgsock&user=gatehouse&port=$p"
  else
    echo "postgresql:///gatehouse?host=$pgsock&user=gatehouse"
  fi
}

conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# ---- commands ----------------------------------------------------------------
cmd_start() {
  # One start at a time per DIR; a concurrent second start waits and then reuses.
  exec 9>>"$dir/.pg-embedded.lock"
  flock -w 120 9 || die "timed out waiting for the lock on $dir"

  if [ "$base" != "$dir" ]; then
    if [ -L "$base" ] || { [ -e "$base" ] && [ ! -d "$base" ]; }; then
      die "$base exists and is not a directory"
    fi
    mkdir -p "$base"
    chmod 0700 "$base"
    # /var/tmp is shared: only reuse a directory that the cluster owner (or root) owns.
    local owner
    owner=$(stat -c %U "$base")
    if [ "$owner" != "$(id -un)" ] && [ "$owner" != postgres ]; then
      die "$base belongs to $owner; refusing to use it"
    fi
    echo "$base" >"$pointer.tmp" && mv "$pointer.tmp" "$pointer"
    ln -sfn "$pglog" "$dir/pg.log"
  fi
  if [ $is_root -eq 1 ]; then
    [ "$base" = "$dir" ] || chown postgres: "$base"
  fi

  if [ ! -f "$pgdata/PG_VERSION" ]; then
    if [ -e "$pgdata" ] && [ -n "$(ls -A "$pgdata" 2>/dev/null)" ]; then
      die "$pgdata exists but holds no cluster; remove it or pick another directory"
    fi
    mkdir -p "$pgdata"
    chmod 0700 "$pgdata"
    [ $is_root -eq 0 ] || chown postgres: "$pgdata"
    if ! as_owner "$pg_bin/initdb" -D "$pgdata" -A trust -U gatehouse --encoding=UTF8 --no-locale \
      >"$base/initdb.log" 2>&1 9>&-; then
      cat "$base/initdb.log" >&2
      die "initdb failed"
    fi
    printf "\n# settings written by pg-embedded.sh at each start\ninclude_if_exists = 'gatehouse.conf'\n" \
      >>"$pgdata/postgresql.conf"
  fi

  mkdir -p "$pgsock"
  chmod 0700 "$pgsock"
  touch "$pglog"
  if [ $is_root -eq 1 ]; then
    chown postgres: "$pgsock" "$pglog"
  fi

  if running; then
    local want_tcp=0
    [ -n "$port" ] && want_tcp=1
    if [ -n "$port" ] && [ "$(current_port)" != "$port" ]; then
      say "cluster already running on port $(current_port); not restarting it for --port $port"
    elif [ "$(cat "$base/pg.tcp" 2>/dev/null || echo 0)" != "$want_tcp" ]; then
      say "cluster already running with different listen settings; reusing it"
    fi
  else
    local p=${port:-5432} listen="" fsync=on
    [ -n "$port" ] && listen=127.0.0.1
    [ "${GATEHOUSE_PG_FAST:-0}" = 1 ] && fsync=off
    {
      echo "listen_addresses = $(conf_quote "$listen")"
      echo "port = $p"
      echo "unix_socket_directories = $(conf_quote "$pgsock")"
      echo "unix_socket_permissions = 0700"
      echo "fsync = $fsync"
      echo "synchronous_commit = $([ $fsync = off ] && echo off || echo on)"
      echo "full_page_writes = $fsync"
      echo "max_connections = 200"
      echo "logging_collector = off"
    } >"$pgdata/gatehouse.conf"
    [ $is_root -eq 0 ] || chown postgres: "$pgdata/gatehouse.conf"
    echo "$p" >"$base/pg.port"
    if [ -n "$port" ]; then echo 1 >"$base/pg.tcp"; else echo 0 >"$base/pg.tcp"; fi
    # 9>&- : the postmaster must not inherit (and so hold forever) the start lock.
    if ! as_owner "$pg_bin/pg_ctl" -D "$pgdata" -l "$pglog" -w -t 60 start \
      >/dev/null 2>"$base/pg_ctl.err" 9>&-; then
      cat "$base/pg_ctl.err" >&2
      tail -n 20 "$pglog" >&2 || true
      die "could not start Postgres in $pgdata (log: $pglog)"
    fi
  fi

  local p
  p=$(current_port)
  local exists
  exists=$("$pg_bin/psql" -X -q -A -t -h "$pgsock" -p "$p" -U gatehouse -d postgres \
    -c "SELECT 1 FROM pg_database WHERE datname = 'gatehouse'") ||
    die "cannot connect to the cluster in $pgdata"
  if [ "$exists" != 1 ]; then
    "$pg_bin/psql" -X -q -h "$pgsock" -p "$p" -U gatehouse -d postgres \
      -c 'CREATE DATABASE gatehouse' >/dev/null 2>"$base/createdb.err" ||
      grep -q 'already exists' "$base/createdb.err" ||
      { cat "$base/createdb.err" >&2; die "could not create database gatehouse"; }
  fi
  print_url
}

cmd_stop() {
  if running; then
    as_owner "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null
  fi
  return 0
}

cmd_status() {
  if running; then
    echo "running: $pgdata (port $(current_port))"
    return 0
  fi
  echo "not running: $pgdata"
  return 3
}

cmd_url() {
  [ -f "$pgdata/PG_VERSION" ] || die "no cluster in $pgdata"
  print_url
}

cmd_destroy() {
  cmd_stop
  if [ "$base" != "$dir" ]; then
    rm -rf -- "$base"
    rm -f -- "$pointer" "$dir/pg.log"
  else
    rm -rf -- "$pgdata" "$pgsock" "$pglog" "$base/pg.port" "$base/pg.tcp" \
      "$base/initdb.log" "$base/pg_ctl.err" "$base/createdb.err"
  fi
  rm -f -- "$dir/.pg-embedded.lock"
}

case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  destroy) cmd_destroy ;;
  *) usage ;;
esac
