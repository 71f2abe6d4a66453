#!/usr/bin/python3
"""The main job (scripts/run.sh): three application processes, each embedding a mirrorkv node
(examples/embedded_node), serving login sessions and one-time codes, with three
redis-sentinels (quorum 2). The primary's process is killed with SIGKILL; Sentinel
promotes another node. The old one comes back from the snapshot it saved (once a second)
and, made a replica of the new primary by Sentinel, catches up with a partial resync.

Prints a progress line per second and a summary: sessions written, WAIT-acknowledged,
lost (must be 0), failover time, partial and full resyncs. Exits 1 if anything
acknowledged was lost.

Usage: embedded_demo.py <path to embedded_node>
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "server"))
import test_embedded_failover as failover  # noqa: E402
from harness import free_port, info_fields  # noqa: E402
from test_sentinel import Sentinel  # noqa: E402


def written(node):
    # The node reports its count once a second; what it acknowledged since was written too.
    counts = [int(line.split()[1]) for line in node.lines() if line.startswith("written ")]
    return max(counts[-1] if counts else 0, len(node.acked()) // 2)


def sessions_acked(nodes):
    return sum(len(node.acked()) // 2 for node in nodes)


def primary_of(nodes):
    for node in nodes:
        if node.proc.poll() is None and failover.role(node.port) == "master":
            return node
    return None


def progress(started, nodes, note=""):
    primary = primary_of(nodes)
    print("%5.1fs  primary %-5s  sessions written %6d  WAIT-acknowledged %6d  %s" % (
        time.monotonic() - started, primary.port if primary else "-",
        sum(written(n) for n in nodes), sessions_acked(nodes), note), flush=True)


def main():
    failover.NODE = sys.argv[1]
    nodes, sentinels = [], []
    directory = tempfile.mkdtemp(prefix="mkv-demo-")
    try:
        a = failover.Node(free_port(), directory=directory)
        nodes.append(a)
        time.sleep(0.5)
        nodes += [failover.Node(free_port(), replicaof=a.port) for _ in range(2)]
        sentinels += [Sentinel(a.port, quorum=2) for _ in range(3)]
        started = time.monotonic()
        for _ in range(6):
            time.sleep(1)
            progress(started, nodes)
        saves = info_fields(a.port, "persistence").get("rdb_saves")

        a.kill()
        killed_at = time.monotonic()
        print("%5.1fs  kill -9 of the primary's process (port %d)" % (
            killed_at - started, a.port), flush=True)
        failover_time = None
        next_report = time.monotonic() + 1
        while time.monotonic() - killed_at < 60:
            survivors = [n for n in nodes if n is not a]
            if failover_time is None:
                primary = primary_of(survivors)
                if primary is not None and primary.client().set("probe", "1"):
                    failover_time = time.monotonic() - killed_at
                    print("%5.1fs  node %d promoted by Sentinel, accepting writes after "
                          "%.2fs" % (time.monotonic() - started, primary.port,
                                     failover_time), flush=True)
            if time.monotonic() >= next_report:
                next_report += 1
                progress(started, survivors)
            if failover_time is not None and time.monotonic() - killed_at > failover_time + 5:
                break
            time.sleep(0.05)

        # The old primary's process comes back on its port from its last snapshot; Sentinel
        # makes it a replica of the new primary. It writes nothing until then: a node that
        # wrote on its own after the restart would have left the history the others share,
        # and would need a full resync.
        old_port = a.port
        killed_written, killed_acked = written(a), a.acked()
        a.stop()
        nodes.remove(a)
        back = failover.Node(old_port, write=False, directory=directory)
        nodes.append(back)
        print("%5.1fs  the old primary's process restarts from its snapshot (%s saves before "
              "the kill)" % (time.monotonic() - started, saves), flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(1)
            fields = info_fields(back.port, "replication")
            link = fields.get("master_link_status")
            progress(started, nodes, "old primary: %s%s" % (
                fields.get("role"), " (link %s)" % link if link else ""))
            if fields.get("role") == "slave" and link == "up":
                break

        primary = primary_of(nodes)
        client = primary.client()
        acked = killed_acked + [key for node in nodes for key in node.acked()]
        total_written = killed_written + sum(written(n) for n in nodes)
        lost = sum(1 for key in acked if not client.exists(key))
        full = partial = 0
        for node in nodes:
            fields = info_fields(node.port, "replication")
            full += int(fields.get("mirrorkv_full_resyncs", 0))
            partial += int(fields.get("mirrorkv_partial_resyncs", 0))
        print()
        print("sessions written       %d" % total_written)
        print("WAIT-acknowledged      %d (each a session and a one-time code)" % (len(acked) // 2))
        print("lost                   %d" % lost)
        print("failover time          %s" % ("%.2fs (kill -9 to writes accepted)" % failover_time
                                           if failover_time is not None else "no failover"))
        print("resyncs                %d partial, %d full (of the nodes alive now)" % (partial,
                                                                                       full))
        back_fields = info_fields(back.port, "replication")
        print("old primary rejoined   with a %s resync" % (
            "partial" if back_fields.get("mirrorkv_partial_resyncs") == "1" and
            back_fields.get("mirrorkv_full_resyncs") == "0" else "full"))
        return 0 if lost == 0 and failover_time is not None else 1
    finally:
        for sentinel in sentinels:
            sentinel.stop()
        for node in nodes:
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
