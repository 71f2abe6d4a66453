#!/usr/bin/python3
"""How long writes fail when the primary dies under redis-sentinel: embedded mirrorkv nodes
against redis-server 7 (docs/benchmarks.md, "Embedded node").

Each run starts a new deployment of one kind on 127.0.0.1 with free ports: three nodes (a
primary and two replicas) and three redis-sentinels with quorum 2
(tests/server/test_sentinel.py's Sentinel: down-after-milliseconds 1000, failover-timeout
5000). Once every sentinel knows both replicas (linked) and the two other sentinels, the
primary is killed with SIGKILL, and a client that follows Sentinel retries one SET until it
succeeds: each attempt asks the first sentinel SENTINEL GET-MASTER-ADDR-BY-NAME, connects to
the address if it changed, and sends the SET; after a failure (refused connection, READONLY,
a timeout) it waits --retry-ms. Measured from the kill: when the first sentinel names
another node (the switch) and when the first SET succeeds (writes resume).

Kinds:
  embedded   three examples/embedded_node processes (mirrorkv::Server in an application;
             tests/server/test_embedded_failover.py's Node), without in-process writes;
  redis      three redis-server processes (tests/server/harness.py's ServerProcess);
  server     three mirrorkv-server processes.

The kinds alternate run by run, so that a busy phase of the shared machine hits each alike;
medians of --runs runs per kind and their ratios to redis are printed. Every process is
stopped and every temporary directory removed on success, error, Ctrl-C or SIGTERM.

    /usr/bin/python3 bench/failover_bench.py --node build-bench/examples/embedded_node \\
        [--server build-bench/server/mirrorkv-server --kinds embedded,redis,server] [--runs 5]

Needs redis-py: use /usr/bin/python3 (Debian's python3-redis), not another python3.
"""

import argparse
import os
import signal
import statistics
import sys
import time

import redis

from redis_process import exit_on_sigterm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "server"))
import test_embedded_failover  # noqa: E402
from harness import STOP_TIMEOUT, ServerProcess, free_port, info_fields, wait_until  # noqa: E402
from test_embedded_failover import Node, sentinel_master  # noqa: E402
from test_sentinel import FAILOVER_TIMEOUT, REDIS_SENTINEL, Sentinel, replica_entry  # noqa: E402

REPLICAS = 2
SENTINELS = 3
QUORUM = 2
# The bound on one failover; a failed run is reported and left out of the medians.
RUN_TIMEOUT_S = 60.0


class ProcessNode:
    """A redis-server or mirrorkv-server node, with Node's kill() and stop()."""

    def __init__(self, binary, redis_server, replicaof=None):
        args = [] if replicaof is None else ["--replicaof", "127.0.0.1", str(replicaof)]
        if not redis_server:
            args += ["--save", "", "--loglevel", "warning"]
        self.server = ServerProcess(binary=binary, args=args, redis=redis_server)
        self.server.start()
        self.port = self.server.port

    def kill(self):
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        self.server.cleanup()


def start_node(kind, args, replicaof=None):
    if kind == "embedded":
        return Node(free_port(), replicaof=replicaof, write=False)
    if kind == "redis":
        return ProcessNode(None, True, replicaof)
    return ProcessNode(args.server, False, replicaof)


def settle(nodes, sentinels):
    """Waits until the replicas are linked and every sentinel sees them as failover
    candidates and knows the other sentinels."""
    primary = nodes[0]
    wait_until(lambda: info_fields(primary.port, "replication").get("connected_slaves")
               == str(REPLICAS), FAILOVER_TIMEOUT, what="the replicas to attach")
    for sentinel in sentinels:
        wait_until(lambda: (lambda m: m["num-slaves"] == str(REPLICAS) and
                            m["num-other-sentinels"] == str(SENTINELS - 1))(
            sentinel_master(sentinel)), FAILOVER_TIMEOUT, what="the sentinels to settle")
        for node in nodes[1:]:
            wait_until(lambda: (lambda e: e is not None and e["flags"] == "slave" and
                                e["master-link-status"] == "ok")(
                replica_entry(sentinel, node.port)), FAILOVER_TIMEOUT,
                what="a sentinel to see a replica")


def write_until_success(sentinel, old_port, killed_at, retry_s):
    """The client that follows Sentinel; returns (switch s, resume s, failed attempts,
    {error kind: count}) from `killed_at`."""
    ask = sentinel.client()
    client = None
    client_port = None
    switched = None
    failed = 0
    errors = {}
    deadline = killed_at + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            port = int(ask.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "m")[1])
            if port != old_port and switched is None:
                switched = time.monotonic() - killed_at
            if port != client_port:
                client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1,
                                     socket_connect_timeout=1)
                client_port = port
            client.set("failover:probe", "1")
            return switched, time.monotonic() - killed_at, failed, errors
        except (redis.exceptions.RedisError, OSError) as error:
            failed += 1
            kind = type(error).__name__
            if isinstance(error, redis.exceptions.ResponseError):
                kind = str(error).split(" ", 1)[0]
            errors[kind] = errors.get(kind, 0) + 1
            time.sleep(retry_s)
    raise AssertionError("no successful write within %.0f s of the kill" % RUN_TIMEOUT_S)


def one_run(kind, args):
    nodes = []
    sentinels = []
    try:
        nodes.append(start_node(kind, args))
        nodes += [start_node(kind, args, replicaof=nodes[0].port) for _ in range(REPLICAS)]
        sentinels += [Sentinel(nodes[0].port, quorum=QUORUM) for _ in range(SENTINELS)]
        settle(nodes, sentinels)
        nodes[0].kill()
        killed_at = time.monotonic()
        return write_until_success(sentinels[0], nodes[0].port, killed_at,
                                   args.retry_ms / 1000.0)
    finally:
        for sentinel in sentinels:
            sentinel.stop()
        for node in nodes:
            node.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default="embedded,redis",
                        help="comma-separated, among embedded, redis, server")
    parser.add_argument("--node", help="the examples/embedded_node binary (kind embedded)")
    parser.add_argument("--server", help="the mirrorkv-server binary (kind server)")
    parser.add_argument("--runs", type=int, default=5, help="runs per kind")
    parser.add_argument("--retry-ms", type=float, default=10.0,
                        help="the client's pause after a failed attempt")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if not os.path.exists(REDIS_SENTINEL):
        sys.exit("redis-sentinel is not installed")
    if set(kinds) - {"embedded", "redis", "server"}:
        sys.exit("unknown kind in --kinds %s" % args.kinds)
    if "embedded" in kinds and not args.node or "server" in kinds and not args.server:
        sys.exit("the kinds embedded and server need --node and --server")
    # The processes run in their own directories.
    if args.node:
        test_embedded_failover.NODE = os.path.abspath(args.node)
    if args.server:
        args.server = os.path.abspath(args.server)
    exit_on_sigterm()
    results = {kind: [] for kind in kinds}
    print("Sentinel: down-after-milliseconds 1000, failover-timeout 5000, quorum %d of %d; "
          "client retry every %g ms" % (QUORUM, SENTINELS, args.retry_ms))
    for run in range(args.runs):
        for kind in kinds:
            try:
                switched, resumed, failed, errors = one_run(kind, args)
            except AssertionError as error:
                print("run %d %-8s failed: %s" % (run + 1, kind, error), flush=True)
                continue
            results[kind].append((switched, resumed, failed))
            print("run %d %-8s switch %.2f s, writes resumed %.2f s after the kill, "
                  "%d failed attempts %s" % (run + 1, kind, switched or float("nan"), resumed,
                                             failed, errors), flush=True)
    print("\n%-9s %5s %13s %20s %15s %16s" % ("kind", "runs", "switch (med)", "resumed (med)",
                                              "resumed range", "resumed / redis"))
    redis_median = (statistics.median(r[1] for r in results["redis"])
                    if results.get("redis") else float("nan"))
    for kind in kinds:
        done = results[kind]
        if not done:
            print("%-9s %5d  (no run succeeded)" % (kind, 0))
            continue
        switch = statistics.median(r[0] for r in done if r[0] is not None)
        resumed = [r[1] for r in done]
        print("%-9s %5d %11.2f s %18.2f s %7.2f–%.2f s %16.2f" % (
            kind, len(done), switch, statistics.median(resumed), min(resumed), max(resumed),
            statistics.median(resumed) / redis_median))


if __name__ == "__main__":
    main()
