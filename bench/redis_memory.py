#!/usr/bin/python3
"""Measures what one key costs in redis-server, for comparison with mirrorkv_memory_probe.

Starts /usr/bin/redis-server on a free 127.0.0.1 port in a temporary directory (no RDB,
no AOF), loads N keys "key:%012d" with 16-byte values "val:%012d" (the probe's keys and
values; not integers, which Redis would store in a more compact form) through pipelined
redis-py, with or without a one-hour TTL, and prints the growth of INFO used_memory and
of the server's resident set (VmRSS) per key. A fresh server per case, because a server
that already held keys would not give its memory back. The server is always shut down,
on success, error or Ctrl-C, within a bounded time.

    /usr/bin/python3 bench/redis_memory.py [--keys 1000000] [--ttl | --both]

Needs redis-py: use /usr/bin/python3 (Debian's python3-redis), not another python3.
"""

import argparse
import contextlib
import os
import subprocess
import tempfile
import time

import redis

from redis_process import exit_on_sigterm, free_port, stop_redis

REDIS_SERVER = "/usr/bin/redis-server"
TTL_MS = 3_600_000  # one hour: nothing expires while loading
BATCH = 10_000  # commands per pipeline round trip
START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 10




def vm_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")




def wait_until_ready(process, client):
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ConnectionError(f"redis-server exited with {process.returncode}")
        try:
            client.ping()
            return
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def redis_server(directory, attempts=3):
    """Yields (process, client) for a fresh redis-server; always stops it on exit.

    Retries on a new port when the server does not come up (most likely because another
    process took the port between free_port() and the server's bind).
    """
    for attempt in range(attempts):
        port = free_port()
        process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory,
             "--logfile", os.path.join(directory, f"redis-{port}.log"), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2,
                             socket_timeout=60)
        try:
            wait_until_ready(process, client)
        except BaseException as error:
            stop_redis(process, None, STOP_TIMEOUT_S)
            retryable = isinstance(error, (ConnectionError, redis.exceptions.ConnectionError))
            if not retryable or attempt + 1 == attempts:
                raise
            continue
        try:
            yield process, client
        finally:
            stop_redis(process, client, STOP_TIMEOUT_S)
        return


def measure(key_count, with_ttl):
    """Loads key_count keys into a fresh server; returns a dict of per-key figures."""
    with tempfile.TemporaryDirectory(prefix="mirrorkv-redis-memory-") as directory, \
            redis_server(directory) as (process, client):
        used_before = client.info("memory")["used_memory"]
        rss_before = vm_rss_bytes(process.pid)
        pipe = client.pipeline(transaction=False)
        for i in range(key_count):
            pipe.set(f"key:{i:012d}", f"val:{i:012d}", px=TTL_MS if with_ttl else None)
            if (i + 1) % BATCH == 0:
                pipe.execute()
        pipe.execute()
        stored = client.dbsize()
        if stored != key_count:
            raise RuntimeError(f"redis holds {stored} keys, expected {key_count}")
        used_after = client.info("memory")["used_memory"]
        rss_after = vm_rss_bytes(process.pid)
        version = client.info("server")["redis_version"]
    return {
        "redis_version": version,
        "keys": key_count,
        "ttl": int(with_ttl),
        "used_memory_bytes_per_key": (used_after - used_before) / key_count,
        "rss_bytes_per_key": (rss_after - rss_before) / key_count,
    }




def main():
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--ttl", action="store_true", help="give every key a one-hour TTL")
    mode.add_argument("--both", action="store_true", help="measure without, then with TTL")
    args = parser.parse_args()
    cases = [False, True] if args.both else [args.ttl]
    for with_ttl in cases:
        result = measure(args.keys, with_ttl)
        for name, value in result.items():
            print(f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}")
        print()


if __name__ == "__main__":
    main()
