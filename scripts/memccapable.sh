#!/usr/bin/env bash
# memccapable (libmemcached-tools) against `shmcached serve -t 2` (without --engine: js,
# two node:cluster processes; SHMCACHED_SERVE_ENGINE=native|js picks one: native is one
# process with two loop threads): every ascii check (-a) and every binary check (-b). Each check memccapable prints counts as one test; the last line is
# `N passed, N failed`. Needs the build (npm run build) and memccapable on PATH; without it the
# lane is skipped (one line, exit 0) unless SHMCACHED_REQUIRE_PEERS=1 makes that a failure.
#
#   bash scripts/memccapable.sh [ascii|binary|both]   (default both)
set -u
cd "$(dirname "$0")/.."
which=${1:-both}
mcc=$(command -v memccapable 2>/dev/null)
if [ -z "$mcc" ] || [ ! -x "$mcc" ]; then
  # The interop lane (docs/testing.md): skipped where the peer is missing, a failure in CI.
  if [ "${SHMCACHED_REQUIRE_PEERS:-}" = 1 ]; then
    echo "missing: memccapable not installed and SHMCACHED_REQUIRE_PEERS=1 (apt-get install -y libmemcached-tools)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "skipped: memccapable not installed (scripts/memccapable.sh; apt-get install -y libmemcached-tools)"
  echo "0 passed, 0 failed"
  exit 0
fi
file=/dev/shm/shmcached-memccapable-$$
log=$(mktemp)
engine=${SHMCACHED_SERVE_ENGINE:-}
# js -t 2 prints a line per process (primary and worker); native one.
want=2
[ "$engine" = native ] && want=1
node dist/src/cli/cli.js serve -p 0 -v -t 2 -m 64 ${engine:+--engine "$engine"} --file "$file" --reset 2>"$log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(grep -oE 'listening on [^ ]+:[0-9]+' "$log" | head -1 | sed -E 's/.*:([0-9]+)$/\1/')
  [ -n "$port" ] && [ "$(grep -c 'listening on' "$log")" -ge "$want" ] && break
  sleep 0.1
done
passed=0
failed=0
if [ -z "$port" ]; then
  echo "memccapable: shmcached serve did not start:"; cat "$log"
  failed=1
else
  # Checks that memcached 1.6.45 itself fails, because memccapable (libmemcached 1.0.18) expects
  # 1.6.18's parser: `delete a b c d e` is an error there, while 1.6.4x ignores the extra tokens
  # and deletes (docs/protocol.md, "Changes from memcached 1.6.18"). shmcached answers as 1.6.45,
  # so these two are reported as expected differences, not counted as passes.
  known='^ascii delete( noreply)? +\[FAIL\]$'
  run() {  # $1 = -a or -b
    local out rc p f k
    out=$(timeout 300 memccapable -h 127.0.0.1 -p "$port" "$1" 2>&1)
    rc=$?
    echo "$out" | grep -E '\[(FAIL|skip)\]' | grep -vE "$known" || true
    echo "$out" | grep -E "$known" | sed 's/$/  (expected: memcached 1.6.45 fails it too; not counted)/' || true
    echo "$out" | tail -1
    p=$(echo "$out" | grep -c '\[pass\]')
    k=$(echo "$out" | grep -cE "$known")
    f=$(($(echo "$out" | grep -c '\[FAIL\]') - k))
    # memccapable exits non-zero on any failure: a failure only when one is not a known one.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "$k" -eq 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
  }
  case "$which" in
    ascii) run -a ;;
    binary) run -b ;;
    *) run -a; run -b ;;
  esac
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" -ne 0 ]; then echo "memccapable: serve exited $rc after SIGTERM"; failed=$((failed + 1)); fi
rm -f "$file" "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
