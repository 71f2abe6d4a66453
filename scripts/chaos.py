#!/usr/bin/python3
"""Fault campaign against mirrorkv-server failed over by the real redis-sentinel.

    scripts/chaos.py [--server PATH] [--duration SECONDS] [--seed N] [--rate KEYS_PER_S]
                     [--faults KIND,...] [--keep-dir]

On 127.0.0.1, in a temporary directory removed at the end, it starts three mirrorkv-server
nodes (one primary, two replicas) and three redis-sentinels (quorum 2) monitoring them,
runs a write load that follows Sentinel and confirms every batch with WAIT, and injects a
random (seeded) schedule of faults for --duration seconds: kill -9 and restart of a node,
SIGSTOP/SIGCONT, and cuts of replication links (reset or black-holed). Then it quiesces and
checks:

  - lost writes: every write that WAIT acknowledged (reply >= 1) is on the final primary
    with its value (must be 0 missing);
  - convergence: every node holds the same keys and values (a digest of a full SCAN; the
    server has no DEBUG DIGEST);
  - crashes: no node exited by itself, every node shuts down with status 0 at the end, and
    no log holds an abort, an assertion or a sanitizer report;
  - each node's thread count and RSS, sampled from /proc every few seconds (min/max).

The exit status is 1 if a check fails (the directory, with every log, is then kept), 2 on
a usage or setup error.

Topology. Each node listens on a private port and is reached by everyone (clients,
sentinels, replicas) through a small proxy run by this script on the node's public port.
mirrorkv-server has no replica-announce-port, so the proxy rewrites a replica's `REPLCONF
listening-port <private>` into its public port: the primary's INFO then names replicas by
their public ports, and Sentinel's SLAVEOF commands send replication through the proxies,
which can therefore cut one replica's link (by the port it announced) and leave the rest.

The schedule keeps WAIT 1's promise meaningful: with two replicas, WAIT 1 only promises
that one replica has a write, and Sentinel promotes the replica with the highest offset.
So a fault that can make Sentinel fail over (kill -9 of the primary, a SIGSTOP of the
primary longer than down-after-milliseconds) is injected only on a healthy cluster (both
replicas linked and caught up, every sentinel agreeing and seeing both), and a stopped
primary is continued only once the failover has finished (both of the other nodes follow
the new primary), never in the window where a stale primary could still have a replica
attached (Redis loses acknowledged writes there too). Faults follow one another; after each
the script waits (bounded) for the cluster to be healthy again. A node that is killed is
restarted the way an operator would: after Sentinel has replaced it if it was the primary,
either as a replica of the primary Sentinel names or on its own, for Sentinel to convert.
"""

import argparse
import collections
import hashlib
import os
import random
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "server"))
from harness import ServerProcess, free_port, info_fields  # noqa: E402
from test_sentinel import REDIS_SENTINEL, Sentinel  # noqa: E402

import redis  # noqa: E402  python3-redis, in Debian's /usr/bin/python3

# The faults, each as likely as the others (a cut of one link twice as likely).
FAULTS = ("kill primary", "kill replica", "stop primary short", "stop primary long",
          "stop replica", "cut link", "cut link", "cut both links")
MASTER_NAME = "m"  # as test_sentinel.Sentinel monitors it
# Sentinel's down-after-milliseconds. Not 1 s (the failover tests' value): Sentinel pings
# every second, and a sentinel that has just switched to a new primary has been seen to
# call it down 1.0 s later, before its first PONG, and fail it over again while the
# promoted node lives on as a primary (a split brain that loses acknowledged writes with
# Redis too). A primary SIGSTOPped for less than SHORT_STOP_MAX stays primary.
DOWN_AFTER_MS = 5000
SHORT_STOP_MAX = 2.0
WAIT_TIMEOUT_MS = 1000
RECOVERY_TIMEOUT = 120.0  # bound on every wait for a failover or for the cluster's health
SAMPLE_INTERVAL = 3.0  # /proc sampling
LOG_FAILURE_MARKERS = ("terminate called", "Assertion", "Sanitizer", "runtime error",
                       "Aborted", "Segmentation", "CHECK failed")


def log(message):
    print("[%7.1f] %s" % (time.monotonic() - START, message), flush=True)


START = time.monotonic()


# ---------------------------------------------------------------------------------------
# The proxy

class Pair:
    """One proxied connection: `down` is the accepted socket, `up` the one to the node."""

    def __init__(self, down, up):
        self.down = down
        self.up = up
        self.to_up = bytearray()    # read from down, not yet written to up
        self.to_down = bytearray()  # read from up, not yet written to down
        self.sniff = bytearray()    # the first commands, parsed before they are forwarded
        self.sniffing = True
        self.commands_seen = 0
        self.replica = None  # index of the node whose replication link this is
        self.held = False    # black-holed: nothing is read or written


def parse_multibulk(buf):
    """One complete RESP multibulk command at the start of `buf`: (args, length), None if
    incomplete, or ValueError if `buf` does not start with one."""
    if not buf:
        return None
    if buf[0:1] != b"*":
        raise ValueError("not multibulk")
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    count = int(buf[1:end])
    position = end + 2
    args = []
    for _ in range(count):
        end = buf.find(b"\r\n", position)
        if end < 0:
            return None
        if buf[position:position + 1] != b"$":
            raise ValueError("not a bulk string")
        length = int(buf[position + 1:end])
        if len(buf) < end + 2 + length + 2:
            return None
        args.append(bytes(buf[end + 2:end + 2 + length]))
        position = end + 2 + length + 2
    return args, position


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class ProxyHub:
    """TCP proxies from each node's public port to its private one, in one selector thread.

    The first commands of each connection (up to SNIFF_COMMANDS, or PSYNC) are parsed: a
    `REPLCONF listening-port <private port of node i>` marks the connection as node i's
    replication link and is rewritten to node i's public port. cut(i, mode) resets
    ("reset") or stops forwarding ("blackhole") every replication link of node i, present
    and future, until restore(i)."""

    SNIFF_COMMANDS = 8
    BUFFER_LIMIT = 1 << 20  # stop reading a side while this much waits for the other

    def __init__(self, routes):
        # routes: [(public_port, private_port)] per node index.
        self.routes = routes
        self.private_to_node = {private: i for i, (_, private) in enumerate(routes)}
        self.selector = selectors.DefaultSelector()
        self.listeners = []
        for i, (public, _) in enumerate(routes):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", public))
            sock.listen(128)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, ("listen", i))
            self.listeners.append(sock)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, ("wake", None))
        self.pairs = set()
        self.cuts = {}  # node index -> "reset" | "blackhole"
        self.requests = collections.deque()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="proxy", daemon=True)
        self.thread.start()

    # Called from other threads.
    def _call(self, fn):
        done = threading.Event()
        self.requests.append((fn, done))
        self.wake_w.send(b"x")
        if not done.wait(10):
            raise RuntimeError("proxy thread did not answer")

    def cut(self, node, mode):
        self._call(lambda: self._cut(node, mode))

    def restore(self, node):
        self._call(lambda: self._restore(node))

    def stop(self):
        self.stopping = True
        self.wake_w.send(b"x")
        self.thread.join(10)
        for pair in list(self.pairs):
            self._close(pair)
        for sock in self.listeners + [self.wake_r, self.wake_w]:
            sock.close()

    # The selector thread.
    def _cut(self, node, mode):
        self.cuts[node] = mode
        for pair in list(self.pairs):
            if pair.replica == node:
                self._apply_cut(pair)

    def _restore(self, node):
        self.cuts.pop(node, None)
        for pair in list(self.pairs):
            if pair.replica == node and pair.held:
                pair.held = False
                self._update(pair)

    def _apply_cut(self, pair):
        mode = self.cuts.get(pair.replica)
        if mode == "reset":
            self._close(pair)
        elif mode == "blackhole":
            pair.held = True
            self._update(pair)

    def _close(self, pair):
        if pair not in self.pairs:
            return
        self.pairs.discard(pair)
        for sock in (pair.down, pair.up):
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def _update(self, pair):
        """Registers each socket for what it can do now."""
        if pair not in self.pairs:
            return
        for sock, inbox, outbox in ((pair.down, pair.to_up, pair.to_down),
                                    (pair.up, pair.to_down, pair.to_up)):
            events = 0
            if not pair.held:
                if len(inbox) < self.BUFFER_LIMIT:
                    events |= selectors.EVENT_READ
                if outbox:
                    events |= selectors.EVENT_WRITE
            key = self.selector.get_map().get(sock)
            if events == 0:
                if key is not None:
                    self.selector.unregister(sock)
            elif key is None:
                self.selector.register(sock, events, ("pair", pair))
            elif key.events != events:
                self.selector.modify(sock, events, ("pair", pair))

    def _accept(self, node):
        try:
            down, _ = self.listeners[node].accept()
        except OSError:
            return
        try:
            # The node is local: the kernel completes the connect even if the node is
            # SIGSTOPped; a dead node refuses it at once.
            up = socket.create_connection(("127.0.0.1", self.routes[node][1]), timeout=2)
        except OSError:
            down.close()
            return
        for sock in (down, up):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = Pair(down, up)
        self.pairs.add(pair)
        self._update(pair)

    def _sniff(self, pair, data):
        """Parses the first commands of a connection; returns the bytes to forward."""
        pair.sniff += data
        out = bytearray()
        while pair.sniffing:
            try:
                parsed = parse_multibulk(pair.sniff)
            except ValueError:
                pair.sniffing = False
                break
            if parsed is None:
                return bytes(out)
            args, length = parsed
            del pair.sniff[:length]
            pair.commands_seen += 1
            name = args[0].upper() if args else b""
            if name == b"REPLCONF":
                for option, value in zip(args[1::2], args[2::2]):
                    node = self.private_to_node.get(int(value)) if value.isdigit() else None
                    if option.lower() == b"listening-port" and node is not None:
                        pair.replica = node
                        args = [b"REPLCONF", b"listening-port",
                                str(self.routes[node][0]).encode()]
            out += encode(args)
            if name in (b"PSYNC", b"SYNC") or pair.commands_seen >= self.SNIFF_COMMANDS:
                pair.sniffing = False
        out += pair.sniff
        pair.sniff = bytearray()
        return bytes(out)

    def _on_event(self, sock, mask, pair):
        from_down = sock is pair.down
        other_inbox = pair.to_up if from_down else pair.to_down
        own_outbox = pair.to_down if from_down else pair.to_up
        if mask & selectors.EVENT_READ:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._close(pair)
                return
            if data:
                if from_down and pair.sniffing:
                    data = self._sniff(pair, data)
                    if pair.replica is not None and pair.replica in self.cuts:
                        other_inbox += data
                        self._apply_cut(pair)
                        return
                other_inbox += data
        if mask & selectors.EVENT_WRITE and own_outbox:
            try:
                sent = sock.send(own_outbox)
                del own_outbox[:sent]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._close(pair)
                return
        self._update(pair)
        # What was just read may be writable at once on the other side.
        target = pair.up if from_down else pair.down
        if other_inbox and pair in self.pairs and not pair.held:
            try:
                sent = target.send(other_inbox)
                del other_inbox[:sent]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._close(pair)
                return
            self._update(pair)

    def _run(self):
        while not self.stopping:
            for key, mask in self.selector.select(timeout=0.5):
                kind, data = key.data
                if kind == "listen":
                    self._accept(data)
                elif kind == "wake":
                    try:
                        self.wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                elif data in self.pairs:
                    self._on_event(key.fileobj, mask, data)
            while self.requests:
                fn, done = self.requests.popleft()
                try:
                    fn()
                finally:
                    done.set()


# ---------------------------------------------------------------------------------------
# The nodes

class Node:
    """One mirrorkv-server slot: a private port, a public (proxy) port, a directory kept
    across restarts (its log accumulates), and the process currently running there."""

    def __init__(self, index, binary, root):
        self.index = index
        self.binary = binary
        self.dir = os.path.join(root, "node-%d" % index)
        os.makedirs(self.dir)
        self.private_port = free_port()
        self.public_port = free_port()
        self.server = None
        self.expected_down = True  # killed by the campaign (or not started yet)
        self.stopped = False       # SIGSTOPped
        self.starts = 0
        self.threads = []
        self.rss_kb = []

    def start(self, replicaof=None):
        args = []
        if replicaof is not None:
            args = ["--replicaof", "127.0.0.1", str(replicaof)]
        self.server = ServerProcess(binary=self.binary, args=args, workdir=self.dir,
                                    port=self.private_port)
        self.server.start()
        self.expected_down = False
        self.stopped = False
        self.starts += 1

    def pid(self):
        return self.server.proc.pid if self.server and self.server.proc else None

    def alive(self):
        return self.server is not None and self.server.proc is not None and \
            self.server.proc.poll() is None

    def kill(self):
        self.expected_down = True
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(timeout=30)
        self.server.log_file.close()
        self.server.proc = None
        self.stopped = False

    def sigstop(self):
        self.stopped = True
        os.kill(self.pid(), signal.SIGSTOP)

    def sigcont(self):
        os.kill(self.pid(), signal.SIGCONT)
        self.stopped = False

    def client(self, timeout=5):
        return redis.Redis(host="127.0.0.1", port=self.private_port, socket_timeout=timeout)

    def replication(self):
        return info_fields(self.private_port, "replication")

    def sample(self):
        pid = self.pid()
        if pid is None:
            return
        try:
            with open("/proc/%d/status" % pid) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            self.threads.append(int(fields["Threads"]))
            self.rss_kb.append(int(fields["VmRSS"].split()[0]))
        except (OSError, KeyError, ValueError):
            pass

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------
# The campaign

class Campaign:

    def __init__(self, binary, seed, duration, rate, fault_kinds, root):
        self.fault_kinds = fault_kinds
        self.rng = random.Random(seed)
        self.rate = rate
        self.seed = seed
        self.duration = duration
        self.root = root
        self.nodes = [Node(i, binary, root) for i in range(3)]
        self.by_public = {node.public_port: node for node in self.nodes}
        self.proxy = None
        self.sentinels = []
        self.stop_load = threading.Event()
        self.stop_monitor = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}  # key -> value, for every write WAIT acknowledged
        self.writes = collections.Counter()
        self.faults = collections.Counter()
        self.crashes = []
        self.failures = []
        self.notes = []  # anomalies that are not failures
        self.primary_changes = 0
        self.threads = []

    # Setup ------------------------------------------------------------------------------
    def start(self):
        self.proxy = ProxyHub([(n.public_port, n.private_port) for n in self.nodes])
        primary = self.nodes[0]
        primary.start()
        for node in self.nodes[1:]:
            node.start(replicaof=primary.public_port)
        self.sentinels = [Sentinel(primary.public_port, quorum=2, down_after_ms=DOWN_AFTER_MS)
                          for _ in range(3)]
        self.wait_healthy("the initial topology")
        log("topology: nodes on public ports %s (private %s), sentinels on %s" % (
            [n.public_port for n in self.nodes], [n.private_port for n in self.nodes],
            [s.port for s in self.sentinels]))
        for target in (self._load, self._monitor):
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self.threads.append(thread)

    # Sentinel's view --------------------------------------------------------------------
    def sentinel_primaries(self):
        """The public port each sentinel names as the primary (None if it did not answer)."""
        ports = []
        for sentinel in self.sentinels:
            try:
                addr = sentinel.client().execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                ports.append(int(addr[1]))
            except (redis.RedisError, OSError, TypeError, IndexError):
                ports.append(None)
        return ports

    def agreed_primary(self):
        ports = self.sentinel_primaries()
        if ports[0] is not None and all(p == ports[0] for p in ports):
            return self.by_public[ports[0]]
        return None

    @staticmethod
    def _fields(raw):
        items = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2])
        return {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v) for k, v in items}

    def sentinels_settled(self, primary):
        """Every sentinel sees `primary` as a master not in failover, both replicas as
        healthy candidates, and the two other sentinels."""
        replicas = {str(n.public_port) for n in self.nodes if n is not primary}
        for sentinel in self.sentinels:
            client = sentinel.client()
            master = self._fields(client.execute_command("SENTINEL", "MASTER", MASTER_NAME))
            if master["flags"] != "master" or master["num-other-sentinels"] != "2" or \
                    master["port"] != str(primary.public_port):
                return False
            seen = set()
            for entry in client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME):
                fields = self._fields(entry)
                if fields["flags"] == "slave" and fields["master-link-status"] == "ok" and \
                        fields["master-port"] == str(primary.public_port):
                    seen.add(fields["port"])
            if not replicas <= seen:
                return False
        return True

    # Health -----------------------------------------------------------------------------
    def healthy(self):
        """Every node runs, the sentinels agree and are settled, both replicas follow the
        primary with their link up and have everything it had when this was asked."""
        if any(not n.alive() or n.stopped for n in self.nodes):
            return False
        primary = self.agreed_primary()
        if primary is None or primary.replication().get("role") != "master":
            return False
        offset = int(primary.replication()["master_repl_offset"])
        for node in self.nodes:
            if node is primary:
                continue
            fields = node.replication()
            if fields.get("role") != "slave" or fields.get("master_port") != \
                    str(primary.public_port) or fields.get("master_link_status") != "up" or \
                    int(fields.get("slave_repl_offset", -1)) < offset:
                return False
        return self.sentinels_settled(primary)

    def wait_for(self, predicate, what, timeout=RECOVERY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            self.restart_crashed()
            try:
                if predicate():
                    return True
            except (redis.RedisError, OSError, KeyError, ValueError) as error:
                last_error = error
            time.sleep(0.2)
        self.failures.append("not recovered within %.0f s: %s (last error: %r)"
                             % (timeout, what, last_error))
        log("FAILURE: " + self.failures[-1])
        return False

    def wait_healthy(self, what):
        started = time.monotonic()
        ok = self.wait_for(self.healthy, "healthy cluster after " + what)
        if ok:
            log("healthy after %s (%.1f s)" % (what, time.monotonic() - started))
        return ok

    def wait_failover_from(self, node):
        """Waits until the sentinels agree on a primary other than `node`, which the other
        node follows with its link up."""
        def done():
            primary = self.agreed_primary()
            if primary is None or primary is node or not primary.alive():
                return False
            if primary.replication().get("role") != "master":
                return False
            for other in self.nodes:
                if other is node or other is primary:
                    continue
                fields = other.replication()
                if fields.get("master_port") != str(primary.public_port) or \
                        fields.get("master_link_status") != "up":
                    return False
            return True
        started = time.monotonic()
        ok = self.wait_for(done, "failover away from node %d" % node.index)
        if ok:
            log("failover away from node %d done in %.1f s: primary is node %d" % (
                node.index, time.monotonic() - started, self.agreed_primary().index))
        return ok

    def restart(self, node):
        """Starts a killed node again as an operator would: as a replica of the primary
        the sentinels agree on, or (one time in three) on its own, for Sentinel to turn it
        into a replica."""
        primary = self.agreed_primary()
        if primary is None or primary is node or self.rng.random() < 1 / 3:
            node.start()
            log("node %d restarted on its own" % node.index)
        else:
            node.start(replicaof=primary.public_port)
            log("node %d restarted as a replica of node %d" % (node.index, primary.index))

    def restart_crashed(self):
        """A node that exited by itself is recorded as a crash and restarted, as a killed
        one would be (after a failover if the sentinels still name it)."""
        for node in self.nodes:
            if node.expected_down or node.alive():
                continue
            code = node.server.proc.returncode
            self.crashes.append("node %d (pid %d) exited by itself with status %s" % (
                node.index, node.server.proc.pid, code))
            log("CRASH: " + self.crashes[-1])
            node.server.log_file.close()
            node.server.proc = None
            node.expected_down = True
            if self.agreed_primary() is node:
                self.wait_failover_from(node)
            self.restart(node)

    # The write load ---------------------------------------------------------------------
    def _load(self):
        """Batches of unique SETs (and a few INCRs, APPENDs and SETs with a TTL, which the
        digest compares), each confirmed by WAIT 1; follows the primary Sentinel names."""
        rng = random.Random(self.seed + 1)
        client = None
        port = None
        sequence = 0
        started = time.monotonic()
        while not self.stop_load.is_set():
            # At most `rate` keys a second, so that a long run's data set stays small.
            ahead = sequence / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            try:
                if client is None:
                    ports = [p for p in self.sentinel_primaries() if p is not None]
                    if not ports:
                        time.sleep(0.1)
                        continue
                    port = collections.Counter(ports).most_common(1)[0][0]
                    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=3,
                                         socket_connect_timeout=3)
                batch = {}
                pipe = client.pipeline(transaction=False)
                for _ in range(rng.randint(1, 20)):
                    sequence += 1
                    key = "chaos:%d:%d" % (self.seed, sequence)
                    value = "%d-%x" % (sequence, rng.getrandbits(48))
                    batch[key] = value
                    pipe.set(key, value)
                    roll = rng.random()
                    if roll < 0.1:
                        pipe.incr("chaos:counter:%d" % (sequence % 16))
                    elif roll < 0.15:
                        pipe.append("chaos:log:%d" % (sequence % 8), "%d," % sequence)
                    elif roll < 0.2:
                        pipe.set("chaos:ttl:%d" % (sequence % 32), value, ex=3600)
                self.writes["attempted"] += len(batch)
                pipe.execute()
                replicas = client.execute_command("WAIT", 1, WAIT_TIMEOUT_MS)
                if replicas >= 1:
                    with self.lock:
                        self.acked.update(batch)
                    self.writes["acknowledged"] += len(batch)
                else:
                    self.writes["not acknowledged (WAIT 0)"] += len(batch)
                    # Perhaps a stale primary: ask Sentinel again.
                    if port not in self.sentinel_primaries():
                        client.close()
                        client = None
            except (redis.RedisError, OSError) as error:
                kind = type(error).__name__
                if isinstance(error, redis.ResponseError):
                    # redis-py prefixes a pipeline's errors with "Command # n (...) of
                    # pipeline caused error: ".
                    kind = str(error).split("caused error: ")[-1].split()[0]
                self.writes["failed batches: " + kind] += 1
                if client is not None:
                    client.close()
                client = None
                time.sleep(0.05)

    # Monitoring -------------------------------------------------------------------------
    def _monitor(self):
        last_sample = 0.0
        last_primary = self.nodes[0].public_port
        while not self.stop_monitor.is_set():
            now = time.monotonic()
            if now - last_sample >= SAMPLE_INTERVAL:
                last_sample = now
                for node in self.nodes:
                    node.sample()
            try:
                addr = self.sentinels[0].client().execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                port = int(addr[1])
                if port != last_primary:
                    self.primary_changes += 1
                    log("sentinel 0 switched the primary: node %d -> node %d" % (
                        self.by_public[last_primary].index, self.by_public[port].index))
                    last_primary = port
            except (redis.RedisError, OSError, TypeError, IndexError, KeyError):
                pass
            self.stop_monitor.wait(0.25)

    # Faults -----------------------------------------------------------------------------
    def run_schedule(self):
        deadline = time.monotonic() + self.duration
        while time.monotonic() < deadline:
            time.sleep(self.rng.uniform(0.2, 2.0))
            primary = self.agreed_primary()
            if primary is None:
                continue
            replicas = [n for n in self.nodes if n is not primary]
            fault = self.rng.choice(self.fault_kinds)
            self.faults[fault] += 1
            if fault == "kill primary":
                log("fault: kill -9 primary node %d" % primary.index)
                primary.kill()
                if not self.wait_failover_from(primary):
                    return
                time.sleep(self.rng.uniform(0, 3))
                self.restart(primary)
            elif fault == "kill replica":
                node = self.rng.choice(replicas)
                log("fault: kill -9 replica node %d" % node.index)
                node.kill()
                time.sleep(self.rng.uniform(0, 5))
                self.restart(node)
            elif fault == "stop primary short":
                pause = self.rng.uniform(0.05, SHORT_STOP_MAX)
                log("fault: SIGSTOP primary node %d for %.2f s" % (primary.index, pause))
                primary.sigstop()
                time.sleep(pause)
                primary.sigcont()
            elif fault == "stop primary long":
                log("fault: SIGSTOP primary node %d until Sentinel fails it over"
                    % primary.index)
                primary.sigstop()
                ok = self.wait_failover_from(primary)
                time.sleep(self.rng.uniform(0, 3))
                primary.sigcont()
                log("SIGCONT node %d" % primary.index)
                if not ok:
                    return
            elif fault == "stop replica":
                node = self.rng.choice(replicas)
                pause = self.rng.uniform(0.1, 5)
                log("fault: SIGSTOP replica node %d for %.2f s" % (node.index, pause))
                node.sigstop()
                time.sleep(pause)
                node.sigcont()
            else:
                cut = replicas if fault == "cut both links" else [self.rng.choice(replicas)]
                mode = self.rng.choice(["reset", "blackhole"])
                pause = self.rng.uniform(0.5, 8)
                log("fault: %s replication link of node(s) %s for %.2f s" % (
                    mode, [n.index for n in cut], pause))
                for node in cut:
                    self.proxy.cut(node.index, mode)
                time.sleep(pause)
                for node in cut:
                    self.proxy.restore(node.index)
            if not self.wait_healthy(fault):
                return

    # Quiescence and checks --------------------------------------------------------------
    def quiesce(self):
        for node in self.nodes:
            self.proxy.restore(node.index)
            if node.stopped:
                node.sigcont()
        for node in self.nodes:
            if node.expected_down and not node.alive():
                if self.agreed_primary() is node:
                    self.wait_failover_from(node)
                self.restart(node)
        self.stop_load.set()
        for thread in self.threads:
            if thread.name == "_load":
                thread.join(30)
        return self.wait_healthy("quiescence")

    def digest(self, node, attempts=3):
        """(number of keys, sha256 of every key with its value and whether it has a TTL,
        DBSIZE), from a full SCAN; every key the load writes is a string. A connection the
        node closes midway is noted in the report, and the digest started over."""
        for attempt in range(attempts):
            try:
                return self._digest(node)
            except redis.ConnectionError as error:
                if attempt == attempts - 1:
                    raise
                self.notes.append("node %d closed the checker's connection during its "
                                  "digest (%s); started over" % (node.index, error))
                log(self.notes[-1])
                time.sleep(1)

    @staticmethod
    def _digest(node):
        client = node.client(timeout=30)
        keys = sorted(client.scan_iter(count=1000))
        h = hashlib.sha256()
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            pipe = client.pipeline(transaction=False)
            for key in chunk:
                pipe.get(key)
                pipe.ttl(key)
            replies = pipe.execute()
            for key, value, ttl in zip(chunk, replies[::2], replies[1::2]):
                h.update(b"%d:%s%d:%s%d\n" % (len(key), key, len(value or b""), value or b"",
                                               ttl >= 0))
        return len(keys), h.hexdigest(), client.dbsize()

    def check(self, recovered):
        report = []
        ok = recovered
        primary = self.agreed_primary() if recovered else None
        with self.lock:
            acked = dict(self.acked)
        if primary is not None:
            client = primary.client(timeout=30)
            keys = list(acked)
            missing = wrong = 0
            for start in range(0, len(keys), 1000):
                chunk = keys[start:start + 1000]
                for key, value in zip(chunk, client.mget(chunk)):
                    if value is None:
                        missing += 1
                    elif value.decode() != acked[key]:
                        wrong += 1
            report.append("acknowledged writes: %d; missing on the final primary (node %d): "
                          "%d; with another value: %d" % (len(acked), primary.index, missing,
                                                          wrong))
            ok = ok and missing == 0 and wrong == 0
            digests = [(node.index,) + self.digest(node) for node in self.nodes]
            for index, count, digest, dbsize in digests:
                report.append("node %d%s: %d keys (DBSIZE %d), digest %s" % (
                    index, " (primary)" if self.nodes[index] is primary else "", count,
                    dbsize, digest[:16]))
            equal = len({(count, digest) for _, count, digest, _ in digests}) == 1
            report.append("digests equal: %s" % ("yes" if equal else "NO"))
            ok = ok and equal
        else:
            report.append("no checks of data: the cluster did not recover")
        report.append("writes: %s" % ", ".join(
            "%s %d" % (k, v) for k, v in sorted(self.writes.items())))
        report.append("faults injected: %s" % ", ".join(
            "%s %d" % (k, v) for k, v in sorted(self.faults.items())))
        switches = self.sentinels[0].log().count("+switch-master")
        asked = self.faults["kill primary"] + self.faults["stop primary long"]
        report.append("failovers: %d (+switch-master in sentinel 0's log; %d seen by polling "
                      "it), %d more than the faults that asked for one" % (
                          switches, self.primary_changes, switches - asked))
        report += self.notes
        for node in self.nodes:
            if node.threads:
                report.append("node %d: %d starts, threads %d..%d, RSS %.1f..%.1f MB "
                              "(%d samples)" % (node.index, node.starts, min(node.threads),
                                                max(node.threads), min(node.rss_kb) / 1024,
                                                max(node.rss_kb) / 1024, len(node.threads)))
        return ok, report

    def shutdown(self):
        """Stops everything; returns problems found in the nodes' exits and logs."""
        problems = []
        self.stop_load.set()
        self.stop_monitor.set()
        for thread in self.threads:
            thread.join(30)
        for index, sentinel in enumerate(self.sentinels):
            try:
                # Sentinel.stop removes its directory: keep its log with the nodes'.
                shutil.copy(sentinel.log_path, os.path.join(self.root, "sentinel-%d.log"
                                                             % index))
                sentinel.stop()
            except Exception as error:  # noqa: BLE001 - stop the rest anyway
                problems.append("sentinel on port %d: %r" % (sentinel.port, error))
        for node in self.nodes:
            if node.server is None or node.server.proc is None:
                continue
            if node.stopped:
                node.sigcont()
            running = node.alive()
            code = node.server.stop()
            if running and code != 0:
                problems.append("node %d did not shut down cleanly (status %r)"
                                % (node.index, code))
        for node in self.nodes:
            text = node.log_text()
            for marker in LOG_FAILURE_MARKERS:
                if marker in text:
                    problems.append("node %d's log holds %r:\n%s" % (
                        node.index, marker, text[max(0, text.find(marker) - 2000):][:4000]))
        if self.proxy is not None:
            self.proxy.stop()
        return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("MIRRORKV_SERVER") or os.path.join(
        REPO, "build", "rel", "server", "mirrorkv-server"), help="the mirrorkv-server binary")
    parser.add_argument("--duration", type=float, default=120, help="seconds of faults")
    parser.add_argument("--seed", type=int, help="the schedule's seed (default: random)")
    parser.add_argument("--rate", type=float, default=1000,
                        help="at most this many unique keys written per second")
    parser.add_argument("--faults", default=",".join(sorted(set(FAULTS))),
                        help="comma-separated kinds of fault to inject (default: all)")
    parser.add_argument("--keep-dir", action="store_true",
                        help="keep the temporary directory (logs) even if every check passes")
    args = parser.parse_args()
    if not os.path.exists(args.server) or not os.path.exists(REDIS_SENTINEL):
        print("chaos.py: need %s and %s" % (args.server, REDIS_SENTINEL), file=sys.stderr)
        return 2
    fault_kinds = [f for f in FAULTS if f in args.faults.split(",")]
    if not fault_kinds:
        parser.error("--faults: none of %s" % ", ".join(sorted(set(FAULTS))))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    root = tempfile.mkdtemp(prefix="mkvchaos-")
    tempfile.tempdir = root  # the sentinels' directories go inside it too
    replay = "%s --seed %d --duration %g --rate %g --server %s" % (
        sys.argv[0], seed, args.duration, args.rate, args.server)
    if len(fault_kinds) < len(FAULTS):
        replay += " --faults '%s'" % args.faults
    log("seed %d (replay: %s); directory %s" % (seed, replay, root))

    def terminate(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, terminate)

    campaign = Campaign(args.server, seed, args.duration, args.rate, fault_kinds, root)
    ok = False
    report = []
    try:
        campaign.start()
        campaign.run_schedule()
        ok, report = campaign.check(campaign.quiesce())
        ok = ok and not campaign.failures
    except KeyboardInterrupt as interrupt:
        report.append("interrupted (%s)" % (interrupt or "Ctrl-C"))
    except Exception as error:  # noqa: BLE001 - reported, then everything is stopped
        report.append("error: %r" % error)
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        problems = campaign.shutdown()
    crashes = campaign.crashes + problems
    ok = ok and not crashes
    # A failed run keeps its directory: the nodes' and sentinels' logs are the evidence.
    if args.keep_dir or not ok:
        log("logs kept in %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    report += campaign.failures
    report.append("crashes: %d" % len(campaign.crashes))
    report += problems
    print("\n== chaos.py seed %d, %g s: %s" % (seed, args.duration, "PASS" if ok else "FAIL"))
    for line in report:
        print("  " + line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
