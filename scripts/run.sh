#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: three application processes
# embedding a replicated node each (examples/embedded_node), serving login sessions and
# one-time codes under three redis-sentinels; the primary's process is killed and
# Sentinel fails over (scripts/embedded_demo.py prints progress and a summary). Then the
# single-process session-cache example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMIRRORKV_BUILD_TESTS=OFF -DMIRRORKV_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target embedded_node session_cache
/usr/bin/python3 scripts/embedded_demo.py build/release/examples/embedded_node
build/release/examples/session_cache
