"""Failover of embedded nodes by the real redis-sentinel.

Three processes of one application (examples/embedded_node), each embedding a node
(Store + mirrorkv::Server), and three redis-sentinels with quorum 2 monitoring them. The
primary's process writes sessions in process and confirms each with WAIT 1. It is killed
with SIGKILL; the sentinels must promote one of the others through its endpoint
(REPLICAOF NO ONE), re-point the third, and no WAIT-acknowledged session may be lost.
The application hears each change through on_role_change ("role ..." lines). The killed
process is then started again from the snapshot it saved: the sentinels turn it into a
replica of the new primary, and it catches up with a partial resync, ending with none of
the writes the new primary does not have.
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
from harness import (STOP_TIMEOUT, free_port, info_fields, reusable_port,  # noqa: E402
                     terminate, wait_until)
from test_sentinel import FAILOVER_TIMEOUT, REDIS_SENTINEL, Sentinel  # noqa: E402

NODE = os.environ.get("MIRRORKV_EMBEDDED_NODE", "")


class Node:
    """One application process embedding a node; its stdout is kept in a file."""

    def __init__(self, port, replicaof=None, write=True, directory=None):
        self.port = port
        self.out_path = "/tmp/mkv-node-%d-%d-%d.out" % (os.getpid(), port, time.monotonic_ns())
        self.out = open(self.out_path, "wb")
        args = [NODE, "--port", str(port)]
        if replicaof is not None:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
        if write:
            args.append("--write")
        if directory is not None:
            args += ["--dir", directory]
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
        self.dir = tempfile.mkdtemp(prefix="mkv-embedded-")

    def tearDown(self):
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_sentinels_fail_embedded_nodes_over_without_losing_acked_writes(self):
        # Restarted on its port below: a port no other test can be given meanwhile.
        primary = Node(reusable_port(), directory=self.dir)
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
        # Two saves after the replicas attached: the last one carries the primary's place
        # in the replication history.
        saves = int(info_fields(primary.port, "persistence")["rdb_saves"])
        wait_until(lambda: int(info_fields(primary.port, "persistence")["rdb_saves"]) >= saves + 2,
                   20, what="two saves of the primary's snapshot")

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
        wait_following(other, new_primary, "the third node")
        # Nothing WAIT acknowledged is lost, and the new primary writes (and confirms) too.
        c = new_primary.client()
        lost = [key for key in acked if not c.exists(key)]
        self.assertEqual(lost, [], "%d of %d acknowledged writes lost" % (len(lost), len(acked)))
        wait_until(lambda: len(new_primary.acked()) >= 10, 20, what="writes on the new primary")

        # The killed process comes back from its snapshot, without writing; the sentinels
        # turn it into a replica of the new primary, which it joins with a partial resync.
        before = info_fields(new_primary.port, "stats")
        returning = Node(primary.port, write=False, directory=self.dir)
        self.nodes.append(returning)
        try:
            wait_following(returning, new_primary, "the returning old primary")
        except AssertionError:
            print("the returning node's output:\n" + "\n".join(returning.lines()),
                  file=sys.stderr)
            raise
        after = info_fields(new_primary.port, "stats")
        self.assertEqual(int(after["sync_full"]), int(before["sync_full"]),
                         "the returning node needed a full resync")
        self.assertEqual(int(after["sync_partial_ok"]), int(before["sync_partial_ok"]) + 1)
        # It holds every acknowledged write, and nothing the new primary does not have
        # (the keys of the dead primary's history only grow: 1 h TTLs, no deletes).
        back = returning.client()
        newest = next(key for key in reversed(new_primary.acked()) if key.startswith("session:"))
        wait_until(lambda: back.exists(newest), 10,
                   what="a write of the new primary to reach the returning node")
        self.assertEqual([key for key in acked if not back.exists(key)], [])
        old_keys = set(back.scan_iter(match="*:%d:*" % primary.port, count=1000))
        self.assertEqual(old_keys - set(c.scan_iter(match="*:%d:*" % primary.port, count=1000)),
                         set())



def wait_following(node, primary, name):
    """Waits until `node` replicates `primary` with its link up, and its application heard
    of it through on_role_change."""
    wait_until(lambda: (lambda f: f.get("master_port") == str(primary.port) and
                        f.get("master_link_status") == "up")(
                            info_fields(node.port, "replication")),
               FAILOVER_TIMEOUT, what="%s to follow the new primary" % name)
    wait_until(lambda: "role replica of 127.0.0.1:%d" % primary.port in node.lines(), 10,
               what="%s's on_role_change" % name)


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
