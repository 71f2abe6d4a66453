"""Drives scripts/cluster.sh for tests and benchmarks: a sharded mirrorkv deployment
(nutcracker -> HAProxy per shard -> mirrorkv-server primary and replicas, redis-sentinel)
on free loopback ports, in a temporary state directory that goes away with it.

Shared by tests/server/test_scaleout.py and bench/scaleout_bench.py. Every wait is
bounded; stop() always leaves no process behind (cluster.sh stop, then SIGKILL for any
process whose pid file is still there).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import IO_TIMEOUT, MIRRORKV_SERVER

CLUSTER_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "cluster.sh")
REQUIRED_TOOLS = ("nutcracker", "haproxy", "redis-sentinel")
# cluster.sh's timing, passed explicitly so that callers can derive bounds from it:
# Sentinel calls a primary down after DOWN_AFTER_MS without a reply; HAProxy checks every
# node every CHECK_INTER_MS and gives a check CHECK_TIMEOUT_MS (its "timeout check").
DOWN_AFTER_MS = 1000
CHECK_INTER_MS = 500
CHECK_TIMEOUT_MS = 1000
# Starting (Sentinel needs a few hello rounds to know its peers) and stopping.
CLUSTER_TIMEOUT = 120


def missing_tools():
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


class Cluster:
    """A running scripts/cluster.sh topology in a temporary state directory."""

    def __init__(self, shards=3, replicas=1, server=None, proxy_timeout_ms=2000):
        self.dir = tempfile.mkdtemp(prefix="mkvcluster-")
        # cluster.sh remembers the last cluster in $TMPDIR: keep that inside our directory.
        self.env = dict(os.environ, TMPDIR=self.dir, CLUSTER_DOWN_AFTER_MS=str(DOWN_AFTER_MS),
                        CLUSTER_CHECK_INTER_MS=str(CHECK_INTER_MS),
                        CLUSTER_PROXY_TIMEOUT_MS=str(proxy_timeout_ms))
        self.state = os.path.join(self.dir, "state")
        self.running = True
        result = subprocess.run(
            [CLUSTER_SH, "start", "--shards", str(shards), "--replicas", str(replicas),
             "--server", server or MIRRORKV_SERVER, "--dir", self.state],
            env=self.env, capture_output=True, text=True, timeout=CLUSTER_TIMEOUT)
        if result.returncode != 0:
            self.stop()
            raise RuntimeError("cluster.sh start failed:\n%s%s" % (result.stdout, result.stderr))
        self.vars = {}
        with open(os.path.join(self.state, "cluster.env")) as f:
            for line in f:
                name, value = line.rstrip("\n").split("=", 1)
                self.vars[name] = value.strip('"')
        self.shards = int(self.vars["SHARDS"])
        self.proxy_port = int(self.vars["PROXY_PORT"])
        self.haproxy_ports = [int(p) for p in self.vars["HAPROXY_PORTS"].split()]
        self.sentinel_ports = [int(p) for p in self.vars["SENTINEL_PORTS"].split()]

    def node_ports(self, shard):
        """The shard's nodes' ports; node 0 was the primary at start."""
        return [int(p) for p in self.vars["SHARD_%d_PORTS" % shard].split()]

    def pid(self, *path):
        """The pid of the process in state/<path...>, e.g. pid("shard-0", "node-1")."""
        with open(os.path.join(self.state, *path, "pid")) as f:
            return int(f.read())

    def proxy(self, **kwargs):
        import redis  # python3-redis, in Debian's /usr/bin/python3
        kwargs.setdefault("socket_timeout", IO_TIMEOUT)
        return redis.Redis(host="127.0.0.1", port=self.proxy_port, **kwargs)

    def node(self, port):
        import redis
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=IO_TIMEOUT)

    def sentinel_primary(self, shard):
        """The port of the shard's primary according to the first sentinel."""
        import redis
        sentinel = redis.Redis(host="127.0.0.1", port=self.sentinel_ports[0], socket_timeout=5)
        _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                           "shard-%d" % shard)
        return int(port)

    def primary(self, shard):
        return self.node(self.sentinel_primary(shard))

    def restart(self, shard, node):
        """Starts the stopped node again as a replica of the shard's current primary
        (cluster.sh restart)."""
        subprocess.run([CLUSTER_SH, "restart", "--shard", str(shard), "--node", str(node),
                        "--dir", self.state], env=self.env, check=True, capture_output=True,
                       timeout=CLUSTER_TIMEOUT)

    def stop(self):
        """Stops every process and removes the state directory. Returns a list of problems
        for a test to report: a server that was running and did not shut down cleanly (no
        "ready to exit" line from its pid: it crashed or had to be killed), or a sanitizer
        report in a server's log."""
        if not self.running:
            return []
        self.running = False
        running_nodes = {}  # server.log path -> pid, for the nodes running before the stop
        for root, _, files in os.walk(self.state):
            if "server.log" in files and "pid" in files:
                with open(os.path.join(root, "pid")) as f:
                    pid = int(f.read())
                if os.path.exists("/proc/%d/cwd" % pid):
                    running_nodes[os.path.join(root, "server.log")] = pid
        if os.path.exists(os.path.join(self.state, "cluster.env")):
            subprocess.run([CLUSTER_SH, "stop", "--dir", self.state], env=self.env,
                           capture_output=True, timeout=CLUSTER_TIMEOUT)
        problems = []
        for root, _, files in os.walk(self.state):
            if "pid" in files:  # cluster.sh removes the pid files of what it stopped
                with open(os.path.join(root, "pid")) as f:
                    try:
                        os.kill(int(f.read()), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            if "server.log" in files:
                path = os.path.join(root, "server.log")
                with open(path, "rb") as f:
                    log = f.read().decode("utf-8", "replace")
                for marker in ("Sanitizer", "runtime error"):
                    if marker in log:
                        problems.append("sanitizer report in %s:\n%s" % (path, log[-8000:]))
                pid = running_nodes.get(path)
                if pid is not None and not any(
                        line.startswith("%d:" % pid) and "ready to exit" in line
                        for line in log.splitlines()):
                    problems.append("%s (pid %d) did not shut down cleanly:\n%s"
                                    % (path, pid, log[-4000:]))
        shutil.rmtree(self.dir, ignore_errors=True)
        return problems


def keys_by_shard(cluster, keys):
    """Which shard holds each of `keys` (already written through the proxy), asked of each
    shard's primary directly. Returns {shard: [key, ...]}."""
    owners = {}
    for shard in range(cluster.shards):
        pipe = cluster.primary(shard).pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        owners[shard] = [key for key, present in zip(keys, pipe.execute()) if present]
    return owners


class FailoverRun:
    """Kills one shard's primary with SIGKILL while one writer per shard SETs keys of its
    own shard through the proxy (each on its own connection, so that every request is
    attributed to one shard), and records every request.

    After run(): `records[shard]` lists (start, ok, error) per request, in monotonic
    seconds; `killed_at` and `switched_at` (when the first sentinel names the replica as
    the primary) bound the failover; `failed`, `window` and `resumed_at` describe the
    victim shard as a client saw it.
    """

    def __init__(self, cluster, victim=0):
        self.cluster = cluster
        self.victim = victim
        probe = ["load:%d" % i for i in range(600)]
        cluster.proxy().mset({key: "0" for key in probe})
        self.load_keys = keys_by_shard(cluster, probe)
        self.records = {shard: [] for shard in range(cluster.shards)}
        self.stop = threading.Event()

    def _write(self, shard):
        client = self.cluster.proxy(socket_timeout=10)
        keys = self.load_keys[shard]
        i = 0
        while not self.stop.is_set():
            key = keys[i % len(keys)]
            i += 1
            started = time.monotonic()
            try:
                client.set(key, str(i))
                self.records[shard].append((started, True, None))
            except Exception as error:  # noqa: BLE001 - every failure is recorded
                self.records[shard].append((started, False, repr(error)))
                time.sleep(0.005)

    def run(self, settle=1.0):
        """Runs the load `settle` seconds, kills the victim's primary, waits for Sentinel's
        switch (bounded), and goes on for one HAProxy check and check timeout past it plus
        `settle`."""
        cluster = self.cluster
        old_port = cluster.sentinel_primary(self.victim)
        old_node = cluster.node_ports(self.victim).index(old_port)
        writers = [threading.Thread(target=self._write, args=(s,)) for s in range(cluster.shards)]
        for writer in writers:
            writer.start()
        try:
            time.sleep(settle)
            os.kill(cluster.pid("shard-%d" % self.victim, "node-%d" % old_node), signal.SIGKILL)
            self.killed_at = time.monotonic()
            deadline = self.killed_at + 60
            while cluster.sentinel_primary(self.victim) == old_port:
                if time.monotonic() > deadline:
                    raise AssertionError("Sentinel did not fail shard %d over in 60 s"
                                         % self.victim)
                time.sleep(0.05)
            self.switched_at = time.monotonic()
            time.sleep((CHECK_INTER_MS + CHECK_TIMEOUT_MS) / 1000.0 + settle)
        finally:
            self.stop.set()
            for writer in writers:
                writer.join(timeout=30)
        records = self.records[self.victim]
        self.failed = [(start, error) for start, ok, error in records if not ok]
        last_failure = self.failed[-1][0] if self.failed else self.killed_at
        self.resumed_at = min([start for start, ok, _ in records if ok and start > last_failure]
                              or [float("inf")])
        # The window a client saw: from the first failed request's start to the first
        # successful one after the last failure.
        self.window = self.resumed_at - (self.failed[0][0] if self.failed else self.resumed_at)
        return self

    def summary(self):
        return ("shard %d: Sentinel switched %.2f s after the kill; %d failed writes; writes "
                "resumed after %.2f s; window of failures %.2f s" % (
                    self.victim, self.switched_at - self.killed_at, len(self.failed),
                    self.resumed_at - self.killed_at, self.window))
