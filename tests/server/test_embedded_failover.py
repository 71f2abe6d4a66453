"""Failover of embedded nodes by the real redis-sentinel.

Three processes of one application (examples/embedded_node), each embedding a node
(Store + mirrorkv::Server), and three redis-sentinels with quorum 2 monitoring them. The
primary's process writes sessions in process and confirms each with WAIT 1. It is killed
with SIGKILL; the sentinels must promote one of the others through its endpoint
(REPLICAOF NO ONE), re-point the third, and no WAIT-acknowledged session may be lost.
The application hears each change through on_role_change ("role ..." lines).
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (STOP_TIMEOUT, free_port, info_fields, terminate,  # noqa: E402
                     wait_until)
from test_sentinel import FAILOVER_TIMEOUT, REDIS_SENTINEL, Sentinel  # noqa: E402

NODE = os.environ.get("MIRRORKV_EMBEDDED_NODE", "")


class Node:
    """One application process embedding a node; its stdout is kept in a file."""

    def __init__(self, port, replicaof=None, write=True):
        self.port = port
        self.out_path = "/tmp/mkv-node-%d-%d.out" % (os.getpid(), port)
        self.out = open(self.out_path, "wb")
        args = [NODE, "--port", str(port)]
        if replicaof is not None:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
        if write:
            args.append("--write")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)

    def lines(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()

    def acked(self):
        return [key for line in self.lines() if line.startswith("acked ")
                for key in line.split()[1:]]

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        terminate(self.proc)
        self.out.close()
        os.unlink(self.out_path)


def role(port):
    try:
        return info_fields(port, "replication").get("role")
    except OSError:
        return None


class EmbeddedFailoverTest(unittest.TestCase):

    def setUp(self):
        if not os.path.exists(REDIS_SENTINEL) or not NODE:
            self.skipTest("redis-sentinel or the embedded_node example is missing")
        self.nodes = []
        self.sentinels = []

    def tearDown(self):
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in self.nodes:
            node.stop()

    def test_sentinels_fail_embedded_nodes_over_without_losing_acked_writes(self):
        primary = Node(free_port())
        self.nodes.append(primary)
        wait_until(lambda: role(primary.port) == "master", 10, what="the primary node")
        replicas = [Node(free_port(), replicaof=primary.port) for _ in range(2)]
        self.nodes += replicas
        wait_until(lambda: info_fields(primary.port, "replication").get("connected_slaves")
                   == "2", 20, what="two replicas to attach")
        self.sentinels = [Sentinel(primary.port, quorum=2) for _ in range(3)]
        # Every sentinel knows both replicas and the other sentinels before the kill.
        for sentinel in self.sentinels:
            wait_until(lambda: (lambda m: m["num-slaves"] == "2" and
                                m["num-other-sentinels"] == "2")(
                sentinel_master(sentinel)), FAILOVER_TIMEOUT, what="sentinels to settle")
        wait_until(lambda: len(primary.acked()) >= 100, 20, what="acknowledged writes")

        primary.kill()
        killed_at = time.monotonic()
        acked = primary.acked()
        new_port = [None]

        def promoted():
            addr = self.sentinels[0].client().execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "m")
            port = int(addr[1])
            if port != primary.port and role(port) == "master":
                new_port[0] = port
                return True
            return False
        wait_until(promoted, FAILOVER_TIMEOUT, interval=0.1, what="a replica to be promoted")
        print("failover took %.1fs" % (time.monotonic() - killed_at), file=sys.stderr)
        new_primary = next(n for n in replicas if n.port == new_port[0])
        other = next(n for n in replicas if n.port != new_port[0])
        # The application heard it, and the third node follows the new primary.
        wait_until(lambda: "role primary" in new_primary.lines(), 10, what="on_role_change")
        wait_until(lambda: info_fields(other.port, "replication").get("master_port")
                   == str(new_primary.port) and
                   info_fields(other.port, "replication").get("master_link_status") == "up",
                   FAILOVER_TIMEOUT, what="the third node to follow the new primary")
        wait_until(lambda: "role replica of 127.0.0.1:%d" % new_primary.port in other.lines(),
                   10, what="the third node's on_role_change")
        # Nothing WAIT acknowledged is lost, and the new primary writes (and confirms) too.
        c = new_primary.client()
        lost = [key for key in acked if not c.exists(key)]
        self.assertEqual(lost, [], "%d of %d acknowledged writes lost" % (len(lost), len(acked)))
        wait_until(lambda: len(new_primary.acked()) >= 10, 20, what="writes on the new primary")


def sentinel_master(sentinel):
    raw = sentinel.client().execute_command("SENTINEL", "MASTER", "m")
    if isinstance(raw, dict):
        items = raw.items()
    else:
        items = zip(raw[::2], raw[1::2])
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                          else v) for k, v in items}


if __name__ == "__main__":
    unittest.main(verbosity=2)
