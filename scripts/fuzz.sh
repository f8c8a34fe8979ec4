#!/usr/bin/env bash
# Builds the protocol engine's libFuzzer harness (native/test/proto_fuzz.cc) with clang and
# -fsanitize=fuzzer,address,undefined, replays every saved regression input, then fuzzes for a
# bounded time from the committed corpus. A crash is saved under native/test/fuzz-regressions/
# (commit it: from then on it is a regression test). Last line: `N passed, N failed` (each
# regression input is one test, the timed run is one more).
#
#   bash scripts/fuzz.sh [seconds]      (default FUZZ_SECONDS or 60)
set -u
cd "$(dirname "$0")/.."
secs=${1:-${FUZZ_SECONDS:-60}}
CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz: $CXX not found (apt-get install clang)"
  echo "0 passed, 1 failed"
  exit 1
fi
out=build-fuzz
mkdir -p "$out"
if ! "$CXX" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Wno-unused-parameter -Inative native/test/proto_fuzz.cc native/proto/*.cc native/core/*.cc native/core/recover/*.cc \
    native/gate/pku.cc -o "$out/proto_fuzz" 2>"$out/build.log"; then
  cat "$out/build.log"
  echo "0 passed, 1 failed"
  exit 1
fi
passed=0
failed=0
for f in native/test/fuzz-regressions/*; do
  [ -f "$f" ] || continue
  if "$out/proto_fuzz" "$f" >"$out/replay.log" 2>&1; then
    passed=$((passed + 1))
  else
    echo "fuzz: regression input $f fails:"; tail -20 "$out/replay.log"
    failed=$((failed + 1))
  fi
done
work=$(mktemp -d)
cp native/test/fuzz-corpus/* "$work/" 2>/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if "$out/proto_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix=native/test/fuzz-regressions/ "$work" >"$out/fuzz.log" 2>&1; then
  grep -E "^#[0-9]+ *DONE" "$out/fuzz.log" | tail -1
  passed=$((passed + 1))
else
  echo "fuzz: the fuzzer found a failing input (saved under native/test/fuzz-regressions/):"
  grep -E "ERROR|SUMMARY|runtime error|deadly signal" "$out/fuzz.log" | head -10
  failed=$((failed + 1))
fi
rm -rf "$work"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
