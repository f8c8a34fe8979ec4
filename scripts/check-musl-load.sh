#!/usr/bin/env bash
# Checks that a musl prebuild is accepted by musl's dynamic loader, on a glibc machine without a
# musl Node: a small musl program (musl-gcc, Debian's musl-tools) that defines every Node-API
# function the addon imports as a stub dlopen()s it with RTLD_NOW and looks up
# napi_register_module_v1. It proves the loader resolves everything (C library, TLS, static
# libc++), not that the addon works: that needs a musl Node (e.g. an Alpine container).
#
#   bash scripts/check-musl-load.sh [prebuilds/linux-x64/shmcached.napi.musl.node]
set -euo pipefail
addon=$(readlink -f "${1:-prebuilds/linux-x64/shmcached.napi.musl.node}")
command -v musl-gcc >/dev/null || { echo "check-musl-load: needs musl-gcc (apt-get install musl-tools)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
{
  echo '#include <dlfcn.h>'
  echo '#include <stdio.h>'
  for s in $(nm -D --undefined-only "$addon" | awk '{print $2}' | grep -E '^(napi|node_api)_'); do
    echo "int $s(void) { return 9; }"
  done
  cat <<'C'
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW);
  if (!h) { printf("not ok - dlopen under musl: %s\n", dlerror()); return 1; }
  int ok = dlsym(h, "napi_register_module_v1") != 0;
  printf("%s - dlopen under musl, napi_register_module_v1 %s\n", ok ? "ok" : "not ok", ok ? "found" : "missing");
  return !ok;
}
C
} >"$dir/harness.c"
musl-gcc -rdynamic -o "$dir/harness" "$dir/harness.c"
"$dir/harness" "$addon"
