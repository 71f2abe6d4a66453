#!/usr/bin/python3
"""The sharded deployment of scripts/cluster.sh, measured (docs/benchmarks.md, "Scale-out").

  (1) Throughput through the proxy (nutcracker -> HAProxy -> shard primary) with 1, 2 and
      3 shards, redis-benchmark -c 50 -r 1000000 -t set,get, plain and with -P 16.
  (2) The proxy's own cost, in one run on the 1-shard cluster: the same workloads sent
      alternately to the shard's primary directly, to its HAProxy section, and to
      nutcracker; for each, requests/s and the CPU time (user+system from /proc/<pid>/stat
      over the run) per request of every process: nutcracker, HAProxy, the primary, its
      replica and redis-benchmark itself.
  (3) The failover window seen through the proxy: on a 3-shard cluster, one shard's
      primary is killed with SIGKILL under a write load (tests/server/cluster.py's
      FailoverRun); the window runs from the first failed request to the first successful
      one after the last failure. Median of --failovers runs, each on a new cluster.

Medians of --rounds rounds. On a 2-core machine redis-benchmark, nutcracker, HAProxy and the
shards share two cores, so throughput cannot grow with the shard count; the CPU per request
of each process is what lets the scaling on a bigger machine be computed.

  /usr/bin/python3 bench/scaleout_bench.py --server build/dev/server/mirrorkv-server
"""

import argparse
import csv
import io
import os
import resource
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "server"))
from cluster import Cluster, FailoverRun, missing_tools  # noqa: E402

REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WORKLOADS = {
    "plain": ["-c", "50", "-r", "1000000", "-t", "set,get"],
    "-P 16": ["-c", "50", "-r", "1000000", "-t", "set,get", "-P", "16"],
}


def cpu_seconds(pid):
    """User+system CPU time of process `pid` so far, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def processes(cluster):
    """{name: pid} of the processes that serve requests: the proxies and every node."""
    found = {"nutcracker": cluster.pid("nutcracker"), "haproxy": cluster.pid("haproxy")}
    for shard in range(cluster.shards):
        primary = cluster.sentinel_primary(shard)
        for node, port in enumerate(cluster.node_ports(shard)):
            role = "primary" if port == primary else "replica"
            found["shard-%d %s" % (shard, role)] = cluster.pid("shard-%d" % shard,
                                                                  "node-%d" % node)
    return found


def benchmark(port, args, requests, pids):
    """Runs redis-benchmark against `port`; returns ({test: requests/s}, {process: CPU
    microseconds per request}) with redis-benchmark's own CPU as "redis-benchmark"."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([REDIS_BENCHMARK, "-p", str(port), "-n", str(requests), "--csv"]
                            + args, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 or "Error" in result.stdout + result.stderr:
        raise RuntimeError("redis-benchmark failed:\n%s%s" % (result.stdout, result.stderr))
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    rates = {row[0]: float(row[1]) for row in rows}
    total = requests * len(rows)
    cpu = {name: (cpu_seconds(pid) - before[name]) * 1e6 / total for name, pid in pids.items()}
    cpu["redis-benchmark"] = ((after_children.ru_utime + after_children.ru_stime)
                              - (children.ru_utime + children.ru_stime)) * 1e6 / total
    return rates, cpu


def median_runs(runs):
    """The per-key medians of a list of ({test: rate}, {process: cpu}) pairs."""
    rates = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
    cpu = {k: statistics.median(r[1][k] for r in runs) for k in runs[0][1]}
    return rates, cpu


def print_row(label, rates, cpu, names):
    print("| %s | %s | %s |" % (label, " | ".join("%.0f" % rates[t] for t in ("SET", "GET")),
                                " | ".join("%.2f" % cpu.get(n, 0.0) for n in names)))


def measure_proxy_cost(server, rounds, requests):
    print("\n## (2) Proxy cost: 1 shard, direct vs HAProxy vs nutcracker, alternating rounds")
    cluster = Cluster(shards=1, replicas=1, server=server)
    try:
        pids = processes(cluster)
        names = ["nutcracker", "haproxy", "shard-0 primary", "shard-0 replica",
                 "redis-benchmark"]
        targets = {"direct": cluster.sentinel_primary(0), "HAProxy": cluster.haproxy_ports[0],
                   "nutcracker": cluster.proxy_port}
        for workload, args in WORKLOADS.items():
            n = requests * (4 if "-P" in args else 1)
            runs = {target: [] for target in targets}
            for _ in range(rounds):
                for target, port in targets.items():
                    runs[target].append(benchmark(port, args, n, pids))
            print("\n%s, %d requests per test, median of %d rounds; CPU in us per request"
                  % (workload, n, rounds))
            print("| path | SET/s | GET/s | %s |" % " | ".join(names))
            print("|---|---|---|%s" % ("---|" * len(names)))
            medians = {}
            for target in targets:
                medians[target] = median_runs(runs[target])
                print_row(target, *medians[target], names)
            direct_cpu = medians["direct"][1]["shard-0 primary"]
            via = medians["nutcracker"][1]
            print("ratios through nutcracker: GET/s %.2f of direct; nutcracker %.2f and HAProxy "
                  "%.2f us per request = %.2fx the shard's %.2f us (direct)" % (
                      medians["nutcracker"][0]["GET"] / medians["direct"][0]["GET"],
                      via["nutcracker"], via["haproxy"],
                      (via["nutcracker"] + via["haproxy"]) / direct_cpu, direct_cpu))
    finally:
        cluster.stop()


def measure_shards(server, rounds, requests):
    print("\n## (1) Throughput through nutcracker with 1, 2, 3 shards (median of %d rounds)"
          % rounds)
    for workload, args in WORKLOADS.items():
        n = requests * (4 if "-P" in args else 1)
        print("\n%s, %d requests per test; CPU in us per request (all shards' primaries "
              "summed)" % (workload, n))
        print("| shards | SET/s | GET/s | nutcracker | haproxy | primaries | replicas | "
              "redis-benchmark |")
        print("|---|---|---|---|---|---|---|---|")
        for shards in (1, 2, 3):
            cluster = Cluster(shards=shards, replicas=1, server=server)
            try:
                pids = processes(cluster)
                rates, cpu = median_runs([benchmark(cluster.proxy_port, args, n, pids)
                                          for _ in range(rounds)])
                summed = {
                    "nutcracker": cpu["nutcracker"], "haproxy": cpu["haproxy"],
                    "primaries": sum(v for k, v in cpu.items() if k.endswith("primary")),
                    "replicas": sum(v for k, v in cpu.items() if k.endswith("replica")),
                    "redis-benchmark": cpu["redis-benchmark"]}
                print_row(str(shards), rates, summed, list(summed))
            finally:
                cluster.stop()


def measure_failover(server, runs, proxy_timeout_ms):
    print("\n## (3) Failover through nutcracker: SIGKILL of shard 0's primary under load, "
          "3 shards, nutcracker timeout %d ms, %d runs" % (proxy_timeout_ms, runs))
    results = []
    for _ in range(runs):
        cluster = Cluster(shards=3, replicas=1, server=server, proxy_timeout_ms=proxy_timeout_ms)
        try:
            run = FailoverRun(cluster, victim=0).run()
            print(run.summary())
            others = sum(1 for s in range(1, 3) for _, ok, _ in run.records[s] if not ok)
            print("  errors on the other shards: %d" % others)
            results.append(run)
        finally:
            cluster.stop()
    print("median: Sentinel switch %.2f s, writes resumed %.2f s after the kill, window of "
          "failed requests %.2f s, %d failed requests" % (
              statistics.median(r.switched_at - r.killed_at for r in results),
              statistics.median(r.resumed_at - r.killed_at for r in results),
              statistics.median(r.window for r in results),
              statistics.median(len(r.failed) for r in results)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="the mirrorkv-server binary")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100000,
                        help="per test and round (x4 with -P 16)")
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--proxy-timeout-ms", type=int, default=2000,
                        help="nutcracker's timeout in the failover runs (cluster.sh's default)")
    parser.add_argument("--only", choices=["proxy", "shards", "failover"])
    args = parser.parse_args()
    if missing_tools():
        sys.exit("not installed (scripts/install-deps.sh): %s" % " ".join(missing_tools()))
    server = os.path.abspath(args.server)
    print("cores: %d" % os.cpu_count())
    if args.only in (None, "proxy"):
        measure_proxy_cost(server, args.rounds, args.requests)
    if args.only in (None, "shards"):
        measure_shards(server, args.rounds, args.requests)
    if args.only in (None, "failover"):
        measure_failover(server, args.failovers, args.proxy_timeout_ms)


if __name__ == "__main__":
    main()
