"""The real Redis tools from Debian against mirrorkv-server, unchanged: redis-cli (one-shot,
piped, --pipe mass insertion, --scan, --bigkeys, RESP3, and the interactive prompt through
a pseudo-terminal) and redis-benchmark (-t ping,set,get,incr,mset, pipelined, RESP3)."""

import csv
import io
import os
import pty
import select
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOOL_TIMEOUT = 120


class ToolsTest(harness.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = str(cls.server.port)  # passed to redis-cli and redis-benchmark as text

    def cli(self, *args, stdin=None):
        result = subprocess.run([harness.REDIS_CLI, "-p", self.port] + list(args), input=stdin,
                                capture_output=True, timeout=TOOL_TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.decode()

    def error_replies(self):
        info = self.cli("INFO", "stats")
        for line in info.splitlines():
            if line.startswith("total_error_replies:"):
                return int(line.split(":")[1])
        self.fail("no total_error_replies in INFO")

    def test_redis_cli_one_shot(self):
        self.assertEqual(self.cli("PING"), "PONG\n")
        self.assertEqual(self.cli("SET", "cli:k", "hello world"), "OK\n")
        self.assertEqual(self.cli("GET", "cli:k"), "hello world\n")
        self.assertEqual(self.cli("--no-raw", "GET", "cli:k"), '"hello world"\n')
        self.assertEqual(self.cli("GET", "cli:missing"), "\n")
        self.assertEqual(self.cli("--no-raw", "GET", "cli:missing"), "(nil)\n")
        self.assertEqual(self.cli("-r", "3", "INCR", "cli:n"), "1\n2\n3\n")
        self.assertEqual(self.cli("--no-raw", "FOO"),
                         "(error) ERR unknown command 'FOO', with args beginning with: \n")
        self.assertIn("db0:keys=", self.cli("INFO", "keyspace"))
        self.assertIn("cmd=client|list", self.cli("CLIENT", "LIST"))
        self.assertEqual(self.cli("-3", "--no-raw", "GET", "cli:missing"), "(nil)\n")
        self.assertIn("proto", self.cli("-3", "HELLO", "3"))

    def test_redis_cli_reading_commands_from_stdin(self):
        out = self.cli(stdin=b"SET cli:a 1\nINCR cli:a\nGET cli:a\nEXISTS cli:a cli:zz\n")
        self.assertEqual(out, "OK\n2\n2\n1\n")

    def test_redis_cli_pipe_mass_insertion(self):
        n = 5000
        data = b"".join(harness.encode_command("SET", "mass:%d" % i, "v%d" % i) for i in range(n))
        out = self.cli("--pipe", stdin=data)
        self.assertIn("errors: 0, replies: %d" % n, out)
        self.assertEqual(self.cli("GET", "mass:4999"), "v4999\n")

    def test_redis_cli_scan_and_bigkeys(self):
        for i in range(50):
            self.cli("SET", "scan:%d" % i, "x" * i)
        keys = set(self.cli("--scan", "--pattern", "scan:*").split())
        self.assertEqual(keys, {"scan:%d" % i for i in range(50)})
        out = self.cli("--bigkeys")
        self.assertIn("Biggest string found", out)
        self.assertNotIn("ERR", out)

    def test_redis_cli_interactive(self):
        # The prompt path (which asks for COMMAND DOCS to show hints), on a pseudo-terminal.
        pid, fd = pty.fork()
        if pid == 0:
            # A "dumb" terminal: linenoise then reads plain lines, without asking the
            # terminal for its cursor position.
            os.execve(harness.REDIS_CLI, [harness.REDIS_CLI, "-p", self.port],
                      dict(os.environ, TERM="dumb"))
        output = b""
        try:
            def read_until(marker, timeout=30):
                nonlocal output
                deadline = time.monotonic() + timeout
                while marker not in output and time.monotonic() < deadline:
                    ready, _, _ = select.select([fd], [], [], 0.2)
                    if ready:
                        try:
                            output += os.read(fd, 4096)
                        except OSError:
                            break
                return marker in output
            self.assertTrue(read_until(b"> "), output)
            os.write(fd, b"SET interactive yes\r")
            self.assertTrue(read_until(b"OK"), output)
            os.write(fd, b"GET interactive\r")
            self.assertTrue(read_until(b'"yes"'), output)
            os.write(fd, b"quit\r")
        finally:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            os.close(fd)

    def run_benchmark(self, *extra):
        args = [harness.REDIS_BENCHMARK, "-p", self.port, "-n", "1000", "-c", "10", "--csv"]
        result = subprocess.run(args + list(extra), capture_output=True, timeout=TOOL_TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        text = result.stdout.decode()
        self.assertNotIn("ERR", text + result.stderr.decode())
        self.assertNotIn("WARNING", text + result.stderr.decode())
        rows = list(csv.DictReader(io.StringIO(text)))
        return {row["test"]: float(row["rps"]) for row in rows}

    def test_redis_benchmark(self):
        errors_before = self.error_replies()
        for extra in ([], ["-P", "16"], ["-3"], ["-d", "1000", "-r", "10000"]):
            rates = self.run_benchmark("-t", "ping,set,get,incr,mset", *extra)
            self.assertEqual(set(rates), {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR",
                                          "MSET (10 keys)"}, extra)
            for test, rps in rates.items():
                self.assertGreater(rps, 0, (test, extra))
        self.assertEqual(self.error_replies(), errors_before)
        self.assertEqual(self.cli("PING"), "PONG\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
