#!/usr/bin/env bash
# Installs, from Debian 12's packages, everything mirrorkv needs to build, test and
# benchmark. Safe to run again: apt-get skips what is already there. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang clang-format git
  # libraries
  libabsl-dev libxxhash-dev liblz4-dev libasio-dev
  # scripting (EVAL): Lua 5.1 with the cjson and bit libraries Redis bundles
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev libcuckoo-dev libtbb-dev
  # the real Redis peers and clients the integration tests and benchmarks run against
  redis-server redis-tools redis-sentinel python3 python3-redis
  # the proxies of the sharded deployment (scripts/cluster.sh, docs/scale-out.md)
  nutcracker haproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
