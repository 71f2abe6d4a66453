#!/usr/bin/env bash
# Installs what is missing, builds and runs every test: the regular build, then the
# AddressSanitizer+UBSan build and the ThreadSanitizer build of the same suites.
#
#   scripts/test.sh                    everything (what CI runs), plus a clang build of the
#                                      libraries and server with -Werror=thread-safety
#   scripts/test.sh --quick            the regular build only
#   scripts/test.sh --sanitize=thread  one sanitizer build only (address|thread)
#   scripts/test.sh --slow             also the tests labelled "slow"
#
# Build trees go to build/test-<variant>; ctest prints its summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."

variants=(regular address thread)
clang_check=1
labels="unit"
for arg in "$@"; do
  case "$arg" in
    --quick) variants=(regular); clang_check=0 ;;
    --sanitize=address) variants=(address); clang_check=0 ;;
    --sanitize=thread) variants=(thread); clang_check=0 ;;
    --slow) labels="unit|slow" ;;
    *) echo "test.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh

jobs=$(nproc)
mkdir -p build

# Formatting: .clang-format encodes the house style (Google's, at 100 columns); code that
# it would change fails the run before anything is built.
echo "=== clang-format check"
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run --Werror || {
  echo "test.sh: run clang-format -i on the files above" >&2
  exit 1
}

if [ "$clang_check" = 1 ]; then
  # clang: the thread-safety annotations (ABSL_GUARDED_BY ...) are checked by clang only,
  # and the libFuzzer targets (snapshot reader, request parser, replication stream
  # decoder, config file parser) get a short bounded run each (the commands for long ones
  # are in docs/snapshot-format.md and docs/server.md). First, so that the test summaries
  # close the output.
  echo "=== clang: thread-safety analysis and fuzzing (build/test-clang)"
  CC=clang CXX=clang++ cmake -S . -B build/test-clang -G Ninja -DMIRRORKV_SANITIZE=address \
    -DMIRRORKV_BUILD_FUZZERS=ON -DMIRRORKV_BUILD_BENCHMARKS=OFF -DMIRRORKV_BUILD_EXAMPLES=OFF \
    -DMIRRORKV_INSTALL=OFF >build/test-clang.configure.log 2>&1 ||
    { cat build/test-clang.configure.log; exit 1; }
  cmake --build build/test-clang -j "$jobs" --target mirrorkv_engine mirrorkv_snapshot \
    mirrorkv_replication mirrorkv-server mirrorkv_snapshot_fuzz mirrorkv_snapshot_fuzz_corpus \
    mirrorkv_resp_request_fuzz mirrorkv_stream_fuzz mirrorkv_config_fuzz \
    mirrorkv_rdb_fuzz mirrorkv_rdb_fuzz_corpus
  corpus=$(mktemp -d)
  build/test-clang/tests/snapshot/mirrorkv_snapshot_fuzz -max_total_time=20 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 "$corpus" build/test-clang/tests/snapshot/snapshot_fuzz_corpus \
    2>&1 | tail -4
  rm -rf "$corpus"
  # The request parser, the replication stream decoder and the config file parser: 20 s
  # each from an empty corpus (commands for long runs: docs/server.md, "Fuzzing").
  for fuzzer in server/mirrorkv_resp_request_fuzz replication/mirrorkv_stream_fuzz \
    server/mirrorkv_config_fuzz; do
    corpus=$(mktemp -d)
    build/test-clang/tests/$fuzzer -max_total_time=20 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 "$corpus" 2>&1 | tail -4
    rm -rf "$corpus"
  done
  # The RDB reader's target, the same way (docs/rdb-format.md).
  corpus=$(mktemp -d)
  build/test-clang/tests/snapshot/mirrorkv_rdb_fuzz -max_total_time=20 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 "$corpus" build/test-clang/tests/snapshot/rdb_fuzz_corpus \
    2>&1 | tail -4
  rm -rf "$corpus"
fi

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
  # detect_deadlocks=0: FlushAll and snapshot loads hold every stripe lock at once (64 by
  # default), and TSan's lock-order detector aborts past 64 held locks. Lock order is
  # checked statically instead (clang -Wthread-safety) and documented per module.
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  TSAN_OPTIONS=halt_on_error=1:detect_deadlocks=0 \
    ctest --test-dir "$dir" -L "$labels" --output-on-failure --timeout 600 -j "$jobs"
done
