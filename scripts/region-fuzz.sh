#!/usr/bin/env bash
# Corruption fuzz of region files (issue 17, "a corruption-proof opener"): builds
# native/test/region_fuzz.cc with ASan + UBSan (SANITIZE=none for a plain build) and runs it over a
# bounded number of damaged copies of a populated region: each is opened (warm or recovering),
# read, written, verified and checked read-only in a forked child with an alarm. Crashing or hanging
# inputs are kept under build-core/region-fuzz-crashes/. Last line: `N passed, N failed`.
#
#   bash scripts/region-fuzz.sh [iterations=300] [seed=1] [seconds=120]
set -u
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
case "${SANITIZE:-address}" in
  none | "") san=(); variant=plain ;;
  *)
    san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    variant=asan
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
esac
out=build-core/$variant
mkdir -p "$out" build-core/region-fuzz-crashes
if ! "$CXX" -std=c++20 -O1 -g -Wall -Wextra -Inative -pthread "${san[@]}" native/test/region_fuzz.cc native/core/*.cc native/core/recover/*.cc \
    -o "$out/region_fuzz"; then
  echo "region-fuzz: build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
tmp=$(mktemp -d /dev/shm/shmcached-regionfuzz.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
SHMCACHED_TEST_DIR=$tmp REGION_FUZZ_OUT=$PWD/build-core/region-fuzz-crashes \
  "$out/region_fuzz" "${1:-300}" "${2:-1}" "${3:-120}"
