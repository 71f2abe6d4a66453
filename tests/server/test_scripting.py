"""Scripting in mirrorkv-server with the scripts services really run, under concurrent
redis-py clients: a token-bucket and a fixed-window rate limiter, a Redlock-style lock
release and a verify-once check of one-time codes. Each must hold its invariant under
concurrency (only atomic execution gives the exact counts asserted), and a replica (a
mirrorkv-server and a real redis-server) must end with the primary's data. A replica
must also apply a script's or a transaction's effects atomically: a reader never sees
half of them.

Then the slow-script machinery, compared with redis-server 7.0 reply for reply: -BUSY for
other clients past busy-reply-threshold, SCRIPT KILL of a script that loops forever,
UNKILLABLE once it wrote, and SHUTDOWN NOSAVE still served. And the sandbox: a script
can neither run a program, nor open a file, nor load a module.

Every server runs on a free loopback port and is stopped (bounded) in tearDown.
"""

import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MultiServerTestCase, RespReader, connect,  # noqa: E402
                     encode_command, wait_until)

SYNC_TIMEOUT = 20.0
THREADS = 8

# Token bucket (examples/scripts/token_bucket.lua). The caller passes the time, so that
# the test decides how many tokens refill.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                       "scripts", "token_bucket.lua")) as f:
    TOKEN_BUCKET = f.read()

# Fixed-window counter: the first request of a window starts its expiry.
FIXED_WINDOW = """
local count = redis.call('incr', KEYS[1])
if count == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
if count > tonumber(ARGV[2]) then return 0 end
return 1
"""

# Redlock's release: delete the lock only if it still holds our token.
LOCK_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

# A one-time code is good once: compare and delete in one step.
VERIFY_ONCE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  return 1
end
return 0
"""

# Two keys that must always be seen equal.
PAIRED_WRITE = """
local n = redis.call('incr', KEYS[1])
redis.call('set', KEYS[2], n)
return n
"""


def run_threads(target, count=THREADS):
    """Runs target(index) on `count` threads; re-raises the first failure."""
    errors = []

    def wrapper(index):
        try:
            target(index)
        except BaseException as error:  # noqa: B902 - reported to the test
            errors.append(error)

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        if t.is_alive():
            raise AssertionError("a client thread did not finish")
    if errors:
        raise errors[0]


def dump(client):
    """Every key with its value and whether it has a deadline."""
    data = {}
    for key in client.scan_iter(count=1000):
        data[key] = (client.get(key), client.pttl(key) > 0)
    return data


class ScriptsUnderConcurrencyTest(MultiServerTestCase):
    def setUp(self):
        super().setUp()
        self.primary = self.start()
        self.replica = self.start("--replicaof", "127.0.0.1", str(self.primary.port))
        self.redis_replica = self.start("--replicaof", "127.0.0.1", str(self.primary.port),
                                        redis=True)
        for replica in (self.replica, self.redis_replica):
            client = replica.client()
            wait_until(lambda: client.info("replication")["master_link_status"] == "up",
                       SYNC_TIMEOUT, what="replica link up on %d" % replica.port)

    def assert_replicas_equal_primary(self):
        p = self.primary.client()
        self.assertEqual(p.execute_command("WAIT", 2, int(SYNC_TIMEOUT * 1000)), 2)
        expected = dump(p)
        for replica in (self.replica, self.redis_replica):
            self.assertEqual(dump(replica.client()), expected, "replica %d" % replica.port)

    def test_token_bucket_grants_exactly_the_capacity(self):
        p = self.primary.client()
        bucket = p.register_script(TOKEN_BUCKET)
        capacity, rate, now = 50, 10, 1_700_000_000_000
        granted = [0] * THREADS

        def spend(index, at):
            client = self.primary.client()
            script = client.register_script(TOKEN_BUCKET)
            for _ in range(40):
                granted[index] += script(keys=["bucket:api"], args=[rate, capacity, at, 1])

        run_threads(lambda i: spend(i, now))
        # 320 requests at one instant: the bucket's 50 tokens and not one more.
        self.assertEqual(sum(granted), capacity)
        # Two seconds later, 20 tokens have come back.
        granted[:] = [0] * THREADS
        run_threads(lambda i: spend(i, now + 2000))
        self.assertEqual(sum(granted), 2 * rate)
        self.assertEqual(bucket(keys=["bucket:api"], args=[rate, capacity, now + 2000, 1]), 0)
        self.assert_replicas_equal_primary()

    def test_fixed_window_limiter_allows_exactly_the_limit(self):
        allowed = [0] * THREADS

        def hit(index):
            script = self.primary.client().register_script(FIXED_WINDOW)
            for _ in range(50):
                allowed[index] += script(keys=["rate:user:7"], args=[60000, 100])

        run_threads(hit)
        self.assertEqual(sum(allowed), 100)
        p = self.primary.client()
        self.assertEqual(int(p.get("rate:user:7")), THREADS * 50)
        self.assertTrue(0 < p.pttl("rate:user:7") <= 60000)
        self.assert_replicas_equal_primary()

    def test_lock_release_only_by_its_owner(self):
        acquired = [0] * THREADS

        def contend(index):
            client = self.primary.client()
            release = client.register_script(LOCK_RELEASE)
            for round_ in range(60):
                token = "%d:%d:%d" % (index, round_, random.getrandbits(32))
                if client.set("lock:orders", token, nx=True, px=30000):
                    acquired[index] += 1
                    # Nobody else released or replaced it meanwhile.
                    self.assertEqual(client.get("lock:orders"), token.encode())
                    self.assertEqual(release(keys=["lock:orders"], args=[token]), 1)
                else:
                    # Someone else holds it: our token must not release it.
                    self.assertEqual(release(keys=["lock:orders"], args=[token]), 0)

        run_threads(contend)
        self.assertGreater(sum(acquired), 0)
        self.assertIsNone(self.primary.client().get("lock:orders"))
        self.assert_replicas_equal_primary()

    def test_one_time_code_verifies_once(self):
        p = self.primary.client()
        codes = {"otp:user:%d" % i: "%06d" % random.randrange(10 ** 6) for i in range(40)}
        for key, code in codes.items():
            p.set(key, code, ex=300)
        p.set("otp:keep", "123456", ex=300)
        successes = {key: 0 for key in codes}
        lock = threading.Lock()

        def verify(index):
            script = self.primary.client().register_script(VERIFY_ONCE)
            for key, code in codes.items():
                wrong = script(keys=["otp:keep"], args=["000000"])
                self.assertEqual(wrong, 0)
                if script(keys=[key], args=[code]):
                    with lock:
                        successes[key] += 1

        run_threads(verify)
        self.assertEqual(successes, {key: 1 for key in codes})
        self.assertEqual(p.keys("otp:user:*"), [])
        self.assertEqual(p.get("otp:keep"), b"123456")
        self.assert_replicas_equal_primary()

    def test_setbit_reaches_replicas_as_the_resulting_value(self):
        p = self.primary.client()
        for offset in (3, 100, 3, 7000):
            p.setbit("flags:user:1", offset, 1)
        p.setbit("flags:user:1", 100, 0)
        p.setbit("flags:new", 9, 0)
        self.assertEqual(p.bitcount("flags:user:1"), 2)
        self.assert_replicas_equal_primary()

    def test_replica_applies_a_script_and_a_transaction_atomically(self):
        """While scripts (and MULTI/EXEC) change two keys together on the primary, readers
        of the replicas never see them differ."""
        p = self.primary.client()
        p.mset({"pair:a": 0, "pair:b": 0})
        stop = threading.Event()
        torn = []

        def read(replica):
            client = replica.client()
            while not stop.is_set():
                a, b = client.mget("pair:a", "pair:b")
                if a != b:
                    torn.append((replica.port, a, b))

        readers = [threading.Thread(target=read, args=(r,))
                   for r in (self.replica, self.redis_replica)]
        for t in readers:
            t.start()
        try:
            def write(index):
                client = self.primary.client()
                script = client.register_script(PAIRED_WRITE)
                for i in range(150):
                    if i % 2:
                        script(keys=["pair:a", "pair:b"])
                    else:
                        with client.pipeline(transaction=True) as tx:
                            tx.incr("pair:a").incr("pair:b")
                            a, b = tx.execute()
                        self.assertEqual(a, b)

            run_threads(write, 2)
        finally:
            stop.set()
            for t in readers:
                t.join(timeout=30)
        self.assertEqual(torn, [])
        self.assert_replicas_equal_primary()


def busy_scenario(port):
    """The slow-script sequence; returns every reply (bytes), in order."""
    replies = []
    looping = connect(port)
    looping.sendall(encode_command("EVAL", "local i = 0 while true do i = i + 1 end", "0"))
    with connect(port) as other:
        reader = RespReader(other)

        def ask(*command):
            other.sendall(encode_command(*command))
            return reader.read()

        # Past the threshold, other clients are refused with -BUSY.
        wait_until(lambda: ask("GET", "k").startswith(b"-BUSY"), 10,
                   what="-BUSY on port %d" % port)
        replies.append(ask("PING"))
        replies.append(ask("SET", "k", "v"))
        replies.append(ask("MULTI"))
        replies.append(ask("GET", "k"))
        replies.append(ask("EXEC"))
        replies.append(ask("SCRIPT", "KILL"))
        replies.append(RespReader(looping).read())
        looping.close()
        replies.append(ask("PING"))
        replies.append(ask("SCRIPT", "KILL"))
        # A script that wrote cannot be killed.
        writer = connect(port)
        writer.sendall(encode_command("EVAL", "redis.call('set', 'w', '1') while true do end", "0"))
        wait_until(lambda: ask("GET", "k").startswith(b"-BUSY"), 10, what="-BUSY again")
        replies.append(ask("SCRIPT", "KILL"))
        other.sendall(encode_command("SHUTDOWN", "NOSAVE"))
        try:
            replies.append(reader.read())
        except (OSError, ValueError, EOFError):
            pass
        writer.close()
    return replies


class SlowScriptTest(MultiServerTestCase):
    def test_busy_and_script_kill_answer_as_redis_does(self):
        redis = self.start("--busy-reply-threshold", "200", redis=True)
        mirrorkv = self.start("--busy-reply-threshold", "200")
        expected = busy_scenario(redis.port)
        actual = busy_scenario(mirrorkv.port)
        self.assertEqual(actual, expected)
        self.assertTrue(expected[0].startswith(b"-BUSY Redis is busy running a script."))
        self.assertTrue(expected[6].startswith(b"-ERR Script killed by user with SCRIPT KILL"))
        # SHUTDOWN NOSAVE stopped both while the unkillable script ran.
        self.assertIsNotNone(redis.wait_exit())
        self.assertEqual(mirrorkv.wait_exit(), 0)
        self.assertIn("Slow script detected", mirrorkv.log())
        self.assertNotIn("Sanitizer", mirrorkv.log())
        mirrorkv.proc = None
        redis.proc = None

    def test_lua_time_limit_is_the_same_setting(self):
        server = self.start("--lua-time-limit", "150")
        client = server.client()
        self.assertEqual(client.config_get("busy-reply-threshold"),
                         {"busy-reply-threshold": "150"})
        client.config_set("lua-time-limit", "300")
        self.assertEqual(client.config_get("busy-reply-threshold"),
                         {"busy-reply-threshold": "300"})
        # A script under the threshold never makes anyone busy.
        self.assertEqual(client.eval("local i = 0 while i < 1000000 do i = i + 1 end return i", 0),
                         1000000)


class SandboxTest(MultiServerTestCase):
    def test_scripts_reach_neither_programs_nor_files_nor_modules(self):
        import redis as redis_py
        server = self.start()
        client = server.client()
        marker = os.path.join(server.dir, "created-by-script")
        attempts = [
            "os.execute('touch %s')" % marker,
            "io.open('%s', 'w')" % marker,
            "require('os')",
            "loadfile('/etc/passwd')",
            "dofile('/etc/passwd')",
            "package.loadlib('libc.so.6', 'system')",
            "debug.getregistry()",
            "loadstring(string.dump(function() end))()",
            "load(function() return nil end)",
            "getmetatable('').__index.rep = nil",
            "rawset(_G, 'os', {}) return os",
        ]
        for attempt in attempts:
            try:
                client.eval(attempt, 0)
            except redis_py.ResponseError:
                continue
            # The two that run must have changed nothing that lasts.
            self.assertIn(attempt, ("load(function() return nil end)",
                                    "rawset(_G, 'os', {}) return os"))
        self.assertFalse(os.path.exists(marker))
        # A global a script smuggled in with rawset is gone for the next script.
        with self.assertRaisesRegex(redis_py.ResponseError, "nonexistent global variable 'os'"):
            client.eval("return os", 0)
        self.assertEqual(client.eval("return string.rep('ab', 2)", 0), b"abab")


if __name__ == "__main__":
    unittest.main(verbosity=2)
