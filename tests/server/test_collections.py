"""Lists, sets, hashes and sorted sets through mirrorkv-server: redis-benchmark's default
suite (every test, lists and sets and hashes and sorted sets included) runs to the end
against a primary with a replica attached, and the replica ends equal to the primary,
type by type and element by element.

MIRRORKV_BENCH_REQUESTS sets -n (default 3000: a unit-sized run; the slow variant runs
100000 with -d 10000 as the request's benchmark does)."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MultiServerTestCase, wait_until  # noqa: E402


def dataset(server):
    """Every key with its type and its content in a canonical form (sets and hashes
    sorted), read with SCAN, TYPE and the type's full read (redis-py)."""
    client = server.client()
    content = {}
    for key in set(client.scan_iter(count=1000)):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "hash":
            value = sorted(client.hgetall(key).items())
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            continue  # gone between SCAN and TYPE
        content[key] = (kind, value)
    client.close()
    return content


class BenchmarkWithReplicaTest(MultiServerTestCase):
    def test_default_suite_runs_to_the_end_and_the_replica_ends_equal(self):
        requests = os.environ.get("MIRRORKV_BENCH_REQUESTS", "3000")
        size = os.environ.get("MIRRORKV_BENCH_VALUE_BYTES", "100")
        primary = self.start()
        replica = self.start("--replicaof", "127.0.0.1", str(primary.port))
        wait_until(lambda: harness.info_fields(replica.port, "replication").get(
            "master_link_status") == "up", what="the replica's link")
        result = subprocess.run(
            [harness.REDIS_BENCHMARK, "-p", str(primary.port), "-n", requests, "-c", "300",
             "-d", size, "-r", "10000", "-q"],
            capture_output=True, text=True, timeout=1800)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        self.assertNotIn("rror", output)
        # Every default test reported its rate, the last one included.
        for test in ["PING_INLINE", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP",
                     "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN", "LRANGE_600", "MSET"]:
            self.assertRegex(output, re.escape(test) + r"[^:\n]*: [0-9.]+ requests per second",
                             output[-2000:])

        def offsets_equal():
            master = harness.info_fields(primary.port, "replication")["master_repl_offset"]
            slave = harness.info_fields(replica.port, "replication").get("slave_repl_offset")
            return master == slave

        wait_until(offsets_equal, timeout=60, what="the replica to catch up")
        expected = dataset(primary)
        self.assertTrue(any(kind == "list" for kind, _ in expected.values()))
        self.assertTrue(any(kind == "hash" for kind, _ in expected.values()))
        self.assertEqual(dataset(replica), expected)


class NewCommandsWithReplicaTest(MultiServerTestCase):
    """The range, move, pop, set-algebra and float commands of test_vs_redis run on a
    primary with a replica and on redis-server: after each case the replica holds exactly
    the primary's data, and both hold what redis-server holds."""

    CASES = ["zset_ranges", "zset_range_removals", "zrangestore", "list_moves", "set_algebra",
             "hash_float", "zset_combine", "zmpop",
             "collection_scan"]

    def test_replica_and_redis_end_with_the_same_content(self):
        import test_vs_redis
        primary = self.start()
        replica = self.start("--replicaof", "127.0.0.1", str(primary.port))
        redis = self.start(redis=True)
        wait_until(lambda: harness.info_fields(replica.port, "replication").get(
            "master_link_status") == "up", what="the replica's link")

        def offsets_equal():
            master = harness.info_fields(primary.port, "replication")["master_repl_offset"]
            slave = harness.info_fields(replica.port, "replication").get("slave_repl_offset")
            return master == slave

        for name in self.CASES:
            test_vs_redis.run_case(primary.port, test_vs_redis.CASES[name])
            test_vs_redis.run_case(redis.port, test_vs_redis.CASES[name])
            wait_until(offsets_equal, timeout=30, what="the replica to catch up")
            expected = dataset(redis)
            self.assertTrue(expected, name)
            self.assertEqual(dataset(primary), expected, name)
            self.assertEqual(dataset(replica), expected, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
