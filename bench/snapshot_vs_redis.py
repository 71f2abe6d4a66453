#!/usr/bin/python3
"""Compares mirrorkv snapshots with redis-server's RDB on the same data set.

For each key count (default 1M and 2M keys "key:%012d" with 100-byte values, the data
set of mirrorkv_snapshot_bench):

  mirrorkv  runs mirrorkv_snapshot_bench: BM_SnapshotSaveFile (atomic save: write,
            fdatasync, rename, directory fsync) and BM_SnapshotLoadFile (open a store from
            the file, repeatedly in one process), median of --repeat runs each, plus the
            file size; then --repeat restarts: a fresh process that opens a store from
            the file (--mirrorkv_restart), timed inside (the load) and from outside
            (spawn to exit, as redis-server's restart is timed until PONG).
  redis     starts /usr/bin/redis-server on a free 127.0.0.1 port in a temporary
            directory (no automatic saves, no AOF), loads the identical data set through
            `redis-cli --pipe` (the RESP commands come from the bench binary itself, so the
            bytes are the same), then times SAVE (which also fsyncs), takes the RDB size,
            and restarts the server --repeat times on that RDB, timing each restart until
            PING answers PONG (not -LOADING) and reading the server's own "DB loaded from
            disk" figure. Every server is shut down on success, error or Ctrl-C, and every
            wait is bounded.

Prints one line per figure and the ratios (redis / mirrorkv for times, mirrorkv / redis
for sizes): the targets are save and load each >= 3x faster, file no larger than the RDB.

    /usr/bin/python3 bench/snapshot_vs_redis.py --bench build/bench/mirrorkv_snapshot_bench \\
        [--keys 1000000 2000000] [--values session|random] [--repeat 3] [--dir /tmp]

Needs redis-py: use /usr/bin/python3 (Debian's python3-redis), not another python3.
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import redis

from redis_process import exit_on_sigterm, free_port, stop_redis

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 15
LOAD_TIMEOUT_S = 300  # a restart on a 2M-key RDB takes seconds; this bounds a hang
PIPE_TIMEOUT_S = 600
BENCH_TIMEOUT_S = 1800






@contextlib.contextmanager
def redis_server(directory, port, timeout_s):
    """Yields (process, client, seconds until PING answered) for a server on `port`.

    The server reads dump.rdb in `directory` if present. Always stopped on exit.
    """
    log = os.path.join(directory, "redis.log")
    start = time.monotonic()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", directory, "--dbfilename", "dump.rdb",
         "--logfile", log, "--daemonize", "no"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=2,
                         socket_timeout=LOAD_TIMEOUT_S)
    try:
        deadline = start + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}; see {log}")
            try:
                if client.ping():
                    break
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server not ready after {timeout_s} s")
            time.sleep(0.002)
        ready_s = time.monotonic() - start
        yield process, client, ready_s
    finally:
        stop_redis(process, client, STOP_TIMEOUT_S)


def loaded_from_disk_seconds(directory):
    """The last 'DB loaded from disk: X seconds' figure of the server log, or None."""
    with open(os.path.join(directory, "redis.log"), errors="replace") as log:
        found = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", log.read())
    return float(found[-1]) if found else None


def measure_redis(bench, keys, values, repeat, directory):
    resp = os.path.join(directory, "data.resp")
    subprocess.run([bench, f"--mirrorkv_dump_resp={resp}", f"--mirrorkv_keys={keys}",
                    f"--mirrorkv_values={values}"], check=True, timeout=BENCH_TIMEOUT_S)
    port = free_port()
    saves = []
    with redis_server(directory, port, START_TIMEOUT_S) as (process, client, _):
        with open(resp, "rb") as data:
            subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), "--pipe"],
                           stdin=data, stdout=subprocess.DEVNULL, check=True,
                           timeout=PIPE_TIMEOUT_S)
        os.remove(resp)
        if client.dbsize() != keys:
            raise RuntimeError(f"redis holds {client.dbsize()} keys, expected {keys}")
        version = client.info("server")["redis_version"]
        rss_loaded = client.info("memory")["used_memory_rss"]
        for _ in range(repeat):
            start = time.monotonic()
            client.save()
            saves.append(time.monotonic() - start)
    rdb_bytes = os.path.getsize(os.path.join(directory, "dump.rdb"))
    restarts, loads = [], []
    for _ in range(repeat):
        with redis_server(directory, free_port(), LOAD_TIMEOUT_S) as (process, client, ready_s):
            if client.dbsize() != keys:
                raise RuntimeError(f"restarted redis holds {client.dbsize()} keys")
        restarts.append(ready_s)
        loads.append(loaded_from_disk_seconds(directory))
    return {
        "redis_version": version,
        "save_s": statistics.median(saves),
        "rdb_bytes": rdb_bytes,
        "restart_s": statistics.median(restarts),
        "load_s": statistics.median(x for x in loads if x is not None) if any(loads) else None,
        "rss_bytes": rss_loaded,
    }


def measure_mirrorkv(bench, keys, values, repeat, directory):
    pattern = f"^BM_Snapshot(SaveFile|LoadFile)/keys:{keys}/"
    output = subprocess.run(
        [bench, f"--mirrorkv_max_keys={keys}", f"--mirrorkv_values={values}",
         f"--mirrorkv_dir={directory}", f"--benchmark_filter={pattern}",
         f"--benchmark_repetitions={repeat}", "--benchmark_format=json"],
        check=True, timeout=BENCH_TIMEOUT_S, stdout=subprocess.PIPE, text=True).stdout
    results = {}
    for run in json.loads(output)["benchmarks"]:
        if run.get("aggregate_name") != "median":
            continue
        kind = "save" if "SaveFile" in run["name"] else "load"
        results[f"{kind}_s"] = run["real_time"] / 1e3  # reported in milliseconds
        results[f"{kind}_peak_rss_bytes"] = run["peak_rss_MB"] * 1e6
        results["file_bytes"] = run["file_MB"] * 1e6
    if set(results) != {"save_s", "load_s", "file_bytes", "save_peak_rss_bytes",
                        "load_peak_rss_bytes"}:
        raise RuntimeError(f"unexpected benchmark output: {output[:500]}")
    path = os.path.join(directory, "restart.mkv")
    subprocess.run([bench, f"--mirrorkv_write_file={path}", f"--mirrorkv_keys={keys}",
                    f"--mirrorkv_values={values}"], check=True, timeout=BENCH_TIMEOUT_S)
    loads, walls, peaks = [], [], []
    for _ in range(repeat):
        start = time.monotonic()
        line = subprocess.run([bench, f"--mirrorkv_restart={path}"], check=True,
                              timeout=BENCH_TIMEOUT_S, stdout=subprocess.PIPE,
                              text=True).stdout
        walls.append(time.monotonic() - start)
        fields = dict(item.split("=") for item in line.split())
        if int(fields["keys"]) != keys:
            raise RuntimeError(f"restart loaded {fields['keys']} keys, expected {keys}")
        loads.append(float(fields["load_s"]))
        peaks.append(int(fields["peak_rss_bytes"]))
    os.remove(path)
    results["restart_load_s"] = statistics.median(loads)
    results["restart_wall_s"] = statistics.median(walls)
    results["restart_peak_rss_bytes"] = statistics.median(peaks)
    return results




def main():
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", required=True, help="path to mirrorkv_snapshot_bench")
    parser.add_argument("--keys", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--values", choices=["session", "random"], default="session")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where files go (default: $TMPDIR)")
    args = parser.parse_args()
    for keys in args.keys:
        with tempfile.TemporaryDirectory(prefix="mirrorkv-snapshot-vs-redis-",
                                         dir=args.dir) as directory:
            mkv = measure_mirrorkv(os.path.abspath(args.bench), keys, args.values, args.repeat,
                                   directory)
            red = measure_redis(os.path.abspath(args.bench), keys, args.values, args.repeat,
                                directory)
        print(f"keys={keys} values={args.values} redis_version={red['redis_version']} "
              f"(median of {args.repeat})")
        print(f"  save    mirrorkv {mkv['save_s']:.3f} s   redis SAVE {red['save_s']:.3f} s   "
              f"ratio {red['save_s'] / mkv['save_s']:.2f}x")
        if red["load_s"] is not None:
            print(f"  load    mirrorkv restart load {mkv['restart_load_s']:.3f} s   redis "
                  f"'DB loaded from disk' {red['load_s']:.3f} s   "
                  f"ratio {red['load_s'] / mkv['restart_load_s']:.2f}x")
        print(f"  restart mirrorkv spawn-to-exit {mkv['restart_wall_s']:.3f} s   redis "
              f"spawn-to-PONG {red['restart_s']:.3f} s   "
              f"ratio {red['restart_s'] / mkv['restart_wall_s']:.2f}x")
        print(f"  reload  mirrorkv in one process (BM_SnapshotLoadFile) {mkv['load_s']:.3f} s   "
              f"ratio to redis restart {red['restart_s'] / mkv['load_s']:.2f}x")
        print(f"  size    mirrorkv {mkv['file_bytes'] / 1e6:.1f} MB   redis RDB "
              f"{red['rdb_bytes'] / 1e6:.1f} MB   ratio {mkv['file_bytes'] / red['rdb_bytes']:.2f}")
        print(f"  rate    mirrorkv save {keys / mkv['save_s'] / 1e6:.2f} M keys/s "
              f"{mkv['file_bytes'] / mkv['save_s'] / 1e6:.0f} MB/s, restart load "
              f"{keys / mkv['restart_load_s'] / 1e6:.2f} M keys/s "
              f"{mkv['file_bytes'] / mkv['restart_load_s'] / 1e6:.0f} MB/s")
        print(f"  memory  mirrorkv peak RSS save {mkv['save_peak_rss_bytes'] / 1e6:.0f} MB, "
              f"restart {mkv['restart_peak_rss_bytes'] / 1e6:.0f} MB; redis RSS loaded "
              f"{red['rss_bytes'] / 1e6:.0f} MB")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
