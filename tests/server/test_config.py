"""Starting the server: a redis.conf-style file and --flags, clear errors with exit code 1
for bad ones, CONFIG REWRITE of the file given at start, idle timeouts, log levels."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def run_server(*args, timeout=30):
    """Runs the server expecting it to exit by itself; returns (code, output)."""
    result = subprocess.run([harness.MIRRORKV_SERVER] + list(args), capture_output=True,
                            timeout=timeout)
    return result.returncode, (result.stdout + result.stderr).decode()


class StartupTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mkvsrv-config-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_bad_config_line(self):
        path = self.write("bad.conf", "# comment\nport 7000\nport abc\n")
        code, output = run_server(path)
        self.assertEqual(code, 1)
        self.assertIn("*** FATAL CONFIG FILE ERROR", output)
        self.assertIn("at line 3", output)
        self.assertIn(">>> 'port abc'", output)
        self.assertIn("argument couldn't be parsed into an integer", output)

    def test_unknown_directive(self):
        code, output = run_server(self.write("bad.conf", "frobnicate 1\n"))
        self.assertEqual(code, 1)
        self.assertIn("Bad directive or wrong number of arguments", output)

    def test_bad_flags(self):
        code, output = run_server("--maxmemory", "lots")
        self.assertEqual(code, 1)
        self.assertIn("at flag '--maxmemory lots'", output)
        code, output = run_server("--port", "70000")
        self.assertEqual(code, 1)
        self.assertIn("argument must be between 0 and 65535 inclusive", output)
        code, output = run_server("--loglevel", "chatty")
        self.assertEqual(code, 1)
        self.assertIn("debug, verbose, notice, warning", output)

    def test_missing_config_file(self):
        code, output = run_server(os.path.join(self.dir, "missing.conf"))
        self.assertEqual(code, 1)
        self.assertIn("can't open config file", output)

    def test_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            code, output = run_server("--port", str(port), "--dir", self.dir)
        self.assertEqual(code, 1)
        self.assertIn("Could not create server TCP listening socket 127.0.0.1:%d" % port, output)

    def test_version_and_help(self):
        code, output = run_server("--version")
        self.assertEqual(code, 0)
        self.assertIn("mirrorkv-server v=", output)
        code, output = run_server("--help")
        self.assertEqual(code, 0)
        self.assertIn("Usage:", output)

    def test_config_file_and_rewrite(self):
        port = harness.free_port()
        path = self.write("server.conf",
                          "# my settings\nport %d\nbind 127.0.0.1\ndir %s\nmaxmemory 1mb\n"
                          "rdbcompression yes\n" % (port, self.dir))
        server = harness.ServerProcess(args=[path], raw_args=True, workdir=self.dir, port=port)
        try:
            server.start()
            r = server.client()
            self.assertEqual(r.config_get("maxmemory"), {"maxmemory": "1048576"})
            self.assertTrue(r.config_set("maxmemory", "2mb"))
            self.assertTrue(r.config_set("timeout", "300"))
            self.assertTrue(r.config_rewrite())
            r.close()
            harness.stop_and_check(server)
            with open(path) as f:
                text = f.read()
            self.assertTrue(text.startswith("# my settings\nport %d\n" % port), text)
            self.assertIn("maxmemory 2097152\n", text)
            self.assertIn("timeout 300\n", text)
            self.assertIn("rdbcompression yes\n", text)
            server.start()
            r = server.client()
            self.assertEqual(r.config_get("timeout"), {"timeout": "300"})
            self.assertEqual(r.info("server")["config_file"], path)
            r.close()
            harness.stop_and_check(server)
        finally:
            server.cleanup()

    def test_idle_timeout(self):
        with harness.ServerProcess(args=["--timeout", "1"]) as server:
            idle = harness.connect(server.port)
            subscriber = harness.connect(server.port)
            subscriber.sendall(harness.encode_command("SUBSCRIBE", "c"))
            harness.RespReader(subscriber).read()
            start = time.monotonic()
            self.assertEqual(harness.recv_until_closed(idle, timeout=10), b"")
            self.assertLess(time.monotonic() - start, 8)
            # Subscribers wait for messages by design and are not timed out.
            subscriber.sendall(harness.encode_command("PING"))
            self.assertEqual(harness.RespReader(subscriber).read(),
                             b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
            idle.close()
            subscriber.close()
            harness.stop_and_check(server)

    def test_maxclients_beyond_the_open_files_limit(self):
        # Under a hard limit of 256 descriptors the server lowers maxclients at start (with a
        # warning) and refuses a CONFIG SET it could not honour, as Redis does.
        port = harness.free_port()
        server = harness.ServerProcess(
            binary="/usr/bin/prlimit", raw_args=True, port=port,
            args=["--nofile=256:256", harness.MIRRORKV_SERVER, "--port", str(port),
                  "--bind", "127.0.0.1", "--dir", self.dir])
        with server:
            r = server.client()
            self.assertEqual(r.config_get("maxclients")["maxclients"], "224")
            self.assertIn("maxclients has been reduced to 224", server.log())
            with self.assertRaises(Exception) as refused:
                r.config_set("maxclients", "10000")
            self.assertIn("not able to handle the specified number of clients, try with 224",
                          str(refused.exception))
            self.assertEqual(r.config_get("maxclients")["maxclients"], "224")
            self.assertTrue(r.config_set("maxclients", "100"))
            r.close()
            harness.stop_and_check(server)

    def test_loglevel(self):
        with harness.ServerProcess(args=["--loglevel", "verbose"]) as server:
            with harness.connect(server.port) as s:
                s.sendall(b"*1\r\n$-5\r\n")
                harness.recv_until_closed(s)
            harness.stop_and_check(server)
            log = server.log()
            self.assertIn("- Protocol error (ERR Protocol error: invalid bulk length)", log)
            self.assertIn("* Ready to accept connections", log)
        with harness.ServerProcess(args=["--loglevel", "warning"]) as server:
            harness.stop_and_check(server)
            self.assertNotIn("Ready to accept connections", server.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
