#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the session-cache example,
# which uses the Store the way a login-session and one-time-code service would.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMIRRORKV_BUILD_TESTS=OFF -DMIRRORKV_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" --target session_cache
build/release/examples/session_cache
