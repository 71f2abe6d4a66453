"""mirrorkv-server sharded behind twemproxy and HAProxy, failed over by redis-sentinel.

Each test class starts the whole topology of scripts/cluster.sh (docs/scale-out.md,
driven by cluster.py) on free loopback ports: 3 shards of a primary and a replica, 3
sentinels with quorum 2, one HAProxy section per shard following the shard's primary,
nutcracker in front. Clients speak only to nutcracker, except WAIT, which nutcracker does
not forward (it is not in its command table) and which is therefore sent to the shard's
primary.

The tests check what users of the proxy rely on: every command of a session store works
through it (redis-py and redis-benchmark), keys spread evenly over the shards, and a
shard whose primary is killed comes back on its replica, with every write acknowledged
by WAIT kept, while the other shards serve without a single error.
"""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (CHECK_INTER_MS, CHECK_TIMEOUT_MS, Cluster, FailoverRun,  # noqa: E402
                     keys_by_shard, missing_tools)
from harness import REDIS_BENCHMARK, wait_until  # noqa: E402


def skip_without_tools():
    if missing_tools():
        raise unittest.SkipTest("not installed (scripts/install-deps.sh): %s"
                                % " ".join(missing_tools()))


def stop_and_check(cluster):
    """Stops `cluster`; raises AssertionError if a server did not shut down cleanly or
    reported a sanitizer error."""
    problems = cluster.stop()
    if problems:
        raise AssertionError("\n".join(problems))


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
            self.cluster.primary(shard).flushall()

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
        sizes = [self.cluster.primary(s).dbsize() for s in range(self.cluster.shards)]
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
            self.assertGreater(self.cluster.primary(shard).dbsize(), 1000,
                               "shard %d got too few keys" % shard)

    def test_wait_is_sent_to_the_shard_primary(self):
        """nutcracker does not forward WAIT (it closes the connection), so WAIT goes to the
        shard's primary; once it has counted the replica, the replica holds the write made
        through the proxy."""
        import redis
        proxy = self.cluster.proxy()
        self.assertTrue(proxy.set("user:1", "alice"))
        with self.assertRaises(redis.ConnectionError):
            proxy.execute_command("WAIT", 1, 1000)
        owner = [s for s, keys in keys_by_shard(self.cluster, ["user:1"]).items() if keys][0]
        self.assertEqual(self.cluster.primary(owner).execute_command("WAIT", 1, 10000), 1)
        replica = self.cluster.node(self.cluster.node_ports(owner)[1])
        self.assertEqual(replica.get("user:1"), b"alice")
        self.assertEqual(proxy.get("user:1"), b"alice")  # a new connection: still served


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

        run = FailoverRun(cluster, victim).run()
        print(run.summary(), file=sys.stderr)
        # Writes resume within Sentinel's failover plus one HAProxy check (and its timeout).
        resume_bound = run.switched_at + (CHECK_INTER_MS + CHECK_TIMEOUT_MS) / 1000.0
        self.assertLessEqual(run.resumed_at, resume_bound,
                             "writes resumed %.2f s after Sentinel's switch"
                             % (run.resumed_at - run.switched_at))
        records = run.records
        for shard in range(cluster.shards):
            if shard == victim:
                continue
            errors = [error for _, ok, error in records[shard] if not ok]
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
        after = acked_on_victim[0]
        self.assertTrue(proxy.set(after, "after failover"))

        # The old primary, restarted by cluster.sh, follows the new one and gets the data
        # back; HAProxy never sends it a client, even on new connections.
        cluster.restart(victim, 0)
        old = cluster.node(cluster.node_ports(victim)[0])
        wait_until(lambda: old.get(after) == b"after failover",
                   what="the restarted old primary to follow the new one")
        self.assertEqual(old.dbsize(), new_primary.dbsize())
        self.assertEqual(old.execute_command("ROLE")[0], b"slave")
        time.sleep((CHECK_INTER_MS + CHECK_TIMEOUT_MS) / 1000.0)
        for _ in range(20):
            via_haproxy = cluster.node(cluster.haproxy_ports[victim])
            self.assertEqual(via_haproxy.execute_command("ROLE")[0], b"master")
            via_haproxy.close()


if __name__ == "__main__":
    unittest.main()
