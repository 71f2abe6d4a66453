"""mirrorkv-server sharded behind twemproxy and HAProxy, failed over by redis-sentinel.

Each test starts the whole topology of scripts/cluster.sh (docs/scale-out.md) in its own
state directory, on free loopback ports: 3 shards of a primary and a replica, 3 sentinels
with quorum 2, one HAProxy section per shard following the shard's primary, nutcracker in
front. Clients speak only to nutcracker, except WAIT, which nutcracker does not forward
(it is not in its command table) and which is therefore sent to the shard's primary.

The tests check what users of the proxy rely on: every command of a session store works
through it (redis-py and redis-benchmark), keys spread evenly over the shards, and a
shard whose primary is killed comes back on its replica, with every write acknowledged
by WAIT kept, while the other shards serve without a single error.

`stop` always runs (cluster.sh stop, then SIGKILL for any process it left), and every
wait is bounded.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (IO_TIMEOUT, MIRRORKV_SERVER, REDIS_BENCHMARK,  # noqa: E402
                     wait_until)

CLUSTER_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "cluster.sh")
SHARDS = 3
# cluster.sh's timing, set here so that the bounds below follow from it: Sentinel calls a
# primary down after DOWN_AFTER_MS without a reply, HAProxy checks every CHECK_INTER_MS.
DOWN_AFTER_MS = 1000
CHECK_INTER_MS = 500
# Starting (Sentinel needs a few hello rounds to know its peers) and stopping: bounded.
CLUSTER_TIMEOUT = 120


def decode(value):
    return value.decode() if isinstance(value, bytes) else value


class Cluster:
    """A running scripts/cluster.sh topology in a temporary state directory."""

    def __init__(self, shards=SHARDS, replicas=1):
        self.dir = tempfile.mkdtemp(prefix="mkvcluster-")
        # cluster.sh remembers the last cluster in $TMPDIR: keep that inside our directory.
        self.env = dict(os.environ, TMPDIR=self.dir, CLUSTER_DOWN_AFTER_MS=str(DOWN_AFTER_MS),
                        CLUSTER_CHECK_INTER_MS=str(CHECK_INTER_MS))
        self.state = os.path.join(self.dir, "state")
        self.started = False
        result = subprocess.run(
            [CLUSTER_SH, "start", "--shards", str(shards), "--replicas", str(replicas),
             "--server", MIRRORKV_SERVER, "--dir", self.state],
            env=self.env, capture_output=True, text=True, timeout=CLUSTER_TIMEOUT)
        self.started = True
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
        self.sentinel_ports = [int(p) for p in self.vars["SENTINEL_PORTS"].split()]

    def node_ports(self, shard):
        return [int(p) for p in self.vars["SHARD_%d_PORTS" % shard].split()]

    def node_pid(self, shard, node):
        with open(os.path.join(self.state, "shard-%d" % shard, "node-%d" % node, "pid")) as f:
            return int(f.read())

    def proxy(self, **kwargs):
        import redis
        kwargs.setdefault("socket_timeout", IO_TIMEOUT)
        return redis.Redis(host="127.0.0.1", port=self.proxy_port, **kwargs)

    def node(self, port):
        import redis
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=IO_TIMEOUT)

    def sentinel_primary(self, shard):
        """The port of shard's primary according to the first sentinel."""
        import redis
        sentinel = redis.Redis(host="127.0.0.1", port=self.sentinel_ports[0], socket_timeout=5)
        _, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                           "shard-%d" % shard)
        return int(port)

    def logs(self):
        """The tails of every process's log, for a failure message."""
        out = []
        for root, _, files in os.walk(self.state):
            for name in files:
                if name.endswith(".log"):
                    with open(os.path.join(root, name), "rb") as f:
                        text = f.read()[-1500:].decode("utf-8", "replace")
                    out.append("== %s\n%s" % (os.path.join(root, name), text))
        return "\n".join(out)

    def server_logs(self):
        out = []
        for shard in range(self.shards):
            for node in range(len(self.node_ports(shard))):
                path = os.path.join(self.state, "shard-%d" % shard, "node-%d" % node,
                                    "server.log")
                with open(path, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "\n".join(out)

    def stop(self):
        """Stops every process (cluster.sh stop, then SIGKILL for any survivor) and removes
        the state directory. Returns the servers' logs."""
        if not self.started:
            return ""
        self.started = False
        if os.path.exists(os.path.join(self.state, "cluster.env")):
            subprocess.run([CLUSTER_SH, "stop", "--dir", self.state], env=self.env,
                           capture_output=True, timeout=CLUSTER_TIMEOUT)
        logs = ""
        for root, _, files in os.walk(self.state):
            if "pid" in files:
                with open(os.path.join(root, "pid")) as f:
                    pid = int(f.read())
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if "server.log" in files:
                with open(os.path.join(root, "server.log"), "rb") as f:
                    logs += f.read().decode("utf-8", "replace")
        shutil.rmtree(self.dir, ignore_errors=True)
        return logs


def keys_by_shard(cluster, keys):
    """Which shard holds each of `keys` (already written through the proxy): asked of each
    shard's primary directly. Returns {shard: [key, ...]}."""
    owners = {}
    for shard in range(cluster.shards):
        node = cluster.node(cluster.sentinel_primary(shard))
        pipe = node.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        owners[shard] = [key for key, present in zip(keys, pipe.execute()) if present]
    return owners


def skip_without_tools():
    for tool in ("nutcracker", "haproxy", "redis-sentinel"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest("%s is not installed (scripts/install-deps.sh)" % tool)


def stop_and_check(cluster):
    """Stops `cluster`; raises AssertionError if a server's log holds a sanitizer report."""
    logs = cluster.stop()
    for marker in ("Sanitizer", "runtime error"):
        if marker in logs:
            raise AssertionError("sanitizer report in a server log:\n%s" % logs[-8000:])


class ProxyCommandsTest(unittest.TestCase):
    """Tests sharing one cluster; each starts from empty shards."""

    @classmethod
    def setUpClass(cls):
        skip_without_tools()
        cls.cluster = Cluster()

    @classmethod
    def tearDownClass(cls):
        stop_and_check(cls.cluster)

    def setUp(self):
        for shard in range(self.cluster.shards):
            self.cluster.node(self.cluster.sentinel_primary(shard)).flushall()

    def test_commands_through_the_proxy_reach_every_shard(self):
        proxy = self.cluster.proxy()
        keys = ["user:%d" % i for i in range(60)]
        for i, key in enumerate(keys):
            self.assertTrue(proxy.set(key, "v%d" % i))
        for i, key in enumerate(keys):
            self.assertEqual(proxy.get(key), b"v%d" % i)
            self.assertEqual(proxy.incr("counter:%s" % key, 5), 5)
            self.assertEqual(proxy.incr("counter:%s" % key), 6)
            self.assertTrue(proxy.expire(key, 100))
            self.assertTrue(95 <= proxy.ttl(key) <= 100)
        owners = keys_by_shard(self.cluster, keys)
        self.assertEqual(sum(len(k) for k in owners.values()), len(keys),
                         "every key on exactly one shard: %r" % owners)
        for shard, held in owners.items():
            self.assertTrue(held, "shard %d got none of %d keys" % (shard, len(keys)))
        # MGET and MSET are split by the proxy into one command per shard.
        self.assertTrue(proxy.mset({"m:%d" % i: str(i) for i in range(30)}))
        self.assertEqual(proxy.mget(["m:%d" % i for i in range(30)]),
                         [str(i).encode() for i in range(30)])
        self.assertEqual(proxy.delete(*keys), len(keys))
        self.assertEqual(proxy.exists(*keys), 0)
        self.assertIsNone(proxy.get(keys[0]))
        # Expiry is the shard's: a key set with a short TTL disappears through the proxy.
        self.assertTrue(proxy.set("short", "x", px=100))
        wait_until(lambda: proxy.get("short") is None, what="the short key to expire")

    def test_thirty_thousand_keys_spread_evenly(self):
        proxy = self.cluster.proxy()
        total = 30000
        pipe = proxy.pipeline(transaction=False)
        for i in range(total):
            pipe.set("session:%d" % i, "payload-%d" % i)
            if len(pipe) == 1000:
                self.assertTrue(all(pipe.execute()))
        self.assertTrue(all(pipe.execute()))
        sizes = [self.cluster.node(self.cluster.sentinel_primary(s)).dbsize()
                 for s in range(self.cluster.shards)]
        print("keys per shard: %r" % sizes, file=sys.stderr)
        self.assertEqual(sum(sizes), total)
        expected = total / self.cluster.shards
        for shard, size in enumerate(sizes):
            self.assertLess(abs(size - expected), 0.15 * expected,
                            "shard %d holds %d of %d keys: %r" % (shard, size, total, sizes))
        # Each shard's replica holds its primary's keys.
        for shard in range(self.cluster.shards):
            replica = self.cluster.node(self.cluster.node_ports(shard)[1])
            wait_until(lambda: replica.dbsize() == sizes[shard],
                       what="shard %d's replica to hold its %d keys" % (shard, sizes[shard]))

    def test_redis_benchmark_through_the_proxy(self):
        # The inline PING redis-benchmark sends first is not RESP, which nutcracker refuses:
        # the tests are the multibulk ones. -r spreads the keys over all shards.
        result = subprocess.run(
            [REDIS_BENCHMARK, "-p", str(self.cluster.proxy_port), "-t", "set,get,incr,mset",
             "-n", "5000", "-r", "100000", "-c", "10", "--csv"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        rows = [line.split(",")[0].strip('"') for line in result.stdout.splitlines()[1:]]
        self.assertEqual(rows, ["SET", "GET", "INCR", "MSET (10 keys)"], result.stdout)
        self.assertNotIn("Error", result.stdout + result.stderr)
        for shard in range(self.cluster.shards):
            node = self.cluster.node(self.cluster.sentinel_primary(shard))
            self.assertGreater(node.dbsize(), 1000, "shard %d got too few keys" % shard)


class ShardFailoverTest(unittest.TestCase):

    def setUp(self):
        skip_without_tools()
        self.cluster = Cluster()

    def tearDown(self):
        stop_and_check(self.cluster)

    def test_killed_primary_fails_over_without_touching_other_shards(self):
        cluster = self.cluster
        victim = 0
        proxy = cluster.proxy()
        # Keys acknowledged by the victim shard's replica before the kill: written through
        # the proxy, then WAIT sent to the shard's primary (nutcracker does not forward
        # WAIT). mirrorkv's WAIT waits for everything logged before it, whichever
        # connection wrote it.
        acked = ["acked:%d" % i for i in range(3000)]
        pipe = proxy.pipeline(transaction=False)
        for key in acked:
            pipe.set(key, key)
        self.assertTrue(all(pipe.execute()))
        owners = keys_by_shard(cluster, acked)
        primary_port = cluster.node_ports(victim)[0]
        self.assertEqual(cluster.sentinel_primary(victim), primary_port)
        self.assertEqual(cluster.node(primary_port).execute_command("WAIT", 1, 10000), 1)
        acked_on_victim = owners[victim]
        self.assertGreater(len(acked_on_victim), 300)

        # One writer per shard, each on its own proxy connection and on keys of its shard
        # only, so that every request is attributed to one shard.
        probe = ["load:%d" % i for i in range(600)]
        proxy.mset({key: "0" for key in probe})
        load_keys = keys_by_shard(cluster, probe)
        stop = threading.Event()
        records = {shard: [] for shard in range(cluster.shards)}  # (start, ok, error)

        def write(shard):
            client = cluster.proxy(socket_timeout=10)
            keys = load_keys[shard]
            i = 0
            while not stop.is_set():
                key = keys[i % len(keys)]
                i += 1
                started = time.monotonic()
                try:
                    client.set(key, str(i))
                    records[shard].append((started, True, None))
                except Exception as error:  # noqa: BLE001 - every failure is recorded
                    records[shard].append((started, False, repr(error)))
                    time.sleep(0.005)

        writers = [threading.Thread(target=write, args=(s,)) for s in range(cluster.shards)]
        for writer in writers:
            writer.start()
        try:
            time.sleep(1.0)
            os.kill(cluster.node_pid(victim, 0), signal.SIGKILL)
            killed_at = time.monotonic()
            new_port = cluster.node_ports(victim)[1]
            wait_until(lambda: cluster.sentinel_primary(victim) == new_port, 30, interval=0.05,
                       what="Sentinel to promote shard %d's replica" % victim)
            switched_at = time.monotonic()
            # Writes must resume within Sentinel's failover plus one HAProxy check (and the
            # check's own time): let them run past that bound, and a little more.
            resume_bound = switched_at + (CHECK_INTER_MS + 1000) / 1000.0
            time.sleep(max(0.0, resume_bound - time.monotonic()) + 1.0)
        finally:
            stop.set()
            for writer in writers:
                writer.join(timeout=30)

        failed = [(s - killed_at, e) for s, ok, e in records[victim] if not ok]
        last_failure = killed_at + (failed[-1][0] if failed else 0)
        resumed = min([s for s, ok, _ in records[victim] if ok and s > last_failure] or
                      [float("inf")])
        print("shard %d: Sentinel switched after %.2fs; %d failed writes from %.2fs to "
              "%.2fs; writes resumed at %.2fs" % (
                  victim, switched_at - killed_at, len(failed),
                  failed[0][0] if failed else 0, failed[-1][0] if failed else 0,
                  resumed - killed_at), file=sys.stderr)
        self.assertLessEqual(resumed, resume_bound,
                             "writes resumed %.2fs after Sentinel's switch" %
                             (resumed - switched_at))
        for shard in range(cluster.shards):
            if shard == victim:
                continue
            errors = [e for _, ok, e in records[shard] if not ok]
            self.assertEqual(errors, [], "shard %d saw errors during shard %d's failover"
                             % (shard, victim))
            self.assertGreater(len(records[shard]), 100, "shard %d's writer stalled" % shard)

        # Every key WAIT acknowledged is on the new primary, through the proxy too.
        new_primary = cluster.node(cluster.sentinel_primary(victim))
        pipe = new_primary.pipeline(transaction=False)
        for key in acked_on_victim:
            pipe.get(key)
        self.assertEqual(pipe.execute(), [key.encode() for key in acked_on_victim])
        self.assertEqual(proxy.mget(acked), [key.encode() for key in acked])
        self.assertTrue(proxy.set("after:failover", "1"))


if __name__ == "__main__":
    unittest.main()
