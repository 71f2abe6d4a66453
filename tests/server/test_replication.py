"""Replication in mirrorkv-server, driven by Redis's own tools: a real redis-server
replica of mirrorkv-server, mirrorkv-server replicas of each other, REPLICAOF / SLAVEOF
(also inside MULTI as redis-sentinel sends it), ROLE, INFO replication, WAIT,
min-replicas-to-write, and bad input on the replication commands.

Every server runs on a free loopback port and is stopped (bounded) in tearDown.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (REDIS_CLI, MultiServerTestCase, RespReader, connect,  # noqa: E402
                     encode_command, info_fields, recv_until_closed, reusable_port,
                     stop_and_check, wait_until)

# Bound for a replica to catch up or a link to come up (loaded machine, sanitizers).
SYNC_TIMEOUT = 20.0


class ReplicationTestCase(MultiServerTestCase):
    """Starts servers on demand (stopped after each test) and waits for replication."""

    def replica_of(self, primary, *args, redis=False):
        return self.start("--replicaof", "127.0.0.1", str(primary.port), *args, redis=redis)

    def wait_link_up(self, replica):
        wait_until(lambda: info_fields(replica.port, "replication")["master_link_status"] == "up",
                   SYNC_TIMEOUT, what="the replica's link to come up")

    def wait_value(self, server, key, value):
        client = server.client()
        wait_until(lambda: client.get(key) == value, SYNC_TIMEOUT,
                   what="%r == %r on port %d" % (key, value, server.port))


class RedisReplicaTest(ReplicationTestCase):
    """A real redis-server follows mirrorkv-server (an RDB of the data set, then the stream)."""

    def test_redis_server_replicates_writes_before_and_after_attaching(self):
        primary = self.start()
        p = primary.client()
        p.set("before", "1")
        p.set("before:ttl", "2", ex=1000)
        p.set("doomed", "3")
        replica = self.replica_of(primary, redis=True)
        self.wait_link_up(replica)
        r = replica.client()
        self.wait_value(replica, "before", b"1")
        self.assertEqual(r.get("before:ttl"), b"2")
        self.assertTrue(900 < r.ttl("before:ttl") <= 1000)
        p.set("after", "4")
        p.set("after:ttl", "5", px=500000)
        p.delete("doomed")
        self.wait_value(replica, "after:ttl", b"5")
        self.assertEqual(r.get("after"), b"4")
        self.assertTrue(400 < r.ttl("after:ttl") <= 500)
        wait_until(lambda: r.exists("doomed") == 0, SYNC_TIMEOUT, what="DEL replicated")
        self.assertEqual(r.ttl("before"), -1)

        fields = info_fields(primary.port, "replication")
        self.assertEqual(fields["role"], "master")
        self.assertEqual(fields["connected_slaves"], "1")
        self.assertRegex(fields["slave0"],
                         r"^ip=127\.0\.0\.1,port=%d,state=online,offset=\d+,lag=\d+$"
                         % replica.port)
        role = p.execute_command("ROLE")
        self.assertEqual(role[0], b"master")
        self.assertEqual(role[2][0][:2], [b"127.0.0.1", str(replica.port).encode()])
        # redis-server's own view of the link.
        self.assertEqual(info_fields(replica.port, "replication")["master_link_status"], "up")


class MirrorkvReplicaTest(ReplicationTestCase):
    """mirrorkv-server replicas of mirrorkv-server (mirrorkv snapshot, PSYNC2)."""

    def test_replica_follows_refuses_writes_and_reports_its_link(self):
        primary = self.start()
        p = primary.client()
        p.set("k1", "v1")
        p.set("k2", "v2", ex=1000)
        replica = self.replica_of(primary)
        self.wait_link_up(replica)
        r = replica.client()
        self.wait_value(replica, "k1", b"v1")
        self.assertTrue(900 < r.ttl("k2") <= 1000)
        p.set("k3", "v3")
        p.delete("k1")
        self.wait_value(replica, "k3", b"v3")
        wait_until(lambda: r.exists("k1") == 0, SYNC_TIMEOUT, what="DEL replicated")

        with connect(replica.port) as s:
            s.sendall(encode_command("SET", "x", "1"))
            self.assertEqual(RespReader(s).read(),
                             b"-READONLY You can't write against a read only replica.\r\n")

        fields = info_fields(replica.port, "replication")
        self.assertEqual(fields["role"], "slave")
        self.assertEqual(fields["master_host"], "127.0.0.1")
        self.assertEqual(fields["master_port"], str(primary.port))
        self.assertEqual(fields["master_link_status"], "up")
        self.assertEqual(fields["master_sync_in_progress"], "0")
        self.assertEqual(fields["slave_priority"], "100")
        self.assertEqual(fields["slave_read_only"], "1")
        self.assertEqual(fields["replica_announced"], "1")
        self.assertNotIn("master_link_down_since_seconds", fields)
        primary_fields = info_fields(primary.port, "replication")
        self.assertEqual(fields["master_replid"], primary_fields["master_replid"])
        wait_until(lambda: info_fields(replica.port, "replication")["slave_repl_offset"]
                   == info_fields(primary.port, "replication")["master_repl_offset"],
                   SYNC_TIMEOUT, what="offsets to match")
        for name in ("master_last_io_seconds_ago", "slave_read_repl_offset", "master_replid2",
                     "second_repl_offset", "repl_backlog_active", "repl_backlog_size",
                     "repl_backlog_first_byte_offset", "repl_backlog_histlen",
                     "master_failover_state", "connected_slaves"):
            self.assertIn(name, fields)

        with connect(replica.port) as s:
            s.sendall(encode_command("HELLO", "2"))
            self.assertIn(b"$4\r\nrole\r\n$7\r\nreplica\r\n", RespReader(s).read())
        role = r.execute_command("ROLE")
        self.assertEqual(role[:4], [b"slave", b"127.0.0.1", primary.port, b"connected"])
        self.assertGreater(role[4], 0)

    def test_link_down_is_reported(self):
        primary = self.start()
        replica = self.replica_of(primary)
        self.wait_link_up(replica)
        stop_and_check(primary)
        fields = wait_until(
            lambda: (lambda f: f if f["master_link_status"] == "down" else None)(
                info_fields(replica.port, "replication")),
            SYNC_TIMEOUT, what="the link to go down")
        self.assertRegex(fields["master_link_down_since_seconds"], r"^\d+$")
        self.assertEqual(replica.client().execute_command("ROLE")[4], -1)

    def test_promotion_and_old_primary_rejoins_with_partial_resync(self):
        primary = self.start()
        replica = self.replica_of(primary)
        self.wait_link_up(replica)
        p = primary.client()
        for i in range(100):
            p.set("key:%d" % i, "v%d" % i)
        self.wait_value(replica, "key:99", b"v99")
        old_id = info_fields(primary.port, "replication")["master_replid"]

        r = replica.client()
        self.assertEqual(r.execute_command("REPLICAOF", "NO", "ONE"), b"OK")
        self.assertEqual(r.execute_command("ROLE")[0], b"master")
        r.set("after:promotion", "yes")
        fields = info_fields(replica.port, "replication")
        self.assertEqual(fields["role"], "master")
        self.assertEqual(fields["master_replid2"], old_id)
        self.assertNotEqual(fields["master_replid"], old_id)
        self.assertNotEqual(fields["second_repl_offset"], "-1")

        # The old primary follows the promoted replica: a partial resync from the old id.
        self.assertEqual(p.execute_command("REPLICAOF", "127.0.0.1", str(replica.port)), b"OK")
        self.assertEqual(p.execute_command("REPLICAOF", "127.0.0.1", str(replica.port)),
                         b"OK Already connected to specified master")
        self.wait_link_up(primary)
        self.wait_value(primary, "after:promotion", b"yes")
        self.assertEqual(p.get("key:42"), b"v42")
        old = info_fields(primary.port, "replication")
        self.assertEqual(old["mirrorkv_partial_resyncs"], "1")
        self.assertEqual(old["mirrorkv_full_resyncs"], "0")
        # And a second replica attaches to the new primary.
        third = self.replica_of(replica)
        self.wait_link_up(third)
        self.wait_value(third, "after:promotion", b"yes")
        wait_until(lambda: info_fields(replica.port, "replication")["connected_slaves"] == "2",
                   SYNC_TIMEOUT, what="two replicas")

    def test_restarted_primary_resumes_from_its_snapshot_with_partial_resync(self):
        primary = self.start(port=reusable_port())  # restarted on it below
        replica = self.replica_of(primary)
        self.wait_link_up(replica)
        p = primary.client()
        for i in range(2000):
            p.set("key:%d" % i, "v%d" % i)
            p.rpush("list:%d" % (i % 10), i)
        self.assertTrue(p.save())
        # Written after the save: the restarted process gets them from the stream.
        for i in range(2000, 2100):
            p.set("key:%d" % i, "v%d" % i)
            p.rpush("list:%d" % (i % 10), i)
        self.wait_value(replica, "key:2099", b"v2099")
        primary.proc.kill()
        primary.proc.wait(timeout=10)

        r = replica.client()
        self.assertEqual(r.execute_command("REPLICAOF", "NO", "ONE"), b"OK")
        r.set("after", "promotion")
        r.rpush("list:0", "after")
        primary.start()
        self.assertIn("The snapshot continues replication history", primary.log())
        p = primary.client()
        self.assertEqual(p.execute_command("REPLICAOF", "127.0.0.1", str(replica.port)), b"OK")
        self.wait_link_up(primary)
        self.wait_value(primary, "after", b"promotion")
        fields = info_fields(primary.port, "replication")
        self.assertEqual((fields["mirrorkv_partial_resyncs"], fields["mirrorkv_full_resyncs"]),
                         ("1", "0"))
        self.assertEqual(p.dbsize(), r.dbsize())
        for i in range(10):
            self.assertEqual(p.lrange("list:%d" % i, 0, -1), r.lrange("list:%d" % i, 0, -1))

    def test_replicaof_during_a_background_save_cancels_it(self):
        other = self.start()
        primary = self.start()
        replica = self.replica_of(primary)  # the Primary exists: saves carry its history
        self.wait_link_up(replica)
        load = b"".join(encode_command("SET", "key:%d" % i, "x" * 200) for i in range(300000))
        subprocess.run([REDIS_CLI, "-p", str(primary.port), "--pipe"], input=load, check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        p = primary.client()
        p.execute_command("BGSAVE")
        # Inside MULTI, as Sentinel sends it: the transaction's group is open while the
        # save may be waiting for the stream to leave it.
        with connect(primary.port) as s:
            reader = RespReader(s)
            started = time.monotonic()
            for command in (("MULTI",), ("SET", "in", "multi"),
                            ("SLAVEOF", "127.0.0.1", str(other.port)), ("EXEC",)):
                s.sendall(encode_command(*command))
            replies = [reader.read() for _ in range(4)]
            self.assertLess(time.monotonic() - started, 5.0)
        self.assertEqual(replies[3], b"*2\r\n+OK\r\n+OK\r\n")
        wait_until(lambda: info_fields(primary.port, "persistence")["rdb_bgsave_in_progress"]
                   == "0", SYNC_TIMEOUT, what="the background save to end")
        self.wait_link_up(primary)
        self.assertEqual(p.dbsize(), 0)  # a replica of the empty server now

    def test_slaveof_in_multi_as_sentinel_sends_it(self):
        primary = self.start()
        directory = tempfile.mkdtemp(prefix="mkvconf-")
        conf = os.path.join(directory, "replica.conf")
        with open(conf, "w") as f:
            f.write("# written by the test\nreplicaof 127.0.0.1 %d\n" % primary.port)
        replica = self.start(conf)
        self.wait_link_up(replica)
        r = replica.client()
        bystander = replica.client()
        bystander.ping()

        # Sentinel's promotion: MULTI, SLAVEOF NO ONE, CONFIG REWRITE, CLIENT KILL TYPE
        # normal, EXEC.
        with connect(replica.port) as s:
            reader = RespReader(s)
            for command in (("MULTI",), ("SLAVEOF", "NO", "ONE"), ("CONFIG", "REWRITE"),
                            ("CLIENT", "KILL", "TYPE", "normal"), ("EXEC",)):
                s.sendall(encode_command(*command))
            self.assertEqual([reader.read() for _ in range(5)],
                             [b"+OK\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n", b"+QUEUED\r\n",
                              b"*3\r\n+OK\r\n+OK\r\n:1\r\n"])  # the bystander
        self.assertEqual(r.execute_command("ROLE")[0], b"master")
        with open(conf) as f:
            text = f.read()
        self.assertNotIn("replicaof", text)
        self.assertIn("# written by the test", text)

        # Sentinel's reconfiguration of a replica: SLAVEOF host port in MULTI.
        with connect(replica.port) as s:
            reader = RespReader(s)
            for command in (("MULTI",), ("SLAVEOF", "127.0.0.1", str(primary.port)),
                            ("CONFIG", "REWRITE"), ("CLIENT", "KILL", "TYPE", "normal"),
                            ("EXEC",)):
                s.sendall(encode_command(*command))
            replies = [reader.read() for _ in range(5)]
            self.assertEqual(replies[4][:12], b"*3\r\n+OK\r\n+OK")
        with open(conf) as f:
            self.assertIn("replicaof 127.0.0.1 %d" % primary.port, f.read())
        self.wait_link_up(replica)
        os.unlink(conf)
        os.rmdir(directory)


class ReplicationCommandErrorsTest(ReplicationTestCase):
    """Bad input gets Redis's replies and never hurts the server."""

    def call(self, port, *command):
        with connect(port) as s:
            s.sendall(encode_command(*command))
            return RespReader(s).read()

    def test_bad_arguments(self):
        server = self.start()
        port = server.port
        self.assertEqual(self.call(port, "REPLICAOF", "127.0.0.1", "99999"),
                         b"-ERR Invalid master port\r\n")
        self.assertEqual(self.call(port, "REPLICAOF", "127.0.0.1", "abc"),
                         b"-ERR Invalid master port\r\n")
        self.assertEqual(self.call(port, "SLAVEOF", "127.0.0.1"),
                         b"-ERR wrong number of arguments for 'slaveof' command\r\n")
        self.assertEqual(self.call(port, "REPLICAOF", "NO", "ONE"), b"+OK\r\n")
        self.assertEqual(self.call(port, "PSYNC", "abc", "xyz"),
                         b"-ERR value is not an integer or out of range\r\n")
        self.assertEqual(self.call(port, "REPLCONF", "listening-port"), b"-ERR syntax error\r\n")
        self.assertEqual(self.call(port, "REPLCONF", "bogus", "1"),
                         b"-ERR Unrecognized REPLCONF option: bogus\r\n")
        self.assertEqual(self.call(port, "REPLCONF", "listening-port", "x"),
                         b"-ERR value is not an integer or out of range\r\n")
        self.assertEqual(self.call(port, "WAIT", "x", "0"),
                         b"-ERR value is not an integer or out of range\r\n")
        self.assertEqual(self.call(port, "WAIT", "1", "-1"), b"-ERR timeout is negative\r\n")
        with connect(port) as s:
            reader = RespReader(s)
            s.sendall(encode_command("MULTI") + encode_command("PSYNC", "?", "-1") +
                      encode_command("EXEC"))
            self.assertEqual([reader.read() for _ in range(3)],
                             [b"+OK\r\n",
                              b"-ERR Command not allowed inside a transaction\r\n",
                              b"-EXECABORT Transaction discarded because of previous errors.\r\n"])
        for client_type in ("normal", "master", "replica", "slave", "pubsub"):
            self.assertRegex(self.call(port, "CLIENT", "KILL", "TYPE", client_type),
                             rb"^:\d+\r\n$")
        self.assertEqual(self.call(port, "PING"), b"+PONG\r\n")

    def test_replica_refuses_to_serve_replicas(self):
        primary = self.start()
        replica = self.replica_of(primary)
        self.assertEqual(
            self.call(replica.port, "PSYNC", "?", "-1"),
            b"-ERR mirrorkv-server does not serve replicas while it is a replica itself\r\n")
        self.assertTrue(self.call(replica.port, "WAIT", "1", "0").startswith(
            b"-ERR WAIT cannot be used with replica instances."))

    def test_bytes_sent_after_psync_reach_the_session(self):
        """A replica's bytes that arrived with PSYNC (read by the server before the
        handover) are passed to the replication session, not dropped: here a malformed
        command, which the session must see and refuse, closing the link with a log line.
        (An ACK would not do: one that arrives before the replica is online is ignored by
        design, so that WAIT never counts a replica still loading its snapshot.)"""
        primary = self.start()
        primary.client().set("k", "v")
        with connect(primary.port) as s:
            s.sendall(encode_command("PSYNC", "?", "-1") + b"*x\r\n")
            recv_until_closed(s, timeout=SYNC_TIMEOUT)  # the session closes it
        wait_until(lambda: "sent a malformed command" in primary.log(), SYNC_TIMEOUT,
                   what="the session to refuse the bytes sent with PSYNC")

    def test_replica_that_disconnects_mid_sync(self):
        primary = self.start()
        p = primary.client()
        value = "x" * 1000
        with p.pipeline(transaction=False) as pipe:
            for i in range(20000):
                pipe.set("big:%d" % i, value)
            pipe.execute()
        # Handshakes that stop at every stage: after PSYNC, after part of the payload,
        # and with bytes pipelined after PSYNC (they reach the session, which ignores
        # what it does not expect).
        for read_bytes in (0, 100, 200000):
            with connect(primary.port) as s:
                s.sendall(encode_command("REPLCONF", "listening-port", "1") +
                          encode_command("REPLCONF", "capa", "eof", "capa", "psync2"))
                reader = RespReader(s)
                self.assertEqual([reader.read(), reader.read()], [b"+OK\r\n", b"+OK\r\n"])
                s.sendall(encode_command("PSYNC", "?", "-1") + encode_command("PING"))
                got = reader.buffer
                while len(got) < read_bytes:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                if read_bytes:
                    self.assertTrue(got.startswith(b"+FULLRESYNC "), got[:60])
            self.assertEqual(p.ping(), True)
        # A garbage id is a full resync, as in Redis.
        with connect(primary.port) as s:
            s.sendall(encode_command("PSYNC", "not-an-id", "12345"))
            s.settimeout(SYNC_TIMEOUT)
            got = b""
            while b"\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            self.assertTrue(got.startswith(b"+FULLRESYNC "), got[:60])
        # The server still serves a real replica after all that.
        replica = self.replica_of(primary)
        self.wait_value(replica, "big:19999", value.encode())
        wait_until(lambda: info_fields(primary.port, "replication")["connected_slaves"] == "1",
                   SYNC_TIMEOUT, what="the aborted sessions to go away")


class WaitTest(ReplicationTestCase):
    """WAIT and min-replicas-to-write."""

    def test_wait_counts_acknowledging_replicas(self):
        primary = self.start()
        p = primary.client()
        self.assertEqual(p.execute_command("WAIT", 0, 0), 0)
        self.assertEqual(p.execute_command("WAIT", 1, 100), 0)
        replica = self.replica_of(primary)
        wait_until(lambda: info_fields(primary.port, "replication")["slave0"].find(
            "state=online") >= 0, SYNC_TIMEOUT, what="the replica online")
        p.set("k", "v")
        self.assertEqual(p.execute_command("WAIT", 1, 5000), 1)
        # More replicas than there are: the whole timeout, then the count.
        started = time.monotonic()
        self.assertEqual(p.execute_command("WAIT", 2, 300), 1)
        self.assertGreaterEqual(time.monotonic() - started, 0.25)
        # Timeout 0 blocks until enough replicas acknowledged (here at once).
        p.set("k2", "v2")
        self.assertEqual(p.execute_command("WAIT", 1, 0), 1)
        self.assertEqual(replica.client().get("k2"), b"v2")
        # Inside MULTI it does not block.
        with p.pipeline(transaction=True) as pipe:
            pipe.set("k3", "v3")
            pipe.execute_command("WAIT", 5, 0)
            self.assertLessEqual(pipe.execute()[1], 1)

    def test_wait_zero_timeout_returns_when_a_replica_attaches(self):
        # One I/O thread: the replica's handshake arrives on the thread of the blocked
        # client, so WAIT must block the client, not the thread.
        primary = self.start("--io-threads", "1")
        p = primary.client()
        p.set("k", "v")
        with connect(primary.port, timeout=SYNC_TIMEOUT) as s:
            s.sendall(encode_command("WAIT", "1", "0"))
            self.replica_of(primary)
            self.assertEqual(RespReader(s, timeout=SYNC_TIMEOUT).read(), b":1\r\n")

    def test_wait_of_a_client_that_leaves_ends(self):
        primary = self.start()
        p = primary.client()
        p.set("k", "v")

        def threads():
            with open("/proc/%d/status" % primary.proc.pid) as f:
                return int(next(line for line in f if line.startswith("Threads:")).split()[1])

        # The first blocking WAIT creates the Primary (and its fixed threads), which then
        # keeps every WAIT: none costs a thread of its own.
        self.assertEqual(p.execute_command("WAIT", 1, 10), 0)
        baseline = threads()
        for _ in range(5):
            with connect(primary.port) as s:
                s.sendall(encode_command("WAIT", "1", "0"))
                time.sleep(0.05)
        self.assertEqual(p.ping(), True)
        self.assertLessEqual(threads(), baseline)

    def test_min_replicas_to_write(self):
        primary = self.start("--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
        with connect(primary.port) as s:
            s.sendall(encode_command("SET", "k", "v"))
            self.assertEqual(RespReader(s).read(),
                             b"-NOREPLICAS Not enough good replicas to write.\r\n")
        p = primary.client()
        self.assertEqual(p.get("k"), None)
        replica = self.replica_of(primary)
        wait_until(lambda: p.set("k", "v"), SYNC_TIMEOUT, what="writes accepted")
        self.wait_value(replica, "k", b"v")
        self.assertEqual(p.config_get("min-replicas-*"),
                         {"min-replicas-to-write": "1", "min-replicas-max-lag": "10"})
        # Changed at run time, with effect before CONFIG SET replies.
        p.config_set("min-replicas-to-write", "2")
        with connect(primary.port) as s:
            s.sendall(encode_command("SET", "k", "w"))
            self.assertEqual(RespReader(s).read(),
                             b"-NOREPLICAS Not enough good replicas to write.\r\n")
        p.config_set("min-replicas-to-write", "0")
        self.assertTrue(p.set("k", "w"))

    def test_min_replicas_set_at_run_time_on_a_fresh_primary(self):
        primary = self.start()
        p = primary.client()
        self.assertTrue(p.set("k", "v"))
        p.config_set("min-replicas-to-write", "1")
        with connect(primary.port) as s:
            s.sendall(encode_command("SET", "k", "w"))
            self.assertEqual(RespReader(s).read(),
                             b"-NOREPLICAS Not enough good replicas to write.\r\n")
        self.assertEqual(p.get("k"), b"v")

    def test_backlog_offsets_follow_the_stream(self):
        primary = self.start("--repl-backlog-size", "16kb")
        replica = self.replica_of(primary)
        self.wait_link_up(replica)
        p = primary.client()
        for i in range(400):  # ~40 KiB of stream: more than the backlog keeps
            p.set("key%d" % i, "x" * 64)
        fields = info_fields(primary.port, "replication")
        offset = int(fields["master_repl_offset"])
        first = int(fields["repl_backlog_first_byte_offset"])
        histlen = int(fields["repl_backlog_histlen"])
        self.assertEqual(fields["repl_backlog_active"], "1")
        self.assertEqual(first + histlen - 1, offset)
        self.assertGreater(first, 1)  # the oldest bytes are gone
        self.assertLessEqual(histlen, 32 * 1024)  # 16 KiB, rounded up to whole chunks


if __name__ == "__main__":
    unittest.main(verbosity=2)
