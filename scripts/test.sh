#!/usr/bin/env bash
# Installs what is missing, builds and runs every test: the regular build, then the
# AddressSanitizer+UBSan build and the ThreadSanitizer build of the same suites.
#
#   scripts/test.sh                    everything (what CI runs)
#   scripts/test.sh --quick            the regular build only
#   scripts/test.sh --sanitize=thread  one sanitizer build only (address|thread)
#   scripts/test.sh --slow             also the tests labelled "slow"
#
# Build trees go to build/test-<variant>; ctest prints its summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."

variants=(regular address thread)
labels="unit"
for arg in "$@"; do
  case "$arg" in
    --quick) variants=(regular) ;;
    --sanitize=address) variants=(address) ;;
    --sanitize=thread) variants=(thread) ;;
    --slow) labels="unit|slow" ;;
    *) echo "test.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh

jobs=$(nproc)
for variant in "${variants[@]}"; do
  dir="build/test-$variant"
  sanitize=""
  [ "$variant" = regular ] || sanitize="$variant"
  echo "=== $variant build ($dir)"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMIRRORKV_SANITIZE="$sanitize" -DMIRRORKV_BUILD_BENCHMARKS="$([ "$variant" = regular ] && echo ON || echo OFF)" \
    >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$jobs"
  if [ "$variant" = regular ]; then
    cmake --build "$dir" --target bench_smoke
  fi
  # halt_on_error: a sanitizer report fails the test instead of scrolling past.
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$dir" -L "$labels" --output-on-failure --timeout 600 -j "$jobs"
done
