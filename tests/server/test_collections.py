"""Lists, sets, hashes and sorted sets through mirrorkv-server: redis-benchmark's default
suite (every test, lists and sets and hashes and sorted sets included) runs to the end
against a primary with a replica attached, and the replica ends equal to the primary,
type by type and element by element.

MIRRORKV_BENCH_REQUESTS sets -n (default 3000: a unit-sized run; the slow variant runs
100000 with -d 10000 as the request's benchmark does)."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
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


def start_primary_replica_and_redis(test):
    """A mirrorkv-server primary with a replica whose link is up, a redis-server, and a
    check that the replica has applied everything the primary logged."""
    primary = test.start()
    replica = test.start("--replicaof", "127.0.0.1", str(primary.port))
    redis = test.start(redis=True)
    wait_until(lambda: harness.info_fields(replica.port, "replication").get(
        "master_link_status") == "up", what="the replica's link")

    def offsets_equal():
        master = harness.info_fields(primary.port, "replication")["master_repl_offset"]
        slave = harness.info_fields(replica.port, "replication").get("slave_repl_offset")
        return master == slave
    return primary, replica, redis, offsets_equal


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
        primary, replica, redis, offsets_equal = start_primary_replica_and_redis(self)

        for name in self.CASES:
            test_vs_redis.run_case(primary.port, test_vs_redis.CASES[name])
            test_vs_redis.run_case(redis.port, test_vs_redis.CASES[name])
            wait_until(offsets_equal, timeout=30, what="the replica to catch up")
            expected = dataset(redis)
            self.assertTrue(expected, name)
            self.assertEqual(dataset(primary), expected, name)
            self.assertEqual(dataset(replica), expected, name)


class BlockingWithReplicaTest(MultiServerTestCase):
    """The blocking scenarios of test_vs_redis (wake-ups by pushes, MULTI, scripts, BLMOVE
    chains) run on a primary with a replica and on redis-server: what the served clients
    popped and moved reaches the replica as the pops and moves, so all three end equal."""

    def test_replica_and_redis_end_with_the_same_content(self):
        import test_vs_redis
        primary, replica, redis, offsets_equal = start_primary_replica_and_redis(self)

        for name, steps in test_vs_redis.BLOCKING_SCENARIOS.items():
            # The scenarios end with FLUSHALL's successor state; add a marker so that an
            # empty end state is still compared against something.
            steps = steps + [("admin", ["SET", "marker", name])]
            test_vs_redis.run_blocking_scenario(primary.port, steps)
            test_vs_redis.run_blocking_scenario(redis.port, steps)
            wait_until(offsets_equal, timeout=30, what="the replica to catch up")
            expected = dataset(redis)
            self.assertEqual(dataset(primary), expected, name)
            self.assertEqual(dataset(replica), expected, name)

    def test_blocking_commands_on_a_replica_are_refused(self):
        primary = self.start()
        replica = self.start("--replicaof", "127.0.0.1", str(primary.port))
        wait_until(lambda: harness.info_fields(replica.port, "replication").get(
            "master_link_status") == "up", what="the replica's link")
        with harness.connect(replica.port) as s:
            reader = harness.RespReader(s)
            for command in (["BLPOP", "k", "0"], ["BRPOPLPUSH", "a", "b", "0"],
                            ["BLMPOP", "0", "1", "k", "LEFT"], ["BZPOPMIN", "z", "0"]):
                s.sendall(harness.encode_command(*command))
                self.assertEqual(reader.read(),
                                 b"-READONLY You can't write against a read only replica.\r\n")


def thread_count(server):
    with open("/proc/%d/status" % server.proc.pid) as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


class ManyBlockedClientsTest(MultiServerTestCase):
    """Blocked clients are state in the event loop: 1000 of them add no thread, go away
    with their connections, and do not delay a shutdown."""

    CLIENTS = 1000

    def block_clients(self, server, count):
        socks = []
        for i in range(count):
            sock = harness.connect(server.port)
            sock.sendall(harness.encode_command("BLPOP", "key%d" % (i % 10), "shared", "0"))
            socks.append(sock)
        wait_until(lambda: int(harness.info_fields(server.port, "clients")["blocked_clients"])
                   == count, timeout=30, what="%d blocked clients" % count)
        return socks

    def test_thousand_blocked_clients_keep_the_thread_count(self):
        server = self.start("--maxclients", "2000")
        before = thread_count(server)
        socks = self.block_clients(server, self.CLIENTS)
        try:
            self.assertEqual(thread_count(server), before)
            listing = server.client().client_list()
            self.assertEqual(sum(1 for c in listing if c["flags"] == "b" and c["cmd"] == "blpop"),
                             self.CLIENTS)
            # One push serves exactly the first client blocked on "shared".
            with harness.connect(server.port) as s:
                reader = harness.RespReader(s)
                s.sendall(harness.encode_command("RPUSH", "shared", "v"))
                self.assertEqual(reader.read(), b":1\r\n")
            first = harness.RespReader(socks[0]).read()
            self.assertEqual(first, b"*2\r\n$6\r\nshared\r\n$1\r\nv\r\n")
            wait_until(lambda: int(harness.info_fields(server.port, "clients")
                                   ["blocked_clients"]) == self.CLIENTS - 1,
                       what="one client served")
        finally:
            for sock in socks:
                sock.close()
        wait_until(lambda: int(harness.info_fields(server.port, "clients")["blocked_clients"])
                   == 0 and int(harness.info_fields(server.port, "clients")
                                ["connected_clients"]) == 1,
                   timeout=30, what="the disconnected clients to be freed")
        self.assertEqual(thread_count(server), before)

    def test_concurrent_pushes_lose_no_wake_up(self):
        """Consumers on four I/O threads block without a timeout (so a lost wake-up would
        leave items behind with consumers still blocked) while producers push to the keys
        they wait on: every item is popped exactly once."""
        server = self.start("--io-threads", "4")
        consumers, items = 60, 8000
        popped = []
        lock = threading.Lock()
        socks = [harness.connect(server.port) for _ in range(consumers)]

        def consume(sock, i):
            reader = harness.RespReader(sock, timeout=60)
            while True:
                sock.sendall(harness.encode_command("BLPOP", "q", "q%d" % (i % 3), "0"))
                try:
                    reply = reader.read()
                except (OSError, AssertionError, ValueError):
                    return
                if not reply:
                    return
                with lock:
                    popped.append(reply.split(b"\r\n")[4])

        def produce(p):
            with harness.connect(server.port) as sock:
                reader = harness.RespReader(sock)
                for k in range(p, items, 4):
                    key = "q" if k % 2 else "q%d" % (k % 3)
                    sock.sendall(harness.encode_command("RPUSH", key, str(k)))
                    reader.read()

        threads = [threading.Thread(target=consume, args=(sock, i)) for i, sock in enumerate(socks)]
        for thread in threads:
            thread.start()
        wait_until(lambda: int(harness.info_fields(server.port, "clients")["blocked_clients"])
                   == consumers, what="the consumers to block")
        producers = [threading.Thread(target=produce, args=(p,)) for p in range(4)]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join()
        wait_until(lambda: len(popped) == items, timeout=30,
                   what="every item to be popped")
        for sock in socks:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(timeout=10)
        self.assertEqual(sorted(int(item) for item in popped), list(range(items)))
        self.assertEqual(harness.info_fields(server.port, "keyspace"), {})

    def test_shutdown_with_blocked_clients_is_prompt(self):
        server = self.start("--maxclients", "2000")
        socks = self.block_clients(server, 300)
        try:
            started = time.monotonic()
            with harness.connect(server.port) as s:
                s.sendall(harness.encode_command("SHUTDOWN", "NOSAVE"))
                harness.recv_until_closed(s)
            server.wait_exit()
            elapsed = time.monotonic() - started
            print("shutdown with 300 blocked clients: %.3f s" % elapsed)
            self.assertLess(elapsed, 1.0)
            self.assertEqual(server.exit_code, 0)
        finally:
            for sock in socks:
                sock.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
