"""Command semantics through redis-py, the way applications use the server: strings,
expiry that really expires, keys and SCAN, MULTI/EXEC (atomic across I/O threads),
WATCH, pub/sub across connections, CLIENT, CONFIG, INFO."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402


class CommandsTest(harness.ServerTestCase):
    # Two I/O threads even on a one-CPU machine, so cross-thread paths are exercised.
    SERVER_ARGS = ["--io-threads", "2"]

    def setUp(self):
        self.r = self.server.client()
        self.r.flushall()

    def tearDown(self):
        self.r.close()

    def test_strings(self):
        r = self.r
        self.assertTrue(r.set("k", "v"))
        self.assertEqual(r.get("k"), b"v")
        self.assertIsNone(r.set("k", "w", nx=True))
        self.assertEqual(r.set("k", "w", xx=True, get=True), b"v")
        self.assertEqual(r.getset("k", "x"), b"w")
        self.assertEqual(r.append("k", "yz"), 3)
        self.assertEqual(r.strlen("k"), 3)
        self.assertEqual(r.getrange("k", 1, -1), b"yz")
        self.assertEqual(r.setrange("k", 5, "!"), 6)
        self.assertEqual(r.get("k"), b"xyz\x00\x00!")
        self.assertEqual(r.incr("n"), 1)
        self.assertEqual(r.incrby("n", 41), 42)
        self.assertEqual(r.decrby("n", 2), 40)
        self.assertAlmostEqual(r.incrbyfloat("n", 0.5), 40.5)
        self.assertTrue(r.mset({"a": "1", "b": "2"}))
        self.assertEqual(r.mget("a", "b", "c"), [b"1", b"2", None])
        self.assertFalse(r.msetnx({"a": "9", "c": "3"}))
        self.assertEqual(r.getdel("a"), b"1")
        self.assertIsNone(r.get("a"))
        self.assertTrue(r.setnx("s", "1"))
        self.assertFalse(r.setnx("s", "2"))
        with self.assertRaises(redis.ResponseError) as error:
            r.incr("k")
        self.assertEqual(str(error.exception), "value is not an integer or out of range")

    def test_expiry_expires(self):
        r = self.r
        r.set("short", "v", px=150)
        r.setex("secs", 100, "v")
        r.set("keep", "v")
        self.assertGreater(r.pttl("short"), 0)
        self.assertEqual(r.ttl("secs"), 100)
        self.assertEqual(r.ttl("keep"), -1)
        self.assertEqual(r.ttl("missing"), -2)
        self.assertEqual(r.getex("keep", px=150), b"v")
        time.sleep(0.4)
        self.assertIsNone(r.get("short"))
        self.assertIsNone(r.get("keep"))
        self.assertEqual(r.exists("short", "keep", "secs"), 1)
        self.assertTrue(r.persist("secs"))
        self.assertEqual(r.ttl("secs"), -1)
        deadline = int(time.time()) + 1000
        self.assertTrue(r.expireat("secs", deadline))
        self.assertEqual(r.expiretime("secs"), deadline)
        self.assertTrue(r.pexpire("secs", 100))
        time.sleep(0.3)
        self.assertEqual(r.dbsize() >= 0, True)
        self.assertIsNone(r.get("secs"))
        # Active expiry reclaims keys nobody reads: DBSIZE drops on its own.
        r.set("lazy", "v", px=50)
        deadline = time.monotonic() + 10
        while r.dbsize() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(r.dbsize(), 0)

    def test_keys_scan_randomkey(self):
        r = self.r
        names = {"user:%d" % i for i in range(500)} | {"item:%d" % i for i in range(100)}
        with r.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.set(name, "x")
            pipe.execute()
        self.assertEqual({k.decode() for k in r.keys("user:*")},
                         {n for n in names if n.startswith("user:")})
        self.assertEqual({k.decode() for k in r.scan_iter(match="item:*", count=7)},
                         {n for n in names if n.startswith("item:")})
        self.assertEqual(list(r.scan_iter(_type="hash")), [])
        self.assertIn(r.randomkey().decode(), names)
        self.assertEqual(r.dbsize(), len(names))
        self.assertEqual(r.type("user:1"), b"string")
        self.assertEqual(r.type("nope"), b"none")
        self.assertTrue(r.rename("user:1", "renamed"))
        self.assertFalse(r.renamenx("renamed", "user:2"))
        self.assertEqual(r.delete("renamed", "user:2", "nope"), 2)
        self.assertTrue(r.flushdb())
        self.assertEqual(r.dbsize(), 0)

    def test_multi_exec(self):
        r = self.r
        with r.pipeline(transaction=True) as pipe:
            pipe.set("a", "1").incr("a").get("a")
            self.assertEqual(pipe.execute(), [True, 2, b"2"])
        with r.pipeline(transaction=True) as pipe:
            pipe.set("t", "abc").incr("t").set("after", "yes")
            with self.assertRaises(redis.ResponseError):
                pipe.execute()
        self.assertEqual(r.get("after"), b"yes")  # errors inside EXEC do not roll back

    def test_watch(self):
        r = self.r
        other = self.server.client()
        r.set("w", "1")
        with r.pipeline() as pipe:
            pipe.watch("w")
            other.set("w", "2")  # from another connection, maybe another I/O thread
            pipe.multi()
            pipe.incr("w")
            with self.assertRaises(redis.WatchError):
                pipe.execute()
        with r.pipeline() as pipe:
            pipe.watch("w")
            pipe.multi()
            pipe.incr("w")
            self.assertEqual(pipe.execute(), [3])
        other.close()

    def test_exec_is_atomic_across_threads(self):
        # Writers bump two keys in one transaction; readers read both in one
        # transaction and must never see them differ.
        r = self.r
        r.mset({"x": 0, "y": 0})
        stop = threading.Event()
        errors = []

        def writer():
            c = self.server.client()
            while not stop.is_set():
                with c.pipeline(transaction=True) as pipe:
                    pipe.incr("x").incr("y").execute()
            c.close()

        def reader():
            c = self.server.client()
            while not stop.is_set():
                with c.pipeline(transaction=True) as pipe:
                    x, y = pipe.get("x").get("y").execute()
                if x != y:
                    errors.append((x, y))
            c.close()

        threads = [threading.Thread(target=writer) for _ in range(3)]
        threads += [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertEqual(r.get("x"), r.get("y"))
        self.assertGreater(int(r.get("x")), 0)

    def test_pubsub(self):
        r = self.r
        subscribers = [self.server.client() for _ in range(4)]
        pubsubs = []
        for i, client in enumerate(subscribers):
            p = client.pubsub()
            if i % 2:
                p.psubscribe("news.*")
            else:
                p.subscribe("news.sport")
            message = p.get_message(timeout=10)
            self.assertIn(message["type"], ("subscribe", "psubscribe"))
            pubsubs.append(p)
        self.assertEqual(r.publish("news.sport", "goal"), 4)
        self.assertEqual(r.publish("news.weather", "rain"), 2)
        self.assertEqual(r.publish("other", "x"), 0)
        for i, p in enumerate(pubsubs):
            message = p.get_message(timeout=10)
            self.assertEqual(message["data"], b"goal")
            self.assertEqual(message["channel"], b"news.sport")
            if i % 2:
                self.assertEqual(message["type"], "pmessage")
                self.assertEqual(message["pattern"], b"news.*")
                self.assertEqual(p.get_message(timeout=10)["data"], b"rain")
        self.assertEqual(r.pubsub_numsub("news.sport"), [(b"news.sport", 2)])
        self.assertEqual(r.pubsub_numpat(), 1)
        self.assertEqual(r.pubsub_channels(), [b"news.sport"])
        for p in pubsubs:
            p.close()
        for client in subscribers:
            client.close()
        # Subscriptions die with their connections.
        deadline = time.monotonic() + 10
        while r.publish("news.sport", "x") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(r.publish("news.sport", "x"), 0)

    def test_client_commands(self):
        r = self.r
        self.assertTrue(r.client_setname("main"))
        self.assertEqual(r.client_getname(), "main")
        my_id = r.client_id()
        victim = self.server.client()
        victim.client_setname("victim")
        victim_id = victim.client_id()
        listing = r.client_list()
        names = {c["name"]: c for c in listing}
        self.assertEqual(int(names["main"]["id"]), my_id)
        self.assertEqual(names["main"]["cmd"], "client|list")
        self.assertEqual(names["victim"]["flags"], "N")
        self.assertEqual(r.client_kill_filter(_id=victim_id), 1)
        deadline = time.monotonic() + 10
        while ("victim" in {c["name"] for c in r.client_list()} and
               time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertNotIn("victim", {c["name"] for c in r.client_list()})
        self.assertTrue(victim.ping())  # redis-py reconnects transparently
        victim.close()
        self.assertEqual(r.execute_command("CLIENT", "KILL", "ID", str(my_id)), 0)  # skipme
        info = r.client_info()
        self.assertEqual(int(info["id"]), my_id)

    def test_config(self):
        r = self.r
        self.assertEqual(r.config_get("maxmemory"), {"maxmemory": "0"})
        self.assertTrue(r.config_set("maxmemory", "100mb"))
        self.assertEqual(r.config_get("maxmemory")["maxmemory"], str(100 * 1024 * 1024))
        self.assertTrue(r.config_set("maxmemory-policy", "allkeys-lru"))
        got = r.config_get("maxmemory*")
        self.assertEqual(got["maxmemory-policy"], "allkeys-lru")
        self.assertIn("maxmemory-samples", got)
        self.assertEqual(r.config_get("save"), {"save": ""})
        self.assertEqual(r.config_get("appendonly"), {"appendonly": "no"})
        self.assertTrue(r.config_set("maxmemory", "0"))
        self.assertTrue(r.config_set("maxmemory-policy", "noeviction"))
        self.assertGreater(len(r.config_get("*")), 20)
        with self.assertRaises(redis.ResponseError):
            r.config_rewrite()  # started without a config file

    def test_maxmemory_noeviction_gives_oom(self):
        r = self.r
        r.config_set("maxmemory", "1mb")
        try:
            with self.assertRaises(redis.ResponseError) as error:
                for i in range(10000):
                    r.set("fill:%d" % i, "x" * 1000)
            self.assertEqual(str(error.exception),
                             "OOM command not allowed when used memory > 'maxmemory'.")
            self.assertIsNotNone(r.get("fill:0"))  # reads still work
            self.assertTrue(r.delete("fill:0"))  # and deletes
        finally:
            r.config_set("maxmemory", "0")

    def test_info(self):
        r = self.r
        r.set("a", "1")
        r.set("b", "2", ex=100)
        info = r.info()
        self.assertEqual(info["redis_version"], "7.0.0")
        self.assertEqual(len(info["run_id"]), 40)
        self.assertEqual(info["role"], "master")
        self.assertEqual(info["connected_slaves"], 0)
        self.assertEqual(len(info["master_replid"]), 40)
        # No replica ever attached: no backlog, offset 0 (as in Redis).
        self.assertEqual(info["master_repl_offset"], 0)
        self.assertEqual(info["repl_backlog_active"], 0)
        self.assertEqual(info["db0"], {"keys": 2, "expires": 1, "avg_ttl": 0})
        self.assertGreater(info["used_memory"], 0)
        self.assertEqual(info["maxmemory_policy"], "noeviction")
        self.assertGreaterEqual(info["connected_clients"], 1)
        self.assertGreater(info["total_commands_processed"], 0)
        self.assertEqual(set(r.info("keyspace").keys()), {"db0"})
        with harness.connect(self.server.port) as s:
            reader = harness.RespReader(s)
            s.sendall(harness.encode_command("INFO", "server"))
            raw = reader.read()
        self.assertTrue(raw.split(b"\r\n", 1)[1].startswith(b"# Server\r\nredis_version:7.0.0\r\n"))

    def test_command_introspection(self):
        r = self.r
        count = r.command_count()
        self.assertGreater(count, 60)
        with harness.connect(self.server.port) as s:
            reader = harness.RespReader(s)
            s.sendall(harness.encode_command("COMMAND", "INFO", "get", "nosuch"))
            reply = reader.read()
        self.assertTrue(reply.startswith(b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n"), reply)
        self.assertTrue(reply.endswith(b"*-1\r\n"), reply)
        self.assertEqual(len(r.execute_command("COMMAND")), count)
        with harness.connect(self.server.port) as s:
            reader = harness.RespReader(s)
            s.sendall(harness.encode_command("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"))
            self.assertEqual(reader.read(), b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")

    def test_time_echo_ping_select(self):
        r = self.r
        seconds, micros = r.time()
        self.assertLess(abs(seconds - time.time()), 5)
        self.assertEqual(r.echo("x"), b"x")
        self.assertTrue(r.ping())
        self.assertTrue(r.execute_command("SELECT", 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
