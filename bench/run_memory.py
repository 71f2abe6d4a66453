#!/usr/bin/python3
"""Memory per key, mirrorkv against Redis, without and with a TTL on every key.

Runs mirrorkv_memory_probe (built beforehand; this script builds nothing) and
bench/redis_memory.py's measurement on the same N keys ("key:%012d" -> "val:%012d",
16 bytes each) and prints both per-key figures, their ratio and the target. The resident
set growth (RSS) is the figure compared: it is what the machine pays, allocator
rounding and tables included; each side's own accounting (StoreStats::memory_used,
INFO used_memory) is printed beside it.

    /usr/bin/python3 bench/run_memory.py [--keys 1000000] [--probe PATH]
"""

import argparse
import os
import subprocess
import sys

import redis_memory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PROBE = os.path.join(REPO, "build-bench", "bench", "mirrorkv_memory_probe")
TARGET_BYTES_PER_KEY = 60  # mirrorkv, 16-byte keys and values, no TTL
PROBE_TIMEOUT_S = 600


def run_probe(probe, key_count, with_ttl):
    """Returns the probe's name=value lines as a dict of strings."""
    command = [probe, f"--keys={key_count}"] + (["--ttl"] if with_ttl else [])
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True,
                            timeout=PROBE_TIMEOUT_S)
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def main():
    redis_memory.exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--probe", default=DEFAULT_PROBE)
    args = parser.parse_args()
    if not os.access(args.probe, os.X_OK):
        sys.exit(f"{args.probe} is not an executable; build mirrorkv_memory_probe first")

    rows = []
    for with_ttl in (False, True):
        ours = run_probe(args.probe, args.keys, with_ttl)
        theirs = redis_memory.measure(args.keys, with_ttl)
        rows.append((with_ttl, float(ours["rss_bytes_per_key"]),
                     float(ours["memory_used_bytes_per_key"]), theirs["rss_bytes_per_key"],
                     theirs["used_memory_bytes_per_key"], theirs["redis_version"]))

    print(f"Bytes per key, {args.keys} keys of 16 bytes with 16-byte values "
          f"(Redis {rows[0][5]})")
    print(f"{'':8} {'mirrorkv RSS':>13} {'(accounted)':>12} {'Redis RSS':>10} "
          f"{'(used_memory)':>14} {'mirrorkv/Redis':>15}")
    for with_ttl, our_rss, our_used, their_rss, their_used, _ in rows:
        print(f"{'TTL' if with_ttl else 'no TTL':8} {our_rss:13.1f} {our_used:12.1f} "
              f"{their_rss:10.1f} {their_used:14.1f} {our_rss / their_rss:15.2f}")
    no_ttl_rss = rows[0][1]
    verdict = "met" if no_ttl_rss <= TARGET_BYTES_PER_KEY else "MISSED"
    print(f"\nmirrorkv, no TTL: {no_ttl_rss:.1f} bytes/key "
          f"(target <= {TARGET_BYTES_PER_KEY} bytes/key for mirrorkv): {verdict}")


if __name__ == "__main__":
    main()
