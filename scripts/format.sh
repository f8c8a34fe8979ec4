#!/usr/bin/env bash
# Formats the tree (TypeScript with Biome, C++ with clang-format), or with --check reports what
# is not formatted and fails. `npm run format` / `npm run lint` call it.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-write}
mapfile -t cxx < <(git ls-files 'native/*.cc' 'native/*.h' ':!native/contract.h')
if ! command -v clang-format >/dev/null; then
  echo "format: clang-format not installed (apt-get install clang-format); C++ not checked" >&2
  cxx=()
fi
if [ "$mode" = --check ]; then
  npx biome check .
  [ ${#cxx[@]} -eq 0 ] || clang-format --dry-run --Werror --style=file "${cxx[@]}"
else
  npx biome check --write .
  [ ${#cxx[@]} -eq 0 ] || clang-format -i --style=file "${cxx[@]}"
fi
