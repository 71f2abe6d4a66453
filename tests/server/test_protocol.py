"""The RESP protocol as clients see it, byte for byte: inline and multibulk requests,
pipelining, binary-safe and large values, RESP3, and every kind of bad input — each
with Redis 7.0's exact reply, the offending connection closed, and the server still
serving everyone else with the data intact."""

import hashlib
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import connect, recv_exactly, recv_until_closed  # noqa: E402
from harness import encode_command as resp  # noqa: E402


def bulk(value):
    return b"$%d\r\n%s\r\n" % (len(value), value)


class ProtocolTest(harness.ServerTestCase):
    def setUp(self):
        # A sentinel key that bad clients must never disturb.
        with connect(self.port) as s:
            s.sendall(resp("SET", "sentinel", "intact"))
            self.assertEqual(recv_exactly(s, 5), b"+OK\r\n")

    def assert_server_healthy(self):
        with connect(self.port) as s:
            s.sendall(resp("GET", "sentinel"))
            self.assertEqual(recv_exactly(s, 12), b"$6\r\nintact\r\n")

    def assert_reply_and_close(self, request, expected):
        with connect(self.port) as s:
            s.sendall(request)
            self.assertEqual(recv_until_closed(s), expected)
        self.assert_server_healthy()

    def request(self, data, expected):
        with connect(self.port) as s:
            s.sendall(data)
            self.assertEqual(recv_exactly(s, len(expected)), expected)

    # --- Well-formed input ---

    def test_inline_commands(self):
        self.request(b"PING\r\n", b"+PONG\r\n")
        self.request(b"PING\n", b"+PONG\r\n")
        self.request(b"\r\n\r\n  \r\nPING\r\n", b"+PONG\r\n")
        self.request(b'ECHO "a b\\x41\\n"\r\n', b"$5\r\na bA\n\r\n")
        self.request(b"ECHO 'it\\'s'\r\n", b"$4\r\nit's\r\n")
        self.request(b"SET inline value\r\nGET inline\r\n", b"+OK\r\n$5\r\nvalue\r\n")

    def test_empty_multibulk_is_skipped(self):
        self.request(b"*0\r\n*-1\r\n" + resp("PING"), b"+PONG\r\n")

    def test_pipelining(self):
        n = 2000
        request = b"".join(resp("SET", "p%d" % i, "v%d" % i) + resp("GET", "p%d" % i)
                           for i in range(n))
        expected = b"".join(b"+OK\r\n" + bulk(b"v%d" % i) for i in range(n))
        self.request(request, expected)

    def test_request_split_into_single_bytes(self):
        with connect(self.port) as s:
            for byte in resp("SET", "split", "x" * 100):
                s.sendall(bytes([byte]))
            self.assertEqual(recv_exactly(s, 5), b"+OK\r\n")
            s.sendall(resp("STRLEN", "split"))
            self.assertEqual(recv_exactly(s, 6), b":100\r\n")

    def test_binary_safe_keys_and_values(self):
        key = b"k\x00\r\n\xff*$"
        value = bytes(range(256)) * 4
        self.request(resp("SET", key, value) + resp("GET", key), b"+OK\r\n" + bulk(value))

    def test_large_value(self):
        value = os.urandom(1 << 20) * 24  # 24 MB
        with connect(self.port, timeout=60) as s:
            s.sendall(resp("SET", "big", value))
            self.assertEqual(recv_exactly(s, 5, timeout=60), b"+OK\r\n")
            s.sendall(resp("GET", "big"))
            header = b"$%d\r\n" % len(value)
            reply = recv_exactly(s, len(header) + len(value) + 2, timeout=60)
        self.assertEqual(reply[:len(header)], header)
        self.assertEqual(hashlib.sha256(reply[len(header):-2]).digest(),
                         hashlib.sha256(value).digest())
        self.request(resp("DEL", "big"), b":1\r\n")

    def test_client_writing_everything_before_reading(self):
        # A client that sends a large pipeline and only then reads must not deadlock.
        value = b"v" * 1000
        n = 20000
        with connect(self.port, timeout=60) as s:
            s.sendall(resp("SET", "pipe", value))
            self.assertEqual(recv_exactly(s, 5), b"+OK\r\n")
            s.sendall(resp("GET", "pipe") * n)
            reply = recv_exactly(s, n * len(bulk(value)), timeout=60)
        self.assertEqual(reply, bulk(value) * n)

    def test_resp3(self):
        with connect(self.port) as s:
            s.sendall(resp("HELLO", "3"))
            s.settimeout(harness.IO_TIMEOUT)
            time.sleep(0.1)
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), data)
            self.assertIn(b"$5\r\nproto\r\n:3\r\n", data)
            s.sendall(resp("GET", "missing") + resp("CONFIG", "GET", "maxmemory") +
                      resp("HELLO", "2") + resp("GET", "missing"))
            expected = b"_\r\n%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
            self.assertEqual(recv_exactly(s, len(expected)), expected)
            data = recv_exactly(s, 4)
            self.assertEqual(data, b"*14\r")

    # --- Bad input: Redis's exact reply, then the connection closes ---

    def test_absurd_multibulk_count(self):
        self.assert_reply_and_close(b"*99999999999\r\n",
                                    b"-ERR Protocol error: invalid multibulk length\r\n")

    def test_non_numeric_multibulk_count(self):
        self.assert_reply_and_close(b"*a\r\n", b"-ERR Protocol error: invalid multibulk length\r\n")
        self.assert_reply_and_close(b"*+1\r\n", b"-ERR Protocol error: invalid multibulk length\r\n")

    def test_negative_bulk_length(self):
        self.assert_reply_and_close(b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n")

    def test_bulk_longer_than_proto_max_bulk_len(self):
        self.assert_reply_and_close(b"*1\r\n$600000000\r\n",
                                    b"-ERR Protocol error: invalid bulk length\r\n")

    def test_dollar_without_multibulk_is_an_inline_command(self):
        self.request(b"$-5\r\n", b"-ERR unknown command '$-5', with args beginning with: \r\n")

    def test_missing_dollar(self):
        self.assert_reply_and_close(b"*1\r\nx4\r\nPING\r\n",
                                    b"-ERR Protocol error: expected '$', got 'x'\r\n")

    def test_unbalanced_quotes(self):
        self.assert_reply_and_close(b'PING "a\r\n',
                                    b"-ERR Protocol error: unbalanced quotes in request\r\n")

    def test_too_big_inline_request(self):
        self.assert_reply_and_close(b"A" * 70000,
                                    b"-ERR Protocol error: too big inline request\r\n")

    def test_too_big_count_strings(self):
        self.assert_reply_and_close(b"*" + b"1" * 70000,
                                    b"-ERR Protocol error: too big mbulk count string\r\n")
        self.assert_reply_and_close(b"*1\r\n$" + b"1" * 70000,
                                    b"-ERR Protocol error: too big bulk count string\r\n")

    def test_query_buffer_limit(self):
        self.request(resp("CONFIG", "SET", "client-query-buffer-limit", "4mb"), b"+OK\r\n")
        self.addCleanup(self.request, resp("CONFIG", "SET", "client-query-buffer-limit", "1gb"),
                        b"+OK\r\n")
        with connect(self.port) as s:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$10000000\r\n")
            try:
                s.sendall(b"x" * (5 << 20))
            except OSError:
                pass  # the server may close while we are still sending
            reply = recv_until_closed(s)
        self.assertEqual(reply, b"-ERR Protocol error: client query buffer limit exceeded\r\n")
        self.assert_server_healthy()
        self.request(resp("EXISTS", "huge"), b":0\r\n")

    def test_replies_before_the_error_are_sent(self):
        self.assert_reply_and_close(resp("PING") + b"*1\r\n$-5\r\n" + resp("PING"),
                                    b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")

    def test_random_garbage_never_crashes(self):
        import random
        rng = random.Random(1234)
        pieces = [b"*", b"$", b"\r\n", b"\r", b"\n", b"-1", b"0", b"3", b"99999999999999999999",
                  b"PING", b"SET", b"GET", b'"', b"'", b"\\x4", b" ", b"\x00", b"\xff", b"*2"]
        for _ in range(200):
            data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
            with connect(self.port, timeout=5) as s:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                try:
                    recv_until_closed(s, timeout=5)
                except socket.timeout:
                    self.fail("server kept a half-closed connection open for %r" % data)
        self.assert_server_healthy()

    # --- Commands: exact error replies; the connection stays open ---

    def test_unknown_command(self):
        self.request(resp("FOO", "a", "b"),
                     b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n")
        self.request(resp("foo"), b"-ERR unknown command 'foo', with args beginning with: \r\n")

    def test_wrong_arity(self):
        self.request(resp("GET"), b"-ERR wrong number of arguments for 'get' command\r\n")
        self.request(resp("SET", "a"), b"-ERR wrong number of arguments for 'set' command\r\n")
        self.request(resp("CONFIG", "GET"),
                     b"-ERR wrong number of arguments for 'config|get' command\r\n")
        self.request(resp("CONFIG", "FOO"), b"-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n")

    def test_wrong_argument_types(self):
        self.request(resp("SET", "a", "b", "EX", "abc"),
                     b"-ERR value is not an integer or out of range\r\n")
        self.request(resp("SET", "a", "b", "EX", "0"),
                     b"-ERR invalid expire time in 'set' command\r\n")
        self.request(resp("SET", "a", "b", "NX", "XX"), b"-ERR syntax error\r\n")
        self.request(resp("SET", "word", "abc") + resp("INCR", "word"),
                     b"+OK\r\n-ERR value is not an integer or out of range\r\n")
        self.request(resp("INCRBYFLOAT", "word", "1"), b"-ERR value is not a valid float\r\n")
        self.request(resp("EXPIRE", "word", "1", "foo"), b"-ERR Unsupported option foo\r\n")
        self.request(resp("SELECT", "1"), b"-ERR DB index is out of range\r\n")

    def test_oom_and_wrongtype_are_never_confused(self):
        # Only strings exist: a type error cannot happen, only values that do not parse.
        self.request(resp("SET", "s", "1") + resp("APPEND", "s", "2") + resp("INCR", "s"),
                     b"+OK\r\n:2\r\n:13\r\n")

    def test_client_disconnecting_mid_request(self):
        with connect(self.port) as s:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$10\r\nabc")
        with connect(self.port) as s:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nha")
        self.assert_server_healthy()
        self.request(resp("EXISTS", "half"), b":0\r\n")

    def test_half_closed_client_gets_its_reply(self):
        with connect(self.port) as s:
            s.sendall(resp("PING"))
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_closed(s), b"+PONG\r\n")

    def test_quit(self):
        self.assert_reply_and_close(resp("QUIT") + resp("PING"), b"+OK\r\n")


class LimitsTest(unittest.TestCase):
    def test_maxclients(self):
        with harness.ServerProcess(args=["--maxclients", "2"]) as server:
            a = connect(server.port)
            b = connect(server.port)
            for s in (a, b):
                s.sendall(b"PING\r\n")
                self.assertEqual(recv_exactly(s, 7), b"+PONG\r\n")
            with connect(server.port) as c:
                self.assertEqual(recv_until_closed(c), b"-ERR max number of clients reached\r\n")
            a.close()
            # The freed slot is reusable once the server noticed the close.
            deadline = time.monotonic() + 10
            while True:
                with connect(server.port) as c:
                    c.sendall(b"PING\r\n")
                    reply = recv_exactly(c, 7)
                if reply == b"+PONG\r\n" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(reply, b"+PONG\r\n")
            b.sendall(b"INFO stats\r\n")
            self.assertIn(b"rejected_connections:", b.recv(65536))
            b.close()
            harness.stop_and_check(server)

    def test_unauthenticated_limits_and_auth(self):
        with harness.ServerProcess(args=["--requirepass", "s3cret"]) as server:
            def one(request, expected, closes=False):
                with connect(server.port) as s:
                    s.sendall(request)
                    got = recv_until_closed(s) if closes else recv_exactly(s, len(expected))
                    self.assertEqual(got, expected)
            one(resp("GET", "a"), b"-NOAUTH Authentication required.\r\n")
            one(resp("FOO"), b"-ERR unknown command 'FOO', with args beginning with: \r\n")
            one(b"*11\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n", True)
            one(b"*1\r\n$16385\r\n", b"-ERR Protocol error: unauthenticated bulk length\r\n", True)
            one(resp("AUTH", "wrong"),
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
            one(resp("AUTH", "s3cret") + resp("SET", "a", "1") + resp("GET", "a"),
                b"+OK\r\n+OK\r\n$1\r\n1\r\n")
            one(resp("HELLO", "3", "AUTH", "default", "s3cret") + resp("PING"),
                b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
            # Once authenticated, the ordinary limits apply again.
            one(resp("AUTH", "default", "s3cret") + b"*12\r\n", b"+OK\r\n")
            harness.stop_and_check(server, password="s3cret")


if __name__ == "__main__":
    unittest.main(verbosity=2)
