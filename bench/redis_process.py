"""Starting and stopping a redis-server for the comparison scripts in bench/.

Shared by redis_memory.py and snapshot_vs_redis.py, which import it from this folder
(Python puts a script's own directory on sys.path).
"""

import contextlib
import signal
import socket
import subprocess
import sys

import redis


def free_port():
    """A port the kernel just handed out on 127.0.0.1, released for redis-server to take.

    Another process could take it in between; callers retry on a new port then.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_redis(process, client, timeout_s):
    """Stops the server: SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL, within timeout_s."""
    if process.poll() is not None:
        return
    steps = [process.terminate, process.kill]
    if client is not None:
        steps.insert(0, lambda: client.shutdown(nosave=True))
    for step in steps:
        # SHUTDOWN closes the connection as the server exits, which redis-py reports.
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            step()
        try:
            process.wait(timeout=timeout_s / len(steps))
            return
        except subprocess.TimeoutExpired:
            continue


def exit_on_sigterm():
    """Turns SIGTERM into SystemExit, so that the callers' finally blocks stop servers."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
