#!/usr/bin/env bash
# Builds bench/native/proto_bench.cc (the protocol engine's get/set hot path, no socket) with the
# addon's optimisation level and runs it: one line per case, ns per command.
#
#   bash bench/native/proto-bench.sh [OPS [CASE [ROUNDS]]]
set -eu
cd "$(dirname "$0")/../.."
mkdir -p build/bench
${CXX:-g++} -std=c++20 -O2 -g -Wall -Wextra -Wno-unused-parameter -Inative -pthread bench/native/proto_bench.cc \
  native/proto/*.cc native/core/*.cc native/core/recover/*.cc native/gate/pku.cc -o build/bench/proto_bench
exec build/bench/proto_bench "$@"
