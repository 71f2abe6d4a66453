"""Longer runs (ctest label "slow"): many concurrent clients, very large values, exact
counts from concurrent transactions, a subscriber that never reads, a protocol fuzz at
volume, and redis-benchmark's heavy workloads — the server must stay correct and up."""

import os
import random
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import connect, encode_command, recv_exactly, recv_until_closed  # noqa: E402


class StressTest(harness.ServerTestCase):
    SERVER_ARGS = ["--io-threads", "4"]

    def test_many_concurrent_clients(self):
        errors = []

        def worker(index):
            try:
                with connect(self.port, timeout=60) as s:
                    for round_ in range(20):
                        batch = b"".join(encode_command("SET", "c%d:%d" % (index, i), "v%d" % i)
                                         + encode_command("GET", "c%d:%d" % (index, i))
                                         for i in range(50))
                        s.sendall(batch)
                        expected = b"".join(b"+OK\r\n$%d\r\nv%d\r\n" % (len(str(i)) + 1, i)
                                            for i in range(50))
                        got = recv_exactly(s, len(expected), timeout=60)
                        if got != expected:
                            errors.append((index, round_))
                            return
            except OSError as error:
                errors.append((index, repr(error)))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(300)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        self.assertEqual(errors, [])

    def test_very_large_values(self):
        value = os.urandom(1 << 20) * 200  # 200 MB
        with connect(self.port, timeout=300) as s:
            s.sendall(encode_command("SET", "huge", value))
            self.assertEqual(recv_exactly(s, 5, timeout=300), b"+OK\r\n")
            s.sendall(encode_command("STRLEN", "huge") + encode_command("GETRANGE", "huge",
                                                                         "-4", "-1"))
            expected = b":%d\r\n$4\r\n%s\r\n" % (len(value), value[-4:])
            self.assertEqual(recv_exactly(s, len(expected), timeout=300), expected)
            s.sendall(encode_command("GET", "huge"))
            header = b"$%d\r\n" % len(value)
            reply = recv_exactly(s, len(header) + len(value) + 2, timeout=300)
            self.assertTrue(reply[len(header):-2] == value)
            s.sendall(encode_command("DEL", "huge"))
            self.assertEqual(recv_exactly(s, 4), b":1\r\n")

    def test_transactions_count_exactly(self):
        r = self.server.client()
        r.delete("counter", "shadow")
        threads, per_thread = 8, 300

        def worker():
            c = self.server.client()
            for _ in range(per_thread):
                with c.pipeline(transaction=True) as pipe:
                    pipe.incr("counter").incr("shadow").execute()
            c.close()

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=300)
        self.assertEqual(int(r.get("counter")), threads * per_thread)
        self.assertEqual(int(r.get("shadow")), threads * per_thread)
        r.close()

    def test_subscriber_that_never_reads_is_cut_off(self):
        slow = connect(self.port, timeout=60)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(encode_command("SUBSCRIBE", "flood"))
        time.sleep(0.2)
        r = self.server.client()
        payload = b"x" * 100000
        deadline = time.monotonic() + 120
        while r.publish("flood", payload) > 0 and time.monotonic() < deadline:
            pass
        self.assertEqual(r.publish("flood", payload), 0)
        self.assertIn("output buffer limits", self.server.log())
        self.assertTrue(r.ping())
        r.close()
        slow.close()

    def test_protocol_fuzz_at_volume(self):
        rng = random.Random(7)
        pieces = [b"*", b"$", b"\r\n", b"-1", b"0", b"1", b"2", b"3", b"99999999999", b"SET",
                  b"GET", b"PING", b"k", b"v", b'"', b"\x00", b"\xff", b" ", b"\n", b"*1\r\n",
                  b"$3\r\n", b"MULTI", b"EXEC", b"SUBSCRIBE", b"HELLO", b"3"]
        for _ in range(3000):
            data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 60)))
            with connect(self.port, timeout=10) as s:
                try:
                    s.sendall(data)
                    if rng.random() < 0.5:
                        s.shutdown(socket.SHUT_WR)
                        recv_until_closed(s, timeout=10)
                except (ConnectionResetError, BrokenPipeError):
                    pass
        self.assertTrue(self.server.client().ping())

    def test_benchmark_workloads(self):
        for extra in (["-c", "300", "-d", "10000", "-r", "10000", "-t", "set,get", "-n", "20000"],
                      ["-c", "50", "-r", "1000000", "-t", "set,get,incr,mset", "-n", "50000",
                       "-P", "16"]):
            result = subprocess.run([harness.REDIS_BENCHMARK, "-p", str(self.port), "-q"] + extra,
                                    capture_output=True, timeout=600)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertNotIn(b"ERR", result.stdout + result.stderr)
        self.assertTrue(self.server.client().ping())


if __name__ == "__main__":
    unittest.main(verbosity=2)
