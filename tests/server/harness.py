"""Helpers for the mirrorkv-server integration tests.

Starts servers (mirrorkv-server, or Debian's redis-server for comparisons) on a free
loopback port in a temporary directory, waits until they answer PING, and always stops
them: SHUTDOWN NOSAVE first, then SIGTERM, then SIGKILL, each bounded in time. Every
socket operation has a timeout, so a hung server fails a test instead of hanging it.

Run the tests with Debian's /usr/bin/python3 (it has python3-redis). The binary under
test comes from $MIRRORKV_SERVER (ctest sets it).
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

MIRRORKV_SERVER = os.environ.get("MIRRORKV_SERVER", "")
# Extra flags for every mirrorkv-server the tests start (a suite run again with other
# settings).
EXTRA_ARGS = os.environ.get("MIRRORKV_SERVER_EXTRA_ARGS", "").split()
REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
REDIS_BENCHMARK = "/usr/bin/redis-benchmark"

# Generous bounds: the test machine may be loaded, and sanitizer builds are slower.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
IO_TIMEOUT = 20.0


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reusable_port():
    """A free TCP port on 127.0.0.1 below Linux's ephemeral range (32768 and up), for a
    server that a test stops and starts again on the same port: free_port() of tests
    running at the same time, and the kernel's own choice of ports, never hand it out
    meanwhile."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def redis_server_from_rdb_export(test, primary):
    """Exports `primary`'s data set as an RDB with `redis-cli --rdb` (SYNC, no +FULLRESYNC
    line), checks it with redis-check-rdb, and returns a redis-server started from it,
    stopped with the test's other servers (`test` is a MultiServerTestCase)."""
    path = os.path.join(primary.dir, "export.rdb")
    result = subprocess.run([REDIS_CLI, "-p", str(primary.port), "--rdb", path],
                            capture_output=True, timeout=60)
    test.assertEqual(result.returncode, 0, result.stderr)
    check = subprocess.run(["/usr/bin/redis-check-rdb", path], capture_output=True, timeout=60)
    test.assertIn(b"Checksum OK", check.stdout, check.stdout[-2000:])
    workdir = tempfile.mkdtemp(prefix="mkvrdb-")
    shutil.copy(path, os.path.join(workdir, "dump.rdb"))
    redis = ServerProcess(args=["--dbfilename", "dump.rdb"], redis=True, workdir=workdir)
    redis.own_dir = True
    test.servers.append(redis)
    return redis.start()


def connect(port, timeout=IO_TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exactly(sock, n, timeout=IO_TIMEOUT):
    """Reads exactly n bytes, or fewer if the peer closes; raises on timeout."""
    sock.settimeout(timeout)
    chunks = []
    got = 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_closed(sock, timeout=IO_TIMEOUT, limit=1 << 26):
    """Reads until the peer closes the connection (raises socket.timeout otherwise)."""
    sock.settimeout(timeout)
    chunks = []
    total = 0
    while total < limit:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def exchange(port, request, expected_len, timeout=IO_TIMEOUT):
    """Sends `request` on a new connection and returns the next `expected_len` bytes."""
    with connect(port, timeout) as s:
        s.sendall(request)
        return recv_exactly(s, expected_len, timeout)


class ServerProcess:
    """A server process on a free loopback port, in its own temporary directory.

    `args` are command-line words after the binary (flags, or a config path first).
    For mirrorkv-server the port, bind and dir are added unless `raw_args` is set.
    """

    def __init__(self, binary=None, args=(), redis=False, workdir=None, raw_args=False,
                 port=None):
        self.binary = binary or (REDIS_SERVER if redis else MIRRORKV_SERVER)
        if not self.binary or not os.path.exists(self.binary):
            raise RuntimeError("server binary not found: %r (set MIRRORKV_SERVER)" % self.binary)
        self.redis = redis
        self.port = port or free_port()
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="mkvsrv-")
        self.log_path = os.path.join(self.dir, "server.log")
        if raw_args:
            self.args = list(args)
        else:
            self.args = list(args) + ["--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", self.dir]
            if redis:
                self.args += ["--save", "", "--appendonly", "no"]
            else:
                self.args += EXTRA_ARGS
        self.proc = None
        self.exit_code = None

    def start(self, timeout=START_TIMEOUT, wait=True):
        if getattr(self, "log_file", None) is not None:
            self.log_file.close()  # a restart of the same server appends to the same log
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary] + self.args, cwd=self.dir,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                with connect(self.port, timeout=2) as s:
                    s.sendall(b"PING\r\n")
                    reply = recv_exactly(s, 7, timeout=2)
                    if reply in (b"+PONG\r\n", b"-NOAUTH"):
                        return
                    if reply.startswith(b"-"):
                        return  # answering, even if with an error (e.g. NOAUTH)
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not answer within %.0fs:\n%s" % (timeout, self.log()))

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.exit_code = None
        return self.exit_code

    def stop(self, password=None):
        """Stops the server; returns its exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                with connect(self.port, timeout=5) as s:
                    if password is not None:
                        s.sendall(b"AUTH %s\r\n" % password.encode())
                        recv_exactly(s, 5, timeout=5)
                    s.sendall(b"SHUTDOWN NOSAVE\r\n")
                    recv_until_closed(s, timeout=STOP_TIMEOUT)
            except OSError:
                pass
            if self.wait_exit(STOP_TIMEOUT) is None:
                self.proc.send_signal(signal.SIGTERM)
                if self.wait_exit(STOP_TIMEOUT) is None:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_TIMEOUT)
                    self.exit_code = None
        else:
            self.exit_code = self.proc.returncode
        self.log_file.close()
        self.proc = None
        return self.exit_code

    def cleanup(self):
        if self.proc is not None:
            self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, **kwargs):
        import redis  # python3-redis, in Debian's /usr/bin/python3
        kwargs.setdefault("socket_timeout", IO_TIMEOUT)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False


def terminate(proc):
    """Stops a child process with SIGTERM, or SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


def stop_and_check(server, password=None):
    """Stops `server`; raises AssertionError unless it exited with 0 and its log holds no
    sanitizer report."""
    code = server.stop(password=password)
    log = server.log()
    if code != 0:
        raise AssertionError("server exit code %r, log:\n%s" % (code, log[-4000:]))
    for marker in ("Sanitizer", "runtime error"):
        if marker in log:
            raise AssertionError("sanitizer report in the server log:\n%s" % log[-8000:])


class RespReader:
    """Reads whole RESP2/RESP3 replies from a socket; returns them as raw bytes, so that
    tests compare exactly what went over the wire."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buffer = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buffer += chunk

    def _line(self, start):
        while True:
            end = self.buffer.find(b"\r\n", start)
            if end >= 0:
                return end
            self._fill()

    def _element_end(self, start):
        """The offset just past the element starting at `start`."""
        end = self._line(start)
        kind = self.buffer[start:start + 1]
        header = self.buffer[start + 1:end]
        if kind in (b"+", b"-", b":", b"_", b"#", b",", b"("):
            return end + 2
        if kind in (b"$", b"=", b"!"):
            length = int(header)
            if length < 0:
                return end + 2
            while len(self.buffer) < end + 2 + length + 2:
                self._fill()
            return end + 2 + length + 2
        if kind in (b"*", b"~", b">", b"%", b"|"):
            count = int(header)
            if kind in (b"%", b"|"):
                count *= 2
            position = end + 2
            for _ in range(max(count, 0)):
                position = self._element_end(position)
            return position
        raise ValueError("bad RESP type byte %r in %r" % (kind, self.buffer[start:start + 40]))

    def read(self):
        while not self.buffer:
            self._fill()
        end = self._element_end(0)
        reply, self.buffer = self.buffer[:end], self.buffer[end:]
        return reply


def wait_until(predicate, timeout=IO_TIMEOUT, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a true value (returned) or `timeout` passes
    (AssertionError naming `what`). Exceptions from the predicate count as false."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - a server still starting, a closed link
            last_error = error
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last error: %r)"
                                 % (timeout, what, last_error))
        time.sleep(interval)


def info_fields(port, section):
    """INFO `section` of the server on `port`, as a dict of the raw text values (redis-py
    would parse them, and the tests check the text Redis's tools read)."""
    with connect(port) as s:
        s.sendall(encode_command("INFO", section))
        reply = RespReader(s).read()
    body = reply[reply.index(b"\r\n") + 2:-2].decode()
    return dict(line.split(":", 1) for line in body.split("\r\n")
                if ":" in line and not line.startswith("#"))


def encode_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class ServerTestCase(unittest.TestCase):
    """Tests sharing one mirrorkv-server started with SERVER_ARGS before the class's tests,
    and stopped after them with its exit code and sanitizer report checked."""

    SERVER_ARGS = []

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(args=list(cls.SERVER_ARGS)).start()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        try:
            stop_and_check(cls.server)
        finally:
            cls.server.cleanup()


class MultiServerTestCase(unittest.TestCase):
    """Tests that start their own servers with start(); every one is stopped after each
    test (mirrorkv-server ones with their exit code and sanitizer report checked), also
    when the test failed. A test may stop one itself (stop_and_check) or kill it (then set
    its proc to None)."""

    def setUp(self):
        self.servers = []

    def tearDown(self):
        errors = []
        for server in reversed(self.servers):
            try:
                if not server.redis and server.proc is not None:
                    stop_and_check(server)
            except AssertionError as error:
                errors.append(str(error))
            finally:
                server.cleanup()
        if errors:
            self.fail("\n".join(errors))

    def start(self, *args, redis=False, port=None):
        server = ServerProcess(args=list(args), redis=redis, port=port)
        self.servers.append(server)
        return server.start()
