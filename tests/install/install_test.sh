#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then configures, builds and runs a
# separate consumer project against it with find_package(mirrorkv). Then configures it
# again with one dependency hidden, and checks that the error names the Debian package.
# Usage: install_test.sh <build-dir> <source-dir>
set -euo pipefail
build=$1
source=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source/tests/install/consumer" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"

if cmake -S "$source/tests/install/consumer" -B "$work/missing" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_DISABLE_FIND_PACKAGE_absl=ON \
  >"$work/missing.log" 2>&1; then
  echo "configuring without Abseil succeeded; expected an error" >&2
  exit 1
fi
if ! grep -q "apt-get install libabsl-dev" "$work/missing.log"; then
  echo "the error for a missing Abseil does not name its Debian package:" >&2
  cat "$work/missing.log" >&2
  exit 1
fi
