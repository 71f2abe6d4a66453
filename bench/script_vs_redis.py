#!/usr/bin/python3
"""EVALSHA of a token-bucket rate limiter: mirrorkv-server against Debian's redis-server 7,
side by side, with redis-benchmark.

Both servers run on free loopback ports with the same settings (no persistence), and are
always shut down. The script (examples/scripts/token_bucket.lua, which tests/server/test_scripting.py
runs under concurrency: GET, cjson.decode, arithmetic, cjson.encode, SET PX) is loaded into each with
SCRIPT LOAD, then redis-benchmark calls it with EVALSHA on 10,000 random buckets:

  (a) -c 50                 one call in flight per connection
  (b) -c 50 -P 16           pipelined

alternately against each server, for several rounds; the medians are reported: calls/s,
p50 latency, and the server's CPU time per call (user+sys from /proc/<pid>/stat, which
stays meaningful when the single-threaded load generator is the bottleneck), with the
mirrorkv/redis ratio.

  /usr/bin/python3 bench/script_vs_redis.py --mirrorkv build/server/mirrorkv-server
"""

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_vs_redis import REDIS_BENCHMARK, REDIS_SERVER, Server  # noqa: E402

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "scripts",
                       "token_bucket.lua")) as f:
    TOKEN_BUCKET = f.read()

WORKLOADS = {"a": ["-c", "50"], "b": ["-c", "50", "-P", "16"]}


def run(server, sha, workload, requests):
    cpu_before = server.cpu_seconds()
    args = [REDIS_BENCHMARK, "-p", str(server.port), "-n", str(requests), "-r", "10000", "--csv"]
    args += WORKLOADS[workload]
    args += ["EVALSHA", sha, "1", "bucket:__rand_int__", "10", "100", "1700000000000", "1"]
    result = subprocess.run(args, capture_output=True, timeout=3600)
    cpu = server.cpu_seconds() - cpu_before
    if result.returncode != 0 or b"ERR" in result.stdout or b"NOSCRIPT" in result.stdout:
        raise RuntimeError("redis-benchmark failed against %s: %s %s" %
                           (server.name, result.stdout, result.stderr))
    row = next(csv.DictReader(io.StringIO(result.stdout.decode())))
    return {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
            "cpu_us": cpu * 1e6 / requests}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirrorkv", default="build/server/mirrorkv-server")
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    mirrorkv = os.path.abspath(options.mirrorkv)  # the servers run in their own directories
    servers = [Server("mirrorkv", [mirrorkv]), Server("redis", [REDIS_SERVER])]
    try:
        for server in servers:
            server.start()
        shas = {server.name: server.cli("SCRIPT", "LOAD", TOKEN_BUCKET) for server in servers}
        if len(set(shas.values())) != 1:
            raise RuntimeError("the servers disagree on the script's SHA1: %r" % shas)
        results = {(s.name, w): [] for s in servers for w in WORKLOADS}
        for _ in range(options.rounds):
            for workload in WORKLOADS:
                for server in servers:
                    results[(server.name, workload)].append(
                        run(server, shas[server.name], workload, options.requests))
    finally:
        for server in servers:
            server.stop()

    print("| workload | server | calls/s | p50 ms | server CPU µs/call |")
    print("|---|---|---:|---:|---:|")
    for workload, flags in WORKLOADS.items():
        medians = {}
        for server in servers:
            runs = results[(server.name, workload)]
            medians[server.name] = {k: statistics.median(r[k] for r in runs)
                                    for k in ("rps", "p50", "cpu_us")}
            m = medians[server.name]
            print("| (%s) %s | %s | %.0f | %.3f | %.2f |" %
                  (workload, " ".join(flags), server.name, m["rps"], m["p50"], m["cpu_us"]))
        mk, rd = medians["mirrorkv"], medians["redis"]
        print("| (%s) | mirrorkv/redis | %.2f | %.2f | %.2f |" %
              (workload, mk["rps"] / rd["rps"], mk["p50"] / rd["p50"],
               mk["cpu_us"] / rd["cpu_us"]))


if __name__ == "__main__":
    main()
