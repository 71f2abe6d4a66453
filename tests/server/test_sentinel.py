"""Failover of mirrorkv-server by the real redis-sentinel (Debian's redis-sentinel 7.0).

One mirrorkv-server primary, one mirrorkv-server replica, one sentinel with quorum 1.
The primary is killed with SIGKILL; Sentinel must promote the replica (MULTI, SLAVEOF NO
ONE, CONFIG REWRITE, CLIENT KILL TYPE normal, EXEC, then INFO until role:master) and
report it as the master, and the promoted server must hold the data and take writes.
When the old primary comes back (empty, on its old port) Sentinel turns it into a
replica of the new one, which it then follows (a separate, slow test: Sentinel waits
before converting a returning master).

Every process runs on a free loopback port and is stopped (bounded) in tearDown.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (STOP_TIMEOUT, MultiServerTestCase, free_port,  # noqa: E402
                     info_fields, terminate, wait_until)

REDIS_SENTINEL = "/usr/bin/redis-sentinel"
# Sentinel's timing (down-after 1 s) makes a failover take 2-4 s; the bound allows for
# a loaded machine.
FAILOVER_TIMEOUT = 30.0


class Sentinel:
    """redis-sentinel on a free port, monitoring `master` as "m", in a temporary dir."""

    def __init__(self, master_port, quorum=1, down_after_ms=1000):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mkvsentinel-")
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\n" % self.port)
            f.write("bind 127.0.0.1\n")
            f.write("dir %s\n" % self.dir)
            f.write("sentinel monitor m 127.0.0.1 %d %d\n" % (master_port, quorum))
            f.write("sentinel down-after-milliseconds m %d\n" % down_after_ms)
            f.write("sentinel failover-timeout m 5000\n")
        self.log_path = os.path.join(self.dir, "sentinel.log")
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([REDIS_SENTINEL, self.conf], cwd=self.dir,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        terminate(self.proc)
        self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def replica_entry(sentinel, port):
    """Sentinel's record of the replica on `port` (a dict), or None."""
    for entry in sentinel.client().execute_command("SENTINEL", "REPLICAS", "m"):
        fields = dict(zip(entry[::2], entry[1::2])) if isinstance(entry, list) else entry
        fields = {k.decode() if isinstance(k, bytes) else k:
                  v.decode() if isinstance(v, bytes) else v for k, v in fields.items()}
        if fields.get("port") == str(port):
            return fields
    return None


class SentinelFailoverTest(MultiServerTestCase):

    def setUp(self):
        if not os.path.exists(REDIS_SENTINEL):
            self.skipTest("redis-sentinel is not installed")
        super().setUp()
        self.sentinel = None

    def tearDown(self):
        if self.sentinel is not None:
            self.sentinel.stop()
        super().tearDown()

    def fail_over(self):
        """Primary, replica and Sentinel; kills the primary and waits until Sentinel
        reports the replica as the master. Returns (old primary, new primary)."""
        primary = self.start()
        replica = self.start("--replicaof", "127.0.0.1", str(primary.port))
        p = primary.client()
        for i in range(50):
            p.set("key:%d" % i, "value:%d" % i)
        p.set("session", "alice", ex=3600)
        # Acknowledged by the replica before the kill: it must survive the failover.
        self.assertEqual(p.execute_command("WAIT", 1, 10000), 1)

        self.sentinel = Sentinel(primary.port)
        sentinel = self.sentinel
        # Sentinel learns of the replica from the primary's INFO, then connects to it and
        # reads its INFO (link up, priority): only then is it a failover candidate.
        wait_until(lambda: (lambda e: e is not None and e["flags"] == "slave"
                            and e["master-link-status"] == "ok")(
                                replica_entry(sentinel, replica.port)),
                   FAILOVER_TIMEOUT, what="Sentinel to see the replica")

        primary.proc.send_signal(signal.SIGKILL)
        primary.proc.wait(timeout=STOP_TIMEOUT)
        primary.log_file.close()
        primary.proc = None
        killed_at = time.monotonic()
        wait_until(lambda: sentinel.client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "m") == [b"127.0.0.1",
                                                             str(replica.port).encode()],
                   FAILOVER_TIMEOUT, interval=0.1, what="Sentinel to switch the master")
        print("failover took %.1fs" % (time.monotonic() - killed_at), file=sys.stderr)
        return primary, replica

    def test_sentinel_promotes_the_replica_when_the_primary_dies(self):
        _, replica = self.fail_over()
        r = replica.client()
        self.assertEqual(r.execute_command("ROLE")[0], b"master")
        self.assertEqual(info_fields(replica.port, "replication")["role"], "master")
        self.assertEqual(r.get("key:49"), b"value:49")
        self.assertEqual(r.get("session"), b"alice")
        self.assertTrue(3000 < r.ttl("session") <= 3600)
        self.assertTrue(r.set("after:failover", "1"))
        self.assertIn("+promoted-slave", self.sentinel.log())

    def test_old_primary_rejoins_as_replica(self):
        """The old primary comes back, empty, on its old port: Sentinel reconfigures it as
        a replica of the new master (SLAVEOF in MULTI), and it follows. Sentinel waits
        about 8 s (4 hello periods) before converting it, so this test is labelled slow."""
        primary, replica = self.fail_over()
        replica.client().set("after:failover", "1")
        old = self.start(port=primary.port)
        wait_until(lambda: info_fields(old.port, "replication").get("master_port")
                   == str(replica.port), FAILOVER_TIMEOUT, interval=0.2,
                   what="Sentinel to turn the old primary into a replica")
        wait_until(lambda: old.client().get("after:failover") == b"1", FAILOVER_TIMEOUT,
                   what="the old primary to follow the new one")
        self.assertEqual(old.client().get("key:0"), b"value:0")


if __name__ == "__main__":
    unittest.main(verbosity=2)
