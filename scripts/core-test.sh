#!/usr/bin/env bash
# Builds and runs the plain C++ tests of native/core (no Node): native/test/core_test.cc (every
# command's semantics, slab classes, eviction, growth, reopen, bad files, bounds safety) and
# native/test/core_stress.cc (threads hammering one region, exact invariants at the end).
#
#   npm run test:core                       # plain build: -O1 -g
#   SANITIZE=address npm run test:core      # ASan + UBSan
#   SANITIZE=thread npm run test:core       # TSan (runs the stress binary only, unless
#                                           #   CORE_TEST_TSAN_ALL=1)
#
# Other knobs: CXX (g++), CORE_TEST_FILTER (names of core_test cases to run), STRESS_THREADS (4),
# STRESS_OPS (per thread), STRESS_SECONDS (upper bound of the stress run), BUILD_ONLY=1.
# Binaries go to build-core/<plain|asan|tsan>/. Region files live in a private directory under
# /dev/shm, removed at exit. Exits non-zero on any failure; the last line is `N passed, N failed`
# summed over the binaries (a binary that crashes or exits non-zero without failing a check
# counts one failure).
set -u
cd "$(dirname "$0")/.."

CXX=${CXX:-g++}
SAN=${SANITIZE:-}
base=(-std=c++20 -O1 -g -Wall -Wextra -Inative -pthread)
case "$SAN" in
  "" | none)
    variant=plain
    san=()
    ;;
  address | asan)
    variant=asan
    san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    ;;
  thread | tsan)
    variant=tsan
    san=(-fsanitize=thread -fno-omit-frame-pointer)
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1:history_size=7}
    # TSan is 5-20x slower: fewer operations, same mix.
    export STRESS_OPS=${STRESS_OPS:-200000}
    export STRESS_SECONDS=${STRESS_SECONDS:-60}
    ;;
  *)
    echo "core-test: unknown SANITIZE=$SAN (use address or thread)" >&2
    echo "0 passed, 1 failed"
    exit 2
    ;;
esac

out=build-core/$variant
mkdir -p "$out"
srcs=(native/core/*.cc native/core/recover/*.cc)

build() {  # build NAME SOURCE
  local name=$1 src=$2
  echo "core-test: $CXX ${base[*]} ${san[*]} $src ${srcs[*]} -o $out/$name" >&2
  "$CXX" "${base[@]}" "${san[@]}" "$src" "${srcs[@]}" -o "$out/$name"
}

# Two cores: build both binaries side by side.
build core_test native/test/core_test.cc &
p1=$!
build core_stress native/test/core_stress.cc &
p2=$!
bfail=0
wait $p1 || bfail=1
wait $p2 || bfail=1
if [ $bfail -ne 0 ]; then
  echo "core-test: build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if [ -n "${BUILD_ONLY:-}" ]; then
  echo "core-test: built $out/core_test and $out/core_stress" >&2
  exit 0
fi

tmp=$(mktemp -d /dev/shm/shmcached-coretest.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SHMCACHED_TEST_DIR=$tmp
total_pass=0
total_fail=0
run() {  # run LABEL CMD...
  local label=$1
  shift
  local log=$tmp/$label.out rc
  echo "core-test: == $label: $*" >&2
  "$@" >"$log"
  rc=$?
  cat "$log"
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  local p=0 f=0
  if [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
  fi
  if [ -z "$line" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    echo "core-test: $label exited with status $rc" >&2
    f=$((f + 1))
  fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

if [ "$variant" != tsan ] || [ -n "${CORE_TEST_TSAN_ALL:-}" ]; then
  run core_test "$out/core_test" ${CORE_TEST_FILTER:-}
fi
run core_stress "$out/core_stress"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
