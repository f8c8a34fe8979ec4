#!/usr/bin/env bash
# Builds the Node addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/shmcached.node (the regular build in build/Release is left alone), then prints how
# to run the JS suite against it.
#
#   npm run build:asan                   # build only
#   npm run build:asan -- --test [name]  # build, compile the tests (tsc), run the uvu suite (or
#                                        #   the files matching name) with the ASan addon
#
# The addon is compiled directly with g++ against Node's headers
# (the node-addon-api include dir is added as binding.gyp does). Node itself is not built with
# ASan, so the runtime must be preloaded: LD_PRELOAD=$(gcc -print-file-name=libasan.so), and leak
# checking is off (V8 keeps memory until exit). src/native.ts loads the addon named by
# SHMCACHED_ADDON instead of build/Release/shmcached.node.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

CXX=${CXX:-g++}
out=build-asan
mkdir -p "$out"

# Node's headers: next to the running node (a tarball install or nvm), else the distro's.
node_inc=""
prefix=$(dirname "$(dirname "$(node -p 'process.execPath')")")
for d in "$prefix/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then
    node_inc=$d
    break
  fi
done
if [ -z "$node_inc" ]; then
  # node-gyp's header cache (~/.cache/node-gyp/<version>/include/node)
  ver=$(node -p 'process.versions.node')
  for d in "$HOME/.cache/node-gyp/$ver/include/node" "$HOME/.node-gyp/$ver/include/node"; do
    [ -f "$d/node_api.h" ] && node_inc=$d && break
  done
fi
if [ -z "$node_inc" ]; then
  echo "build-asan: cannot find node_api.h (install Node's headers, or run node-gyp install)" >&2
  exit 1
fi
addon_api=$(node -p "require('node-addon-api').include_dir" 2>/dev/null || echo node_modules/node-addon-api)

san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
flags=(-std=c++20 -O1 -g -fPIC -shared -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
  -fvisibility=hidden -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
  -DNODE_GYP_MODULE_NAME=shmcached -I"$node_inc" -I"$addon_api" -Inative)
echo "build-asan: $CXX ${flags[*]} ${san[*]} native/binding/*.cc native/core/*.cc native/core/recover/*.cc native/gate/*.cc native/proto/*.cc native/server/*.cc -o $out/shmcached.node" >&2
"$CXX" "${flags[@]}" "${san[@]}" native/binding/*.cc native/core/*.cc native/core/recover/*.cc native/gate/*.cc native/proto/*.cc native/server/*.cc -o "$out/shmcached.node"

asan_rt=$("$CXX" -print-file-name=libasan.so)
addon="$root/$out/shmcached.node"
env_line="SHMCACHED_ADDON=$addon LD_PRELOAD=$asan_rt ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"

# Smoke check: the addon loads under the preloaded runtime and answers a set/get.
env SHMCACHED_ADDON="$addon" LD_PRELOAD="$asan_rt" ASAN_OPTIONS=detect_leaks=0 node -e '
  const m = require(process.env.SHMCACHED_ADDON);
  if (typeof m.open !== "function") { console.error("build-asan: addon has no open()"); process.exit(1); }
' || {
  echo "build-asan: the ASan addon does not load" >&2
  exit 1
}

cat >&2 <<EOF
build-asan: built $out/shmcached.node (ASan + UBSan)
Run the JS suite against it:
  npx tsc -p tsconfig.json
  $env_line node scripts/test.mjs [name]
EOF

if [ "${1:-}" = "--test" ]; then
  shift
  npx tsc -p tsconfig.json
  export SHMCACHED_ADDON="$addon" LD_PRELOAD="$asan_rt" ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  exec node scripts/test.mjs "$@"
fi
