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
  (4) Hashing (--only hashing): keys per shard for each of nutcracker's hash functions
      with ketama over 3 shard names, and the keys that move when a 4th shard is added.
  (5) Other failures (--only modes): a replica killed under load; one, then two
      sentinels down before a primary dies; a primary killed with nutcracker's
      auto_eject_hosts on; a killed primary restarted on its own configuration instead
      of with `cluster.sh restart`.

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
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "server"))
from cluster import Cluster, FailoverRun, missing_tools  # noqa: E402
from harness import ServerProcess, free_port, wait_until  # noqa: E402

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


class Nutcracker:
    """nutcracker on a free port in front of `ports`, named shard-0.., with `hash`."""

    def __init__(self, ports, hash_name, workdir):
        self.port = free_port()
        config = os.path.join(workdir, "nutcracker-%d.yml" % self.port)
        with open(config, "w") as f:
            f.write("p:\n  listen: 127.0.0.1:%d\n  hash: %s\n  distribution: ketama\n"
                    "  redis: true\n  servers:\n" % (self.port, hash_name))
            for i, port in enumerate(ports):
                f.write("   - 127.0.0.1:%d:1 shard-%d\n" % (port, i))
        self.proc = subprocess.Popen(["nutcracker", "-c", config, "-s", str(free_port()), "-a",
                                      "127.0.0.1"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        import redis
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)
        wait_until(self.client.ping, 10, what="nutcracker to answer")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def write_keys(client, keys):
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, "1")
        if len(pipe) == 2000:
            pipe.execute()
    pipe.execute()


def measure_hashing(server):
    print("\n## (4) Keys per shard by nutcracker hash (ketama, shard-0..2), and a 4th shard")
    patterns = {"session:%d": 30000, "user:%d": 60, "key:%012d": 30000, "acked:%d": 3000}
    workdir = tempfile.mkdtemp(prefix="mkvhash-")
    servers = []
    proxies = []  # every nutcracker started, stopped at the end whatever happens

    def start_proxy(ports, hash_name):
        proxies.append(Nutcracker(ports, hash_name, workdir))
        return proxies[-1]

    try:
        for _ in range(4):
            servers.append(ServerProcess(binary=server, args=["--save", ""]))
            servers[-1].start()
        nodes = [s.client() for s in servers]
        print("| hash | %s |" % " | ".join("%d `%s`" % (n, p) for p, n in patterns.items()))
        print("|---|%s" % ("---|" * len(patterns)))
        for hash_name in ("fnv1a_64", "fnv1_64", "fnv1a_32", "murmur", "md5", "crc32a",
                          "jenkins", "hsieh", "one_at_a_time"):
            proxy = start_proxy([s.port for s in servers[:3]], hash_name)
            cells = []
            for pattern, count in patterns.items():
                for node in nodes:
                    node.flushall()
                write_keys(proxy.client, [pattern % i for i in range(count)])
                cells.append(" / ".join(str(node.dbsize()) for node in nodes[:3]))
            proxy.stop()
            print("| %s | %s |" % (hash_name, " | ".join(cells)))
        # 30000 keys through 3 shards, then read through a nutcracker that has a 4th: a key
        # that moved reads as missing. Writing the missing ones through the 4-shard proxy
        # shows where they go.
        for node in nodes:
            node.flushall()
        three = start_proxy([s.port for s in servers[:3]], "murmur")
        four = start_proxy([s.port for s in servers], "murmur")
        keys = ["session:%d" % i for i in range(30000)]
        write_keys(three.client, keys)
        before = [node.dbsize() for node in nodes]
        moved = [k for k, v in zip(keys, four.client.mget(keys)) if v is None]
        write_keys(four.client, moved)
        after = [node.dbsize() for node in nodes]
        print("adding a 4th shard (murmur): %d of %d keys move (%.1f%%), all to the new shard "
              "(%d), the old shards' keys unchanged: %s" % (
                  len(moved), len(keys), 100.0 * len(moved) / len(keys), after[3],
                  after[:3] == before[:3]))
    finally:
        for proxy in proxies:
            proxy.stop()
        for s in servers:
            s.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def measure_modes(server):
    print("\n## (5) Other failures, 3 shards under a write load through nutcracker")
    cluster = Cluster(shards=3, replicas=1, server=server)
    try:
        run = FailoverRun(cluster, victim=0)
        writers = [threading.Thread(target=run._write, args=(s,)) for s in range(3)]
        for writer in writers:
            writer.start()
        time.sleep(1)
        os.kill(cluster.pid("shard-0", "node-1"), signal.SIGKILL)
        time.sleep(4)
        run.stop.set()
        for writer in writers:
            writer.join(timeout=30)
        print("a replica killed: %d requests in 5 s, %d errors" % (
            sum(len(r) for r in run.records.values()),
            sum(1 for r in run.records.values() for _, ok, _ in r if not ok)))
    finally:
        cluster.stop()
    cluster = Cluster(shards=3, replicas=1, server=server)
    try:
        os.kill(cluster.pid("sentinel-1"), signal.SIGKILL)
        print("one sentinel down, then shard 1's primary killed: %s"
              % FailoverRun(cluster, victim=1).run().summary())
        os.kill(cluster.pid("sentinel-2"), signal.SIGKILL)
        old = cluster.sentinel_primary(2)
        os.kill(cluster.pid("shard-2", "node-0"), signal.SIGKILL)
        time.sleep(20)
        print("two sentinels down, then shard 2's primary killed: after 20 s Sentinel %s" %
              ("still names the dead primary" if cluster.sentinel_primary(2) == old
               else "failed over"))
    finally:
        cluster.stop()
    cluster = Cluster(shards=3, replicas=1, server=server)
    try:
        # nutcracker restarted with auto_eject_hosts: where do the failing shard's writes go?
        state = os.path.join(cluster.state, "nutcracker")
        config = os.path.join(state, "nutcracker.yml")
        with open(config) as f:
            text = f.read().replace("auto_eject_hosts: false", "auto_eject_hosts: true\n"
                                    "  server_retry_timeout: 2000\n  server_failure_limit: 1")
        with open(config, "w") as f:
            f.write(text)
        os.kill(cluster.pid("nutcracker"), signal.SIGTERM)
        wait_until(lambda: not os.path.exists("/proc/%d/cwd" % cluster.pid("nutcracker"))
                   or os.readlink("/proc/%d/cwd" % cluster.pid("nutcracker")) != state, 30,
                   what="nutcracker to stop")
        proc = subprocess.Popen(["nutcracker", "-c", config, "-s",
                                 cluster.vars["NUTCRACKER_STATS_PORT"], "-a", "127.0.0.1"],
                                cwd=state, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(state, "pid"), "w") as f:
            f.write(str(proc.pid))
        wait_until(cluster.proxy().ping, 30, what="nutcracker to answer")
        run = FailoverRun(cluster, victim=0)
        victim_keys = run.load_keys[0]
        cluster.primary(0).delete(*victim_keys)
        run.run()
        strays = sum(1 for shard in (1, 2) for key in victim_keys
                     if cluster.primary(shard).exists(key))
        print("auto_eject_hosts: true: %d failed writes; %d of shard 0's %d keys were written "
              "to other shards during its failover" % (len(run.failed), strays,
                                                        len(victim_keys)))
    finally:
        cluster.stop()
    cluster = Cluster(shards=1, replicas=1, server=server)
    try:
        cluster.proxy().set("k", "v")
        cluster.primary(0).execute_command("WAIT", 1, 5000)
        old = cluster.sentinel_primary(0)
        os.kill(cluster.pid("shard-0", "node-0"), signal.SIGKILL)
        wait_until(lambda: cluster.sentinel_primary(0) != old, 60, what="the failover")
        node_dir = os.path.join(cluster.state, "shard-0", "node-0")
        with open(os.path.join(node_dir, "server.log"), "ab") as log:
            proc = subprocess.Popen([cluster.vars["SERVER"], "mirrorkv.conf"], cwd=node_dir,
                                    stdout=log, stderr=subprocess.STDOUT)
        with open(os.path.join(node_dir, "pid"), "w") as f:
            f.write(str(proc.pid))
        started = time.monotonic()
        misses = []
        total = 0
        while time.monotonic() - started < 25:
            client = cluster.node(cluster.haproxy_ports[0])
            try:
                if client.get("k") != b"v":
                    misses.append(time.monotonic() - started)
            except Exception:  # noqa: BLE001 - a refused connection counts as a miss
                misses.append(time.monotonic() - started)
            total += 1
            client.close()
            time.sleep(0.1)
        print("old primary restarted on its own configuration: %d of %d new connections "
              "through HAProxy missed a key, from %.1f s to %.1f s after the restart" % (
                  len(misses), total, misses[0] if misses else 0, misses[-1] if misses else 0))
    finally:
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="the mirrorkv-server binary")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100000,
                        help="per test and round (x4 with -P 16)")
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--proxy-timeout-ms", type=int, default=2000,
                        help="nutcracker's timeout in the failover runs (cluster.sh's default)")
    parser.add_argument("--only", choices=["proxy", "shards", "failover", "hashing", "modes"])
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
    if args.only == "hashing":
        measure_hashing(server)
    if args.only == "modes":
        measure_modes(server)


if __name__ == "__main__":
    main()
