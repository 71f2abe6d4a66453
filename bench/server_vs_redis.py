#!/usr/bin/python3
"""mirrorkv-server against Debian's redis-server 7, side by side, with redis-benchmark.

Both servers run on free loopback ports in temporary directories with the same settings
(no persistence: --save '' --appendonly no), and are always shut down. The workloads run
alternately against each server, for several rounds, and the medians are reported:

  (a) -c 50 -r 1000000 -t set,get
  (b) the same with -P 16
  (c) -c 300 -d 10000 -r 10000 -t set,get

For each: requests/s, p50 and p99 latency (from redis-benchmark --csv), the server's CPU
time per request (user+sys from /proc, which stays meaningful when the load generator is
the bottleneck), and the mirrorkv/redis ratio. Then memory: the same N keys are loaded into
each (redis-cli --pipe) and INFO used_memory (and the resident size) per key is compared.

redis-benchmark is single-threaded and runs on the same machine: on a 2-core box it takes
one core for itself, so both servers share what is left and the client often limits the
rate. The CPU-per-request column shows the servers' own cost regardless.

  /usr/bin/python3 bench/server_vs_redis.py --mirrorkv build/server/mirrorkv-server
  /usr/bin/python3 bench/server_vs_redis.py --no-redis --alt-mirrorkv other/mirrorkv-server
"""

import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
REDIS_CLI = "/usr/bin/redis-cli"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WORKLOADS = {
    "a": ["-c", "50", "-r", "1000000", "-t", "set,get"],
    "b": ["-c", "50", "-r", "1000000", "-t", "set,get", "-P", "16"],
    "c": ["-c", "300", "-d", "10000", "-r", "10000", "-t", "set,get"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv):
        self.name = name
        self.base_argv = list(argv)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mkvbench-")
        self.argv = argv + ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                            "--save", "", "--appendonly", "no"]
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.cli("PING", check=False) == "PONG":
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("%s did not start" % self.name)

    def cli(self, *args, check=True, stdin=None):
        result = subprocess.run([REDIS_CLI, "-p", str(self.port)] + list(args), input=stdin,
                                capture_output=True, timeout=600)
        if check and result.returncode != 0:
            raise RuntimeError(result.stderr.decode())
        return result.stdout.decode().strip()

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def info(self, section):
        values = {}
        for line in self.cli("INFO", section).splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                values[key] = value
        return values

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.cli("SHUTDOWN", "NOSAVE", check=False)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def run_benchmark(server, workload, requests):
    server.cli("FLUSHALL")
    cpu_before = server.cpu_seconds()
    args = [REDIS_BENCHMARK, "-p", str(server.port), "-n", str(requests), "--csv"]
    result = subprocess.run(args + WORKLOADS[workload], capture_output=True, timeout=3600)
    cpu = server.cpu_seconds() - cpu_before
    if result.returncode != 0 or b"ERR" in result.stdout:
        raise RuntimeError("redis-benchmark failed against %s: %s" % (server.name, result.stderr))
    rows = {}
    for row in csv.DictReader(io.StringIO(result.stdout.decode())):
        rows[row["test"]] = {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]),
                             "p99": float(row["p99_latency_ms"])}
    total = requests * len(rows)
    for row in rows.values():
        row["cpu_us"] = cpu * 1e6 / total  # the server's CPU per request, both tests pooled
    return rows


def load_keys(server, count):
    """Loads `count` keys (16-byte key, 10-byte value) and returns used_memory and RSS
    per key, measured as the growth over the empty server."""
    server.cli("FLUSHALL")
    time.sleep(0.5)
    before = server.info("memory")
    chunks = []
    for i in range(count):
        key = b"key:%012d" % i
        value = b"v%09d" % i
        chunks.append(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$10\r\n%s\r\n" % (key, value))
    out = server.cli("--pipe", stdin=b"".join(chunks))
    if "errors: 0" not in out:
        raise RuntimeError("loading failed on %s: %s" % (server.name, out))
    time.sleep(0.5)
    after = server.info("memory")
    if int(server.cli("DBSIZE")) != count:
        raise RuntimeError("%s holds %s keys, not %d" % (server.name, server.cli("DBSIZE"), count))
    used = (int(after["used_memory"]) - int(before["used_memory"])) / count
    rss = (int(after["used_memory_rss"]) - int(before["used_memory_rss"])) / count
    return used, rss


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--mirrorkv", default=os.path.join(here, "..", "build", "server",
                                                           "mirrorkv-server"))
    parser.add_argument("--redis", default=REDIS_SERVER)
    parser.add_argument("--no-redis", action="store_true", help="compare mirrorkv builds only")
    parser.add_argument("--alt-mirrorkv", default="",
                        help="a second mirrorkv-server build to compare (A/B of a change)")
    parser.add_argument("--io-threads", default="0",
                        help="mirrorkv io-threads, comma separated (0: the default)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="a,b,c")
    parser.add_argument("--requests", type=int, default=200000,
                        help="requests per test for (a); (b) gets 4x, (c) 1/4")
    parser.add_argument("--memory-keys", type=int, default=1000000, help="0 skips memory")
    args = parser.parse_args()

    servers = []
    if not args.no_redis:
        servers.append(Server("redis", [args.redis]))
    thread_counts = args.io_threads.split(",")
    for threads in thread_counts:
        name = "mirrorkv" + ("" if len(thread_counts) == 1 else "-t" + threads)
        servers.append(Server(name, [os.path.abspath(args.mirrorkv), "--io-threads", threads]))
    if args.alt_mirrorkv:
        servers.append(Server("mirrorkv-alt", [os.path.abspath(args.alt_mirrorkv),
                                               "--io-threads", thread_counts[0]]))
    scale = {"a": 1.0, "b": 4.0, "c": 0.25}
    results = {}  # (workload, test, server) -> list of rows
    try:
        for server in servers:
            server.start()
        print("servers:", ", ".join("%s on port %d" % (s.name, s.port) for s in servers))
        for round_ in range(args.rounds):
            for workload in args.workloads.split(","):
                requests = max(1000, int(args.requests * scale[workload]))
                order = servers if round_ % 2 == 0 else list(reversed(servers))
                for server in order:
                    rows = run_benchmark(server, workload, requests)
                    for test, row in rows.items():
                        results.setdefault((workload, test, server.name), []).append(row)
                    print("round %d workload %s %-16s %s" % (
                        round_ + 1, workload, server.name,
                        "  ".join("%s %.0f rps p50 %.3f p99 %.3f cpu %.1fus" % (
                            t, r["rps"], r["p50"], r["p99"], r["cpu_us"])
                            for t, r in rows.items())), flush=True)

        base = servers[0].name
        print("\nmedians over %d rounds (ratio = server / %s)" % (args.rounds, base))
        print("%-3s %-5s %-16s %12s %8s %8s %10s %8s" % (
            "wl", "test", "server", "requests/s", "p50 ms", "p99 ms", "cpu us/req", "ratio"))
        for workload in args.workloads.split(","):
            for test in ("SET", "GET"):
                base_rows = results.get((workload, test, base))
                if not base_rows:
                    continue
                base_rps = statistics.median(r["rps"] for r in base_rows)
                for server in servers:
                    rows = results[(workload, test, server.name)]
                    rps = statistics.median(r["rps"] for r in rows)
                    print("%-3s %-5s %-16s %12.0f %8.3f %8.3f %10.2f %7.2fx" % (
                        workload, test, server.name, rps,
                        statistics.median(r["p50"] for r in rows),
                        statistics.median(r["p99"] for r in rows),
                        statistics.median(r["cpu_us"] for r in rows), rps / base_rps))

        if args.memory_keys > 0:
            # Fresh processes, so that the benchmarks' allocations do not blur the numbers.
            for server in servers:
                server.stop()
            print("\nmemory after loading %d keys (16-byte keys, 10-byte values), growth over "
                  "the empty server" % args.memory_keys)
            base_used = None
            for server in servers:
                fresh = Server(server.name, server.base_argv)
                try:
                    fresh.start()
                    used, rss = load_keys(fresh, args.memory_keys)
                finally:
                    fresh.stop()
                base_used = base_used or used
                print("%-16s used_memory/key %7.1f B   rss/key %7.1f B   ratio %.2fx" % (
                    server.name, used, rss, used / base_used))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
