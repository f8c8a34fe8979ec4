#!/usr/bin/env bash
# The PKU test lane (issue 3): runs the API semantics suite, the worker_threads/process suite and
# the protection tests inside a QEMU/TCG VM whose virtual CPU has memory protection keys
# (../shared/pku-vm/run-in-pku-vm.sh), where protection 'auto' means 'pku'. The host's build is
# used as is (the VM mounts the host's / read-only): the addon in build/Release and the tests
# compiled to dist/ (compiled here first when TypeScript is installed).
#
#   npm run test:pku                 # or: bash scripts/test-pku.sh [name-regex]
#
# The default regex is '^(cache|shared|pku)' (anchored: memcached-harness needs a TCP loopback,
# which the guest does not have). Ends with the VM run's `N passed, N failed` line; exits non-zero
# on any failure, when the guest has no PKU, or when the VM cannot run (then `0 passed, 1 failed`).
#
# Environment: PKU_VM (the VM script, default ../shared/pku-vm/run-in-pku-vm.sh),
# PKU_VM_TIMEOUT_S (default 1200), PKU_VM_MEM (default 2G), PKU_SKIP_TSC=1 (use dist/ as is).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fail() {
  echo "test-pku: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

pattern=${1:-'^(cache|shared|pku|events)'}
vm=${PKU_VM:-$root/../shared/pku-vm/run-in-pku-vm.sh}
timeout_s=${PKU_VM_TIMEOUT_S:-1200}
mem=${PKU_VM_MEM:-2G}

addon=${SHMCACHED_ADDON:-build/Release/shmcached.node}
[ -f "$addon" ] || fail "no addon at $addon: run \`npm install\` (or \`npm run build\`) first"
[ -d node_modules/uvu ] || fail "node_modules is missing: run \`npm install\` first"
if [ "${PKU_SKIP_TSC:-}" != 1 ] && [ -x node_modules/.bin/tsc ]; then
  node_modules/.bin/tsc -p tsconfig.json || fail "TypeScript compilation failed"
fi
[ -f dist/src/index.js ] && [ -f dist/test/pku.test.js ] || fail "dist/ has no compiled tests: run \`npm install\` (or \`npx tsc -p tsconfig.json\`) first"
[ -x "$vm" ] || fail "the PKU VM script $vm is missing or not executable"

# In the guest: refuse to run without PKU (the suite would quietly test protection 'none'), and
# make the protection tests insist on it too.
guest_cmd="unset SHMCACHED_NO_PKU
if ! grep -qw ospke /proc/cpuinfo; then echo 'test-pku: the guest CPU has no PKU/OSPKE' >&2; echo '0 passed, 1 failed'; exit 1; fi
export SHMCACHED_TEST_REQUIRE_PKU=1
echo \"test-pku: guest \$(uname -r), \$(nproc) vCPUs, node \$(node -v)\" >&2
node scripts/test.mjs '$pattern'"

out=$(mktemp "${TMPDIR:-/tmp}/test-pku.XXXXXX")
trap 'rm -f "$out"' EXIT
start=$(date +%s)
echo "test-pku: running node scripts/test.mjs '$pattern' in the PKU VM (QEMU/TCG: slow, minutes)" >&2
"$vm" --timeout "$timeout_s" --mem "$mem" -c "$guest_cmd" | tee "$out"
rc=${PIPESTATUS[0]}
echo "test-pku: VM run took $(( $(date +%s) - start )) s, exit status $rc" >&2

case $rc in
  125) fail "the PKU VM could not run (exit 125: qemu is missing or the guest did not boot; `$vm -v -c true` shows why)" ;;
  124) fail "the PKU VM run timed out after ${timeout_s} s (PKU_VM_TIMEOUT_S)" ;;
esac
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
[ -n "$summary" ] || fail "the VM run printed no 'N passed, N failed' line (exit status $rc)"
echo "$summary"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
case $summary in
  *" 0 failed"*) exit 0 ;;
  *) exit 1 ;;
esac
