#!/usr/bin/python3
"""Measures mirrorkv's RDB paths against redis-server on the same data set (keys
"key:%012d", 16 bytes, with 100-byte random values, loaded through `redis-cli --pipe`):

  sync     a redis-server replica attaches to a primary holding --sync-keys keys and is
           timed from its spawn until INFO says master_link_status:up and it holds every
           key; the primary is mirrorkv-server, then redis-server (7.0 defaults: diskless
           sync, with repl-diskless-sync-delay 0 so that neither side waits on purpose).
  export   the RDB of --file-keys keys: from mirrorkv-server through `redis-cli --rdb`
           (the full-resync path, $<length> framing), from redis-server by SAVE (which
           also fsyncs) and by `redis-cli --rdb`.
  import   a server started on that RDB, timed from spawn until PING answers PONG:
           mirrorkv-server --load-rdb on Redis's dump.rdb, redis-server on the same file.

Each figure is the median of --repeat runs; ratios are redis / mirrorkv (above 1: mirrorkv
faster). Every server runs on a free 127.0.0.1 port in a temporary directory and is shut
down on success, error or Ctrl-C; every wait is bounded.

    /usr/bin/python3 bench/rdb_vs_redis.py --server build/dev/server/mirrorkv-server \\
        [--sync-keys 1000000] [--file-keys 2000000] [--repeat 3]

Needs redis-py: use /usr/bin/python3 (Debian's python3-redis), not another python3.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import redis

from redis_process import exit_on_sigterm, free_port, stop_redis

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
TIMEOUT_S = 600
STOP_TIMEOUT_S = 30


def data_set(keys):
    rng = random.Random(1)
    out = []
    for i in range(keys):
        value = rng.randbytes(100)
        out.append(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n%s\r\n" % (i, value))
    return b"".join(out)


class Server:
    """A mirrorkv-server or redis-server process in its own directory."""

    def __init__(self, binary, args, workdir=None):
        self.port = free_port()
        self.dir = workdir or tempfile.mkdtemp(prefix="rdbbench-")
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir]
            + args, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = redis.Redis(port=self.port, socket_timeout=TIMEOUT_S)

    def wait_pong(self):
        """Seconds from spawn until PING answers PONG (not -LOADING)."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited: see %s" % self.dir)
            try:
                if self.client.ping():
                    return time.monotonic() - self.started
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.005)
        raise RuntimeError("no PONG within %d s" % TIMEOUT_S)

    def stop(self):
        stop_redis(self.process, self.client, STOP_TIMEOUT_S)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_args():
    return ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]


def load(server, payload):
    subprocess.run([REDIS_CLI, "-p", str(server.port), "--pipe"], input=payload, check=True,
                   capture_output=True, timeout=TIMEOUT_S)


def time_sync(primary, keys):
    replica = Server(REDIS_SERVER, redis_args() + ["--replicaof", "127.0.0.1", str(primary.port)])
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                up = replica.client.info("replication").get("master_link_status") == "up"
                if up and replica.client.dbsize() == keys:
                    return time.monotonic() - replica.started
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.005)
        raise RuntimeError("the replica did not sync within %d s" % TIMEOUT_S)
    finally:
        replica.stop()


def time_cli_rdb(server, path):
    started = time.monotonic()
    subprocess.run([REDIS_CLI, "-p", str(server.port), "--rdb", path], check=True,
                   capture_output=True, timeout=TIMEOUT_S)
    return time.monotonic() - started


def wait_no_fork(server):
    """Waits for redis-server's background save (the child `redis-cli --rdb` started)."""
    deadline = time.monotonic() + TIMEOUT_S
    while server.client.info("persistence")["rdb_bgsave_in_progress"]:
        if time.monotonic() > deadline:
            raise RuntimeError("background save still running after %d s" % TIMEOUT_S)
        time.sleep(0.01)


def report(name, mirrorkv, redis_s):
    m, r = statistics.median(mirrorkv), statistics.median(redis_s)
    print("%-44s mirrorkv %8.3f s   redis %8.3f s   redis/mirrorkv %5.2fx" % (name, m, r, r / m))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="the mirrorkv-server binary")
    parser.add_argument("--sync-keys", type=int, default=1_000_000, help="0: no sync figure")
    parser.add_argument("--file-keys", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.server = os.path.abspath(args.server)  # the servers run in their own directories
    exit_on_sigterm()
    servers = []
    try:
        if args.sync_keys > 0:
            sync_figures(args)
        file_figures(args, servers)
    finally:
        for server in servers:
            server.stop()


def sync_figures(args):
    servers = []
    try:
        payload = data_set(args.sync_keys)
        primaries = {"mirrorkv": Server(args.server, []), "redis": Server(REDIS_SERVER, redis_args())}
        servers += primaries.values()
        for primary in primaries.values():
            primary.wait_pong()
            load(primary, payload)
        sync = {name: [] for name in primaries}
        for _ in range(args.repeat):
            for name, primary in primaries.items():
                sync[name].append(time_sync(primary, args.sync_keys))
        report("full sync of %d keys to a redis replica" % args.sync_keys,
               sync["mirrorkv"], sync["redis"])
    finally:
        for server in servers:
            server.stop()


def file_figures(args, servers):
    """Export and import; `servers` holds the running ones, for the caller to stop."""
    payload = data_set(args.file_keys)
    mirrorkv = Server(args.server, [])
    red = Server(REDIS_SERVER, redis_args())
    servers += [mirrorkv, red]
    for server in servers:
        server.wait_pong()
        load(server, payload)
    workdir = tempfile.mkdtemp(prefix="rdbbench-files-")
    export = {"mirrorkv": [], "redis-save": [], "redis-cli": []}
    for i in range(args.repeat):
        export["mirrorkv"].append(time_cli_rdb(mirrorkv, os.path.join(workdir, "m.rdb")))
        export["redis-cli"].append(time_cli_rdb(red, os.path.join(workdir, "r.rdb")))
        wait_no_fork(red)
        started = time.monotonic()
        red.client.save()
        export["redis-save"].append(time.monotonic() - started)
    report("RDB export of %d keys (redis: SAVE)" % args.file_keys, export["mirrorkv"],
           export["redis-save"])
    report("RDB export of %d keys (redis: redis-cli --rdb)" % args.file_keys,
           export["mirrorkv"], export["redis-cli"])
    dump = os.path.join(red.dir, "dump.rdb")
    shutil.copy(dump, os.path.join(workdir, "dump.rdb"))
    for server in servers:
        server.stop()
    servers.clear()
    imports = {"mirrorkv": [], "redis": []}
    for _ in range(args.repeat):
        m = Server(args.server, ["--load-rdb", os.path.join(workdir, "dump.rdb")])
        servers.append(m)
        imports["mirrorkv"].append(m.wait_pong())
        assert m.client.dbsize() == args.file_keys
        m.stop()
        servers.pop()
        rdir = tempfile.mkdtemp(prefix="rdbbench-")
        shutil.copy(os.path.join(workdir, "dump.rdb"), os.path.join(rdir, "dump.rdb"))
        r = Server(REDIS_SERVER, redis_args(), workdir=rdir)
        servers.append(r)
        imports["redis"].append(r.wait_pong())
        assert r.client.dbsize() == args.file_keys
        r.stop()
        servers.pop()
    report("RDB import of %d keys (spawn to PONG)" % args.file_keys, imports["mirrorkv"],
           imports["redis"])
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
