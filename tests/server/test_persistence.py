"""Snapshots through the server: SAVE, BGSAVE, LASTSAVE, the `save` policy, SHUTDOWN
[SAVE|NOSAVE], SIGTERM, loading at start (data and deadlines survive a restart, expired
keys do not come back) and a corrupt snapshot refusing to start."""

import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def shutdown(client, *options):
    """SHUTDOWN [options]; success closes the connection without a reply."""
    try:
        client.execute_command("SHUTDOWN", *options)
    except Exception:  # noqa: BLE001 - redis-py reports the close as an error
        pass


def wait_for(predicate, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class PersistenceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mkvsrv-persist-")
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args, port=None):
        server = harness.ServerProcess(args=list(args), workdir=self.dir, port=port)
        self.servers.append(server)
        return server.start()

    def dump(self):
        return os.path.join(self.dir, "dump.mkv")

    def test_restart_keeps_data_and_deadlines(self):
        server = self.start()
        r = server.client()
        before = r.lastsave()
        r.mset({"a": "1", "b": b"\x00binary\r\n"})
        r.set("ttl", "v", ex=1000)
        r.set("soon", "v", px=300)
        with r.pipeline(transaction=False) as pipe:
            for i in range(20000):
                pipe.set("bulk:%d" % i, "value-%d" % i)
            pipe.execute()
        self.assertEqual(r.info("persistence")["rdb_changes_since_last_save"] > 0, True)
        time.sleep(1.1)  # LASTSAVE has a one-second resolution
        self.assertTrue(r.save())
        self.assertGreater(r.lastsave(), before)
        self.assertEqual(r.info("persistence")["rdb_changes_since_last_save"], 0)
        self.assertTrue(os.path.exists(self.dump()))
        r.close()
        harness.stop_and_check(server)
        time.sleep(0.4)  # "soon" expires while the server is down

        server = self.start(port=server.port)
        r = server.client()
        self.assertEqual(r.get("a"), b"1")
        self.assertEqual(r.get("b"), b"\x00binary\r\n")
        self.assertIsNone(r.get("soon"))
        self.assertTrue(900 < r.ttl("ttl") <= 1000)
        self.assertEqual(r.get("bulk:19999"), b"value-19999")
        self.assertEqual(r.dbsize(), 20003)
        self.assertEqual(r.info("persistence")["rdb_last_load_keys_loaded"], 20003)
        self.assertIn("DB loaded from disk", server.log())
        r.close()
        harness.stop_and_check(server)

    def test_bgsave(self):
        server = self.start()
        r = server.client()
        r.set("k", "v")
        with harness.connect(server.port) as s:
            s.sendall(b"BGSAVE\r\n")
            self.assertEqual(harness.recv_exactly(s, 28), b"+Background saving started\r\n")
        self.assertTrue(wait_for(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0))
        info = r.info("persistence")
        self.assertEqual(info["rdb_last_bgsave_status"], "ok")
        self.assertEqual(info["rdb_saves"], 1)
        self.assertTrue(os.path.exists(self.dump()))
        self.assertTrue(r.execute_command("BGSAVE", "SCHEDULE"))
        r.close()
        harness.stop_and_check(server)

    def test_save_policy_triggers_background_save(self):
        server = self.start("--save", "1 1")
        r = server.client()
        self.assertEqual(r.config_get("save"), {"save": "1 1"})
        r.set("k", "v")
        self.assertTrue(wait_for(lambda: os.path.exists(self.dump())), server.log())
        self.assertTrue(wait_for(lambda: r.info("persistence")["rdb_changes_since_last_save"] == 0))
        self.assertIn("changes in 1 seconds. Saving...", server.log())
        r.close()
        harness.stop_and_check(server)

    def test_shutdown_modes(self):
        # No save points: SHUTDOWN does not save, SHUTDOWN SAVE does.
        server = self.start()
        r = server.client()
        r.set("k", "1")
        shutdown(r)
        self.assertEqual(server.wait_exit(), 0)
        self.assertFalse(os.path.exists(self.dump()))
        server.stop()

        server = self.start(port=server.port)
        r = server.client()
        r.set("k", "2")
        shutdown(r, "SAVE")
        self.assertEqual(server.wait_exit(), 0)
        self.assertTrue(os.path.exists(self.dump()))
        server.stop()

        # With save points, plain SHUTDOWN saves, SHUTDOWN NOSAVE does not.
        server = self.start("--save", "3600 1", port=server.port)
        r = server.client()
        self.assertEqual(r.get("k"), b"2")
        r.set("k", "3")
        shutdown(r, "NOSAVE")
        self.assertEqual(server.wait_exit(), 0)
        server.stop()
        server = self.start("--save", "3600 1", port=server.port)
        r = server.client()
        self.assertEqual(r.get("k"), b"2")
        r.set("k", "4")
        shutdown(r)
        self.assertEqual(server.wait_exit(), 0)
        server.stop()
        server = self.start(port=server.port)
        self.assertEqual(server.client().get("k"), b"4")
        harness.stop_and_check(server)

    def test_sigterm_saves_when_save_points_exist(self):
        server = self.start("--save", "3600 1")
        r = server.client()
        r.set("k", "v")
        r.close()
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.wait_exit(), 0, server.log())
        log = server.log()
        self.assertIn("Received SIGTERM scheduling shutdown", log)
        self.assertIn("DB saved on disk", log)
        server.stop()
        server = self.start(port=server.port)
        self.assertEqual(server.client().get("k"), b"v")
        harness.stop_and_check(server)

    def test_corrupt_snapshot_refuses_to_start(self):
        server = self.start()
        r = server.client()
        for i in range(100):
            r.set("k%d" % i, "v" * 100)
        r.save()
        r.close()
        harness.stop_and_check(server)
        with open(self.dump(), "r+b") as f:
            f.seek(os.path.getsize(self.dump()) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
        server = harness.ServerProcess(workdir=self.dir)
        self.servers.append(server)
        server.start(wait=False)
        self.assertEqual(server.wait_exit(), 1)
        log = server.log()
        self.assertIn("can't load the snapshot", log)
        self.assertIn("Corruption", log)

    def test_save_to_a_new_dbfilename(self):
        server = self.start("--enable-protected-configs", "yes")
        r = server.client()
        r.set("k", "v")
        self.assertTrue(r.config_set("dbfilename", "other.mkv"))
        self.assertTrue(r.save())
        self.assertTrue(os.path.exists(os.path.join(self.dir, "other.mkv")))
        with self.assertRaises(Exception):
            r.config_set("dbfilename", "../escape.mkv")
        r.close()
        harness.stop_and_check(server)

    def test_run_time_clients_cannot_choose_the_file_save_writes(self):
        # The host takeover Redis 7 closed with protected configs: point dir/dbfilename at a
        # file the server may write, store a payload, SAVE over it.
        target = os.path.join(self.dir, "important.conf")
        with open(target, "w") as f:
            f.write("original\n")
        server = self.start()
        r = server.client()
        r.set("payload", "\n\n@reboot root /tmp/x.sh\n\n")
        for name, value in (("dir", self.dir + "/../.."), ("dbfilename", "important.conf")):
            with self.assertRaises(Exception) as refused:
                r.config_set(name, value)
            self.assertIn("can't set protected config", str(refused.exception))
        self.assertTrue(r.save())
        with open(target) as f:
            self.assertEqual(f.read(), "original\n")
        self.assertEqual(r.config_get("dbfilename")["dbfilename"], "dump.mkv")
        r.close()
        harness.stop_and_check(server)

    def test_start_removes_temporary_files_of_interrupted_saves(self):
        # Left by a save killed midway: one from a pid that no longer runs, and one whose pid
        # a restarted container process inherits (its own). A live writer's file stays.
        dead_pid = 4194304  # above Linux's pid_max: never running
        stale = [os.path.join(self.dir, "dump.mkv.tmp.%d.0123456789abcdef.0" % dead_pid)]
        live = os.path.join(self.dir, "dump.mkv.tmp.%d.0123456789abcdef.0" % os.getpid())
        other = os.path.join(self.dir, "dump.mkv.tmp.notapid")
        for path in stale + [live, other]:
            with open(path, "wb") as f:
                f.write(b"x" * 4096)
        server = self.start()
        self.assertFalse(os.path.exists(stale[0]))
        self.assertTrue(os.path.exists(live), "a running writer's file must stay")
        self.assertTrue(os.path.exists(other), "names this module does not write stay")
        self.assertIn("left by a save that did not finish", server.log())
        r = server.client()
        r.set("k", "v")
        self.assertTrue(r.save())
        r.close()
        harness.stop_and_check(server)


if __name__ == "__main__":
    unittest.main(verbosity=2)
